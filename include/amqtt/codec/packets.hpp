#pragma once
// The fourteen MQTT 3.1.1 control packets as plain structs.
//
// Strings and payloads are std::string_view: a decoded packet views the bytes it was decoded from
// (zero-copy), and a packet being encoded views the caller's data. Payloads are binary; a
// string_view is used only because it is the standard non-owning byte range in C++17.

#include <cstdint>
#include <optional>
#include <string_view>
#include <variant>
#include <vector>

namespace amqtt {

enum class qos : std::uint8_t { at_most_once = 0, at_least_once = 1, exactly_once = 2 };

enum class packet_type : std::uint8_t {
  connect = 1,
  connack = 2,
  publish = 3,
  puback = 4,
  pubrec = 5,
  pubrel = 6,
  pubcomp = 7,
  subscribe = 8,
  suback = 9,
  unsubscribe = 10,
  unsuback = 11,
  pingreq = 12,
  pingresp = 13,
  disconnect = 14,
  auth = 15,  // MQTT 5 only; reserved in 3.1.1
};

enum class connect_return_code : std::uint8_t {
  accepted = 0,
  unacceptable_protocol_version = 1,
  identifier_rejected = 2,
  server_unavailable = 3,
  bad_username_or_password = 4,
  not_authorized = 5,
};

enum class suback_return_code : std::uint8_t {
  granted_qos0 = 0x00,
  granted_qos1 = 0x01,
  granted_qos2 = 0x02,
  failure = 0x80,
};

struct will_message {
  std::string_view topic;
  std::string_view payload;
  amqtt::qos qos = amqtt::qos::at_most_once;
  bool retain = false;
};

struct connect_packet {
  std::string_view client_id;
  bool clean_session = true;
  std::uint16_t keep_alive = 60;  // seconds; 0 disables keepalive
  std::optional<will_message> will;
  std::optional<std::string_view> username;
  std::optional<std::string_view> password;
};

struct connack_packet {
  bool session_present = false;
  connect_return_code return_code = connect_return_code::accepted;
};

struct publish_packet {
  std::string_view topic;
  std::string_view payload;
  amqtt::qos qos = amqtt::qos::at_most_once;
  bool retain = false;
  bool dup = false;
  std::uint16_t packet_id = 0;  // only for QoS 1 and 2
};

struct puback_packet {
  std::uint16_t packet_id = 0;
};
struct pubrec_packet {
  std::uint16_t packet_id = 0;
};
struct pubrel_packet {
  std::uint16_t packet_id = 0;
};
struct pubcomp_packet {
  std::uint16_t packet_id = 0;
};

struct subscribe_entry {
  std::string_view filter;
  amqtt::qos max_qos = amqtt::qos::at_most_once;
};

struct subscribe_packet {
  std::uint16_t packet_id = 0;
  std::vector<subscribe_entry> entries;
};

struct suback_packet {
  std::uint16_t packet_id = 0;
  std::vector<suback_return_code> return_codes;
};

struct unsubscribe_packet {
  std::uint16_t packet_id = 0;
  std::vector<std::string_view> filters;
};

struct unsuback_packet {
  std::uint16_t packet_id = 0;
};

struct pingreq_packet {};
struct pingresp_packet {};
struct disconnect_packet {};

constexpr bool is_valid_suback_return_code(std::uint8_t c) noexcept { return c <= 2 || c == 0x80; }

// Alternative index + 1 == packet_type value.
using packet =
    std::variant<connect_packet, connack_packet, publish_packet, puback_packet, pubrec_packet,
                 pubrel_packet, pubcomp_packet, subscribe_packet, suback_packet, unsubscribe_packet,
                 unsuback_packet, pingreq_packet, pingresp_packet, disconnect_packet>;

inline packet_type type_of(const packet& p) noexcept {
  return static_cast<packet_type>(p.index() + 1);
}

// Equality, field by field (used by round-trip tests and by users comparing packets).
inline bool operator==(const will_message& a, const will_message& b) noexcept {
  return a.topic == b.topic && a.payload == b.payload && a.qos == b.qos && a.retain == b.retain;
}
inline bool operator==(const connect_packet& a, const connect_packet& b) noexcept {
  return a.client_id == b.client_id && a.clean_session == b.clean_session &&
         a.keep_alive == b.keep_alive && a.will == b.will && a.username == b.username &&
         a.password == b.password;
}
inline bool operator==(const connack_packet& a, const connack_packet& b) noexcept {
  return a.session_present == b.session_present && a.return_code == b.return_code;
}
inline bool operator==(const publish_packet& a, const publish_packet& b) noexcept {
  return a.topic == b.topic && a.payload == b.payload && a.qos == b.qos && a.retain == b.retain &&
         a.dup == b.dup && a.packet_id == b.packet_id;
}
inline bool operator==(const puback_packet& a, const puback_packet& b) noexcept {
  return a.packet_id == b.packet_id;
}
inline bool operator==(const pubrec_packet& a, const pubrec_packet& b) noexcept {
  return a.packet_id == b.packet_id;
}
inline bool operator==(const pubrel_packet& a, const pubrel_packet& b) noexcept {
  return a.packet_id == b.packet_id;
}
inline bool operator==(const pubcomp_packet& a, const pubcomp_packet& b) noexcept {
  return a.packet_id == b.packet_id;
}
inline bool operator==(const subscribe_entry& a, const subscribe_entry& b) noexcept {
  return a.filter == b.filter && a.max_qos == b.max_qos;
}
inline bool operator==(const subscribe_packet& a, const subscribe_packet& b) noexcept {
  return a.packet_id == b.packet_id && a.entries == b.entries;
}
inline bool operator==(const suback_packet& a, const suback_packet& b) noexcept {
  return a.packet_id == b.packet_id && a.return_codes == b.return_codes;
}
inline bool operator==(const unsubscribe_packet& a, const unsubscribe_packet& b) noexcept {
  return a.packet_id == b.packet_id && a.filters == b.filters;
}
inline bool operator==(const unsuback_packet& a, const unsuback_packet& b) noexcept {
  return a.packet_id == b.packet_id;
}
inline bool operator==(const pingreq_packet&, const pingreq_packet&) noexcept { return true; }
inline bool operator==(const pingresp_packet&, const pingresp_packet&) noexcept { return true; }
inline bool operator==(const disconnect_packet&, const disconnect_packet&) noexcept { return true; }

}  // namespace amqtt
