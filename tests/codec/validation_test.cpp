// Every way bytes can fail to be a valid MQTT 3.1.1 packet, and every way a packet can fail to be
// encodable: each codec_errc is triggered by a minimal input and checked to be exactly that code.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include <amqtt/codec/codec.hpp>

#include "codec/support/codec_util.hpp"

using namespace amqtt;
using amqtt_test::byte_vector;
using amqtt_test::from_hex;

namespace {

// A valid packet of every type (types 1..14), for tests that corrupt one aspect of it.
const char* valid_hex(unsigned type) {
  switch (type) {
    case 1:
      return "10 0D 0004 4D515454 04 02 000A 0001 70";
    case 2:
      return "20 02 00 00";
    case 3:
      return "30 05 0001 74 7878";
    case 4:
      return "40 02 0001";
    case 5:
      return "50 02 0001";
    case 6:
      return "62 02 0001";
    case 7:
      return "70 02 0001";
    case 8:
      return "82 06 0001 0001 74 00";
    case 9:
      return "90 03 0001 00";
    case 10:
      return "A2 05 0001 0001 74";
    case 11:
      return "B0 02 0001";
    case 12:
      return "C0 00";
    case 13:
      return "D0 00";
    case 14:
      return "E0 00";
    default:
      return "";
  }
}

// The decode error of hex bytes, with the given direction (any by default).
std::error_code err(const char* hex, packet_direction d = packet_direction::any) {
  decode_options o;
  o.direction = d;
  return amqtt_test::decode_error(from_hex(hex), o);
}

bool decodes(const char* hex, packet_direction d = packet_direction::any) {
  decode_options o;
  o.direction = d;
  const byte_vector bytes = from_hex(hex);
  const auto r = amqtt_test::decode_bytes(bytes, o);
  return r.result.status == decode_status::complete && r.result.consumed == bytes.size();
}

// What encoding `p` reports; also checks that a failed encode writes and appends nothing.
template <class P>
std::error_code encode_error(const P& p) {
  const std::error_code v = validate_packet(p);
  std::uint8_t buffer[64] = {0xAA};
  const encode_result r = encode(p, buffer, sizeof buffer);
  byte_vector appended = {0x42};
  const std::error_code a = encode_append(p, appended);
  CHECK(r.error == v);
  CHECK(a == v);
  if (v) {
    CHECK(r.size == 0);
    CHECK(buffer[0] == 0xAA);
    CHECK(appended == byte_vector{0x42});
  }
  return v;
}

// A PUBLISH (QoS 0) whose topic is the given bytes.
byte_vector publish_with_topic(const byte_vector& topic) {
  byte_vector out = {0x30, static_cast<std::uint8_t>(2 + topic.size()), 0,
                     static_cast<std::uint8_t>(topic.size())};
  out.insert(out.end(), topic.begin(), topic.end());
  return out;
}

publish_packet publish_to(std::string_view topic, qos q = qos::at_most_once, std::uint16_t id = 0) {
  publish_packet p;
  p.topic = topic;
  p.qos = q;
  p.packet_id = id;
  return p;
}

connect_packet connect_as(std::string_view client_id) {
  connect_packet p;
  p.client_id = client_id;
  return p;
}

}  // namespace

TEST_CASE("every codec_errc has a distinct, non-empty message", "[codec][errors]") {
  const auto& all = amqtt_test::all_codec_errcs();
  // The enum is contiguous from 1, and the table above lists all of it: a new code added at the
  // end without a test entry makes this fail.
  REQUIRE(all.size() == static_cast<std::size_t>(codec_errc::remaining_length_overflow));
  std::set<std::string> messages;
  for (std::size_t i = 0; i < all.size(); ++i) {
    INFO(all[i].name);
    CHECK(static_cast<std::size_t>(all[i].code) == i + 1);
    const std::error_code ec = all[i].code;  // implicit: is_error_code_enum
    CHECK(ec.category() == codec_category());
    CHECK(ec);
    const std::string m = ec.message();
    CHECK_FALSE(m.empty());
    CHECK(m != "unknown amqtt codec error");
    CHECK(messages.insert(m).second);  // distinct
  }
  CHECK(std::string(codec_category().name()) == "amqtt.codec");
  CHECK(codec_category().message(0) == "unknown amqtt codec error");
  CHECK(codec_category().message(static_cast<int>(all.size()) + 1) == "unknown amqtt codec error");
}

TEST_CASE("every codec_errc is produced by a minimal input", "[codec][errors]") {
  std::unique_ptr<char[]> huge;  // for remaining_length_overflow; never read or written
  const std::vector<std::pair<codec_errc, std::function<std::error_code()>>> triggers = {
      {codec_errc::malformed_remaining_length,
       [] {
         return err("30 80 80 80 80");
       }},
      {codec_errc::packet_too_large,
       [] {
         decode_options o;
         o.max_packet_size = 3;
         return amqtt_test::decode_error(from_hex("40 02"), o);
       }},
      {codec_errc::reserved_packet_type,
       [] {
         return err("00");
       }},
      {codec_errc::auth_not_supported,
       [] {
         return err("F0");
       }},
      {codec_errc::invalid_fixed_header_flags,
       [] {
         return err("41");
       }},
      {codec_errc::unexpected_packet_direction,
       [] {
         return err("C0", packet_direction::server_to_client);
       }},
      {codec_errc::truncated_packet,
       [] {
         return err("40 01 00");
       }},
      {codec_errc::trailing_bytes,
       [] {
         return err("C0 01 00");
       }},
      {codec_errc::invalid_qos,
       [] {
         return err("36");
       }},
      {codec_errc::dup_with_qos0,
       [] {
         return err("38");
       }},
      {codec_errc::zero_packet_id,
       [] {
         return err("40 02 0000");
       }},
      {codec_errc::unexpected_packet_id,
       [] {
         return encode_error(publish_to("t", qos::at_most_once, 1));
       }},
      {codec_errc::invalid_protocol_name,
       [] {
         return err("10 0D 0004 4D515455 04 02 000A 0001 70");
       }},
      {codec_errc::unsupported_protocol_level,
       [] {
         return err("10 0D 0004 4D515454 05 02 000A 0001 70");
       }},
      {codec_errc::connect_reserved_flag,
       [] {
         return err("10 0D 0004 4D515454 04 03 000A 0001 70");
       }},
      {codec_errc::will_flags_without_will,
       [] {
         return err("10 0D 0004 4D515454 04 0A 000A 0001 70");
       }},
      {codec_errc::invalid_will_qos,
       [] {
         return err("10 13 0004 4D515454 04 1E 000A 0001 70 0001 70 0001 70");
       }},
      {codec_errc::password_without_username,
       [] {
         return err("10 10 0004 4D515454 04 42 000A 0001 70 0001 70");
       }},
      {codec_errc::empty_client_id_needs_clean_session,
       [] {
         return err("10 0C 0004 4D515454 04 00 000A 0000");
       }},
      {codec_errc::connack_reserved_bits,
       [] {
         return err("20 02 02 00");
       }},
      {codec_errc::invalid_connack_return_code,
       [] {
         return err("20 02 00 06");
       }},
      {codec_errc::empty_subscribe,
       [] {
         return err("82 02 0001");
       }},
      {codec_errc::invalid_requested_qos,
       [] {
         return err("82 06 0001 0001 74 03");
       }},
      {codec_errc::empty_suback,
       [] {
         return err("90 02 0001");
       }},
      {codec_errc::invalid_suback_return_code,
       [] {
         return err("90 03 0001 03");
       }},
      {codec_errc::empty_unsubscribe,
       [] {
         return err("A2 02 0001");
       }},
      {codec_errc::ill_formed_utf8,
       [] {
         return err("30 03 0001 80");
       }},
      {codec_errc::utf8_null_character,
       [] {
         return err("30 03 0001 00");
       }},
      {codec_errc::string_too_long,
       [] {
         const std::string topic(65536, 'a');
         return encode_error(publish_to(topic));
       }},
      {codec_errc::empty_topic,
       [] {
         return err("30 02 0000");
       }},
      {codec_errc::wildcard_in_topic_name,
       [] {
         return err("30 03 0001 23");
       }},
      {codec_errc::invalid_topic_filter,
       [] {
         return err("82 07 0001 0002 612B 00");
       }},
      {codec_errc::buffer_too_small,
       [] {
         std::uint8_t one[1];
         return encode(pingreq_packet{}, one, 1).error;
       }},
      {codec_errc::remaining_length_overflow,
       [&huge] {
         huge.reset(new char[max_remaining_length]);
         publish_packet p = publish_to("t");
         p.payload = std::string_view(huge.get(), max_remaining_length - 2);
         std::uint8_t small[8];
         return encode(p, small, sizeof small).error;
       }},
  };

  std::set<codec_errc> produced;
  for (const auto& [code, trigger] : triggers) {
    INFO("expected " << amqtt_test::errc_name(code));
    const std::error_code got = trigger();
    CHECK(got == code);
    if (got == code) produced.insert(code);
  }
  for (const auto& e : amqtt_test::all_codec_errcs()) {
    INFO("codec_errc::" << e.name << " has no trigger (or its trigger failed)");
    CHECK(produced.count(e.code) == 1);
  }
}

TEST_CASE("reserved fixed-header flags are checked for every packet type",
          "[codec][errors][MQTT-2.2.2-1][MQTT-2.2.2-2][MQTT-3.6.1-1][MQTT-3.8.1-1]"
          "[MQTT-3.10.1-1][MQTT-3.14.1-1]") {
  for (unsigned type = 1; type <= 14; ++type) {
    if (type == 3) continue;  // PUBLISH flags carry DUP, QoS and RETAIN: next test
    const unsigned required = (type == 6 || type == 8 || type == 10) ? 2u : 0u;
    byte_vector bytes = from_hex(valid_hex(type));
    INFO("packet type " << type);
    REQUIRE(bytes[0] == ((type << 4) | required));
    CHECK(amqtt_test::decode_bytes(bytes).result.status == decode_status::complete);
    for (unsigned flags = 0; flags < 16; ++flags) {
      if (flags == required) continue;
      INFO("flags " << flags);
      bytes[0] = static_cast<std::uint8_t>((type << 4) | flags);
      CHECK(amqtt_test::decode_error(bytes) == codec_errc::invalid_fixed_header_flags);
      // Rejected from the first byte alone, before the length arrives.
      CHECK(amqtt_test::decode_error(byte_vector{bytes[0]}) ==
            codec_errc::invalid_fixed_header_flags);
    }
  }
}

TEST_CASE("PUBLISH flags: QoS 3 and DUP with QoS 0 are rejected",
          "[codec][errors][MQTT-3.3.1-2][MQTT-3.3.1-4][MQTT-2.2.2-2][MQTT-4.3.1-1]") {
  for (unsigned flags = 0; flags < 16; ++flags) {
    INFO("flags " << flags);
    const unsigned q = (flags >> 1) & 3u;
    byte_vector bytes = q == 0 ? from_hex("30 03 0001 74") : from_hex("30 05 0001 74 0001");
    bytes[0] = static_cast<std::uint8_t>(0x30 | flags);
    const std::error_code ec = amqtt_test::decode_error(bytes);
    if (q == 3) {
      CHECK(ec == codec_errc::invalid_qos);
      CHECK(amqtt_test::decode_error(byte_vector{bytes[0]}) == codec_errc::invalid_qos);
    } else if (q == 0 && (flags & 8u) != 0) {
      CHECK(ec == codec_errc::dup_with_qos0);
      CHECK(amqtt_test::decode_error(byte_vector{bytes[0]}) == codec_errc::dup_with_qos0);
    } else {
      CHECK_FALSE(ec);
    }
  }
  // The encoder refuses the same packets.
  publish_packet p = publish_to("t");
  p.dup = true;
  CHECK(encode_error(p) == codec_errc::dup_with_qos0);
  p = publish_to("t", static_cast<qos>(3), 1);
  CHECK(encode_error(p) == codec_errc::invalid_qos);
}

TEST_CASE("packet identifier 0 is rejected wherever an identifier is required",
          "[codec][errors][MQTT-2.3.1-1][MQTT-2.3.1-5]") {
  for (const char* hex : {"32 05 0001 74 0000", "34 05 0001 74 0000", "40 02 0000", "50 02 0000",
                          "62 02 0000", "70 02 0000", "82 06 0000 0001 74 00", "90 03 0000 00",
                          "A2 05 0000 0001 74", "B0 02 0000"}) {
    INFO(hex);
    CHECK(err(hex) == codec_errc::zero_packet_id);
  }
  CHECK(encode_error(publish_to("t", qos::at_least_once, 0)) == codec_errc::zero_packet_id);
  CHECK(encode_error(publish_to("t", qos::exactly_once, 0)) == codec_errc::zero_packet_id);
  CHECK(encode_error(puback_packet{0}) == codec_errc::zero_packet_id);
  CHECK(encode_error(pubrec_packet{0}) == codec_errc::zero_packet_id);
  CHECK(encode_error(pubrel_packet{0}) == codec_errc::zero_packet_id);
  CHECK(encode_error(pubcomp_packet{0}) == codec_errc::zero_packet_id);
  CHECK(encode_error(unsuback_packet{0}) == codec_errc::zero_packet_id);
  CHECK(encode_error(subscribe_packet{0, {{"t", qos::at_most_once}}}) ==
        codec_errc::zero_packet_id);
  CHECK(encode_error(suback_packet{0, {suback_return_code::granted_qos0}}) ==
        codec_errc::zero_packet_id);
  CHECK(encode_error(unsubscribe_packet{0, {"t"}}) == codec_errc::zero_packet_id);
  // A QoS 0 PUBLISH has no packet identifier [MQTT-2.3.1-5].
  CHECK(encode_error(publish_to("t", qos::at_most_once, 5)) == codec_errc::unexpected_packet_id);
}

TEST_CASE("remaining length shorter or longer than the contents",
          "[codec][errors][MQTT-3.1.2-9][MQTT-3.1.2-18][MQTT-3.1.2-19][MQTT-3.1.2-20]"
          "[MQTT-3.1.2-21][MQTT-3.3.2-1][MQTT-3.1.3-3]") {
  const std::pair<const char*, codec_errc> cases[] = {
      // CONNECT
      {"10 08 0004 4D515454 04 02", codec_errc::truncated_packet},
      {"10 0A 0004 4D515454 04 02 000A", codec_errc::truncated_packet},  // no client id
      {"10 0C 0004 4D515454 04 02 000A 0001", codec_errc::truncated_packet},
      {"10 0E 0004 4D515454 04 02 000A 0001 70 00", codec_errc::trailing_bytes},
      {"10 10 0004 4D515454 04 06 000A 0001 70 0001 70", codec_errc::truncated_packet},  // -9
      {"10 10 0004 4D515454 04 02 000A 0001 70 0001 70", codec_errc::trailing_bytes},    // -18
      {"10 0D 0004 4D515454 04 82 000A 0001 70", codec_errc::truncated_packet},          // -19
      {"10 13 0004 4D515454 04 82 000A 0001 70 0001 70 0001 70",
       codec_errc::trailing_bytes},                                                      // -20
      {"10 10 0004 4D515454 04 C2 000A 0001 70 0001 70", codec_errc::truncated_packet},  // -21
      // CONNACK
      {"20 00", codec_errc::truncated_packet},
      {"20 01 00", codec_errc::truncated_packet},
      {"20 03 00 00 00", codec_errc::trailing_bytes},
      // PUBLISH: the payload takes whatever follows, so only the header fields can be short.
      {"30 00", codec_errc::truncated_packet},
      {"30 01 00", codec_errc::truncated_packet},
      {"30 02 0001", codec_errc::truncated_packet},
      {"32 03 0001 74", codec_errc::truncated_packet},
      {"32 04 0001 74 00", codec_errc::truncated_packet},
      // The acks.
      {"40 00", codec_errc::truncated_packet},
      {"50 01 01", codec_errc::truncated_packet},
      {"62 03 0001 00", codec_errc::trailing_bytes},
      {"70 03 0001 00", codec_errc::trailing_bytes},
      {"B0 01 01", codec_errc::truncated_packet},
      {"B0 03 0001 00", codec_errc::trailing_bytes},
      // SUBSCRIBE / UNSUBSCRIBE: bytes after the last entry are a truncated next entry.
      {"82 00", codec_errc::truncated_packet},
      {"82 05 0001 0001 74", codec_errc::truncated_packet},
      {"82 07 0001 0001 74 00 00", codec_errc::truncated_packet},
      {"82 06 0001 0005 74 00", codec_errc::truncated_packet},
      {"90 01 00", codec_errc::truncated_packet},
      {"A2 01 00", codec_errc::truncated_packet},
      {"A2 04 0001 0001", codec_errc::truncated_packet},
      {"A2 06 0001 0001 74 00", codec_errc::truncated_packet},
      // Header-only packets.
      {"C0 01 00", codec_errc::trailing_bytes},
      {"D0 01 00", codec_errc::trailing_bytes},
      {"E0 01 00", codec_errc::trailing_bytes},
  };
  for (const auto& [hex, code] : cases) {
    INFO(hex);
    CHECK(err(hex) == code);
  }
  // SUBACK: every byte after the packet id is a return code, so an extra one is just another.
  CHECK(decodes("90 04 0001 00 01"));
}

TEST_CASE("CONNECT: protocol name and level", "[codec][errors][MQTT-3.1.2-1][MQTT-3.1.2-2]") {
  CHECK(err("10 0D 0004 4D515455 04 02 000A 0001 70") == codec_errc::invalid_protocol_name);
  CHECK(err("10 0F 0006 4D5149736470 03 02 000A 0001 70") == codec_errc::invalid_protocol_name);
  CHECK(err("10 09 0000 04 02 000A 0001 70") == codec_errc::invalid_protocol_name);
  CHECK(err("10 0D 0004 6D717474 04 02 000A 0001 70") == codec_errc::invalid_protocol_name);
  CHECK(err("10 0D 0004 4D515454 03 02 000A 0001 70") == codec_errc::unsupported_protocol_level);
  CHECK(err("10 0D 0004 4D515454 05 02 000A 0001 70") == codec_errc::unsupported_protocol_level);
  CHECK(decodes("10 0D 0004 4D515454 04 02 000A 0001 70"));
}

TEST_CASE("CONNECT flag rules",
          "[codec][errors][MQTT-3.1.2-3][MQTT-3.1.2-11][MQTT-3.1.2-13][MQTT-3.1.2-14]"
          "[MQTT-3.1.2-15][MQTT-3.1.2-22][MQTT-3.1.3-7]") {
  // Reserved bit 0 [MQTT-3.1.2-3].
  CHECK(err("10 0D 0004 4D515454 04 01 000A 0001 70") == codec_errc::connect_reserved_flag);
  CHECK(err("10 0D 0004 4D515454 04 03 000A 0001 70") == codec_errc::connect_reserved_flag);
  // Will flag 0: will QoS must be 0 [MQTT-3.1.2-13], will retain 0 [MQTT-3.1.2-15] (-11).
  CHECK(err("10 0D 0004 4D515454 04 0A 000A 0001 70") == codec_errc::will_flags_without_will);
  CHECK(err("10 0D 0004 4D515454 04 12 000A 0001 70") == codec_errc::will_flags_without_will);
  CHECK(err("10 0D 0004 4D515454 04 1A 000A 0001 70") == codec_errc::will_flags_without_will);
  CHECK(err("10 0D 0004 4D515454 04 22 000A 0001 70") == codec_errc::will_flags_without_will);
  // Will flag 1: QoS 0..2 but never 3 [MQTT-3.1.2-14].
  CHECK(err("10 13 0004 4D515454 04 1E 000A 0001 70 0001 70 0001 70") ==
        codec_errc::invalid_will_qos);
  for (const char* ok : {"10 13 0004 4D515454 04 06 000A 0001 70 0001 70 0001 70",
                         "10 13 0004 4D515454 04 0E 000A 0001 70 0001 70 0001 70",
                         "10 13 0004 4D515454 04 36 000A 0001 70 0001 70 0001 70"}) {
    INFO(ok);
    CHECK(decodes(ok));
  }
  // Password only with a user name [MQTT-3.1.2-22].
  CHECK(err("10 10 0004 4D515454 04 42 000A 0001 70 0001 70") ==
        codec_errc::password_without_username);
  // Zero-byte client id needs clean session [MQTT-3.1.3-7].
  CHECK(err("10 0C 0004 4D515454 04 00 000A 0000") ==
        codec_errc::empty_client_id_needs_clean_session);
  CHECK(decodes("10 0C 0004 4D515454 04 02 000A 0000"));

  // The encoder: the struct cannot express a reserved bit or will flags without a will, but the
  // other rules are checked.
  connect_packet p = connect_as("c");
  p.password = "pw";
  CHECK(encode_error(p) == codec_errc::password_without_username);
  p = connect_as("c");
  p.will = will_message{"w", "m", static_cast<qos>(3), false};
  CHECK(encode_error(p) == codec_errc::invalid_will_qos);
  p = connect_as("");
  p.clean_session = false;
  CHECK(encode_error(p) == codec_errc::empty_client_id_needs_clean_session);
}

TEST_CASE("CONNECT strings: client id, will topic, user name are checked, password is binary",
          "[codec][errors][MQTT-3.1.3-4][MQTT-3.1.3-10][MQTT-3.1.3-11][MQTT-1.5.3-1]"
          "[MQTT-1.5.3-2]") {
  CHECK(err("10 0D 0004 4D515454 04 02 000A 0001 00") == codec_errc::utf8_null_character);
  CHECK(err("10 0F 0004 4D515454 04 02 000A 0003 EDA080") == codec_errc::ill_formed_utf8);
  CHECK(err("10 13 0004 4D515454 04 06 000A 0001 70 0001 23 0001 70") ==
        codec_errc::wildcard_in_topic_name);
  CHECK(err("10 12 0004 4D515454 04 06 000A 0001 70 0000 0001 70") == codec_errc::empty_topic);
  CHECK(err("10 13 0004 4D515454 04 06 000A 0001 70 0001 C0 0001 70") ==
        codec_errc::ill_formed_utf8);
  CHECK(err("10 10 0004 4D515454 04 82 000A 0001 70 0001 00") == codec_errc::utf8_null_character);
  CHECK(err("10 10 0004 4D515454 04 82 000A 0001 70 0001 FF") == codec_errc::ill_formed_utf8);
  // Will payload and password are binary data: NUL and invalid UTF-8 are fine.
  CHECK(decodes("10 16 0004 4D515454 04 C2 000A 0001 70 0001 70 0004 00FF C080"));
  CHECK(decodes("10 16 0004 4D515454 04 06 000A 0001 70 0001 70 0004 00FF C080"));

  const std::string long_string(65536, 'x');
  CHECK(encode_error(connect_as(long_string)) == codec_errc::string_too_long);
  CHECK(encode_error(connect_as("\xC0\x80")) == codec_errc::ill_formed_utf8);
  connect_packet p = connect_as("c");
  p.username = long_string;
  CHECK(encode_error(p) == codec_errc::string_too_long);
  p.username = std::string_view("a\0b", 3);
  CHECK(encode_error(p) == codec_errc::utf8_null_character);
  p.username = "u";
  p.password = long_string;
  CHECK(encode_error(p) == codec_errc::string_too_long);
  p = connect_as("c");
  p.will = will_message{"w", long_string, qos::at_most_once, false};
  CHECK(encode_error(p) == codec_errc::string_too_long);
  p.will = will_message{"w/#", "m", qos::at_most_once, false};
  CHECK(encode_error(p) == codec_errc::wildcard_in_topic_name);
  p.will = will_message{"", "m", qos::at_most_once, false};
  CHECK(encode_error(p) == codec_errc::empty_topic);
}

TEST_CASE("CONNACK: reserved acknowledge flags and return codes 0..5", "[codec][errors]") {
  for (unsigned bit = 1; bit < 8; ++bit) {
    byte_vector bytes = from_hex("20 02 00 00");
    bytes[2] = static_cast<std::uint8_t>(1u << bit);
    INFO("flags " << int(bytes[2]));
    CHECK(amqtt_test::decode_error(bytes) == codec_errc::connack_reserved_bits);
  }
  CHECK(err("20 02 FF 00") == codec_errc::connack_reserved_bits);
  for (unsigned rc = 0; rc < 256; ++rc) {
    byte_vector bytes = from_hex("20 02 00 00");
    bytes[3] = static_cast<std::uint8_t>(rc);
    INFO("return code " << rc);
    const auto d = amqtt_test::decode_bytes(bytes);
    if (rc <= 5) {
      REQUIRE(d.result.status == decode_status::complete);
      CHECK(std::get<connack_packet>(d.packet).return_code == static_cast<connect_return_code>(rc));
    } else {
      CHECK(d.result.error == codec_errc::invalid_connack_return_code);
    }
  }
  CHECK(encode_error(connack_packet{false, static_cast<connect_return_code>(6)}) ==
        codec_errc::invalid_connack_return_code);
}

TEST_CASE("SUBSCRIBE and UNSUBSCRIBE: at least one filter, requested QoS byte",
          "[codec][errors][MQTT-3.8.3-3][MQTT-3-8.3-4][MQTT-3.10.3-2][MQTT-3.8.3-1]"
          "[MQTT-3.10.3-1]") {
  CHECK(err("82 02 0001") == codec_errc::empty_subscribe);
  CHECK(err("A2 02 0001") == codec_errc::empty_unsubscribe);
  for (unsigned q = 0; q < 256; ++q) {
    byte_vector bytes = from_hex("82 06 0001 0001 74 00");
    bytes[7] = static_cast<std::uint8_t>(q);
    INFO("requested QoS byte " << q);
    if (q <= 2)
      CHECK_FALSE(amqtt_test::decode_error(bytes));
    else
      CHECK(amqtt_test::decode_error(bytes) == codec_errc::invalid_requested_qos);
  }
  // The second entry is checked too.
  CHECK(err("82 0A 0001 0001 74 01 0001 75 40") == codec_errc::invalid_requested_qos);
  CHECK(err("82 05 0001 0000 00") == codec_errc::empty_topic);
  CHECK(err("82 09 0001 0001 74 00 0000 00") == codec_errc::empty_topic);
  CHECK(err("A2 04 0001 0000") == codec_errc::empty_topic);
  CHECK(err("82 06 0001 0001 00 00") == codec_errc::utf8_null_character);
  CHECK(err("A2 05 0001 0001 FF") == codec_errc::ill_formed_utf8);

  CHECK(encode_error(subscribe_packet{1, {}}) == codec_errc::empty_subscribe);
  CHECK(encode_error(unsubscribe_packet{1, {}}) == codec_errc::empty_unsubscribe);
  CHECK(encode_error(subscribe_packet{1, {{"t", static_cast<qos>(3)}}}) ==
        codec_errc::invalid_requested_qos);
  CHECK(encode_error(subscribe_packet{1, {{"t", qos::at_most_once}, {"", qos::at_most_once}}}) ==
        codec_errc::empty_topic);
  CHECK(encode_error(unsubscribe_packet{1, {"t", "a/#/b"}}) == codec_errc::invalid_topic_filter);
}

TEST_CASE("SUBACK: at least one return code, each 0x00, 0x01, 0x02 or 0x80",
          "[codec][errors][MQTT-3.9.3-2]") {
  CHECK(err("90 02 0001") == codec_errc::empty_suback);
  for (unsigned c = 0; c < 256; ++c) {
    byte_vector bytes = from_hex("90 04 0001 00 00");
    bytes[5] = static_cast<std::uint8_t>(c);
    INFO("return code " << c);
    if (c <= 2 || c == 0x80)
      CHECK_FALSE(amqtt_test::decode_error(bytes));
    else
      CHECK(amqtt_test::decode_error(bytes) == codec_errc::invalid_suback_return_code);
  }
  CHECK(encode_error(suback_packet{1, {}}) == codec_errc::empty_suback);
  CHECK(encode_error(suback_packet{1, {static_cast<suback_return_code>(3)}}) ==
        codec_errc::invalid_suback_return_code);
  CHECK(encode_error(suback_packet{1, {static_cast<suback_return_code>(0x81)}}) ==
        codec_errc::invalid_suback_return_code);
}

TEST_CASE("UTF-8: ill-formed sequences are rejected", "[codec][errors][utf8][MQTT-1.5.3-1]") {
  const char* ill_formed[] = {
      "C0 80",              // overlong U+0000
      "C1 BF",              // overlong U+007F
      "E0 80 80",           // overlong 3-byte
      "E0 9F BF",           // overlong U+07FF
      "F0 80 80 80",        // overlong 4-byte
      "F0 8F BF BF",        // overlong U+FFFF
      "ED A0 80",           // U+D800
      "ED AD BF",           // U+DB7F
      "ED B0 80",           // U+DC00
      "ED BF BF",           // U+DFFF
      "ED A0 BD ED B8 80",  // a surrogate pair in CESU-8 form
      "F4 90 80 80",        // U+110000
      "F5 80 80 80",        // beyond U+10FFFF
      "F7 BF BF BF",        //
      "F8 88 80 80 80",     // 5-byte form
      "FC 84 80 80 80 80",  // 6-byte form
      "FE",
      "FF",
      "C3",           // truncated 2-byte
      "E2 82",        // truncated 3-byte
      "F0 9F 98",     // truncated 4-byte
      "C3 41",        // lead byte then ASCII
      "E2 41 AC",     //
      "F0 9F 41 80",  //
      "80",           // lone continuation
      "BF",           //
      "41 80 41",     //
      "C3 A9 A9",     // one continuation too many
  };
  for (const char* hex : ill_formed) {
    INFO(hex);
    const byte_vector b = from_hex(hex);
    CHECK(validate_utf8(amqtt_test::as_chars(b)) == codec_errc::ill_formed_utf8);
    CHECK(amqtt_test::decode_error(publish_with_topic(b)) == codec_errc::ill_formed_utf8);
  }
  // At every position, including across the 8-byte ASCII fast path.
  for (std::size_t pos = 0; pos < 24; ++pos) {
    std::string s(24, 'a');
    s[pos] = '\x80';
    INFO("bad byte at " << pos);
    CHECK(validate_utf8(s) == codec_errc::ill_formed_utf8);
    s[pos] = '\xE2';  // a lead byte with too few continuation bytes after it (or none)
    if (pos + 1 < s.size()) CHECK(validate_utf8(s) == codec_errc::ill_formed_utf8);
    s.resize(pos + 1);
    CHECK(validate_utf8(s) == codec_errc::ill_formed_utf8);
  }
}

TEST_CASE("UTF-8: well-formed text passes, control characters and non-characters included",
          "[codec][utf8][MQTT-1.5.3-1]") {
  const char* well_formed[] = {
      "",
      "61",
      "C2 80",
      "C2 9F",
      "DF BF",
      "E0 A0 80",
      "E2 82 AC",
      "ED 9F BF",
      "EE 80 80",
      "EF BF BF",
      "F0 90 80 80",
      "F0 9F 98 80",
      "F4 8F BF BF",
      "01",
      "1F",
      "7F",
      "EF BB BF",
      "61 C3 A9 62 E2 82 AC 63 F0 9F 98 80 64",
  };
  for (const char* hex : well_formed) {
    INFO(hex);
    CHECK_FALSE(validate_utf8(amqtt_test::as_chars(from_hex(hex))));
  }
  CHECK_FALSE(validate_utf8(std::string(1000, 'x') + "\xF0\x9F\x98\x80" + std::string(9, 'y')));
}

TEST_CASE("UTF-8: U+0000 is rejected", "[codec][errors][utf8][MQTT-1.5.3-2][MQTT-4.7.3-2]") {
  for (std::size_t pos = 0; pos < 24; ++pos) {
    std::string s(24, 'a');
    s[pos] = '\0';
    INFO("NUL at " << pos);
    CHECK(validate_utf8(s) == codec_errc::utf8_null_character);
    CHECK(validate_mqtt_string(s) == codec_errc::utf8_null_character);
    CHECK(validate_topic_name(s) == codec_errc::utf8_null_character);
    CHECK(validate_topic_filter(s) == codec_errc::utf8_null_character);
  }
  CHECK(validate_utf8(std::string_view("\0", 1)) == codec_errc::utf8_null_character);
  CHECK(err("30 03 0001 00") == codec_errc::utf8_null_character);
  CHECK(err("82 06 0001 0001 00 00") == codec_errc::utf8_null_character);
  CHECK(encode_error(publish_to(std::string_view("a\0", 2))) == codec_errc::utf8_null_character);
}

TEST_CASE("UTF-8: U+FEFF is kept verbatim, never stripped", "[codec][utf8][MQTT-1.5.3-3]") {
  const byte_vector topic = from_hex("EF BB BF 61 2F EF BB BF");
  const byte_vector bytes = publish_with_topic(topic);
  const auto d = amqtt_test::decode_bytes(bytes);
  REQUIRE(d.result.status == decode_status::complete);
  const auto& p = std::get<publish_packet>(d.packet);
  CHECK(p.topic == amqtt_test::as_chars(topic));
  CHECK(p.topic.size() == 8);
  CHECK(amqtt_test::encode_to_vector(p) == bytes);
  // A BOM is an ordinary character to matching too.
  CHECK_FALSE(topic_matches("a/+", p.topic));
  CHECK(
      topic_matches("\xEF\xBB\xBF"
                    "a/+",
                    p.topic));
}

TEST_CASE("topic names: non-empty, no wildcards, no U+0000, at most 65,535 bytes",
          "[codec][errors][topic][MQTT-4.7.1-1][MQTT-4.7.3-1][MQTT-4.7.3-2][MQTT-4.7.3-3]"
          "[MQTT-3.3.2-2]") {
  for (const char* ok : {"a", "/", "//", "a/b", "a//b", "/a", "a/", "$SYS/x", " ", "a b", "a-b.c",
                         "\xEF\xBB\xBF", "caf\xC3\xA9/\xE2\x82\xAC"}) {
    INFO(ok);
    CHECK_FALSE(validate_topic_name(ok));
  }
  for (const char* wild : {"+", "#", "a/+", "a/#", "+/a", "a+b", "a#b", "a/b#", "sport+"}) {
    INFO(wild);
    CHECK(validate_topic_name(wild) == codec_errc::wildcard_in_topic_name);
  }
  CHECK(validate_topic_name("") == codec_errc::empty_topic);
  CHECK(validate_topic_name(std::string(65535, 'a')) == std::error_code{});
  CHECK(validate_topic_name(std::string(65536, 'a')) == codec_errc::string_too_long);
  CHECK(validate_topic_name("\xC3") == codec_errc::ill_formed_utf8);

  // In PUBLISH, both ways.
  CHECK(err("30 05 0003 612F2B") == codec_errc::wildcard_in_topic_name);
  CHECK(err("30 03 0001 23") == codec_errc::wildcard_in_topic_name);
  CHECK(err("30 02 0000") == codec_errc::empty_topic);
  CHECK(encode_error(publish_to("a/+")) == codec_errc::wildcard_in_topic_name);
  CHECK(encode_error(publish_to("a/#")) == codec_errc::wildcard_in_topic_name);
  CHECK(encode_error(publish_to("")) == codec_errc::empty_topic);
}

TEST_CASE("topic filters: '+' fills a level, '#' fills the last level",
          "[codec][errors][topic][MQTT-4.7.1-2][MQTT-4.7.1-3][MQTT-4.7.3-1][MQTT-4.7.3-2]"
          "[MQTT-4.7.3-3]") {
  for (const char* ok : {"#", "+", "a", "a/#", "a/+", "+/+", "+/#", "/+", "+/", "/#", "a/+/b",
                         "+/a/#", "/", "//", "$SYS/#", "a//b", "a/b/c/d/e/f/#", "+/+/+"}) {
    INFO(ok);
    CHECK_FALSE(validate_topic_filter(ok));
  }
  for (const char* bad : {"a#", "#a", "a/#/b", "#/", "#/a", "##", "a/##", "a+", "+a", "a/b+", "++",
                          "a/+b/c", "a/++", "+#", "#+", "sport/tennis#", "a/#b"}) {
    INFO(bad);
    CHECK(validate_topic_filter(bad) == codec_errc::invalid_topic_filter);
  }
  CHECK(validate_topic_filter("") == codec_errc::empty_topic);
  CHECK(validate_topic_filter(std::string(65535, 'a')) == std::error_code{});
  CHECK(validate_topic_filter(std::string(65534, 'a') + "#") == codec_errc::invalid_topic_filter);
  CHECK(validate_topic_filter(std::string(65536, 'a')) == codec_errc::string_too_long);
  CHECK(validate_topic_filter("a/\xED\xA0\x80") == codec_errc::ill_formed_utf8);

  CHECK(err("82 07 0001 0002 2361 00") == codec_errc::invalid_topic_filter);
  CHECK(err("A2 06 0001 0002 612B") == codec_errc::invalid_topic_filter);
  CHECK(encode_error(subscribe_packet{1, {{"a/#/b", qos::at_most_once}}}) ==
        codec_errc::invalid_topic_filter);
}

TEST_CASE("direction: a client rejects packets only a client may send",
          "[codec][errors][direction][MQTT-4.8.0-1]") {
  const std::set<unsigned> client_only = {1, 8, 10, 12, 14};  // CONNECT SUBSCRIBE UNSUBSCRIBE
                                                              // PINGREQ DISCONNECT
  const std::set<unsigned> server_only = {2, 9, 11, 13};      // CONNACK SUBACK UNSUBACK PINGRESP
  for (unsigned type = 1; type <= 14; ++type) {
    INFO("packet type " << type);
    const char* hex = valid_hex(type);
    CHECK(decodes(hex, packet_direction::any));
    if (client_only.count(type) != 0) {
      CHECK(err(hex, packet_direction::server_to_client) ==
            codec_errc::unexpected_packet_direction);
      // Known from the first byte.
      const byte_vector first = {from_hex(hex)[0]};
      decode_options o;
      o.direction = packet_direction::server_to_client;
      CHECK(amqtt_test::decode_error(first, o) == codec_errc::unexpected_packet_direction);
    } else {
      CHECK(decodes(hex, packet_direction::server_to_client));
    }
    if (server_only.count(type) != 0)
      CHECK(err(hex, packet_direction::client_to_server) ==
            codec_errc::unexpected_packet_direction);
    else
      CHECK(decodes(hex, packet_direction::client_to_server));
  }
  // The direction is checked before the flags: a CONNECT with bad flags is still a CONNECT.
  CHECK(err("11 00", packet_direction::server_to_client) ==
        codec_errc::unexpected_packet_direction);
}

TEST_CASE("AUTH (type 15) and type 0 are rejected in every direction", "[codec][errors]") {
  for (packet_direction d : {packet_direction::any, packet_direction::server_to_client,
                             packet_direction::client_to_server}) {
    for (unsigned flags = 0; flags < 16; ++flags) {
      const auto auth = static_cast<std::uint8_t>(0xF0 | flags);
      const auto zero = static_cast<std::uint8_t>(flags);
      decode_options o;
      o.direction = d;
      CHECK(amqtt_test::decode_error({auth, 0x00}, o) == codec_errc::auth_not_supported);
      CHECK(amqtt_test::decode_error({auth}, o) == codec_errc::auth_not_supported);
      CHECK(amqtt_test::decode_error({zero, 0x00}, o) == codec_errc::reserved_packet_type);
      CHECK(amqtt_test::decode_error({zero}, o) == codec_errc::reserved_packet_type);
    }
  }
  // decode_body never sees type 15 through the decoder; called directly it refuses too.
  fixed_header h;
  h.type = packet_type::auth;
  packet out;
  const std::uint8_t none[1] = {0};
  CHECK(decode_body(h, none, out) == codec_errc::auth_not_supported);
}

TEST_CASE("packet_too_large: refused from the fixed header, before any body byte",
          "[codec][errors]") {
  decode_options o;
  o.max_packet_size = 10;
  // 2-byte header + 8-byte body = 10: allowed.
  CHECK_FALSE(amqtt_test::decode_error(from_hex("30 08 0001 74 4142434445"), o));
  // 11 bytes: refused, also when only the header has arrived.
  CHECK(amqtt_test::decode_error(from_hex("30 09 0001 74 414243444546"), o) ==
        codec_errc::packet_too_large);
  CHECK(amqtt_test::decode_error(from_hex("30 09"), o) == codec_errc::packet_too_large);
  // A 2-byte limit still admits the header-only packets.
  o.max_packet_size = 2;
  CHECK_FALSE(amqtt_test::decode_error(from_hex("D0 00"), o));
  CHECK(amqtt_test::decode_error(from_hex("40 02"), o) == codec_errc::packet_too_large);
  // The default limit is 16 MiB, fixed header included.
  CHECK(decode_options{}.max_packet_size == default_max_packet_size);
  CHECK(default_max_packet_size == 16u * 1024u * 1024u);
  for (std::uint32_t rl : {16777211u, 16777212u}) {
    byte_vector header = {0x30, 0, 0, 0, 0};
    REQUIRE(encode_remaining_length(rl, header.data() + 1) == 4);
    const auto d = amqtt_test::decode_bytes(header);
    INFO("remaining length " << rl);
    if (rl + 5 <= default_max_packet_size)
      CHECK(d.result.status == decode_status::need_more);
    else
      CHECK(d.result.error == codec_errc::packet_too_large);
  }
}

TEST_CASE("buffer_too_small: encoding into a buffer one byte short writes nothing",
          "[codec][errors]") {
  const publish_packet p = publish_to("a/b", qos::at_least_once, 9);
  const std::size_t size = encoded_size(p);
  byte_vector buffer(size, 0xEE);
  CHECK(encode(p, buffer.data(), size - 1).error == codec_errc::buffer_too_small);
  CHECK(encode(p, buffer.data(), size - 1).size == 0);
  CHECK(buffer == byte_vector(size, 0xEE));
  CHECK(encode(p, nullptr, 0).error == codec_errc::buffer_too_small);
  const encode_result ok = encode(p, buffer.data(), size);
  CHECK_FALSE(ok.error);
  CHECK(ok.size == size);
}

TEST_CASE("first byte: every value in every direction against a reference model",
          "[codec][errors][direction][MQTT-2.2.2-1][MQTT-2.2.2-2][MQTT-3.3.1-4]") {
  // An independent statement of the first-byte rules; decode_packet sees only that byte.
  auto expected = [](unsigned byte, packet_direction d) -> std::error_code {
    const unsigned type = byte >> 4, flags = byte & 15u;
    if (type == 0) return codec_errc::reserved_packet_type;
    if (type == 15) return codec_errc::auth_not_supported;
    const std::set<unsigned> from_client_only = {1, 8, 10, 12, 14};
    const std::set<unsigned> from_server_only = {2, 9, 11, 13};
    if ((d == packet_direction::server_to_client && from_client_only.count(type) != 0) ||
        (d == packet_direction::client_to_server && from_server_only.count(type) != 0))
      return codec_errc::unexpected_packet_direction;
    if (type == 3) {
      const unsigned q = (flags >> 1) & 3u;
      if (q == 3) return codec_errc::invalid_qos;
      if (q == 0 && (flags & 8u) != 0) return codec_errc::dup_with_qos0;
      return {};
    }
    const unsigned required = (type == 6 || type == 8 || type == 10) ? 2u : 0u;
    return flags == required ? std::error_code{}
                             : make_error_code(codec_errc::invalid_fixed_header_flags);
  };
  for (packet_direction d : {packet_direction::any, packet_direction::server_to_client,
                             packet_direction::client_to_server}) {
    for (unsigned byte = 0; byte < 256; ++byte) {
      decode_options o;
      o.direction = d;
      const auto got = amqtt_test::decode_bytes({static_cast<std::uint8_t>(byte)}, o);
      const std::error_code want = expected(byte, d);
      if (got.result.error != want || (!want && got.result.status != decode_status::need_more)) {
        INFO("first byte " << byte << ", direction " << static_cast<int>(d));
        CHECK(got.result.error == want);
        CHECK(got.result.status == (want ? decode_status::error : decode_status::need_more));
      }
    }
  }
}

TEST_CASE("topic names and filters: a bad byte is found at every position",
          "[codec][errors][topic][utf8][MQTT-4.7.1-1][MQTT-1.5.3-1][MQTT-1.5.3-2]") {
  // Covers word-at-a-time fast paths: every length up to 40, every position.
  for (std::size_t len = 1; len <= 40; ++len) {
    const std::string plain(len, 'a');
    INFO("length " << len);
    CHECK_FALSE(validate_topic_name(plain));
    CHECK_FALSE(validate_topic_filter(plain));
    for (std::size_t pos = 0; pos < len; ++pos) {
      INFO("position " << pos);
      std::string s = plain;
      s[pos] = '+';
      CHECK(validate_topic_name(s) == codec_errc::wildcard_in_topic_name);
      s[pos] = '#';
      CHECK(validate_topic_name(s) == codec_errc::wildcard_in_topic_name);
      s[pos] = '\0';
      CHECK(validate_topic_name(s) == codec_errc::utf8_null_character);
      CHECK(validate_topic_filter(s) == codec_errc::utf8_null_character);
      s[pos] = '\x80';
      CHECK(validate_topic_name(s) == codec_errc::ill_formed_utf8);
      CHECK(validate_topic_filter(s) == codec_errc::ill_formed_utf8);
      // Neighbours of '+' (0x2B) and '#' (0x23) in value and bit pattern are ordinary.
      for (char c : {'\x22', '\x24', '\x2A', '\x2C', '\x03', '\x0B', '/', '$', '\x7F'}) {
        s[pos] = c;
        if (validate_topic_name(s)) {
          INFO("byte " << int(c));
          CHECK_FALSE(validate_topic_name(s));
        }
      }
      // A two-byte character ending at the last position or spanning an 8-byte boundary.
      if (pos + 1 < len) {
        s = plain;
        s[pos] = '\xC3';
        s[pos + 1] = '\xA9';
        CHECK_FALSE(validate_topic_name(s));
        s[pos + 1] = '+';  // both broken: either error is right
        const std::error_code both = validate_topic_name(s);
        CHECK((both == codec_errc::wildcard_in_topic_name || both == codec_errc::ill_formed_utf8));
        s[pos + 1] = 'a';
        CHECK(validate_topic_name(s) == codec_errc::ill_formed_utf8);
      }
    }
  }
}
