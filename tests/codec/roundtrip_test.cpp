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
