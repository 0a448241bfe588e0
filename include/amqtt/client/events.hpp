#pragma once
// Connection-state events (client::set_event_handler).

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <system_error>
#include <variant>

#include "amqtt/client/options.hpp"
#include "amqtt/codec/packets.hpp"

namespace amqtt {
namespace event {

// A connection attempt starts (DNS + connect + CONNECT/CONNACK).
struct connecting {
  broker_address broker;
};

// A connection attempt failed before CONNACK was accepted (connection refused, DNS failure,
// client_errc::connect_timeout, a CONNACK refusal, ...).
struct connect_failed {
  broker_address broker;
  std::error_code error;
};

// CONNACK accepted.
struct connected {
  broker_address broker;
  bool session_present = false;
};

// An established connection ended (reason empty after a graceful disconnect).
struct disconnected {
  std::error_code reason;
};

// The next connection attempt starts after `delay` (attempt: 1 for the first backoff after a
// success).
struct reconnect_scheduled {
  std::chrono::milliseconds delay{0};
  std::size_t attempt = 0;
};

// A remembered subscription was renewed after a reconnect without a session present.
struct resubscribed {
  std::string filter;
  suback_return_code result = suback_return_code::failure;
};

// The connection loop ended: reason empty after async_disconnect, otherwise the error that
// stopped it (a permanent CONNACK refusal, or any failure when reconnect is disabled).
struct stopped {
  std::error_code reason;
};

}  // namespace event

using client_event = std::variant<event::connecting, event::connect_failed, event::connected,
                                  event::disconnected, event::reconnect_scheduled,
                                  event::resubscribed, event::stopped>;

using event_handler = std::function<void(const client_event&)>;

}  // namespace amqtt
