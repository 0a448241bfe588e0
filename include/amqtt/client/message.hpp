#pragma once
// Application messages as the client hands them out.

#include <functional>
#include <string>
#include <string_view>
#include <utility>

#include "amqtt/codec/packets.hpp"

namespace amqtt {

// A received message, owning its topic and payload (async_receive).
struct message {
  std::string topic;
  std::string payload;  // binary
  amqtt::qos qos = amqtt::qos::at_most_once;
  bool retain = false;
  bool dup = false;
};

inline void swap(message& a, message& b) noexcept {
  a.topic.swap(b.topic);
  a.payload.swap(b.payload);
  std::swap(a.qos, b.qos);
  std::swap(a.retain, b.retain);
  std::swap(a.dup, b.dup);
}

// A received message viewed in the client's input buffer (per-subscription handlers). Valid only
// during the handler call: copy what must outlive it.
struct message_view {
  std::string_view topic;
  std::string_view payload;
  amqtt::qos qos = amqtt::qos::at_most_once;
  bool retain = false;
  bool dup = false;

  message_view() = default;
  message_view(std::string_view t, std::string_view p, amqtt::qos q = amqtt::qos::at_most_once,
               bool r = false, bool d = false) noexcept
      : topic(t), payload(p), qos(q), retain(r), dup(d) {}
  // NOLINTNEXTLINE(google-explicit-constructor)
  message_view(const message& m) noexcept
      : topic(m.topic), payload(m.payload), qos(m.qos), retain(m.retain), dup(m.dup) {}

  message to_message() const {
    return message{std::string(topic), std::string(payload), qos, retain, dup};
  }
};

// Called on the client's strand for each received PUBLISH matching the handler's filter.
using message_handler = std::function<void(const message_view&)>;

}  // namespace amqtt
