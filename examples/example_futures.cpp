// asio-mqtt with std::future: the io_context runs in a thread, main() waits for each step.
// Usage: example_futures [host [port]]   (default 127.0.0.1 1883)
#include <amqtt/client.hpp>

#include <asio/executor_work_guard.hpp>
#include <asio/use_future.hpp>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <thread>

int main(int argc, char** argv) {
  amqtt::client_options options;
  options.brokers = {{argc > 1 ? argv[1] : "127.0.0.1",
                      static_cast<std::uint16_t>(argc > 2 ? std::atoi(argv[2]) : 1883)}};
  options.reconnect.enabled = false;  // an example: report the first failure and stop
  options.connect_timeout = std::chrono::seconds(5);

  asio::io_context io;
  auto work = asio::make_work_guard(io);
  std::thread runner([&io] { io.run(); });
  int status = 0;
  {
    amqtt::client client(io, options);
    const std::string topic = "amqtt/example/" + client.client_id();
    try {
      // .get() returns the result, or throws std::system_error with the operation's error.
      client.async_connect(asio::use_future).get();
      client.async_subscribe(topic, amqtt::qos::at_least_once, asio::use_future).get();
      client.async_publish(topic, "hello from futures", amqtt::qos::at_least_once, asio::use_future)
          .get();
      amqtt::message m = client.async_receive(asio::use_future).get();
      std::printf("received '%s' on %s\n", m.payload.c_str(), m.topic.c_str());
      client.async_disconnect(asio::use_future).get();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "failed: %s\n", e.what());
      status = 1;
    }
  }  // ~client: aborts whatever is left (nothing, after a disconnect)
  work.reset();
  runner.join();
  return status;
}
