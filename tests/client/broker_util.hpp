// Helpers for the client integration tests (tests/integration/client_*.cpp) against a real
// mosquitto started by tests/support/mosquitto_broker.hpp.
#pragma once

#include "client/test_util.hpp"
#include "support/mosquitto_broker.hpp"

#include <amqtt/client.hpp>

#include <catch2/catch.hpp>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace amqtt::test {

inline client_options broker_options(const mosquitto_broker& b) {
  client_options o;
  o.brokers = {{b.host(), b.port()}};
  o.connect_timeout = std::chrono::milliseconds(3000);
  o.reconnect.min_delay = std::chrono::milliseconds(10);
  o.reconnect.max_delay = std::chrono::milliseconds(200);
  return o;
}

inline bool connect(client& c, std::chrono::milliseconds timeout = std::chrono::milliseconds(10000)) {
  auto [ec, sp] = wait_get(c.async_connect(tuple_future), timeout);
  INFO("connect: " << ec.message());
  REQUIRE_FALSE(ec);
  return sp;
}

inline void subscribe(client& c, const std::string& filter, qos q) {
  auto [ec, rc] = wait_get(c.async_subscribe(filter, q, tuple_future));
  INFO("subscribe: " << ec.message());
  REQUIRE_FALSE(ec);
  REQUIRE(rc.size() == 1);
  REQUIRE(rc[0] != suback_return_code::failure);
}

inline message receive(client& c, std::chrono::milliseconds timeout = std::chrono::milliseconds(5000)) {
  auto [ec, m] = wait_get(c.async_receive(tuple_future), timeout);
  INFO("receive: " << ec.message());
  REQUIRE_FALSE(ec);
  return m;
}

inline void publish(client& c, const std::string& topic, const std::string& payload, qos q,
                    bool retain = false) {
  auto [ec] = wait_get(c.async_publish(topic, payload, q, retain, tuple_future));
  INFO("publish: " << ec.message());
  REQUIRE_FALSE(ec);
}

inline void disconnect(client& c) {
  auto [ec] = wait_get(c.async_disconnect(tuple_future));
  REQUIRE_FALSE(ec);
}

// A TCP transport factory that remembers the transports it made, so a test can break the
// connection abruptly (no DISCONNECT). Only touched on the client's strand.
struct killable_tcp {
  std::vector<tcp_transport*> made;  // the latest is last (earlier ones may be destroyed)

  transport_factory factory() {
    return [this](const asio::any_io_executor& ex) -> std::unique_ptr<transport> {
      auto t = std::make_unique<tcp_transport>(ex);
      made.push_back(t.get());
      return t;
    };
  }
};

// Thread-safe record of connection events.
struct event_log {
  std::mutex mu;
  std::vector<client_event> events;

  event_handler handler() {
    return [this](const client_event& e) {
      std::lock_guard<std::mutex> lock(mu);
      events.push_back(e);
    };
  }
  template <class E>
  std::size_t count() {
    std::lock_guard<std::mutex> lock(mu);
    std::size_t n = 0;
    for (auto& e : events) n += std::holds_alternative<E>(e) ? 1 : 0;
    return n;
  }
  template <class E>
  std::vector<E> all() {
    std::lock_guard<std::mutex> lock(mu);
    std::vector<E> out;
    for (auto& e : events)
      if (auto* x = std::get_if<E>(&e)) out.push_back(*x);
    return out;
  }
};

}  // namespace amqtt::test
