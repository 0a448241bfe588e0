// Session state across reconnects: re-sending un-acknowledged packets, clean sessions, and
// what is lost with the connection.

#include <catch2/catch.hpp>

#include "protocol/support/scripted_peer.hpp"

using namespace amqtt;
using namespace amqtt_test;

TEST_CASE("un-acked PUBLISHes are re-sent with DUP=1 and their ids in order, PUBRELs too",
          "[protocol][reconnect][MQTT-4.4.0-1][MQTT-3.3.1-1][MQTT-4.6.0-1][MQTT-4.3.3-1]"
          "[MQTT-2.3.1-3][MQTT-4.1.0-1][MQTT-3.1.2-4][MQTT-4.6.0-4]") {
  auto o = test_options();
  o.clean_session = false;
  scripted_peer p(o);
  p.establish();
  std::error_code ec;
  const request_id m1 = p.s.publish("t", "m1", qos::at_least_once, false, ec);  // id 1
  const request_id m2 = p.s.publish("t", "m2", qos::exactly_once, false, ec);   // id 2
  const request_id m3 = p.s.publish("t", "m3", qos::exactly_once, true, ec);    // id 3
  const request_id m4 = p.s.publish("t", "m4", qos::at_least_once, false, ec);  // id 4
  const request_id m5 = p.s.publish("t", "m5", qos::exactly_once, false, ec);   // id 5
  p.take();
  p.feed("50 02 0005 50 02 0003 40 02 0004");  // PUBRELs go out for 5 then 3; m4 done
  p.expect("62 02 0005 62 02 0003");
  CHECK(p.count<publish_done_event>() == 1);
  p.drop();
  CHECK(p.s.inflight_count() == 4);

  const bool present = GENERATE(true, false);
  p.connect();
  CHECK(p.take().substr(0, 2) == "10");
  p.expect_nothing();  // nothing is re-sent before CONNACK
  p.feed(present ? "20 02 01 00" : "20 02 00 00");
  if (present) {
    // PUBRELs in PUBREC order, then the PUBLISHes (never 3 or 5 again) with DUP=1, same ids.
    p.expect("62 02 0005 62 02 0003" + publish_hex("t", "m1", qos::at_least_once, 1, true) +
             publish_hex("t", "m2", qos::exactly_once, 2, true));
    p.feed("40 02 0001 50 02 0002");
    p.expect("62 02 0002");
  } else {
    // The server lost the session, and with it maybe 5 and 3 undelivered (a server may deliver
    // at PUBREL): their PUBLISHes go again, in PUBREC order, before the others (DUP=1, same ids).
    p.expect(publish_hex("t", "m5", qos::exactly_once, 5, true) +
             publish_hex("t", "m3", qos::exactly_once, 3, true, true) +
             publish_hex("t", "m1", qos::at_least_once, 1, true) +
             publish_hex("t", "m2", qos::exactly_once, 2, true));
    p.feed("50 02 0005 50 02 0003 40 02 0001 50 02 0002");
    p.expect("62 02 0005 62 02 0003 62 02 0002");
  }
  p.feed("70 02 0005 70 02 0003 70 02 0002");
  const auto done = p.all<publish_done_event>();
  REQUIRE(done.size() == 5);
  CHECK(done[0].id == m4);
  CHECK(done[1].id == m1);
  CHECK(done[2].id == m5);
  CHECK(done[3].id == m3);
  CHECK(done[4].id == m2);
  CHECK(p.s.inflight_count() == 0);
}

TEST_CASE("clean_session=1: un-acked PUBLISHes are still re-sent (at least once)",
          "[protocol][reconnect][MQTT-3.3.1-1]") {
  scripted_peer p;  // clean session
  p.establish();
  std::error_code ec;
  p.s.publish("t", "m1", qos::at_least_once, false, ec);
  p.s.publish("t", "m2", qos::exactly_once, false, ec);
  p.take();
  p.drop();
  p.establish();
  p.expect(publish_hex("t", "m1", qos::at_least_once, 1, true) +
           publish_hex("t", "m2", qos::exactly_once, 2, true));
  p.feed("40 02 0001 50 02 0002");
  p.expect("62 02 0002");
  p.feed("70 02 0002");
  CHECK(p.count<publish_done_event>() == 2);
}

TEST_CASE("SUBSCRIBE and UNSUBSCRIBE sent but not acked are re-sent with their ids",
          "[protocol][reconnect][MQTT-2.3.1-3]") {
  auto o = test_options();
  o.clean_session = false;
  scripted_peer p(o);
  p.establish();
  std::error_code ec;
  const request_id sub = p.s.subscribe({{"s", qos::at_least_once}}, ec);
  p.s.publish("t", "m", qos::at_least_once, false, ec);
  const request_id unsub = p.s.unsubscribe({"u"}, ec);
  p.expect("82 06 0001 0001 73 01" + publish_hex("t", "m", qos::at_least_once, 2) +
           "A2 05 0003 0001 75");
  p.drop();
  p.establish(true);
  p.expect("82 06 0001 0001 73 01" + publish_hex("t", "m", qos::at_least_once, 2, true) +
           "A2 05 0003 0001 75");
  p.feed("90 03 0001 01 B0 02 0003 40 02 0002");
  REQUIRE(p.count<subscribe_done_event>() == 1);
  CHECK(p.all<subscribe_done_event>()[0].id == sub);
  REQUIRE(p.count<unsubscribe_done_event>() == 1);
  CHECK(p.all<unsubscribe_done_event>()[0].id == unsub);
  CHECK(p.s.subscription_count() == 1);
}

TEST_CASE("order after CONNACK: resubscriptions, re-sends, then queued requests",
          "[protocol][reconnect][MQTT-4.6.0-1]") {
  scripted_peer p;
  p.establish();
  std::error_code ec;
  p.s.subscribe({{"s", qos::at_least_once}}, ec);
  p.take();
  p.feed("90 03 0001 01");
  p.s.publish("t", "inflight", qos::at_least_once, false, ec);  // id 2
  p.take();
  p.drop();
  p.s.publish("t", "offline0", qos::at_most_once, false, ec);
  p.s.publish("t", "offline1", qos::at_least_once, false, ec);
  CHECK(p.s.queued_count() == 2);
  p.establish(false);
  p.expect("82 06 0003 0001 73 01" + publish_hex("t", "inflight", qos::at_least_once, 2, true) +
           publish_hex("t", "offline0", qos::at_most_once) +
           publish_hex("t", "offline1", qos::at_least_once, 4));
  CHECK(p.s.queued_count() == 0);
}

TEST_CASE("output not handed out before the connection dropped is lost for QoS 0 only",
          "[protocol][reconnect][MQTT-4.3.1-1]") {
  scripted_peer p;
  p.establish();
  std::error_code ec;
  p.s.publish("t", "q0", qos::at_most_once, false, ec);
  p.s.publish("t", "q1", qos::at_least_once, false, ec);
  p.pump();
  CHECK(p.count<publish_done_event>() == 1);  // QoS 0 is done when encoded
  p.drop();                                   // never written
  p.establish();
  p.expect(publish_hex("t", "q1", qos::at_least_once, 1, true));
}

TEST_CASE("a violation keeps the session state for the next connection",
          "[protocol][reconnect][MQTT-4.8.0-1]") {
  auto o = test_options();
  o.clean_session = false;
  scripted_peer p(o);
  p.establish();
  std::error_code ec;
  p.s.publish("t", "m", qos::at_least_once, false, ec);
  p.take();
  p.feed("20 02 00 00");  // second CONNACK
  CHECK(p.close_reason() == protocol_errc::unexpected_connack);
  // Requests made between close_event and on_disconnected are queued, not lost.
  p.s.publish("t", "after", qos::at_most_once, false, ec);
  CHECK_FALSE(p.s.has_output());
  CHECK(p.s.queued_count() == 1);
  p.drop();
  p.establish(true);
  p.expect(publish_hex("t", "m", qos::at_least_once, 1, true) +
           publish_hex("t", "after", qos::at_most_once));
}

TEST_CASE("an UNSUBSCRIBE in flight across a reconnect still wins over the resubscription",
          "[protocol][reconnect][subscribe][MQTT-2.3.1-3]") {
  scripted_peer p;
  p.establish();
  std::error_code ec;
  p.s.subscribe({{"s", qos::at_least_once}}, ec);
  p.take();
  p.feed("90 03 0001 01");
  p.s.unsubscribe({"s"}, ec);  // id 2, never acknowledged
  p.take();
  p.drop();
  p.establish(false);
  // SUBSCRIBE (resubscription, id 3) first, then the re-sent UNSUBSCRIBE: the server ends up
  // unsubscribed, as the application asked.
  p.expect("82 06 0003 0001 73 01 A2 05 0002 0001 73");
  p.feed("90 03 0003 01 B0 02 0002");
  CHECK(p.s.subscription_count() == 0);
  CHECK(p.count<unsubscribe_done_event>() == 1);
  CHECK(p.count<resubscribed_event>() == 1);
}

TEST_CASE("an unacknowledged resubscription is superseded by the next one",
          "[protocol][reconnect][subscribe][MQTT-2.3.1-7]") {
  scripted_peer p;
  p.establish();
  std::error_code ec;
  p.s.subscribe({{"s", qos::at_least_once}}, ec);
  p.take();
  p.feed("90 03 0001 01");
  p.drop();
  p.establish(false);
  p.expect("82 06 0002 0001 73 01");  // resubscription, never acknowledged
  p.drop();
  p.establish(false);
  p.expect("82 06 0003 0001 73 01");  // only the new one
  p.feed("90 03 0002 01");            // a late SUBACK for the old one: unknown id, ignored
  CHECK(p.count<resubscribed_event>() == 0);
  p.feed("90 03 0003 01");
  CHECK(p.count<resubscribed_event>() == 1);
  CHECK_FALSE(p.closed());
}

TEST_CASE("session lost after PUBREC: the QoS 2 PUBLISH is sent again, not only its PUBREL",
          "[protocol][reconnect][qos2][MQTT-4.3.3-1]") {
  // A server may deliver a QoS 2 message when PUBREL arrives (mosquitto does). If it lost the
  // session between PUBREC and PUBREL, a re-sent PUBREL would be answered with PUBCOMP and the
  // message reported delivered although nobody got it.
  scripted_peer p;  // clean session: every CONNACK says session present 0
  p.establish();
  std::error_code ec;
  const request_id m = p.s.publish("t", "important", qos::exactly_once, false, ec);
  p.take();
  p.feed("50 02 0001");    // PUBREC
  p.expect("62 02 0001");  // PUBREL, lost with the connection
  p.drop();
  p.establish(false);
  p.expect(publish_hex("t", "important", qos::exactly_once, 1, true));
  p.feed("70 02 0001");  // a PUBCOMP before the PUBREC: the flow is at its PUBREC step again
  CHECK(p.closed());
  CHECK(p.count<publish_done_event>() == 0);
  p.drop();

  p.establish(false);
  p.expect(publish_hex("t", "important", qos::exactly_once, 1, true));
  p.feed("50 02 0001");
  p.expect("62 02 0001");
  p.feed("70 02 0001");
  const auto done = p.all<publish_done_event>();
  REQUIRE(done.size() == 1);
  CHECK(done[0].id == m);
  CHECK_FALSE(done[0].error);
  CHECK(p.s.inflight_count() == 0);
}

TEST_CASE("session kept after PUBREC: only the PUBREL is re-sent",
          "[protocol][reconnect][qos2][MQTT-4.3.3-1][MQTT-4.4.0-1]") {
  auto o = test_options();
  o.clean_session = false;
  scripted_peer p(o);
  p.establish();
  std::error_code ec;
  p.s.publish("t", "x", qos::exactly_once, false, ec);
  p.take();
  p.feed("50 02 0001");
  p.expect("62 02 0001");
  p.drop();
  p.establish(true);
  p.expect("62 02 0001");  // never the PUBLISH again in the same session
  p.feed("70 02 0001");
  CHECK(p.count<publish_done_event>() == 1);
}

TEST_CASE("a second reconnect re-sends resubscriptions and user requests in the first one's order",
          "[protocol][reconnect][subscribe][MQTT-4.6.0-1][MQTT-4.4.0-1]") {
  auto o = test_options();
  o.clean_session = false;
  scripted_peer p(o);
  p.establish();
  std::error_code ec;
  p.s.subscribe({{"a", qos::at_least_once}}, ec);  // id 1
  p.expect("82 06 0001 0001 61 01");
  p.feed("90 03 0001 01");
  const request_id u = p.s.unsubscribe({"a"}, ec);  // id 2
  p.expect("a2 05 0002 0001 61");
  p.drop();

  // The server lost the session: resubscription (id 3) first, then the re-sent UNSUBSCRIBE.
  p.establish(false);
  p.expect("82 06 0003 0001 61 01  a2 05 0002 0001 61");
  p.drop();  // before either ack

  // Session present now: the same order again, so the UNSUBSCRIBE still applies last.
  p.establish(true);
  p.expect("82 06 0003 0001 61 01  a2 05 0002 0001 61");
  p.feed("90 03 0003 01  b0 02 0002");
  const auto done = p.all<unsubscribe_done_event>();
  REQUIRE(done.size() == 1);
  CHECK(done[0].id == u);
  CHECK(p.s.subscription_count() == 0);
}

TEST_CASE("a stale resubscription does not override a newer SUBSCRIBE's QoS on a second reconnect",
          "[protocol][reconnect][subscribe][MQTT-4.6.0-1]") {
  auto o = test_options();
  o.clean_session = false;
  scripted_peer p(o);
  p.establish();
  std::error_code ec;
  p.s.subscribe({{"a", qos::at_most_once}}, ec);  // id 1
  p.take();
  p.feed("90 03 0001 00");
  p.s.subscribe({{"a", qos::exactly_once}}, ec);  // id 2: upgrade to QoS 2, not acknowledged
  p.take();
  p.drop();
  p.establish(false);
  p.expect("82 06 0003 0001 61 00  82 06 0002 0001 61 02");
  p.drop();
  p.establish(true);
  p.expect("82 06 0003 0001 61 00  82 06 0002 0001 61 02");
  p.feed("90 03 0003 00  90 03 0002 02");
  p.drop();
  p.establish(false);
  p.expect("82 06 0004 0001 61 02");  // what the application asked for last
}
