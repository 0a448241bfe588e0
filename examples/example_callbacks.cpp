// asio-mqtt with completion callbacks: connect, subscribe, publish, receive our own message,
// disconnect. Usage: example_callbacks [host [port]]   (default 127.0.0.1 1883)
#include <amqtt/client.hpp>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  amqtt::client_options options;
  options.brokers = {{argc > 1 ? argv[1] : "127.0.0.1",
                      static_cast<std::uint16_t>(argc > 2 ? std::atoi(argv[2]) : 1883)}};
  options.reconnect.enabled = false;  // an example: report the first failure and stop
  options.connect_timeout = std::chrono::seconds(5);

  asio::io_context io;
  amqtt::client client(io, options);
  const std::string topic = "amqtt/example/" + client.client_id();
  int status = 1;
  int steps_left = 2;  // our publish acknowledged + our message received: then disconnect
  auto step_done = [&] {
    if (--steps_left == 0) {
      status = 0;
      client.async_disconnect([](std::error_code) {});
    }
  };

  auto fail = [&](const char* what, std::error_code ec) {
    std::fprintf(stderr, "%s failed: %s\n", what, ec.message().c_str());
    client.async_disconnect([](std::error_code) {});
  };

  client.async_connect([&](std::error_code ec, bool /*session_present*/) {
    if (ec) return fail("connect", ec);
    client.async_subscribe(topic, amqtt::qos::at_least_once,
                           [&](std::error_code ec2, std::vector<amqtt::suback_return_code>) {
      if (ec2) return fail("subscribe", ec2);
      client.async_publish(topic, "hello from callbacks", amqtt::qos::at_least_once,
                           [&](std::error_code ec3) {
                             if (ec3) return fail("publish", ec3);
                             step_done();
                           });
      client.async_receive([&](std::error_code ec4, amqtt::message m) {
        if (ec4) return fail("receive", ec4);
        std::printf("received '%s' on %s\n", m.payload.c_str(), m.topic.c_str());
        step_done();
      });
    });
  });

  io.run();  // returns once the client has nothing left to do
  return status;
}
