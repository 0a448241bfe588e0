// The bounded request queue, the output limit, cancel(), abort_all() and disconnect().

#include <catch2/catch.hpp>

#include <cstdio>

#include "protocol/support/scripted_peer.hpp"

using namespace amqtt;
using namespace amqtt_test;

TEST_CASE("requests made offline are queued and drain in order after CONNACK",
          "[protocol][queue][MQTT-4.6.0-1]") {
  scripted_peer p;
  std::error_code ec;
  const request_id a = p.s.publish("t", "a", qos::at_most_once, false, ec);
  p.s.publish("t", "b", qos::at_least_once, false, ec);
  p.s.subscribe({{"s", qos::exactly_once}}, ec);
  p.s.publish("t", "c", qos::exactly_once, false, ec);
  p.s.unsubscribe({"s"}, ec);
  CHECK(p.s.queued_count() == 5);
  CHECK(p.s.queued_bytes() == 2 + 2 + 1 + 2 + 1);
  p.connect();
  p.take();
  CHECK(p.s.queued_count() == 5);  // still waiting for CONNACK
  p.feed("20 02 00 00");
  p.expect(publish_hex("t", "a", qos::at_most_once) + publish_hex("t", "b", qos::at_least_once, 1) +
           "82 06 0002 0001 73 02" + publish_hex("t", "c", qos::exactly_once, 3) +
           "A2 05 0004 0001 73");
  CHECK(p.s.queued_count() == 0);
  CHECK(p.s.queued_bytes() == 0);
  REQUIRE(p.count<publish_done_event>() == 1);
  CHECK(p.all<publish_done_event>()[0].id == a);
}

TEST_CASE("a full queue refuses requests with queue_full (count limit)", "[protocol][queue]") {
  auto o = test_options();
  o.max_queued = 3;
  scripted_peer p(o);
  std::error_code ec;
  for (int i = 0; i < 3; ++i) {
    CHECK(p.s.publish("t", "m", static_cast<qos>(i % 3), false, ec) != 0);
    CHECK_FALSE(ec);
  }
  CHECK(p.s.publish("t", "m", qos::at_most_once, false, ec) == 0);
  CHECK(ec == protocol_errc::queue_full);
  CHECK(p.s.subscribe({{"s", qos::at_most_once}}, ec) == 0);
  CHECK(ec == protocol_errc::queue_full);
  CHECK(p.s.unsubscribe({"s"}, ec) == 0);
  CHECK(ec == protocol_errc::queue_full);
  CHECK(p.s.queued_count() == 3);
  CHECK(p.count<publish_done_event>() == 0);  // a refusal is the return value, not an event
  // Once connected the queue drains and takes requests again.
  p.establish();
  CHECK(p.s.queued_count() == 0);
  CHECK(p.s.publish("t", "m", qos::at_most_once, false, ec) != 0);
  CHECK_FALSE(ec);
}

TEST_CASE("a full queue refuses requests with queue_full (byte limit)", "[protocol][queue]") {
  auto o = test_options();
  o.max_queued_bytes = 10;
  scripted_peer p(o);
  std::error_code ec;
  CHECK(p.s.publish("ab", "cdef", qos::at_least_once, false, ec) != 0);  // 6 bytes
  CHECK(p.s.publish("ab", "cdef", qos::at_least_once, false, ec) == 0);  // 12 > 10
  CHECK(ec == protocol_errc::queue_full);
  CHECK(p.s.publish("ab", "cd", qos::at_least_once, false, ec) != 0);  // exactly 10
  CHECK_FALSE(ec);
  CHECK(p.s.queued_bytes() == 10);
  CHECK(p.s.subscribe({{"x", qos::at_most_once}}, ec) == 0);
  CHECK(ec == protocol_errc::queue_full);
  // A request bigger than the whole limit is refused even when the queue is empty...
  p.establish();
  std::error_code ec2;
  const std::string big(100, 'x');
  // ...unless it can be sent at once (connected, nothing waiting): the limit bounds the queue.
  CHECK(p.s.publish("t", big, qos::at_least_once, false, ec2) != 0);
  CHECK_FALSE(ec2);
  p.drop();
  CHECK(p.s.publish("t", big, qos::at_least_once, false, ec2) == 0);
  CHECK(ec2 == protocol_errc::queue_full);
}

TEST_CASE("the window and the queue: requests beyond max_inflight wait, bounded",
          "[protocol][queue][window]") {
  auto o = test_options();
  o.max_inflight = 1;
  o.max_queued = 2;
  scripted_peer p(o);
  p.establish();
  std::error_code ec;
  CHECK(p.s.publish("t", "1", qos::at_least_once, false, ec) != 0);  // in flight
  CHECK(p.s.publish("t", "2", qos::at_least_once, false, ec) != 0);  // queued
  CHECK(p.s.publish("t", "3", qos::at_most_once, false, ec) != 0);   // queued (in order)
  CHECK(p.s.publish("t", "4", qos::at_most_once, false, ec) == 0);
  CHECK(ec == protocol_errc::queue_full);
  p.expect(publish_hex("t", "1", qos::at_least_once, 1));
  p.feed("40 02 0001");
  p.expect(publish_hex("t", "2", qos::at_least_once, 2) + publish_hex("t", "3", qos::at_most_once));
}

TEST_CASE("max_output_bytes holds requests in the queue until output is taken",
          "[protocol][queue][output]") {
  auto o = test_options();
  o.max_output_bytes = 20;
  scripted_peer p(o);
  p.establish();
  std::error_code ec;
  const std::string payload(30, 'p');
  const request_id a = p.s.publish("t", payload, qos::at_most_once, false, ec);
  const request_id b = p.s.publish("t", payload, qos::at_most_once, false, ec);
  const request_id c = p.s.publish("t", "small", qos::at_least_once, false, ec);
  p.pump();
  REQUIRE(p.count<publish_done_event>() == 1);  // only the first was encoded
  CHECK(p.all<publish_done_event>()[0].id == a);
  CHECK(p.s.queued_count() == 2);
  p.expect(publish_hex("t", payload, qos::at_most_once));  // taking it frees room: b goes in
  REQUIRE(p.count<publish_done_event>() == 2);
  CHECK(p.all<publish_done_event>()[1].id == b);
  p.expect(publish_hex("t", payload, qos::at_most_once));
  p.expect(publish_hex("t", "small", qos::at_least_once, 1));
  p.feed("40 02 0001");
  CHECK(p.all<publish_done_event>().back().id == c);
  // Acknowledgements are never held back by the limit.
  p.s.publish("t", payload, qos::at_most_once, false, ec);
  p.feed(publish_hex("t", "m", qos::at_least_once, 9));
  p.expect(publish_hex("t", payload, qos::at_most_once) + "40 02 0009");
}

TEST_CASE("output capacity is reused by take_output (buffers are swapped, not copied)",
          "[protocol][output]") {
  scripted_peer p;
  p.establish();
  std::error_code ec;
  byte_vector buf;
  buf.reserve(4096);
  const auto* const original = buf.data();
  p.s.publish("t", "1", qos::at_most_once, false, ec);
  p.s.take_output(buf, p.now);
  const auto* const first = buf.data();
  CHECK(first != original);  // got the session's buffer
  p.s.publish("t", "2", qos::at_most_once, false, ec);
  p.s.take_output(buf, p.now);
  CHECK(buf.data() == original);  // the session wrote into our old buffer
  CHECK(to_hex(buf) == norm_hex(publish_hex("t", "2", qos::at_most_once)));
}

TEST_CASE("cancel removes a request that was not sent yet", "[protocol][queue][cancel]") {
  scripted_peer p;
  std::error_code ec;
  const request_id a = p.s.publish("t", "a", qos::at_least_once, false, ec);
  const request_id b = p.s.subscribe({{"s", qos::at_most_once}}, ec);
  const request_id c = p.s.unsubscribe({"s"}, ec);
  const std::error_code reason = std::make_error_code(std::errc::operation_canceled);
  CHECK(p.s.cancel(b, reason));
  CHECK_FALSE(p.s.cancel(b, reason));  // gone
  CHECK(p.s.cancel(c, reason));
  CHECK_FALSE(p.s.cancel(0, reason));
  CHECK_FALSE(p.s.cancel(12345, reason));
  p.pump();
  REQUIRE(p.count<subscribe_done_event>() == 1);
  CHECK(p.all<subscribe_done_event>()[0].id == b);
  CHECK(p.all<subscribe_done_event>()[0].error == reason);
  REQUIRE(p.count<unsubscribe_done_event>() == 1);
  CHECK(p.all<unsubscribe_done_event>()[0].error == reason);
  CHECK(p.s.queued_count() == 1);
  p.establish();
  p.expect(publish_hex("t", "a", qos::at_least_once, 1));
  CHECK_FALSE(p.s.cancel(a, reason));  // in flight: cannot be recalled
  p.feed("40 02 0001");
  REQUIRE(p.count<publish_done_event>() == 1);
  CHECK_FALSE(p.all<publish_done_event>()[0].error);
}

TEST_CASE("abort_all fails every unfinished request and forgets the in-flight state",
          "[protocol][queue][abort]") {
  auto o = test_options();
  o.max_inflight = 1;
  scripted_peer p(o);
  p.establish();
  std::error_code ec;
  const request_id a = p.s.publish("t", "a", qos::exactly_once, false, ec);   // in flight
  const request_id b = p.s.publish("t", "b", qos::at_least_once, false, ec);  // queued
  const request_id c = p.s.subscribe({{"s", qos::at_most_once}}, ec);         // queued
  p.take();
  const std::error_code reason = std::make_error_code(std::errc::operation_canceled);
  p.s.abort_all(reason);
  p.pump();
  const auto pubs = p.all<publish_done_event>();
  REQUIRE(pubs.size() == 2);
  CHECK(pubs[0].id == a);
  CHECK(pubs[0].error == reason);
  CHECK(pubs[1].id == b);
  CHECK(pubs[1].error == reason);
  REQUIRE(p.count<subscribe_done_event>() == 1);
  CHECK(p.all<subscribe_done_event>()[0].id == c);
  CHECK(p.s.inflight_count() == 0);
  CHECK(p.s.queued_count() == 0);
  // The forgotten flow's late ack is unsolicited now: ignored (PUBREC answered with PUBREL).
  p.feed("50 02 0001");
  p.expect("62 02 0001");
  CHECK_FALSE(p.closed());
}

namespace {

// Four bytes of a packet with a 2-byte packet id (PUBACK 0x40, PUBREL 0x62, PUBCOMP 0x70, ...).
void append_id_packet(byte_vector& b, std::uint8_t first, std::uint16_t id) {
  b.push_back(first);
  b.push_back(0x02);
  b.push_back(static_cast<std::uint8_t>(id >> 8));
  b.push_back(static_cast<std::uint8_t>(id & 0xFF));
}

// Hands out (and completes) QoS 1 publishes after `last_handed_out` until the next id handed out
// is `next`.
void cycle_ids_until(scripted_peer& p, std::uint16_t next, std::uint16_t last_handed_out) {
  const auto succ = [](std::uint16_t id) {
    return static_cast<std::uint16_t>(id == 65535 ? 1 : id + 1);
  };
  std::error_code ec;
  byte_vector acks;
  for (std::uint16_t id = succ(last_handed_out); id != next; id = succ(id)) {
    p.s.publish("t", "", qos::at_least_once, false, ec);
    REQUIRE_FALSE(ec);
    append_id_packet(acks, 0x40, id);
  }
  p.take();
  p.feed_bytes(acks);
  REQUIRE(p.s.inflight_count() == 0);
}

// Session options for tests that put every packet id in use: no window, room for the output.
session_options all_ids_options(std::size_t output_bytes) {
  auto o = test_options();
  o.clean_session = false;
  o.max_inflight = 65535;
  o.max_output_bytes = output_bytes;
  return o;
}

// abort_all (what the client does when it stops), then a new connection.
void abort_and_reconnect(scripted_peer& p, bool session_present) {
  p.take();
  p.s.abort_all(std::make_error_code(std::errc::operation_canceled));
  p.drop();
  p.establish(session_present);
}

}  // namespace

TEST_CASE("abort_all: an aborted QoS 2 id is not reused until the server released it",
          "[protocol][queue][abort][MQTT-4.3.3-1][MQTT-2.3.1-2]") {
  scripted_peer p(all_ids_options(4u << 20));
  p.establish();
  std::error_code ec;
  p.s.publish("t", "a", qos::exactly_once, false, ec);  // id 1: the server may keep it
  p.s.publish("t", "b", qos::at_least_once, false, ec);  // id 2: no server state to wait for
  abort_and_reconnect(p, true);
  p.expect("62 02 0001");  // session present: PUBREL releases what the server holds
  p.clear_events();
  // Every other id goes into use (2..65535, round-robin from 3): id 1 is not handed out while
  // the server may still hold a message under it; the next request waits.
  for (int i = 0; i < 65534; ++i) p.s.publish("t", "", qos::at_least_once, false, ec);
  REQUIRE_FALSE(ec);
  CHECK(p.s.inflight_count() == 65534);
  const request_id waiting = p.s.publish("t", "w", qos::exactly_once, false, ec);
  CHECK(p.s.queued_count() == 1);
  p.take();
  p.feed("70 02 0001");  // PUBCOMP: released, id 1 free again
  CHECK(p.s.queued_count() == 0);
  p.expect(publish_hex("t", "w", qos::exactly_once, 1));
  CHECK(p.count<publish_done_event>() == 0);  // the aborted request is not reported again
  (void)waiting;
}

TEST_CASE("abort_all: 65,535 aborted QoS 2 ids are all freed by their PUBCOMPs, in any order",
          "[protocol][queue][abort][MQTT-4.3.3-1][MQTT-2.3.1-2]") {
  scripted_peer p(all_ids_options(8u << 20));
  p.establish();
  std::error_code ec;
  for (int i = 0; i < 65535; ++i) p.s.publish("t", "", qos::exactly_once, false, ec);
  REQUIRE_FALSE(ec);
  abort_and_reconnect(p, true);
  byte_vector pubrels;
  for (std::uint32_t id = 1; id <= 65535; ++id)
    append_id_packet(pubrels, 0x62, static_cast<std::uint16_t>(id));
  CHECK(p.take() == to_hex(pubrels));  // oldest first
  const request_id waiting = p.s.publish("t", "w", qos::at_least_once, false, ec);
  CHECK(p.s.queued_count() == 1);  // every id is reserved
  // PUBCOMPs newest first (each one used to search the list of aborted ids).
  byte_vector pubcomps;
  for (std::uint32_t id = 65535; id >= 2; --id)
    append_id_packet(pubcomps, 0x70, static_cast<std::uint16_t>(id));
  p.feed_bytes(pubcomps);
  CHECK(p.s.queued_count() == 0);  // the first freed id went to the waiting request
  p.take();
  p.feed("70 02 0001 70 02 0001");  // the last one, and a repeat (ignored)
  CHECK_FALSE(p.closed());
  // Every id is free again: 65,534 more QoS 1 publishes go out at once next to `waiting`.
  for (int i = 0; i < 65534; ++i) p.s.publish("t", "", qos::at_least_once, false, ec);
  CHECK(p.s.inflight_count() == 65535);
  CHECK(p.s.queued_count() == 0);
  p.take();
  p.drop();
  // Nothing aborted is left to release: no PUBREL, only the 65,535 PUBLISHes re-sent. `waiting`
  // got the first id freed (65535), the others 1..65534.
  std::string resent = publish_hex("t", "w", qos::at_least_once, 65535, true);
  for (std::uint32_t id = 1; id <= 65534; ++id)
    resent += publish_hex("t", "", qos::at_least_once, static_cast<std::uint16_t>(id), true);
  p.establish(true);
  p.expect(resent);
  (void)waiting;
}

TEST_CASE("abort_all: an aborted QoS 2 id released by PUBCOMP and handed out again is the new "
          "flow's only",
          "[protocol][queue][abort][MQTT-4.3.3-1][MQTT-2.3.1-2]") {
  scripted_peer p(all_ids_options(4u << 20));
  p.establish();
  std::error_code ec;
  p.s.publish("t", "a", qos::exactly_once, false, ec);  // id 1
  abort_and_reconnect(p, true);
  p.expect("62 02 0001");
  p.feed("70 02 0001");  // id 1 free
  cycle_ids_until(p, 1, 1);
  const request_id x = p.s.publish("t", "x", qos::exactly_once, false, ec);  // id 1 again
  p.expect(publish_hex("t", "x", qos::exactly_once, 1));
  p.clear_events();
  SECTION("its flow finishes: no PUBREL for id 1 at the next connection") {
    p.feed("50 02 0001");
    p.expect("62 02 0001");
    p.feed("70 02 0001");
    REQUIRE(p.count<publish_done_event>() == 1);
    CHECK(p.all<publish_done_event>()[0].id == x);
    p.drop();
    p.establish(true);
    p.expect_nothing();
  }
  SECTION("it is aborted too: one PUBREL for id 1, not two") {
    abort_and_reconnect(p, true);
    p.expect("62 02 0001");
    p.feed("70 02 0001");
    p.drop();
    p.establish(true);
    p.expect_nothing();
  }
  SECTION("the server lost the session: the new flow keeps its id and is re-sent") {
    p.drop();
    p.establish(false);
    p.expect(publish_hex("t", "x", qos::exactly_once, 1, true));
    // Id 1 is still the flow's, not freed with the aborted flows: with ids 2..65535 in use as
    // well, a SUBSCRIBE (not limited by max_inflight) finds no free id and waits.
    for (int i = 0; i < 65534; ++i) p.s.publish("t", "", qos::at_least_once, false, ec);
    REQUIRE_FALSE(ec);
    p.take();
    p.s.subscribe({{"s", qos::at_least_once}}, ec);
    CHECK(p.s.queued_count() == 1);
    p.expect_nothing();
    p.feed("50 02 0001");
    p.expect("62 02 0001");
    p.feed("70 02 0001");
    REQUIRE(p.count<publish_done_event>() == 1);
    CHECK(p.all<publish_done_event>()[0].id == x);
    p.expect("82 06 0001 0001 73 01");  // now the SUBSCRIBE gets id 1
  }
}

TEST_CASE("abort_all: aborted QoS 2 ids are released oldest first across several aborts",
          "[protocol][queue][abort][MQTT-4.3.3-1][MQTT-2.3.1-2]") {
  scripted_peer p(all_ids_options(4u << 20));
  p.establish();
  std::error_code ec;
  p.s.publish("t", "a", qos::exactly_once, false, ec);  // id 1
  p.s.publish("t", "b", qos::exactly_once, false, ec);  // id 2
  abort_and_reconnect(p, true);
  p.expect("62 02 0001 62 02 0002");
  p.feed("70 02 0001");  // id 1 free; id 2 still held by the server
  cycle_ids_until(p, 1, 2);
  p.s.publish("t", "x", qos::exactly_once, false, ec);  // id 1 again
  p.s.publish("t", "y", qos::exactly_once, false, ec);  // id 3 (2 is still reserved)
  p.expect(publish_hex("t", "x", qos::exactly_once, 1) + publish_hex("t", "y", qos::exactly_once, 3));
  abort_and_reconnect(p, true);
  // Id 2 was aborted first, then 1 and 3 (in their send order).
  p.expect("62 02 0002 62 02 0001 62 02 0003");
}

TEST_CASE("abort_all: aborted QoS 2 ids are freed when the server has no session",
          "[protocol][queue][abort]") {
  auto o = test_options();
  o.clean_session = false;
  scripted_peer p(o);
  p.establish();
  std::error_code ec;
  p.s.publish("t", "a", qos::exactly_once, false, ec);  // id 1
  abort_and_reconnect(p, false);  // session present 0: nothing to release
  p.expect_nothing();
  SECTION("and with session present the PUBREL is re-sent until PUBCOMP") {
    p.s.publish("t", "b", qos::exactly_once, false, ec);  // id 2
    abort_and_reconnect(p, true);
    p.expect("62 02 0002");
    p.drop();  // no PUBCOMP
    p.establish(true);
    p.expect("62 02 0002");
    p.feed("70 02 0002");
    p.drop();
    p.establish(true);
    p.expect_nothing();
  }
}

TEST_CASE("disconnect: DISCONNECT after pending output, then close_event, then nothing",
          "[protocol][disconnect][MQTT-3.14.4-1][MQTT-3.14.4-2]") {
  scripted_peer p;
  p.establish();
  std::error_code ec;
  p.s.publish("t", "last", qos::at_most_once, false, ec);
  p.s.disconnect(p.now);
  CHECK(p.s.state() == session_state::disconnecting);
  p.pump();
  CHECK_FALSE(p.closed());  // not before DISCONNECT was handed out
  // Nothing may follow DISCONNECT: requests queue, inbound packets are not processed.
  p.s.publish("t", "after", qos::at_most_once, false, ec);
  CHECK_FALSE(ec);
  p.feed(publish_hex("t", "m", qos::at_least_once, 1));
  CHECK(p.messages().empty());
  p.advance(std::chrono::hours(1));  // no PINGREQ after DISCONNECT
  p.expect(publish_hex("t", "last", qos::at_most_once) + "E0 00");
  REQUIRE(p.closed());
  CHECK_FALSE(p.close_reason());  // graceful: empty reason
  CHECK_FALSE(p.s.has_output());
  CHECK(p.s.state() == session_state::disconnecting);  // until the transport is down
  CHECK(p.s.queued_count() == 1);  // kept for a later connection
  p.drop();
  CHECK(p.s.state() == session_state::disconnected);
}

TEST_CASE("disconnect: acknowledgements that arrive after DISCONNECT still complete their requests",
          "[protocol][disconnect][MQTT-3.14.4-1][MQTT-3.14.4-2]") {
  auto o = test_options();
  o.clean_session = false;
  scripted_peer p(o);
  p.establish();
  std::error_code ec;
  const request_id q1 = p.s.publish("t", "1", qos::at_least_once, false, ec);   // id 1
  const request_id q2 = p.s.publish("t", "2", qos::exactly_once, false, ec);    // id 2
  const request_id q2b = p.s.publish("t", "3", qos::exactly_once, false, ec);   // id 3
  const request_id sub = p.s.subscribe({{"s", qos::at_least_once}}, ec);         // id 4
  const request_id uns = p.s.unsubscribe({"u"}, ec);                            // id 5
  const request_id late = p.s.publish("t", "4", qos::at_least_once, false, ec);  // id 6
  p.take();
  p.feed("50 02 0002");  // PUBREC for id 2: PUBREL out before the DISCONNECT
  p.expect("62 02 0002");
  p.s.disconnect(p.now);
  p.expect("E0 00");
  REQUIRE(p.closed());
  CHECK_FALSE(p.close_reason());
  p.clear_events();
  // The broker answered what it had read before the DISCONNECT, then closes.
  p.feed("40 02 0001");     // PUBACK 1
  p.feed("70 02 0002");     // PUBCOMP 2
  p.feed("50 02 0003");     // PUBREC 3: no PUBREL may follow the DISCONNECT
  p.feed("90 03 0004 01");  // SUBACK 4
  p.feed("B0 02 0005");     // UNSUBACK 5
  p.feed(publish_hex("t", "in", qos::at_least_once, 9));  // neither delivered nor acknowledged
  p.feed(publish_hex("t", "in2", qos::exactly_once, 10));
  p.feed("62 02 0007");  // PUBREL: no PUBCOMP
  p.feed("20 02 00 00");  // even a CONNACK does not close with a protocol error now
  p.feed("D0 00");
  p.advance(std::chrono::hours(1));  // no PINGREQ, no keepalive timeout
  p.expect_nothing();
  CHECK(p.messages().empty());
  CHECK(p.count<close_event>() == 0);
  const auto pubs = p.all<publish_done_event>();
  REQUIRE(pubs.size() == 2);
  CHECK(pubs[0].id == q1);
  CHECK_FALSE(pubs[0].error);
  CHECK(pubs[1].id == q2);
  CHECK_FALSE(pubs[1].error);
  REQUIRE(p.count<subscribe_done_event>() == 1);
  CHECK(p.all<subscribe_done_event>()[0].id == sub);
  REQUIRE(p.count<unsubscribe_done_event>() == 1);
  CHECK(p.all<unsubscribe_done_event>()[0].id == uns);
  CHECK(p.s.inflight_count() == 2);  // ids 3 (past PUBREC, no PUBREL sent) and 6
  CHECK(p.s.subscription_count() == 1);
  p.drop();
  // The two left are re-sent on the next connection; 3's PUBREC was never answered, so it is
  // still awaiting PUBREC and goes again as PUBLISH (DUP) [MQTT-4.4.0-1].
  p.establish(true);
  p.expect(publish_hex("t", "3", qos::exactly_once, 3, true) +
           publish_hex("t", "4", qos::at_least_once, 6, true));
  p.feed("50 02 0003");
  p.expect("62 02 0003");
  p.feed("70 02 0003");
  p.feed("40 02 0006");
  const auto done = p.all<publish_done_event>();
  REQUIRE(done.size() == 4);
  CHECK(done[2].id == q2b);
  CHECK(done[3].id == late);
}

TEST_CASE("disconnect: a bad packet while disconnecting cannot drop the DISCONNECT",
          "[protocol][disconnect][MQTT-3.14.4-1]") {
  auto o = test_options();
  o.max_incoming_packet_size = 64;
  scripted_peer p(o);
  p.establish();
  std::error_code ec;
  p.s.publish("t", "1", qos::at_least_once, false, ec);  // id 1
  p.s.publish("t", "2", qos::at_least_once, false, ec);  // id 2
  p.take();
  p.s.disconnect(p.now);
  CHECK(p.s.wants_input());
  // Read while the DISCONNECT waits behind a write: an ack, a packet that would close the
  // session when connected, then an ack that comes too late to count.
  std::string bad;
  SECTION("too large") { bad = publish_hex("t", std::string(100, 'x'), qos::at_most_once); }
  SECTION("malformed") { bad = "00 00"; }
  SECTION("mismatched ack") { bad = "70 02 0002"; }  // PUBCOMP for a QoS 1 flow
  p.feed("40 02 0001 " + bad + " 40 02 0002");
  CHECK(p.count<publish_done_event>() == 1);  // the ack before the bad packet counted
  CHECK_FALSE(p.closed());
  p.expect("E0 00");  // the DISCONNECT is still sent
  const auto closes = p.all<close_event>();
  REQUIRE(closes.size() == 1);
  CHECK_FALSE(closes[0].reason);  // graceful
  // The rest of the input is discarded until the transport is down; the driver keeps reading
  // to see the server close.
  CHECK(p.s.wants_input());
  p.feed("40 02 0002");
  CHECK(p.count<publish_done_event>() == 1);
  CHECK(p.s.state() == session_state::disconnecting);
  p.s.disconnect(p.now);  // again: nothing
  p.pump();
  p.expect_nothing();
  CHECK(p.count<close_event>() == 1);
  p.drop();
  CHECK_FALSE(p.s.wants_input());
  // The next connection decodes normally again (id 2 is re-sent, then acknowledged).
  p.establish();
  p.take();
  p.feed("40 02 0002");
  CHECK(p.count<publish_done_event>() == 2);
}

TEST_CASE("disconnect: a malformed packet after the DISCONNECT was handed out is discarded",
          "[protocol][disconnect]") {
  scripted_peer p;
  p.establish();
  std::error_code ec;
  p.s.publish("t", "1", qos::at_least_once, false, ec);  // id 1
  p.take();
  p.s.disconnect(p.now);
  p.expect("E0 00");
  p.clear_events();
  p.feed("00 00 40 02 0001");  // packet type 0 is reserved
  CHECK_FALSE(p.closed());     // the graceful close_event was the last
  CHECK(p.count<publish_done_event>() == 0);
  CHECK(p.s.state() == session_state::disconnecting);
}

TEST_CASE("disconnect while waiting for CONNACK and while offline",
          "[protocol][disconnect][MQTT-3.14.4-1][MQTT-3.14.4-2]") {
  SECTION("awaiting CONNACK: DISCONNECT follows the CONNECT") {
    scripted_peer p;
    p.connect();
    p.s.disconnect(p.now);
    p.expect("10 0D 0004 4D515454 04 02 003C 0001 63 E0 00");
    CHECK(p.closed());
    CHECK_FALSE(p.close_reason());
    // The CONNACK that follows is ignored: no connected_event, no protocol error.
    p.clear_events();
    p.feed("20 02 00 00");
    CHECK(p.count<connected_event>() == 0);
    CHECK(p.count<close_event>() == 0);
    CHECK(p.s.state() == session_state::disconnecting);
  }
  SECTION("offline: close_event at once, nothing to send") {
    scripted_peer p;
    p.s.disconnect(p.now);
    p.pump();
    CHECK(p.closed());
    CHECK_FALSE(p.close_reason());
    CHECK_FALSE(p.s.has_output());
  }
}

TEST_CASE("max_output_bytes = 0 is taken as 1: requests still go out one at a time",
          "[protocol][queue]") {
  auto o = test_options();
  o.max_output_bytes = 0;
  scripted_peer p(o);
  CHECK(p.s.options().max_output_bytes == 1);
  p.establish();
  std::error_code ec;
  p.s.publish("t", "a", qos::at_least_once, false, ec);
  p.s.publish("t", "b", qos::at_least_once, false, ec);
  CHECK(p.s.queued_count() == 1);  // the first fills the output
  p.expect(publish_hex("t", "a", qos::at_least_once, 1));
  p.expect(publish_hex("t", "b", qos::at_least_once, 2));
  CHECK(p.s.queued_count() == 0);
}

TEST_CASE("output_size counts acknowledgements beyond max_output_bytes", "[protocol][queue]") {
  auto o = test_options();
  o.max_output_bytes = 16;
  scripted_peer p(o);
  p.establish();
  std::string flood;
  for (int i = 1; i <= 100; ++i) {  // PUBRELs for unknown ids: each answered with a PUBCOMP
    char b[16];
    std::snprintf(b, sizeof b, "62 02 %04x ", i);
    flood += b;
  }
  p.feed(flood);
  CHECK(p.s.output_size() == 400);  // 100 PUBCOMPs: a driver must stop reading (client does)
  p.take();
  CHECK(p.s.output_size() == 0);
}
