#pragma once
// Error codes of the protocol layer: violations by the server, refusals, and session limits.

#include <string>
#include <system_error>

#include "amqtt/codec/packets.hpp"

namespace amqtt {

enum class protocol_errc {
  keepalive_timeout = 1,             // nothing received within ping_timeout after a PINGREQ
  queue_full,                        // the request queue is at its count or byte limit
  packet_before_connack,             // [MQTT-3.2.0-1]
  unexpected_connack,                // a second CONNACK on one connection
  session_present_on_clean_session,  // [MQTT-3.2.2-1]
  session_present_with_refusal,      // [MQTT-3.2.2-4]
  suback_count_mismatch,             // SUBACK return codes do not match the filters sent
  ack_type_mismatch,                 // e.g. PUBACK for a QoS 2 flow, PUBCOMP before PUBREC
  // CONNACK refusals, one per return code 1..5 [MQTT-3.2.2-5].
  unacceptable_protocol_version,
  identifier_rejected,
  server_unavailable,
  bad_username_or_password,
  not_authorized,
};

}  // namespace amqtt

// Declared before any conversion below needs it (a specialization after first use is
// ill-formed: "explicit specialization after instantiation").
template <>
struct std::is_error_code_enum<amqtt::protocol_errc> : std::true_type {};

namespace amqtt {

class protocol_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "amqtt.protocol"; }
  std::string message(int value) const override {
    switch (static_cast<protocol_errc>(value)) {
      case protocol_errc::keepalive_timeout:
        return "keepalive timeout: the server did not answer in time (dead link)";
      case protocol_errc::queue_full:
        return "request queue full: too many messages or bytes waiting to be sent";
      case protocol_errc::packet_before_connack:
        return "protocol violation: the server sent a packet before CONNACK";
      case protocol_errc::unexpected_connack:
        return "protocol violation: the server sent a second CONNACK";
      case protocol_errc::session_present_on_clean_session:
        return "protocol violation: session present reported for a clean session";
      case protocol_errc::session_present_with_refusal:
        return "protocol violation: session present set on a refused connection";
      case protocol_errc::suback_count_mismatch:
        return "protocol violation: SUBACK return codes do not match the SUBSCRIBE's filters";
      case protocol_errc::ack_type_mismatch:
        return "protocol violation: acknowledgement does not fit the message's QoS flow";
      case protocol_errc::unacceptable_protocol_version:
        return "connection refused: unacceptable protocol version";
      case protocol_errc::identifier_rejected:
        return "connection refused: client identifier rejected";
      case protocol_errc::server_unavailable:
        return "connection refused: server unavailable";
      case protocol_errc::bad_username_or_password:
        return "connection refused: bad user name or password";
      case protocol_errc::not_authorized:
        return "connection refused: not authorized";
    }
    return "unknown amqtt protocol error";
  }
};

inline const std::error_category& protocol_category() noexcept {
  static const protocol_category_impl category;
  return category;
}

inline std::error_code make_error_code(protocol_errc e) noexcept {
  return {static_cast<int>(e), protocol_category()};
}

// The error for a CONNACK return code (empty for `accepted`).
inline std::error_code connack_error(connect_return_code rc) noexcept {
  switch (rc) {
    case connect_return_code::accepted:
      return {};
    case connect_return_code::unacceptable_protocol_version:
      return protocol_errc::unacceptable_protocol_version;
    case connect_return_code::identifier_rejected:
      return protocol_errc::identifier_rejected;
    case connect_return_code::server_unavailable:
      return protocol_errc::server_unavailable;
    case connect_return_code::bad_username_or_password:
      return protocol_errc::bad_username_or_password;
    case connect_return_code::not_authorized:
      return protocol_errc::not_authorized;
  }
  return protocol_errc::not_authorized;
}

// True for refusals that retrying cannot fix (1, 2, 4, 5); 3 (server unavailable) is transient.
inline bool is_permanent_refusal(const std::error_code& ec) noexcept {
  return ec.category() == protocol_category() &&
         (ec == protocol_errc::unacceptable_protocol_version ||
          ec == protocol_errc::identifier_rejected ||
          ec == protocol_errc::bad_username_or_password || ec == protocol_errc::not_authorized);
}

}  // namespace amqtt
