// Byte-exact vectors for every MQTT 3.1.1 packet type, both ways: encoding a packet gives exactly
// the listed bytes, and decoding those bytes gives back an equal packet. Plus the Remaining
// Length varint at every size boundary.

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include <amqtt/codec/codec.hpp>

#include "codec/support/codec_util.hpp"

using namespace amqtt;
using amqtt_test::byte_vector;
using amqtt_test::from_hex;
using amqtt_test::to_hex;

namespace {

struct vector_case {
  const char* name;
  packet p;
  const char* hex;
};

// Encodes, compares with the bytes, decodes the bytes, compares with the packet; also through a
// fixed buffer of exactly the right size and with encoded_size().
void check_vector(const vector_case& c) {
  INFO("vector: " << c.name);
  const byte_vector expected = from_hex(c.hex);
  INFO("expected bytes: " << to_hex(expected));

  REQUIRE_FALSE(validate_packet(c.p));
  CHECK(encoded_size(c.p) == expected.size());

  const byte_vector appended = amqtt_test::encode_to_vector(c.p);
  CHECK(to_hex(appended) == to_hex(expected));

  byte_vector fixed(expected.size());
  const encode_result r = encode(c.p, fixed.data(), fixed.size());
  REQUIRE_FALSE(r.error);
  CHECK(r.size == expected.size());
  CHECK(fixed == expected);

  const auto d = amqtt_test::decode_bytes(expected);
  REQUIRE(d.result.status == decode_status::complete);
  CHECK_FALSE(d.result.error);
  CHECK(d.result.consumed == expected.size());
  CHECK(d.packet == c.p);
  CHECK(type_of(d.packet) == type_of(c.p));

  // Followed by more bytes (the start of another packet): only this packet is consumed.
  byte_vector two = expected;
  two.push_back(0xC0);
  const auto d2 = amqtt_test::decode_bytes(two);
  REQUIRE(d2.result.status == decode_status::complete);
  CHECK(d2.result.consumed == expected.size());
  CHECK(d2.packet == c.p);
}

connect_packet make_connect(std::string_view client_id, bool clean, std::uint16_t keep_alive) {
  connect_packet p;
  p.client_id = client_id;
  p.clean_session = clean;
  p.keep_alive = keep_alive;
  return p;
}

publish_packet make_publish(std::string_view topic, std::string_view payload, qos q,
                            std::uint16_t id = 0, bool retain = false, bool dup = false) {
  publish_packet p;
  p.topic = topic;
  p.payload = payload;
  p.qos = q;
  p.packet_id = id;
  p.retain = retain;
  p.dup = dup;
  return p;
}

}  // namespace

TEST_CASE("CONNECT vectors: clean session, keep alive, client id",
          "[codec][vectors][MQTT-3.1.2-3][MQTT-3.1.3-1][MQTT-3.1.3-3][MQTT-3.1.3-4]"
          "[MQTT-3.1.2-11][MQTT-3.1.2-13][MQTT-3.1.2-15][MQTT-3.1.2-18][MQTT-3.1.2-20]") {
  const vector_case cases[] = {
      {"client id p, clean, keep alive 10", make_connect("p", true, 10),
       "10 0D 0004 4D515454 04 02 000A 0001 70"},
      {"clean session 0, keep alive 0", make_connect("abc", false, 0),
       "10 0F 0004 4D515454 04 00 0000 0003 616263"},
      {"empty client id with clean session", make_connect("", true, 60),
       "10 0C 0004 4D515454 04 02 003C 0000"},
      {"keep alive 65535", make_connect("p", true, 65535),
       "10 0D 0004 4D515454 04 02 FFFF 0001 70"},
  };
  for (const auto& c : cases) check_vector(c);
}

TEST_CASE("CONNECT vectors: will, user name and password in payload order",
          "[codec][vectors][MQTT-3.1.3-1][MQTT-3.1.2-9][MQTT-3.1.2-14][MQTT-3.1.2-19]"
          "[MQTT-3.1.2-21][MQTT-3.1.2-22][MQTT-3.1.3-10][MQTT-3.1.3-11]") {
  connect_packet user_only = make_connect("c", true, 60);
  user_only.username = "u";

  connect_packet user_pass = user_only;
  user_pass.password = "pw";

  connect_packet empty_user_pass = make_connect("c", true, 60);
  empty_user_pass.username = "";
  empty_user_pass.password = "";

  connect_packet will0 = make_connect("c", true, 60);
  will0.will = will_message{"w", "bye", qos::at_most_once, false};

  connect_packet will2 = will0;
  will2.will->qos = qos::exactly_once;

  connect_packet everything = make_connect("cid", false, 65535);
  everything.will = will_message{"w", "", qos::at_least_once, true};
  everything.username = "u";
  everything.password = "pw";

  connect_packet binary_will = make_connect("c", true, 60);
  binary_will.will = will_message{"w", std::string_view("\x00\xFF", 2), qos::at_most_once, true};

  const vector_case cases[] = {
      {"user name only (flags 0x82)", user_only, "10 10 0004 4D515454 04 82 003C 0001 63 0001 75"},
      {"user name and password (flags 0xC2)", user_pass,
       "10 14 0004 4D515454 04 C2 003C 0001 63 0001 75 0002 7077"},
      {"empty user name and empty password are present", empty_user_pass,
       "10 11 0004 4D515454 04 C2 003C 0001 63 0000 0000"},
      {"will QoS 0 (flags 0x06)", will0,
       "10 15 0004 4D515454 04 06 003C 0001 63 0001 77 0003 627965"},
      {"will QoS 2 (flags 0x16)", will2,
       "10 15 0004 4D515454 04 16 003C 0001 63 0001 77 0003 627965"},
      {"will QoS 1 retained + user + password, clean 0 (flags 0xEC)", everything,
       "10 1B 0004 4D515454 04 EC FFFF 0003 636964 0001 77 0000 0001 75 0002 7077"},
      {"binary will payload, retained (flags 0x26)", binary_will,
       "10 14 0004 4D515454 04 26 003C 0001 63 0001 77 0002 00FF"},
  };
  for (const auto& c : cases) check_vector(c);
}

TEST_CASE("CONNACK vectors: session present and return codes 0..5", "[codec][vectors]") {
  std::vector<vector_case> cases = {
      {"accepted", connack_packet{false, connect_return_code::accepted}, "20 02 00 00"},
      {"accepted, session present", connack_packet{true, connect_return_code::accepted},
       "20 02 01 00"},
  };
  const char* rc_hex[] = {"20 02 00 01", "20 02 00 02", "20 02 00 03", "20 02 00 04",
                          "20 02 00 05"};
  for (int rc = 1; rc <= 5; ++rc)
    cases.push_back(
        {"refused", connack_packet{false, static_cast<connect_return_code>(rc)}, rc_hex[rc - 1]});
  for (const auto& c : cases) check_vector(c);
}

TEST_CASE("PUBLISH vectors: QoS 0/1/2, DUP, RETAIN, empty and binary payloads",
          "[codec][vectors][MQTT-2.3.1-5][MQTT-3.3.2-1][MQTT-1.5.3-3]") {
  const vector_case cases[] = {
      {"QoS 0: no packet id", make_publish("a/b", "hi", qos::at_most_once),
       "30 07 0003 612F62 6869"},
      {"QoS 0 retained, empty payload", make_publish("a/b", "", qos::at_most_once, 0, true),
       "31 05 0003 612F62"},
      {"QoS 1 id 10", make_publish("t", "x", qos::at_least_once, 10), "32 06 0001 74 000A 78"},
      {"QoS 1 DUP id 0x0102", make_publish("t", "", qos::at_least_once, 0x0102, false, true),
       "3A 05 0001 74 0102"},
      {"QoS 2 DUP RETAIN id 65535, empty payload",
       make_publish("t", "", qos::exactly_once, 65535, true, true), "3D 05 0001 74 FFFF"},
      {"binary payload with NUL and 0xFF",
       make_publish("t", std::string_view("\x00\xFF", 2), qos::at_most_once), "30 05 0001 74 00FF"},
      {"topic with U+FEFF kept verbatim and U+00E9",
       make_publish("\xEF\xBB\xBF\xC3\xA9", "", qos::at_most_once), "30 07 0005 EFBBBFC3A9"},
  };
  for (const auto& c : cases) check_vector(c);
}

TEST_CASE("PUBACK, PUBREC, PUBREL, PUBCOMP, UNSUBACK vectors",
          "[codec][vectors][MQTT-3.6.1-1][MQTT-2.2.2-1]") {
  const vector_case cases[] = {
      {"PUBACK 1", puback_packet{1}, "40 02 0001"},
      {"PUBREC 0x1234", pubrec_packet{0x1234}, "50 02 1234"},
      {"PUBREL 65535 (flags 0010)", pubrel_packet{65535}, "62 02 FFFF"},
      {"PUBCOMP 256", pubcomp_packet{256}, "70 02 0100"},
      {"UNSUBACK 1", unsuback_packet{1}, "B0 02 0001"},
  };
  for (const auto& c : cases) check_vector(c);
}

TEST_CASE("SUBSCRIBE, SUBACK, UNSUBSCRIBE vectors",
          "[codec][vectors][MQTT-3.8.1-1][MQTT-3.10.1-1][MQTT-3.8.3-1][MQTT-3.10.3-1]"
          "[MQTT-2.3.1-1]") {
  const vector_case cases[] = {
      {"SUBSCRIBE one filter", subscribe_packet{1, {{"a/+", qos::at_least_once}}},
       "82 08 0001 0003 612F2B 01"},
      {"SUBSCRIBE three filters",
       subscribe_packet{
           0x1234,
           {{"#", qos::at_most_once}, {"a/b", qos::exactly_once}, {"+", qos::at_least_once}}},
       "82 10 1234 0001 23 00 0003 612F62 02 0001 2B 01"},
      {"SUBACK one code", suback_packet{1, {suback_return_code::granted_qos0}}, "90 03 0001 00"},
      {"SUBACK all codes",
       suback_packet{0x1234,
                     {suback_return_code::granted_qos0, suback_return_code::granted_qos1,
                      suback_return_code::granted_qos2, suback_return_code::failure}},
       "90 06 1234 00 01 02 80"},
      {"UNSUBSCRIBE one filter", unsubscribe_packet{1, {"#"}}, "A2 05 0001 0001 23"},
      {"UNSUBSCRIBE two filters", unsubscribe_packet{0x1234, {"a/#", "+/b"}},
       "A2 0C 1234 0003 612F23 0003 2B2F62"},
  };
  for (const auto& c : cases) check_vector(c);
}

TEST_CASE("PINGREQ, PINGRESP, DISCONNECT vectors", "[codec][vectors][MQTT-3.14.1-1]") {
  const vector_case cases[] = {
      {"PINGREQ", pingreq_packet{}, "C0 00"},
      {"PINGRESP", pingresp_packet{}, "D0 00"},
      {"DISCONNECT", disconnect_packet{}, "E0 00"},
  };
  for (const auto& c : cases) check_vector(c);
}

TEST_CASE("PUBLISH with a 65,535-byte topic name", "[codec][vectors][MQTT-4.7.3-3]") {
  const std::string topic(65535, 't');
  const publish_packet p = make_publish(topic, "p", qos::at_least_once, 7);
  const byte_vector bytes = amqtt_test::encode_to_vector(p);
  // Remaining length 2 + 65535 + 2 + 1 = 65540 = 0x84 0x80 0x04.
  REQUIRE(bytes.size() == 1 + 3 + 65540);
  CHECK(to_hex(bytes.data(), 6) == "32 84 80 04 ff ff");
  CHECK(bytes[6] == 't');
  CHECK(to_hex(bytes.data() + 6 + 65535, 3) == "00 07 70");

  const auto d = amqtt_test::decode_bytes(bytes);
  REQUIRE(d.result.status == decode_status::complete);
  CHECK(d.packet == packet{p});

  // One byte more does not fit the 16-bit length prefix.
  const std::string too_long(65536, 't');
  byte_vector out;
  CHECK(encode_append(make_publish(too_long, "", qos::at_most_once), out) ==
        codec_errc::string_too_long);
  CHECK(out.empty());
}

namespace {
struct varint_case {
  std::uint32_t value;
  const char* hex;
};
const varint_case varint_boundaries[] = {
    {0, "00"},
    {1, "01"},
    {127, "7F"},
    {128, "80 01"},
    {16383, "FF 7F"},
    {16384, "80 80 01"},
    {2097151, "FF FF 7F"},
    {2097152, "80 80 80 01"},
    {268435455, "FF FF FF 7F"},
};
}  // namespace

TEST_CASE("remaining length: encode and decode at every size boundary", "[codec][vectors]") {
  for (const auto& c : varint_boundaries) {
    INFO("value " << c.value);
    const byte_vector expected = from_hex(c.hex);
    CHECK(remaining_length_size(c.value) == expected.size());

    std::array<std::uint8_t, 4> out{};
    const std::size_t n = encode_remaining_length(c.value, out.data());
    REQUIRE(n == expected.size());
    CHECK(byte_vector(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(n)) == expected);

    std::uint32_t value = 12345;
    std::size_t used = 0;
    std::error_code ec;
    REQUIRE(decode_remaining_length(expected.data(), expected.size(), value, used, ec) ==
            decode_status::complete);
    CHECK(value == c.value);
    CHECK(used == expected.size());
    CHECK_FALSE(ec);

    // Trailing bytes after the varint are not part of it.
    byte_vector longer = expected;
    longer.push_back(0xFF);
    REQUIRE(decode_remaining_length(longer.data(), longer.size(), value, used, ec) ==
            decode_status::complete);
    CHECK(used == expected.size());

    // Every proper prefix is incomplete, never an error.
    for (std::size_t k = 0; k < expected.size(); ++k) {
      INFO("prefix of " << k << " bytes");
      CHECK(decode_remaining_length(expected.data(), k, value, used, ec) ==
            decode_status::need_more);
      CHECK_FALSE(ec);
    }
  }
  CHECK(max_remaining_length == 268435455u);
}

TEST_CASE("remaining length: a fifth length byte is malformed, a partial one needs more",
          "[codec][vectors]") {
  std::uint32_t value = 0;
  std::size_t used = 0;
  std::error_code ec;

  const byte_vector five = from_hex("FF FF FF FF 7F");
  CHECK(decode_remaining_length(five.data(), five.size(), value, used, ec) == decode_status::error);
  CHECK(ec == codec_errc::malformed_remaining_length);

  // Known as soon as the fourth byte still says "more follows".
  ec.clear();
  CHECK(decode_remaining_length(five.data(), 4, value, used, ec) == decode_status::error);
  CHECK(ec == codec_errc::malformed_remaining_length);
  ec.clear();
  const byte_vector zeros = from_hex("80 80 80 80 00");
  CHECK(decode_remaining_length(zeros.data(), zeros.size(), value, used, ec) ==
        decode_status::error);
  CHECK(ec == codec_errc::malformed_remaining_length);

  // Through the packet decoder.
  CHECK(amqtt_test::decode_error(from_hex("30 FF FF FF FF 7F 00")) ==
        codec_errc::malformed_remaining_length);
  CHECK(amqtt_test::decode_error(from_hex("30 80 80 80 80")) ==
        codec_errc::malformed_remaining_length);
  for (const char* partial : {"30", "30 FF", "30 FF FF", "30 FF FF FF", "30 80 80 80"}) {
    INFO(partial);
    const auto d = amqtt_test::decode_bytes(from_hex(partial));
    CHECK(d.result.status == decode_status::need_more);
    CHECK_FALSE(d.result.error);
  }
}

TEST_CASE("real packets at remaining-length boundaries 0 .. 2097152", "[codec][vectors]") {
  // Remaining length 0: the header-only packets.
  CHECK(amqtt_test::encode_to_vector(pingreq_packet{}) == from_hex("C0 00"));

  // PUBLISH QoS 0 on topic "t": remaining length = 3 + payload size.
  for (const auto& c : varint_boundaries) {
    if (c.value < 3 || c.value > 2097152) continue;
    INFO("remaining length " << c.value);
    const std::string payload(c.value - 3, 'z');
    const publish_packet p = make_publish("t", payload, qos::at_most_once);
    const byte_vector bytes = amqtt_test::encode_to_vector(p);
    const byte_vector header = from_hex(std::string("30 ") + c.hex);
    REQUIRE(bytes.size() == header.size() + c.value);
    CHECK(byte_vector(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(header.size())) ==
          header);

    const auto d = amqtt_test::decode_bytes(bytes);
    REQUIRE(d.result.status == decode_status::complete);
    CHECK(d.result.consumed == bytes.size());
    const auto* got = std::get_if<publish_packet>(&d.packet);
    REQUIRE(got != nullptr);
    CHECK(got->topic == "t");
    CHECK(got->payload.size() == payload.size());
    CHECK(got->payload == payload);

    // One byte short: the decoder waits.
    packet scratch;
    CHECK(decode_packet(bytes.data(), bytes.size() - 1, scratch).status ==
          decode_status::need_more);
  }
}

TEST_CASE("the largest remaining length 268,435,455", "[codec][vectors]") {
  // Header only: the decoder knows the size without any body byte, and waits for the rest.
  const byte_vector header = from_hex("30 FF FF FF 7F");
  decode_options unlimited;
  unlimited.max_packet_size = SIZE_MAX;
  fixed_header h;
  std::error_code ec;
  REQUIRE(decode_fixed_header(header.data(), header.size(), unlimited, h, ec) ==
          decode_status::complete);
  CHECK(h.type == packet_type::publish);
  CHECK(h.remaining_length == 268435455u);
  CHECK(h.size == 5);
  CHECK(h.packet_size() == 268435460u);
  CHECK(amqtt_test::decode_bytes(header, unlimited).result.status == decode_status::need_more);
  // With the default 16 MiB limit it is refused at once.
  CHECK(amqtt_test::decode_error(header) == codec_errc::packet_too_large);

  // Encoding: a body of exactly the maximum is computed without touching the payload (the
  // buffer is too small); one byte more overflows the remaining length.
  std::unique_ptr<char[]> big(new char[max_remaining_length]);  // never written or read
  const publish_packet at_max =
      make_publish("t", std::string_view(big.get(), max_remaining_length - 3), qos::at_most_once);
  CHECK(encoded_size(at_max) == 1 + 4 + std::size_t{max_remaining_length});
  std::array<std::uint8_t, 16> small{};
  CHECK(encode(at_max, small.data(), small.size()).error == codec_errc::buffer_too_small);
  const publish_packet over =
      make_publish("t", std::string_view(big.get(), max_remaining_length - 2), qos::at_most_once);
  CHECK(encode(over, small.data(), small.size()).error == codec_errc::remaining_length_overflow);
  byte_vector growable;
  CHECK(encode_append(over, growable) == codec_errc::remaining_length_overflow);
  CHECK(growable.empty());
}
