// asio-mqtt with C++20 coroutines (asio::use_awaitable): the whole exchange reads top to bottom.
// Usage: example_coroutines [host [port]]   (default 127.0.0.1 1883)
#include <amqtt/client.hpp>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/use_awaitable.hpp>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

asio::awaitable<void> exchange(amqtt::client& client) {
  const std::string topic = "amqtt/example/" + client.client_id();
  co_await client.async_connect(asio::use_awaitable);  // errors throw std::system_error
  co_await client.async_subscribe(topic, amqtt::qos::at_least_once, asio::use_awaitable);
  co_await client.async_publish(topic, "hello from coroutines", amqtt::qos::at_least_once,
                                asio::use_awaitable);
  const amqtt::message m = co_await client.async_receive(asio::use_awaitable);
  std::printf("received '%s' on %s\n", m.payload.c_str(), m.topic.c_str());
  co_await client.async_disconnect(asio::use_awaitable);
}

int main(int argc, char** argv) {
  amqtt::client_options options;
  options.brokers = {{argc > 1 ? argv[1] : "127.0.0.1",
                      static_cast<std::uint16_t>(argc > 2 ? std::atoi(argv[2]) : 1883)}};
  options.reconnect.enabled = false;  // an example: report the first failure and stop
  options.connect_timeout = std::chrono::seconds(5);

  asio::io_context io;
  amqtt::client client(io, options);
  int status = 1;
  asio::co_spawn(io, exchange(client), [&](std::exception_ptr e) {
    if (!e) {
      status = 0;
      return;
    }
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      std::fprintf(stderr, "failed: %s\n", ex.what());
    }
    client.async_disconnect(asio::detached);  // stop the connection loop, if still running
  });
  io.run();
  return status;
}
