// The code samples of docs/codec.md, compiled and run. Each sample is the region between
// "// [doc:NAME]" and "// [/doc]"; scripts/gen-conformance.py copies the regions into the
// markdown and, with --check, fails when they differ.

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <system_error>
#include <variant>
#include <vector>

#include <catch2/catch.hpp>

#include <amqtt/codec/codec.hpp>

#include "codec/support/codec_util.hpp"

TEST_CASE("docs/codec.md: encode into a fixed buffer", "[codec][docs]") {
  // [doc:encode-fixed]
  amqtt::publish_packet msg;
  msg.topic = "sensors/kitchen/temperature";
  msg.payload = "21.5";
  msg.qos = amqtt::qos::at_least_once;
  msg.packet_id = 1;

  std::array<std::uint8_t, 128> buffer;
  amqtt::encode_result r = amqtt::encode(msg, buffer.data(), buffer.size());
  if (r.error) {
    // codec_errc::buffer_too_small, or a broken rule (e.g. a wildcard in the topic)
  }
  // buffer[0 .. r.size) holds the packet; nothing was allocated
  // [/doc]
  REQUIRE_FALSE(r.error);
  CHECK(r.size == amqtt::encoded_size(msg));
  CHECK(buffer[0] == 0x32);
}

TEST_CASE("docs/codec.md: encode into a growable buffer", "[codec][docs]") {
  // [doc:encode-growable]
  std::vector<std::uint8_t> out;  // or std::string: anything with size(), resize(), data()

  amqtt::subscribe_packet sub;
  sub.packet_id = 2;
  sub.entries.push_back({"sensors/+/temperature", amqtt::qos::at_least_once});

  std::error_code ec = amqtt::encode_append(sub, out);  // appends; grows `out` once
  if (!ec) ec = amqtt::encode_append(amqtt::pingreq_packet{}, out);
  // [/doc]
  REQUIRE_FALSE(ec);
  CHECK(out.size() == amqtt::encoded_size(sub) + 2);
  CHECK(out[0] == 0x82);
  CHECK(out[out.size() - 2] == 0xC0);
}

TEST_CASE("docs/codec.md: decode one packet", "[codec][docs]") {
  std::string topic;
  bool incomplete = false;
  bool violation = false;
  // [doc:decode-one]
  const std::uint8_t bytes[] = {0x30, 0x07, 0x00, 0x03, 'a', '/', 'b', 'h', 'i'};

  amqtt::decode_options options;
  options.direction = amqtt::packet_direction::server_to_client;  // we are the client

  amqtt::packet p;
  amqtt::decode_result r = amqtt::decode_packet(bytes, sizeof bytes, p, options);
  if (r.status == amqtt::decode_status::complete) {
    // the first r.consumed bytes were one packet
    if (auto* publish = std::get_if<amqtt::publish_packet>(&p)) {
      topic = publish->topic;  // copy: publish->topic views `bytes`
    }
  } else if (r.status == amqtt::decode_status::need_more) {
    incomplete = true;  // read more, then decode again from the same start
  } else {
    violation = true;  // r.error says which rule was broken: close the connection
  }
  // [/doc]
  CHECK(topic == "a/b");
  CHECK(r.consumed == sizeof bytes);
  CHECK_FALSE(incomplete);
  CHECK_FALSE(violation);
}

TEST_CASE("docs/codec.md: stream_decoder with prepare/commit", "[codec][docs]") {
  // A fake socket: three packets, delivered 5 bytes per read.
  std::vector<std::uint8_t> wire;
  REQUIRE_FALSE(amqtt::encode_append(amqtt::connack_packet{}, wire));
  REQUIRE_FALSE(amqtt::encode_append(amqtt::puback_packet{7}, wire));
  REQUIRE_FALSE(amqtt::encode_append(amqtt::pingresp_packet{}, wire));
  std::size_t sent = 0;
  auto read_some = [&](std::uint8_t* to, std::size_t max) {
    const std::size_t n = std::min({max, wire.size() - sent, std::size_t{5}});
    if (n != 0) std::memcpy(to, wire.data() + sent, n);
    sent += n;
    return n;
  };
  std::vector<amqtt::packet_type> handled;
  auto handle = [&](const amqtt::packet& p) {
    handled.push_back(amqtt::type_of(p));
  };

  // [doc:stream]
  amqtt::decode_options options;
  options.direction = amqtt::packet_direction::server_to_client;
  options.max_packet_size = 1024 * 1024;  // whole packet, fixed header included
  amqtt::stream_decoder decoder(options);

  amqtt::packet p;
  bool open = true;
  while (open) {
    std::uint8_t* room = decoder.prepare(4096);
    std::size_t n = read_some(room, 4096);  // e.g. socket.read_some(asio::buffer(room, 4096))
    if (n == 0) break;                      // end of stream
    decoder.commit(n);
    for (;;) {
      amqtt::decode_result r = decoder.next(p);
      if (r.status == amqtt::decode_status::need_more) break;  // read again
      if (r.status == amqtt::decode_status::error) {
        open = false;  // protocol violation (r.error): close; the decoder stays failed
        break;
      }
      handle(p);  // p views the decoder's buffer: valid until the next prepare()/feed()
    }
  }
  // [/doc]
  CHECK(open);
  CHECK(handled == std::vector<amqtt::packet_type>{amqtt::packet_type::connack,
                                                   amqtt::packet_type::puback,
                                                   amqtt::packet_type::pingresp});
}

TEST_CASE("docs/codec.md: topic validation and matching", "[codec][docs][MQTT-4.7.2-1]") {
  // [doc:topics]
  using amqtt::codec_errc;
  bool as_documented =
      !amqtt::validate_topic_name("sensors/kitchen") &&
      amqtt::validate_topic_name("sensors/+") == codec_errc::wildcard_in_topic_name &&
      amqtt::validate_topic_filter("sensors/#/x") == codec_errc::invalid_topic_filter &&
      amqtt::topic_matches("sensors/#", "sensors") &&       // '#' also matches the parent level
      amqtt::topic_matches("sensors/+/t", "sensors//t") &&  // '+' matches an empty level
      !amqtt::topic_matches("+/status", "$SYS/status");     // no wildcard match of '$' topics
  // [/doc]
  CHECK(as_documented);
}

TEST_CASE("docs/codec.md: subscription_index", "[codec][docs]") {
  // [doc:index]
  amqtt::subscription_index<std::string> subscriptions;  // filter -> any value type
  subscriptions.insert("sensors/+/temperature", "thermometers");
  subscriptions.insert("sensors/#", "logger");

  std::vector<std::string> hits;  // every matching filter's value, in no particular order
  subscriptions.match("sensors/kitchen/temperature",
                      [&](const std::string& value) { hits.push_back(value); });

  subscriptions.erase("sensors/#");  // true: it was there
  // [/doc]
  std::sort(hits.begin(), hits.end());
  CHECK(hits == std::vector<std::string>{"logger", "thermometers"});
  CHECK(subscriptions.size() == 1);
}

TEST_CASE("docs/codec.md: error codes", "[codec][docs]") {
  std::string why;
  // [doc:errors]
  const std::uint8_t bytes[] = {0x41, 0x02, 0x00, 0x01};  // PUBACK with flags 0001
  amqtt::packet p;
  amqtt::decode_result r = amqtt::decode_packet(bytes, sizeof bytes, p);
  if (r.error == amqtt::codec_errc::invalid_fixed_header_flags) {
    why = r.error.message();  // "invalid fixed header flags for this packet type"
  }
  // [/doc]
  CHECK(r.status == amqtt::decode_status::error);
  CHECK(why == "invalid fixed header flags for this packet type");
}

TEST_CASE("docs/codec.md: maximum packet size", "[codec][docs]") {
  // [doc:max-size]
  amqtt::decode_options options;
  options.max_packet_size = 64 * 1024;

  const std::uint8_t header[] = {0x30, 0x80, 0x80, 0x04};  // a PUBLISH of 65,540 bytes
  amqtt::packet p;
  amqtt::decode_result r = amqtt::decode_packet(header, sizeof header, p, options);
  // r.error == codec_errc::packet_too_large, known from the header alone
  // [/doc]
  CHECK(r.error == amqtt::codec_errc::packet_too_large);
}

TEST_CASE("docs/codec.md lists every codec_errc with its message", "[codec][docs][errors]") {
  const std::string path = std::string(AMQTT_SOURCE_DIR) + "/docs/codec.md";
  std::ifstream in(path);
  INFO(path);
  REQUIRE(in);
  std::stringstream content;
  content << in.rdbuf();
  const std::string doc = content.str();
  std::size_t rows = 0;
  for (std::size_t at = doc.find("| `"); at != std::string::npos; at = doc.find("| `", at + 1))
    if (at == 0 || doc[at - 1] == '\n') ++rows;
  for (const auto& e : amqtt_test::all_codec_errcs()) {
    const std::string row =
        std::string("| `") + e.name + "` | " + amqtt::make_error_code(e.code).message() + " |";
    INFO("expected row: " << row);
    CHECK(doc.find(row) != std::string::npos);
  }
  CHECK(rows == amqtt_test::all_codec_errcs().size());
}
