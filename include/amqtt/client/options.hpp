#pragma once
// Options of amqtt::client.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "amqtt/protocol/session.hpp"
#include "amqtt/transport/transport.hpp"

namespace amqtt {

struct broker_address {
  std::string host = "127.0.0.1";  // name or address; resolved on every connection attempt
  std::uint16_t port = 1883;
};

inline bool operator==(const broker_address& a, const broker_address& b) noexcept {
  return a.host == b.host && a.port == b.port;
}
inline bool operator!=(const broker_address& a, const broker_address& b) noexcept {
  return !(a == b);
}

// Reconnection with exponential backoff and full jitter: after the n-th consecutive failed round
// (n = 0, 1, ...) the client waits a uniformly random delay in [0, min(max_delay, min_delay * 2^n)].
// The counter restarts at 0 after every accepted CONNACK.
struct reconnect_options {
  bool enabled = true;  // false: the first failure or connection loss stops async_run
  std::chrono::milliseconds min_delay{100};
  std::chrono::milliseconds max_delay{30'000};
};

struct client_options {
  // MQTT session: client id, clean session, keepalive, will, credentials, queue limits.
  // An empty client_id is replaced by "amqtt-" + 16 random hex digits when clean_session is true
  // (the same id is used for every reconnect of this client); with clean_session = false an
  // empty id fails async_run / async_connect with client_errc::empty_client_id.
  session_options session;

  // Brokers, tried in turn: a failed attempt moves on to the next one at once; when all failed,
  // the client backs off (see reconnect) and starts over with the next broker.
  std::vector<broker_address> brokers{broker_address{}};

  // One connection attempt: DNS + TCP connect (+ TLS handshake) + CONNECT/CONNACK.
  std::chrono::milliseconds connect_timeout{10'000};

  reconnect_options reconnect;

  // Messages waiting for async_receive. When this many are waiting and no receive is pending the
  // client stops decoding and reading (TCP back-pressure) until the application receives.
  // A soft limit: see docs/client.md. At least 1.
  std::size_t receive_queue_limit = 1024;

  // Bytes asked for per socket read (the session's input buffer grows to hold at least this).
  std::size_t read_buffer_size = 16 * 1024;

  // After a graceful DISCONNECT is written, how long to wait for the broker to close the
  // connection before closing it ourselves.
  std::chrono::milliseconds disconnect_linger{1'000};

  // Creates the transport of each connection attempt; empty means plain TCP (make_tcp_transport).
  transport_factory transport;
};

}  // namespace amqtt
