// asio::use_awaitable with every client operation (C++20). The C++17 test build compiles this
// file to nothing; the amqtt-tests-cxx20 executable (built where Asio supports coroutines)
// compiles and runs it.
#if defined(__cpp_impl_coroutine)
#include <vector>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/use_awaitable.hpp>
#include <catch2/catch.hpp>

#include <amqtt/client.hpp>

#include "client/fake_broker.hpp"

namespace {

using namespace amqtt;
using namespace amqtt::test;

TEST_CASE("client: use_awaitable (C++20)", "[client]") {
  fake_broker broker;  // outlives the io_context (transports refer to it)
  asio::io_context io;
  client c(io, fake_options(broker));
  bool finished = false;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        bool sp = co_await c.async_connect(asio::use_awaitable);
        CHECK_FALSE(sp);
        auto rc = co_await c.async_subscribe("aw/#", qos::exactly_once, asio::use_awaitable);
        CHECK(rc == std::vector<suback_return_code>{suback_return_code::granted_qos2});
        for (qos q : {qos::at_most_once, qos::at_least_once, qos::exactly_once}) {
          co_await c.async_publish("aw/x", "1", q, asio::use_awaitable);
          message m = co_await c.async_receive(asio::use_awaitable);
          CHECK(m.payload == "1");
        }
        co_await c.async_disconnect(asio::use_awaitable);
        finished = true;
      },
      asio::detached);
  REQUIRE(run_until(io, [&] { return finished; }));
}

}  // namespace
#endif
