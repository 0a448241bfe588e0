// stream_decoder: the same packets come out whatever the chunking of the byte stream, memory
// follows the bytes that arrived (never a length the peer announced), errors are sticky.

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include <amqtt/codec/codec.hpp>

#include "codec/support/codec_util.hpp"

using namespace amqtt;
using amqtt_test::byte_vector;
using amqtt_test::from_hex;

namespace {

// Many random packets and their concatenated encoding.
struct packet_stream {
  explicit packet_stream(std::uint64_t seed, int count) : gen(seed) {
    for (int i = 0; i < count; ++i) {
      packets.push_back(gen.any());
      REQUIRE_FALSE(encode_append(packets.back(), bytes));
    }
  }
  amqtt_test::packet_generator gen;  // owns the packets' strings
  std::vector<packet> packets;
  byte_vector bytes;
};

// Drives a stream_decoder and checks what comes out against the expected packets, and the
// memory bound after every step: capacity() <= 2 * (bytes arrived) + (largest prepare() size).
class stream_checker {
 public:
  stream_checker(stream_decoder& d, const std::vector<packet>& expected)
      : d_(d), expected_(expected) {}

  void feed(const std::uint8_t* p, std::size_t n) {
    d_.feed(p, n);
    arrived_ += n;
    check_memory();
    drain();
  }

  void prepare_commit(const std::uint8_t* p, std::size_t requested, std::size_t n) {
    std::uint8_t* room = d_.prepare(requested);
    largest_request_ = std::max(largest_request_, requested);
    check_memory();
    if (n != 0) std::memcpy(room, p, n);
    d_.commit(n);
    arrived_ += n;
    check_memory();
    drain();
  }

  std::size_t decoded() const { return next_; }
  std::size_t arrived() const { return arrived_; }

 private:
  void check_memory() {
    if (d_.capacity() > 2 * arrived_ + largest_request_) {
      FAIL_CHECK("capacity " << d_.capacity() << " > 2 * " << arrived_ << " arrived + "
                             << largest_request_ << " requested");
    }
  }

  // Packets returned by next() view the decoder's buffer: compare them before the next feed.
  void drain() {
    for (;;) {
      const decode_result r = d_.next(out_);
      if (r.status == decode_status::need_more) return;
      REQUIRE(r.status == decode_status::complete);
      REQUIRE(next_ < expected_.size());
      if (!(out_ == expected_[next_])) {
        INFO("packet " << next_);
        CHECK(out_ == expected_[next_]);
      }
      ++next_;
    }
  }

  stream_decoder& d_;
  const std::vector<packet>& expected_;
  packet out_;
  std::size_t next_ = 0;
  std::size_t arrived_ = 0;
  std::size_t largest_request_ = 0;
};

}  // namespace

TEST_CASE("stream_decoder: one byte at a time, random chunks and prepare/commit agree",
          "[codec][stream][MQTT-6.0.0-2]") {
  const std::uint64_t seed = amqtt_test::test_seed("stream_decoder", 1729);
  INFO("seed " << seed << " (AMQTT_TEST_SEED)");
  const packet_stream s(seed, 600);
  const byte_vector& bytes = s.bytes;
  amqtt_test::rng rng(seed ^ 0x9E3779B97F4A7C15ull);

  SECTION("one byte at a time") {
    stream_decoder d;
    stream_checker c(d, s.packets);
    for (std::size_t i = 0; i < bytes.size(); ++i) c.feed(&bytes[i], 1);
    CHECK(c.decoded() == s.packets.size());
    CHECK(d.buffered() == 0);
  }
  SECTION("random chunk sizes") {
    stream_decoder d;
    stream_checker c(d, s.packets);
    for (std::size_t i = 0; i < bytes.size();) {
      const std::size_t max_chunk = rng.chance(50) ? 16 : 4096;
      const std::size_t n = std::min(bytes.size() - i, rng.between(1, max_chunk));
      c.feed(&bytes[i], n);
      i += n;
    }
    CHECK(c.decoded() == s.packets.size());
    CHECK(d.buffered() == 0);
  }
  SECTION("everything at once") {
    stream_decoder d;
    stream_checker c(d, s.packets);
    c.feed(bytes.data(), bytes.size());
    CHECK(c.decoded() == s.packets.size());
  }
  SECTION("prepare/commit with a fixed read size, short reads") {
    stream_decoder d;
    stream_checker c(d, s.packets);
    for (std::size_t i = 0; i < bytes.size();) {
      const std::size_t n = std::min(bytes.size() - i, rng.between(0, 700));
      c.prepare_commit(&bytes[i], 4096, n);
      i += n;
    }
    CHECK(c.decoded() == s.packets.size());
  }
  SECTION("prepare/commit with random read sizes") {
    stream_decoder d;
    stream_checker c(d, s.packets);
    for (std::size_t i = 0; i < bytes.size();) {
      const std::size_t requested = rng.chance(30) ? rng.between(1, 8) : rng.between(1, 8192);
      const std::size_t n = std::min({bytes.size() - i, requested, rng.between(0, requested)});
      c.prepare_commit(&bytes[i], requested, n);
      i += n;
    }
    CHECK(c.decoded() == s.packets.size());
  }
  SECTION("mixed feed and prepare/commit") {
    stream_decoder d;
    stream_checker c(d, s.packets);
    for (std::size_t i = 0; i < bytes.size();) {
      const std::size_t n = std::min(bytes.size() - i, rng.between(1, 300));
      if (rng.chance(50))
        c.feed(&bytes[i], n);
      else
        c.prepare_commit(&bytes[i], n + rng.below(64), n);
      i += n;
    }
    CHECK(c.decoded() == s.packets.size());
  }
}

TEST_CASE("stream_decoder: memory never grows from an announced length alone", "[codec][stream]") {
  decode_options o;
  o.max_packet_size = 256u * 1024u * 1024u;
  stream_decoder d(o);
  // PUBLISH announcing 200 MB, then a few body bytes.
  byte_vector header = {0x30, 0, 0, 0, 0};
  const std::size_t n = encode_remaining_length(200'000'000u, header.data() + 1);
  header.resize(1 + n);
  byte_vector ten = header;
  for (const std::uint8_t b : {0x00, 0x01, 0x74, 0x41, 0x42}) ten.push_back(b);
  REQUIRE(ten.size() == 10);

  d.feed(ten.data(), ten.size());
  packet p;
  CHECK(d.next(p).status == decode_status::need_more);
  CHECK(d.buffered() == 10);
  CHECK(d.capacity() <= 20);

  // Reading on in 4 KiB reads: the buffer follows what arrives, not the 200 MB.
  std::size_t arrived = ten.size();
  const byte_vector chunk(1000, 0x55);
  for (int i = 0; i < 50; ++i) {
    std::uint8_t* room = d.prepare(4096);
    CHECK(d.capacity() <= 2 * arrived + 4096);
    std::memcpy(room, chunk.data(), chunk.size());
    d.commit(chunk.size());
    arrived += chunk.size();
    CHECK(d.next(p).status == decode_status::need_more);
    CHECK(d.capacity() <= 2 * arrived + 4096);
  }
  CHECK(d.buffered() == arrived);
  CHECK(d.capacity() < 1024u * 1024u);
}

TEST_CASE("stream_decoder: oversize packet is an error as soon as its header arrives",
          "[codec][stream]") {
  decode_options o;
  o.max_packet_size = 1000;
  stream_decoder d(o);
  packet p;
  const byte_vector bytes = from_hex("30 E6 07");  // remaining length 998: 1001 bytes in all
  d.feed(bytes.data(), 1);
  CHECK(d.next(p).status == decode_status::need_more);
  d.feed(bytes.data() + 1, 1);
  CHECK(d.next(p).status == decode_status::need_more);
  d.feed(bytes.data() + 2, 1);
  const decode_result r = d.next(p);
  CHECK(r.status == decode_status::error);
  CHECK(r.error == codec_errc::packet_too_large);
  CHECK(d.capacity() <= 8);

  // Exactly the limit is fine.
  stream_decoder ok(o);
  publish_packet big;
  big.topic = "t";
  const std::string payload(1000 - 3 - 3, 'x');  // header 3 bytes, topic field 3 bytes
  big.payload = payload;
  const byte_vector encoded = amqtt_test::encode_to_vector(big);
  REQUIRE(encoded.size() == 1000);
  ok.feed(encoded.data(), encoded.size());
  REQUIRE(ok.next(p).status == decode_status::complete);
  CHECK(p == packet{big});
}

TEST_CASE("stream_decoder: errors are sticky until reset()", "[codec][stream][MQTT-4.8.0-1]") {
  stream_decoder d;
  packet p;
  const byte_vector good = from_hex("40 02 0001 D0 00");
  const byte_vector bad = from_hex("41 02 0001");
  d.feed(good.data(), good.size());
  d.feed(bad.data(), bad.size());
  REQUIRE(d.next(p).status == decode_status::complete);
  CHECK(p == packet{puback_packet{1}});
  REQUIRE(d.next(p).status == decode_status::complete);
  CHECK(p == packet{pingresp_packet{}});
  decode_result r = d.next(p);
  CHECK(r.status == decode_status::error);
  CHECK(r.error == codec_errc::invalid_fixed_header_flags);
  CHECK(d.error() == codec_errc::invalid_fixed_header_flags);

  // More good bytes change nothing.
  d.feed(good.data(), good.size());
  r = d.next(p);
  CHECK(r.status == decode_status::error);
  CHECK(r.error == codec_errc::invalid_fixed_header_flags);
  std::uint8_t* room = d.prepare(good.size());
  std::memcpy(room, good.data(), good.size());
  d.commit(good.size());
  CHECK(d.next(p).error == codec_errc::invalid_fixed_header_flags);

  // reset() starts over.
  d.reset();
  CHECK_FALSE(d.error());
  CHECK(d.buffered() == 0);
  CHECK(d.next(p).status == decode_status::need_more);
  d.feed(good.data(), good.size());
  REQUIRE(d.next(p).status == decode_status::complete);
  CHECK(p == packet{puback_packet{1}});
  REQUIRE(d.next(p).status == decode_status::complete);
  CHECK(d.next(p).status == decode_status::need_more);
}

TEST_CASE("stream_decoder: options, empty feeds, shrink_to_fit", "[codec][stream]") {
  decode_options o;
  o.direction = packet_direction::server_to_client;
  o.max_packet_size = 4096;
  stream_decoder d(o);
  CHECK(d.options().direction == packet_direction::server_to_client);
  CHECK(d.options().max_packet_size == 4096);

  packet p;
  CHECK(d.next(p).status == decode_status::need_more);
  d.feed(nullptr, 0);
  CHECK(d.capacity() == 0);
  CHECK(d.next(p).status == decode_status::need_more);
  d.prepare(0);
  d.commit(0);
  CHECK(d.next(p).status == decode_status::need_more);

  const byte_vector bytes = from_hex("20 02 00 00 30 05 0001 74 4142");
  d.feed(bytes.data(), bytes.size());
  CHECK(d.buffered() == bytes.size());
  REQUIRE(d.next(p).status == decode_status::complete);
  REQUIRE(d.next(p).status == decode_status::complete);
  CHECK(std::get<publish_packet>(p).payload == "AB");
  CHECK(d.buffered() == 0);
  d.shrink_to_fit();
  CHECK(d.capacity() == 0);
  d.feed(bytes.data(), 4);
  REQUIRE(d.next(p).status == decode_status::complete);
  CHECK(p == packet{connack_packet{}});

  // The direction applies: a server must not send SUBSCRIBE.
  const byte_vector subscribe = from_hex("82 06 0001 0001 74 00");
  d.feed(subscribe.data(), 1);
  CHECK(d.next(p).error == codec_errc::unexpected_packet_direction);
}

TEST_CASE("stream_decoder: commit() counts at most what prepare() offered", "[codec][stream]") {
  stream_decoder d;
  const byte_vector pingresp = {0xD0, 0x00};
  std::uint8_t* room = d.prepare(2);
  std::memcpy(room, pingresp.data(), pingresp.size());
  d.commit(1000);  // more than was prepared: clamped to the 2 bytes offered
  CHECK(d.buffered() == 2);
  d.commit(2);  // a second commit without prepare() adds nothing
  CHECK(d.buffered() == 2);
  packet p;
  CHECK(d.next(p).status == decode_status::complete);
  CHECK(std::holds_alternative<pingresp_packet>(p));
  CHECK(d.buffered() == 0);

  // feed() between prepare() and commit() cancels the prepared room.
  (void)d.prepare(16);
  d.feed(pingresp.data(), pingresp.size());
  d.commit(16);
  CHECK(d.buffered() == 2);
}
