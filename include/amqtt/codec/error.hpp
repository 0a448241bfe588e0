#pragma once
// Error codes of the codec layer: every way bytes can fail to be a valid MQTT 3.1.1 packet,
// and every way a packet can fail to be encodable, has its own code and message.

#include <string>
#include <system_error>

namespace amqtt {

enum class codec_errc {
  // Fixed header.
  malformed_remaining_length = 1,  // a fifth continuation byte [MQTT-2.2.3]
  packet_too_large,                // larger than the configured maximum incoming packet size
  reserved_packet_type,            // packet type 0
  auth_not_supported,              // packet type 15 (AUTH) is reserved in MQTT 3.1.1
  invalid_fixed_header_flags,      // [MQTT-2.2.2-1], [MQTT-2.2.2-2]
  unexpected_packet_direction,     // e.g. a client receiving CONNECT or SUBSCRIBE
  // Lengths.
  truncated_packet,  // remaining length too short for the packet's contents
  trailing_bytes,    // remaining length longer than the packet's contents
  // Fields.
  invalid_qos,                 // QoS 3 [MQTT-3.3.1-4]
  dup_with_qos0,               // [MQTT-3.3.1-2]
  zero_packet_id,              // [MQTT-2.3.1-1]
  unexpected_packet_id,        // a packet id on a QoS 0 PUBLISH being encoded [MQTT-2.3.1-5]
  invalid_protocol_name,       // [MQTT-3.1.2-1]
  unsupported_protocol_level,  // [MQTT-3.1.2-2]
  connect_reserved_flag,       // [MQTT-3.1.2-3]
  will_flags_without_will,     // [MQTT-3.1.2-11], [MQTT-3.1.2-13], [MQTT-3.1.2-15]
  invalid_will_qos,            // [MQTT-3.1.2-14]
  password_without_username,   // [MQTT-3.1.2-22]
  empty_client_id_needs_clean_session,  // [MQTT-3.1.3-7]
  connack_reserved_bits,                // CONNACK acknowledge flags bits 7..1 must be 0
  invalid_connack_return_code,          // not 0..5
  empty_subscribe,                      // [MQTT-3.8.3-3]
  invalid_requested_qos,                // [MQTT-3-8.3-4]
  empty_suback,                         // SUBACK without return codes
  invalid_suback_return_code,           // not 0, 1, 2 or 0x80 [MQTT-3.9.3-2]
  empty_unsubscribe,                    // [MQTT-3.10.3-2]
  // Strings and topics.
  ill_formed_utf8,         // [MQTT-1.5.3-1]
  utf8_null_character,     // [MQTT-1.5.3-2], [MQTT-4.7.3-2]
  string_too_long,         // more than 65,535 bytes [MQTT-4.7.3-3]
  empty_topic,             // [MQTT-4.7.3-1]
  wildcard_in_topic_name,  // [MQTT-3.3.2-2], [MQTT-4.7.1-1]
  invalid_topic_filter,    // misplaced '+' or '#' [MQTT-4.7.1-2], [MQTT-4.7.1-3]
  // Encoding.
  buffer_too_small,           // the caller's buffer cannot hold the encoded packet
  remaining_length_overflow,  // the packet would exceed 268,435,455 bytes of remaining length
};

class codec_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "amqtt.codec"; }
  std::string message(int value) const override {
    switch (static_cast<codec_errc>(value)) {
      case codec_errc::malformed_remaining_length:
        return "malformed remaining length: more than four length bytes";
      case codec_errc::packet_too_large:
        return "packet larger than the maximum packet size";
      case codec_errc::reserved_packet_type:
        return "reserved packet type 0";
      case codec_errc::auth_not_supported:
        return "AUTH packet (type 15) is reserved in MQTT 3.1.1";
      case codec_errc::invalid_fixed_header_flags:
        return "invalid fixed header flags for this packet type";
      case codec_errc::unexpected_packet_direction:
        return "packet type not allowed in this direction (e.g. a server sent CONNECT)";
      case codec_errc::truncated_packet:
        return "remaining length too short for the packet's contents";
      case codec_errc::trailing_bytes:
        return "remaining length longer than the packet's contents";
      case codec_errc::invalid_qos:
        return "invalid QoS 3";
      case codec_errc::dup_with_qos0:
        return "DUP flag set on a QoS 0 PUBLISH";
      case codec_errc::zero_packet_id:
        return "packet identifier 0 where a non-zero one is required";
      case codec_errc::unexpected_packet_id:
        return "packet identifier given for a QoS 0 PUBLISH";
      case codec_errc::invalid_protocol_name:
        return "protocol name is not \"MQTT\"";
      case codec_errc::unsupported_protocol_level:
        return "unsupported protocol level (MQTT 3.1.1 is level 4)";
      case codec_errc::connect_reserved_flag:
        return "CONNECT reserved flag bit is set";
      case codec_errc::will_flags_without_will:
        return "will QoS or will retain set without a will";
      case codec_errc::invalid_will_qos:
        return "invalid will QoS 3";
      case codec_errc::password_without_username:
        return "password given without a user name";
      case codec_errc::empty_client_id_needs_clean_session:
        return "an empty client identifier requires clean session";
      case codec_errc::connack_reserved_bits:
        return "CONNACK reserved acknowledge flag bits are set";
      case codec_errc::invalid_connack_return_code:
        return "CONNACK return code is not 0..5";
      case codec_errc::empty_subscribe:
        return "SUBSCRIBE without any topic filter";
      case codec_errc::invalid_requested_qos:
        return "SUBSCRIBE requested QoS byte is invalid";
      case codec_errc::empty_suback:
        return "SUBACK without any return code";
      case codec_errc::invalid_suback_return_code:
        return "SUBACK return code is not 0, 1, 2 or 0x80";
      case codec_errc::empty_unsubscribe:
        return "UNSUBSCRIBE without any topic filter";
      case codec_errc::ill_formed_utf8:
        return "string is not well-formed UTF-8";
      case codec_errc::utf8_null_character:
        return "string contains the null character U+0000";
      case codec_errc::string_too_long:
        return "string longer than 65,535 bytes";
      case codec_errc::empty_topic:
        return "topic is empty";
      case codec_errc::wildcard_in_topic_name:
        return "topic name contains a wildcard ('+' or '#')";
      case codec_errc::invalid_topic_filter:
        return "topic filter has a misplaced wildcard ('+' or '#' must fill a level, '#' last)";
      case codec_errc::buffer_too_small:
        return "output buffer too small for the encoded packet";
      case codec_errc::remaining_length_overflow:
        return "packet exceeds the maximum remaining length of 268,435,455 bytes";
    }
    return "unknown amqtt codec error";
  }
};

inline const std::error_category& codec_category() noexcept {
  static const codec_category_impl category;
  return category;
}

inline std::error_code make_error_code(codec_errc e) noexcept {
  return {static_cast<int>(e), codec_category()};
}

namespace detail {
// The hot paths (decoder, validation) pass codec_errc around, codec_errc{} meaning "no error",
// and convert once at the API boundary: a default std::error_code costs an out-of-line
// std::system_category() call each time one is made.
inline std::error_code to_error_code(codec_errc e) noexcept {
  return e == codec_errc{} ? std::error_code{} : make_error_code(e);
}
}  // namespace detail

}  // namespace amqtt

template <>
struct std::is_error_code_enum<amqtt::codec_errc> : std::true_type {};
