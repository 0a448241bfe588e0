// amqtt::client driven from several threads at once (run under ThreadSanitizer in CI).
#include "client/fake_broker.hpp"
#include "client/test_util.hpp"

#include <catch2/catch.hpp>

#include <amqtt/client.hpp>

#include <atomic>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace amqtt;
using namespace amqtt::test;
using namespace std::chrono_literals;

}  // namespace

TEST_CASE("client: publish, subscribe and receive from 4 threads concurrently", "[client][threads]") {
  fake_broker broker;  // only touched on the client's strand until the io threads are joined
  std::atomic<int> handler_calls{0};
  std::atomic<int> publish_ok{0}, publish_failed{0};
  std::atomic<int> received{0};
  std::atomic<bool> receive_failed{false};
  std::atomic<int> events{0};
  constexpr int per_publisher = 150;
  {
    io_thread io(2);
    client c(io.io, fake_options(broker));
    c.set_event_handler([&](const client_event&) { ++events; });
    auto [ec, sp] = wait_get(c.async_connect(tuple_future));
    REQUIRE_FALSE(ec);
    auto [sub_ec, rc] = wait_get(c.async_subscribe("t/#", qos::at_least_once, tuple_future));
    REQUIRE_FALSE(sub_ec);

    std::vector<std::thread> threads;
    // Two publishers.
    for (int p = 0; p < 2; ++p)
      threads.emplace_back([&, p] {
        for (int i = 0; i < per_publisher; ++i) {
          const qos q = static_cast<qos>(i % 3);
          c.async_publish("t/" + std::to_string(p) + "/" + std::to_string(i), "payload", q,
                          [&](std::error_code e) { (e ? publish_failed : publish_ok)++; });
        }
      });
    // A subscriber churning filters with per-subscription handlers.
    threads.emplace_back([&] {
      for (int i = 0; i < 20; ++i) {
        const std::string filter = "h/" + std::to_string(i);
        auto [e1, r1] = wait_get(c.async_subscribe(
            filter, qos::at_least_once, [&](const message_view&) { ++handler_calls; }, tuple_future));
        CHECK_FALSE(e1);
        auto [e2] = wait_get(c.async_publish(filter, "to handler", qos::at_least_once, tuple_future));
        CHECK_FALSE(e2);
        auto [e3] = wait_get(c.async_unsubscribe(filter, tuple_future));
        CHECK_FALSE(e3);
      }
    });
    // A receiver: every echoed publish arrives through async_receive.
    threads.emplace_back([&] {
      for (int i = 0; i < 2 * per_publisher; ++i) {
        auto f = c.async_receive(tuple_future);
        if (f.wait_for(10s) != std::future_status::ready) {
          receive_failed = true;
          return;
        }
        auto [e, m] = f.get();
        if (e || m.topic.rfind("t/", 0) != 0) {
          receive_failed = true;
          return;
        }
        ++received;
      }
    });
    for (auto& t : threads) t.join();
    CHECK_FALSE(receive_failed);
    CHECK(eventually([&] { return publish_ok.load() == 2 * per_publisher; }));
    CHECK(eventually([&] { return handler_calls.load() == 20; }));
    auto [d] = wait_get(c.async_disconnect(tuple_future));
    CHECK_FALSE(d);
  }
  CHECK(publish_failed.load() == 0);
  CHECK(received.load() == 2 * per_publisher);
  CHECK(broker.publishes == 2 * per_publisher + 20);
  CHECK(events.load() >= 2);
}

TEST_CASE("client: concurrent receive cancellation and destruction from other threads", "[client][threads]") {
  fake_broker broker;
  std::atomic<int> completions{0};
  {
    io_thread io(2);
    auto c = std::make_unique<client>(io.io, fake_options(broker));
    auto [ec, sp] = wait_get(c->async_connect(tuple_future));
    REQUIRE_FALSE(ec);
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
      threads.emplace_back([&, t] {
        for (int i = 0; i < 50; ++i)
          c->async_publish("x/" + std::to_string(t), "y", static_cast<qos>(i % 3),
                           [&](std::error_code) { ++completions; });
      });
    for (auto& t : threads) t.join();
    c.reset();  // destroyed while publishes may still be in flight
    REQUIRE(eventually([&] { return completions.load() == 200; }));
  }
  CHECK(broker.transports_alive == 0);
}
