// Randomized round trips: random valid packets of every type are encoded and decoded back.
// The seed is printed; set AMQTT_TEST_SEED to replay a failure.

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <iostream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include <amqtt/codec/codec.hpp>

#include "codec/support/codec_util.hpp"

using namespace amqtt;
using amqtt_test::byte_vector;

TEST_CASE("random packets of every type survive encode -> decode",
          "[codec][roundtrip][MQTT-1.5.3-3]") {
  const std::uint64_t seed = amqtt_test::test_seed("codec round trip", 20240611);
  amqtt_test::packet_generator gen(seed);
  constexpr int iterations = 4000;
  std::array<int, 15> per_type{};
  const auto start = std::chrono::steady_clock::now();

  for (int i = 0; i < iterations; ++i) {
    if (i % 256 == 0) gen.clear_storage();
    // Every type in turn, so that each gets iterations / 14 packets.
    const auto type = static_cast<packet_type>(1 + i % 14);
    const packet p = gen.of_type(type);
    INFO("seed " << seed << ", iteration " << i << ": " << amqtt_test::describe(p));
    REQUIRE_FALSE(validate_packet(p));
    ++per_type[static_cast<std::size_t>(type)];

    // encode_append into a buffer that already holds something keeps it.
    byte_vector appended = {0x5A, 0xA5};
    REQUIRE_FALSE(encode_append(p, appended));
    const byte_vector bytes(appended.begin() + 2, appended.end());
    CHECK(appended[0] == 0x5A);
    CHECK(appended[1] == 0xA5);
    REQUIRE(bytes.size() == encoded_size(p));

    // encode into a fixed buffer gives the same bytes; one byte less is too small.
    byte_vector fixed(bytes.size() + 8, 0xEE);
    const encode_result r = encode(p, fixed.data(), bytes.size());
    REQUIRE_FALSE(r.error);
    REQUIRE(r.size == bytes.size());
    CHECK(std::equal(bytes.begin(), bytes.end(), fixed.begin()));
    CHECK(fixed[bytes.size()] == 0xEE);  // nothing written past the packet
    byte_vector short_buffer(bytes.size(), 0xEE);
    const encode_result too_small = encode(p, short_buffer.data(), bytes.size() - 1);
    CHECK(too_small.error == codec_errc::buffer_too_small);
    CHECK(too_small.size == 0);
    CHECK(short_buffer == byte_vector(bytes.size(), 0xEE));

    // std::string works as a growable buffer too.
    std::string as_string;
    REQUIRE_FALSE(encode_append(p, as_string));
    CHECK(as_string == std::string(amqtt_test::as_chars(bytes)));

    // A PUBLISH appended to a byte vector takes its own path (the payload is inserted, not
    // written over zeroed bytes): same bytes, earlier contents kept.
    if (const auto* pub = std::get_if<publish_packet>(&p)) {
      byte_vector direct = {0x5A, 0xA5};
      REQUIRE_FALSE(encode_append(*pub, direct));
      CHECK(direct == appended);
    }

    // Decode back: equal, whole buffer consumed, views point into the input.
    const auto d = amqtt_test::decode_bytes(bytes);
    REQUIRE(d.result.status == decode_status::complete);
    CHECK(d.result.consumed == bytes.size());
    CHECK(d.packet == p);

    // Every proper prefix is incomplete, never an error.
    for (std::size_t k = 0; k < bytes.size(); k += 1 + k / 8) {
      packet scratch;
      const decode_result partial = decode_packet(bytes.data(), k, scratch);
      if (partial.status != decode_status::need_more) {
        INFO("prefix of " << k << " bytes");
        CHECK(partial.status == decode_status::need_more);
      }
    }

    // Decoding into a packet that already holds the same type reuses it correctly.
    packet reused = gen.of_type(type);
    REQUIRE(decode_packet(bytes.data(), bytes.size(), reused).status == decode_status::complete);
    CHECK(reused == p);
  }

  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - start)
                      .count();
  std::cout << "codec round trip: " << iterations << " packets in " << ms << " ms\n";
  for (int t = 1; t <= 14; ++t) CHECK(per_type[static_cast<std::size_t>(t)] >= iterations / 14);
}

TEST_CASE("decoded packets view the input bytes (zero copy)", "[codec][roundtrip]") {
  publish_packet p;
  p.topic = "a/b";
  p.payload = "payload";
  p.qos = qos::at_least_once;
  p.packet_id = 3;
  const byte_vector bytes = amqtt_test::encode_to_vector(p);
  const auto d = amqtt_test::decode_bytes(bytes);
  REQUIRE(d.result.status == decode_status::complete);
  const auto& got = std::get<publish_packet>(d.packet);
  const auto* begin = reinterpret_cast<const char*>(bytes.data());
  CHECK(got.topic.data() == begin + 4);
  CHECK(got.payload.data() == begin + 4 + 3 + 2);
  CHECK(got.payload.data() + got.payload.size() == begin + bytes.size());
}

// decode_packet() takes a fast path for a PUBLISH decoded into a packet that already holds a
// publish_packet, and the general path (decode_body()) otherwise. Both must agree on every input,
// valid or not: same status, error, size and fields. The inputs are PUBLISH packets built byte by
// byte around the fast path's edges: topics of 0..40 bytes (plain ASCII, or with '+', '#', NUL,
// non-ASCII or ill-formed UTF-8 at a random place), every flag nibble (QoS 3, DUP on QoS 0),
// packet id 0, remaining lengths one to three bytes long and too short, too long, or cut.
TEST_CASE("the PUBLISH fast path and the general decoder agree on every input",
          "[codec][roundtrip][MQTT-3.3.1-2][MQTT-3.3.1-4][MQTT-2.3.1-1][MQTT-4.7.1-1]"
          "[MQTT-1.5.3-1][MQTT-1.5.3-2]") {
  const std::uint64_t seed = amqtt_test::test_seed("publish fast path", 20261122);
  amqtt_test::rng rng(seed);
  constexpr int iterations = 20000;
  int fast_complete = 0, general_errors = 0;
  for (int i = 0; i < iterations; ++i) {
    std::string topic(rng.below(41), 'a');
    for (auto& c : topic) c = static_cast<char>('a' + rng.below(26));
    bool topic_valid = !topic.empty();  // an oracle independent of the codec
    if (!topic.empty() && rng.chance(40)) {
      static constexpr char specials[] = {'+', '#', '\0', '/', '$'};
      const std::size_t at = rng.below(topic.size());
      switch (rng.below(4)) {
        case 0:
          topic[at] = specials[rng.below(sizeof specials)];
          topic_valid = topic[at] == '/' || topic[at] == '$';
          break;
        case 1:  // a lone byte >= 0x80 between ASCII letters: ill-formed UTF-8
          topic[at] = static_cast<char>(0x80 + rng.below(128));
          topic_valid = false;
          break;
        case 2:  // U+00E9, well-formed
          topic.replace(at, 1, "\xC3\xA9");
          break;
        default:  // an encoded surrogate, ill-formed
          topic.replace(at, 1, "\xED\xA0\x80");
          topic_valid = false;
          break;
      }
    }
    const auto flags = static_cast<std::uint8_t>(rng.below(16));
    const bool has_id = ((flags >> 1) & 3u) != 0;
    const auto packet_id = static_cast<std::uint16_t>(rng.chance(10) ? 0 : rng.between(1, 65535));
    const std::size_t payload_size = rng.chance(20) ? rng.between(100, 20000) : rng.below(100);

    byte_vector body;
    body.push_back(static_cast<std::uint8_t>(topic.size() >> 8));
    body.push_back(static_cast<std::uint8_t>(topic.size() & 0xFF));
    body.insert(body.end(), topic.begin(), topic.end());
    if (has_id) {
      body.push_back(static_cast<std::uint8_t>(packet_id >> 8));
      body.push_back(static_cast<std::uint8_t>(packet_id & 0xFF));
    }
    body.insert(body.end(), payload_size, 0x5A);
    // The announced remaining length: usually right, sometimes cutting into the fields.
    std::size_t length = body.size();
    if (rng.chance(10)) length = rng.below(body.size() + 1);
    byte_vector bytes{static_cast<std::uint8_t>(0x30 | flags)};
    std::uint8_t varint[4];
    bytes.insert(bytes.end(), varint,
                 varint + encode_remaining_length(static_cast<std::uint32_t>(length), varint));
    bytes.insert(bytes.end(), body.begin(), body.begin() + static_cast<std::ptrdiff_t>(length));
    const bool cut = rng.chance(10);
    if (cut) bytes.resize(rng.below(bytes.size()));  // the packet is not all there

    INFO("seed " << seed << ", iteration " << i << ", flags " << int{flags} << ", topic size "
                 << topic.size() << ", remaining length " << length << ", bytes " << bytes.size());
    packet fast = publish_packet{};  // eligible for the fast path
    packet general = connack_packet{};
    const decode_result a = decode_packet(bytes.data(), bytes.size(), fast);
    const decode_result b = decode_packet(bytes.data(), bytes.size(), general);
    REQUIRE(a.status == b.status);
    REQUIRE(a.error == b.error);
    REQUIRE(a.consumed == b.consumed);
    const unsigned q = (flags >> 1) & 3u;
    const bool flags_valid = q != 3 && !(q == 0 && (flags & 0x08u));
    if (!cut && length == body.size() && flags_valid && !(has_id && packet_id == 0)) {
      CHECK(a.status == (topic_valid ? decode_status::complete : decode_status::error));
      CHECK(a.consumed == (topic_valid ? bytes.size() : 0));
    }
    if (a.status == decode_status::complete) {
      REQUIRE(fast == general);
      ++fast_complete;
    } else if (a.status == decode_status::error) {
      CHECK(fast == packet(publish_packet{}));  // a rejected packet leaves `out` untouched
      ++general_errors;
    }
    // The two-step API (decode_fixed_header + decode_body) agrees too.
    fixed_header h;
    std::error_code ec;
    const decode_status hs = decode_fixed_header(bytes.data(), bytes.size(), {}, h, ec);
    if (hs == decode_status::complete && bytes.size() >= h.packet_size()) {
      packet two_step;
      const std::error_code body_ec = decode_body(h, bytes.data() + h.size, two_step);
      REQUIRE(body_ec == a.error);
      if (!body_ec) REQUIRE(two_step == fast);
    }
  }
  // Both outcomes are common, so neither path went untested.
  CHECK(fast_complete > iterations / 4);
  CHECK(general_errors > iterations / 10);
}
