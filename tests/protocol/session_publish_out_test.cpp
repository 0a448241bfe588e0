// Outbound PUBLISH: QoS 0/1/2 flows byte for byte, packet ids, the in-flight window, acks that
// do not fit.

#include <set>

#include <catch2/catch.hpp>

#include "protocol/support/scripted_peer.hpp"

using namespace amqtt;
using namespace amqtt_test;

namespace {

request_id publish_ok(scripted_peer& p, std::string_view topic, std::string_view payload, qos q,
                      bool retain = false) {
  std::error_code ec;
  const request_id id = p.s.publish(topic, payload, q, retain, ec);
  REQUIRE_FALSE(ec);
  REQUIRE(id != 0);
  return id;
}

// The packet id of the single QoS 1/2 PUBLISH in `b` (fixed header 2 bytes, short topic).
std::uint16_t publish_id(const byte_vector& b) {
  REQUIRE(b.size() >= 6);
  const std::size_t topic_len = (std::size_t{b[2]} << 8) | b[3];
  return static_cast<std::uint16_t>((b[4 + topic_len] << 8) | b[5 + topic_len]);
}

}  // namespace

TEST_CASE("QoS 0 publish is encoded at once: no id, DUP 0, done when encoded",
          "[protocol][publish-out][MQTT-4.3.1-1][MQTT-2.3.1-5][MQTT-3.3.1-2][MQTT-3.3.2-1]") {
  scripted_peer p;
  p.establish();
  const request_id id = publish_ok(p, "a/b", "hi", qos::at_most_once, true);
  CHECK(p.s.has_output());
  p.pump();
  REQUIRE(p.count<publish_done_event>() == 1);
  CHECK(p.all<publish_done_event>()[0].id == id);
  CHECK_FALSE(p.all<publish_done_event>()[0].error);
  p.expect("31 07 0003 612F62 6869");
  CHECK(p.s.inflight_count() == 0);
}

TEST_CASE("QoS 1 publish: PUBLISH then PUBACK, done on PUBACK",
          "[protocol][publish-out][MQTT-4.3.2-1][MQTT-2.3.1-1][MQTT-2.3.1-6]") {
  scripted_peer p;
  p.establish();
  const request_id id = publish_ok(p, "test/publish", "message", qos::at_least_once);
  p.expect("32 17 000C 746573742f7075626c697368 0001 6d657373616765");
  CHECK(p.s.inflight_count() == 1);
  CHECK(p.count<publish_done_event>() == 0);
  p.feed("40 02 0001");
  REQUIRE(p.count<publish_done_event>() == 1);
  CHECK(p.all<publish_done_event>()[0].id == id);
  CHECK(p.s.inflight_count() == 0);
  p.expect_nothing();
}

TEST_CASE("QoS 2 publish: PUBLISH, PUBREC, PUBREL, PUBCOMP, done on PUBCOMP",
          "[protocol][publish-out][MQTT-4.3.3-1][MQTT-3.6.1-1][MQTT-2.3.1-6]") {
  scripted_peer p;
  p.establish();
  const request_id id = publish_ok(p, "test/publish", "message", qos::exactly_once);
  p.expect("34 17 000C 746573742f7075626c697368 0001 6d657373616765");
  p.feed("50 02 0001");
  p.expect("62 02 0001");
  CHECK(p.count<publish_done_event>() == 0);
  CHECK(p.s.inflight_count() == 1);  // still in flight until PUBCOMP
  p.feed("70 02 0001");
  REQUIRE(p.count<publish_done_event>() == 1);
  CHECK(p.all<publish_done_event>()[0].id == id);
  CHECK(p.s.inflight_count() == 0);
  p.expect_nothing();
}

TEST_CASE("PUBLISH, SUBSCRIBE and UNSUBSCRIBE share one id space, in-flight ids are unique",
          "[protocol][packet-id][MQTT-2.3.1-1][MQTT-2.3.1-2][MQTT-2.3.1-3]") {
  scripted_peer p;
  p.establish();
  std::error_code ec;
  publish_ok(p, "t", "1", qos::at_least_once);
  p.s.subscribe({{"s", qos::at_most_once}}, ec);
  p.s.unsubscribe({"u"}, ec);
  publish_ok(p, "t", "2", qos::exactly_once);
  p.expect(publish_hex("t", "1", qos::at_least_once, 1) + "82 06 0002 0001 73 00" +
           "A2 05 0003 0001 75" + publish_hex("t", "2", qos::exactly_once, 4));
  // Completing id 2 frees it, but the next id continues round-robin (never an in-flight one).
  p.feed("90 03 0002 00");
  publish_ok(p, "t", "3", qos::at_least_once);
  p.expect(publish_hex("t", "3", qos::at_least_once, 5));
}

TEST_CASE("packet ids wrap from 65535 to 1 and skip ids still in flight",
          "[protocol][packet-id][MQTT-2.3.1-1][MQTT-2.3.1-2][MQTT-2.3.1-3]") {
  scripted_peer p;
  p.establish();
  publish_ok(p, "t", "held", qos::at_least_once);  // id 1 stays in flight all along
  p.expect(publish_hex("t", "held", qos::at_least_once, 1));
  byte_vector out;
  std::uint16_t expected = 2;
  for (int i = 0; i < 65534 + 10; ++i) {
    std::error_code ec;
    REQUIRE(p.s.publish("t", "x", qos::at_least_once, false, ec) != 0);
    p.s.take_output(out, p.now);
    const std::uint16_t id = publish_id(out);
    REQUIRE(id == expected);
    REQUIRE(id != 0);
    REQUIRE(id != 1);
    const std::uint8_t ack[4] = {0x40, 0x02, static_cast<std::uint8_t>(id >> 8),
                                 static_cast<std::uint8_t>(id & 0xFF)};
    std::memcpy(p.s.prepare_input(4), ack, 4);
    p.s.commit_input(4, p.now);
    p.pump();
    expected = static_cast<std::uint16_t>(expected == 65535 ? 2 : expected + 1);  // 1 is skipped
  }
  CHECK(p.s.inflight_count() == 1);
  p.feed("40 02 0001");
  CHECK(p.s.inflight_count() == 0);
  CHECK_FALSE(p.closed());
}

TEST_CASE("the in-flight window holds QoS 1/2 requests beyond max_inflight, in order",
          "[protocol][window][MQTT-4.6.0-1]") {
  auto o = test_options();
  o.max_inflight = 2;
  scripted_peer p(o);
  p.establish();
  const request_id a = publish_ok(p, "t", "a", qos::at_least_once);
  publish_ok(p, "t", "b", qos::exactly_once);
  publish_ok(p, "t", "c", qos::at_least_once);
  publish_ok(p, "t", "d", qos::at_least_once);
  publish_ok(p, "t", "e", qos::at_most_once);  // waits behind c and d: the queue is in order
  CHECK(p.s.inflight_count() == 2);
  CHECK(p.s.queued_count() == 3);
  p.expect(publish_hex("t", "a", qos::at_least_once, 1) +
           publish_hex("t", "b", qos::exactly_once, 2));
  p.feed("50 02 0002");  // b is still in flight until PUBCOMP: no room yet
  p.expect("62 02 0002");
  CHECK(p.s.queued_count() == 3);
  p.feed("40 02 0001");
  REQUIRE(p.count<publish_done_event>() == 1);
  CHECK(p.all<publish_done_event>()[0].id == a);
  p.expect(publish_hex("t", "c", qos::at_least_once, 3));
  p.feed("70 02 0002");
  p.expect(publish_hex("t", "d", qos::at_least_once, 4) + publish_hex("t", "e", qos::at_most_once));
  CHECK(p.s.queued_count() == 0);
  CHECK(p.s.inflight_count() == 2);
}

TEST_CASE("PUBRELs go out in the order the PUBRECs arrived",
          "[protocol][publish-out][MQTT-4.6.0-4][MQTT-4.3.3-1]") {
  scripted_peer p;
  p.establish();
  for (int i = 0; i < 3; ++i) publish_ok(p, "t", "m", qos::exactly_once);
  p.take();
  p.feed("50 02 0003 50 02 0001 50 02 0002");
  p.expect("62 02 0003 62 02 0001 62 02 0002");
  p.feed("70 02 0001 70 02 0003 70 02 0002");
  CHECK(p.count<publish_done_event>() == 3);
}

TEST_CASE("unsolicited and repeated acks: ignored, or PUBREC answered with PUBREL",
          "[protocol][acks][MQTT-4.3.3-1]") {
  scripted_peer p;
  p.establish();
  SECTION("unknown ids") {
    p.feed("40 02 0011 70 02 0012 90 03 0013 01 B0 02 0014");
    p.expect_nothing();
    p.feed("50 02 0015");
    p.expect("62 02 0015");
    CHECK_FALSE(p.closed());
  }
  SECTION("a repeated PUBACK after completion is ignored") {
    publish_ok(p, "t", "m", qos::at_least_once);
    p.take();
    p.feed("40 02 0001 40 02 0001");
    CHECK(p.count<publish_done_event>() == 1);
    CHECK_FALSE(p.closed());
  }
  SECTION("a repeated PUBREC is answered with PUBREL again; the PUBLISH is not re-sent") {
    publish_ok(p, "t", "m", qos::exactly_once);
    p.take();
    p.feed("50 02 0001");
    p.expect("62 02 0001");
    p.feed("50 02 0001");
    p.expect("62 02 0001");
    p.feed("70 02 0001");
    CHECK(p.count<publish_done_event>() == 1);
    p.feed("70 02 0001");  // a repeated PUBCOMP: ignored
    CHECK(p.count<publish_done_event>() == 1);
    CHECK_FALSE(p.closed());
  }
}

TEST_CASE("an ack of the wrong type for an in-flight flow closes with ack_type_mismatch",
          "[protocol][acks][MQTT-4.8.0-1]") {
  scripted_peer p;
  p.establish();
  std::error_code ec;
  publish_ok(p, "t", "q1", qos::at_least_once);    // id 1
  publish_ok(p, "t", "q2", qos::exactly_once);     // id 2
  p.s.subscribe({{"s", qos::at_least_once}}, ec);  // id 3
  p.s.unsubscribe({"s"}, ec);                      // id 4
  p.take();
  const char* bad = GENERATE("50 02 0001",     // PUBREC for QoS 1
                             "70 02 0001",     // PUBCOMP for QoS 1
                             "90 03 0001 00",  // SUBACK for a PUBLISH
                             "40 02 0002",     // PUBACK for QoS 2
                             "70 02 0002",     // PUBCOMP before PUBREC
                             "B0 02 0002",     // UNSUBACK for a PUBLISH
                             "40 02 0003",     // PUBACK for a SUBSCRIBE
                             "50 02 0003",     // PUBREC for a SUBSCRIBE
                             "B0 02 0003",     // UNSUBACK for a SUBSCRIBE
                             "90 03 0004 00",  // SUBACK for an UNSUBSCRIBE
                             "70 02 0004");    // PUBCOMP for an UNSUBSCRIBE
  p.feed(bad);
  CHECK(p.close_reason() == protocol_errc::ack_type_mismatch);
  CHECK(p.count<publish_done_event>() == 0);
  CHECK_FALSE(p.s.has_output());
  // The flows are kept for the next connection.
  CHECK(p.s.inflight_count() == 2);
}

TEST_CASE("PUBACK after PUBREL (QoS 2 flow in PUBCOMP phase) is a type mismatch",
          "[protocol][acks][MQTT-4.8.0-1]") {
  scripted_peer p;
  p.establish();
  publish_ok(p, "t", "m", qos::exactly_once);
  p.take();
  p.feed("50 02 0001");
  p.take();
  p.feed("40 02 0001");
  CHECK(p.close_reason() == protocol_errc::ack_type_mismatch);
}

TEST_CASE("invalid publish requests fail with the codec error and are not queued",
          "[protocol][publish-out][MQTT-3.3.2-2][MQTT-4.7.1-1][MQTT-4.7.3-1][MQTT-4.7.3-2]"
          "[MQTT-4.7.3-3][MQTT-3.3.1-4][MQTT-1.5.3-1]") {
  scripted_peer p;
  struct row {
    std::string topic;
    qos q;
    codec_errc expected;
  };
  const row r = GENERATE(values<row>({
      {"a/+", qos::at_most_once, codec_errc::wildcard_in_topic_name},
      {"a/#", qos::at_least_once, codec_errc::wildcard_in_topic_name},
      {"", qos::at_most_once, codec_errc::empty_topic},
      {std::string("a\0b", 3), qos::at_most_once, codec_errc::utf8_null_character},
      {"\xED\xA0\x80", qos::at_most_once, codec_errc::ill_formed_utf8},
      {std::string(65536, 'a'), qos::at_most_once, codec_errc::string_too_long},
      {"a", static_cast<qos>(3), codec_errc::invalid_qos},
  }));
  for (bool connected : {false, true}) {
    if (connected) p.establish();
    std::error_code ec;
    CHECK(p.s.publish(r.topic, "x", r.q, false, ec) == 0);
    CHECK(ec == r.expected);
    CHECK(p.s.queued_count() == 0);
    CHECK(p.s.inflight_count() == 0);
    CHECK_FALSE(p.s.has_output());
  }
}

TEST_CASE("request ids are unique and non-zero", "[protocol][publish-out]") {
  scripted_peer p;
  std::set<request_id> seen;
  for (int i = 0; i < 100; ++i) {
    const request_id id = publish_ok(p, "t", "m", static_cast<qos>(i % 3));
    CHECK(seen.insert(id).second);
  }
}
