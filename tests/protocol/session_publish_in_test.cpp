// Inbound PUBLISH: delivery, acknowledgements and their order, QoS 2 exactly-once, and the
// inbound QoS 2 state across reconnects.

#include <cstring>

#include <catch2/catch.hpp>

#include "protocol/support/scripted_peer.hpp"

using namespace amqtt;
using namespace amqtt_test;

TEST_CASE("inbound QoS 0 is delivered and not acknowledged",
          "[protocol][publish-in][MQTT-3.3.4-1]") {
  scripted_peer p;
  p.establish();
  p.feed(publish_hex("a/b", "hello", qos::at_most_once));
  REQUIRE(p.messages().size() == 1);
  CHECK(p.messages()[0].topic == "a/b");
  CHECK(p.messages()[0].payload == "hello");
  CHECK(p.messages()[0].qos == qos::at_most_once);
  p.expect_nothing();
}

TEST_CASE("inbound QoS 1: PUBACK with the PUBLISH's id when the message is handed out",
          "[protocol][publish-in][MQTT-4.3.2-2][MQTT-2.3.1-6][MQTT-3.3.4-1][MQTT-4.5.0-2]") {
  scripted_peer p;
  p.establish();
  const byte_vector b = hex_bytes(publish_hex("t", "m", qos::at_least_once, 0x1234));
  std::memcpy(p.s.prepare_input(b.size()), b.data(), b.size());
  p.s.commit_input(b.size(), p.now);
  CHECK_FALSE(p.s.has_output());  // nothing acknowledged before the message is handed out
  session_event e = p.s.poll(p.now);
  REQUIRE(std::holds_alternative<message_event>(e));
  CHECK(std::get<message_event>(e).message.packet_id == 0x1234);
  CHECK(p.s.has_output());
  p.expect("40 02 1234");
  // After the PUBACK the same id is a new message, whatever its DUP flag.
  p.feed(publish_hex("t", "m", qos::at_least_once, 0x1234, true));
  CHECK(p.messages().size() == 1);  // the one recorded by the peer (the first was polled by hand)
  CHECK(p.messages()[0].dup);
  p.expect("40 02 1234");
}

TEST_CASE("PUBACKs and PUBRECs are sent in the order the PUBLISHes arrived",
          "[protocol][publish-in][MQTT-4.6.0-2][MQTT-4.6.0-3]") {
  scripted_peer p;
  p.establish();
  p.feed(
      publish_hex("t", "1", qos::at_least_once, 5) + publish_hex("t", "2", qos::exactly_once, 3) +
      publish_hex("t", "3", qos::at_least_once, 9) + publish_hex("t", "4", qos::at_most_once) +
      publish_hex("t", "5", qos::exactly_once, 1) + publish_hex("t", "6", qos::at_least_once, 2));
  REQUIRE(p.messages().size() == 6);
  for (std::size_t i = 0; i < 6; ++i) CHECK(p.messages()[i].payload == std::to_string(i + 1));
  p.expect("40 02 0005 50 02 0003 40 02 0009 50 02 0001 40 02 0002");
}

TEST_CASE("inbound QoS 2 is delivered exactly once",
          "[protocol][publish-in][MQTT-4.3.3-2][MQTT-3.3.4-1][MQTT-2.3.1-4]") {
  scripted_peer p;
  p.establish();
  p.feed(publish_hex("t", "once", qos::exactly_once, 7));
  p.expect("50 02 0007");
  CHECK(p.messages().size() == 1);
  // Re-sent before PUBREL (DUP or not): PUBREC again, not delivered again.
  p.feed(publish_hex("t", "once", qos::exactly_once, 7, true));
  p.expect("50 02 0007");
  p.feed(publish_hex("t", "once", qos::exactly_once, 7, false));
  p.expect("50 02 0007");
  CHECK(p.messages().size() == 1);
  // Our own outbound id 7 is a different space: an outbound flow with id 7 is unaffected.
  p.feed("62 02 0007");
  p.expect("70 02 0007");
  // After PUBCOMP the id starts a new message.
  p.feed(publish_hex("t", "again", qos::exactly_once, 7));
  p.expect("50 02 0007");
  REQUIRE(p.messages().size() == 2);
  CHECK(p.messages()[1].payload == "again");
}

TEST_CASE("PUBREL for an unknown id is answered with PUBCOMP",
          "[protocol][publish-in][MQTT-4.3.3-2]") {
  scripted_peer p;
  p.establish();
  p.feed("62 02 0099");
  p.expect("70 02 0099");
  CHECK_FALSE(p.closed());
}

TEST_CASE("every PUBLISH is acknowledged, also after unsubscribing",
          "[protocol][publish-in][MQTT-4.5.0-2]") {
  scripted_peer p;
  p.establish();
  std::error_code ec;
  p.s.subscribe({{"t", qos::exactly_once}}, ec);
  p.take();
  p.feed("90 03 0001 02");
  p.s.unsubscribe({"t"}, ec);
  p.take();
  p.feed("B0 02 0002");
  CHECK(p.s.subscription_count() == 0);
  p.feed(publish_hex("t", "late", qos::at_least_once, 1) +
         publish_hex("t", "late2", qos::exactly_once, 2));
  p.expect("40 02 0001 50 02 0002");
}

TEST_CASE("message flags and topic bytes are delivered verbatim",
          "[protocol][publish-in][MQTT-1.5.3-3][MQTT-3.3.1-8][MQTT-3.3.1-9]") {
  scripted_peer p;
  p.establish();
  p.feed(publish_hex("\xEF\xBB\xBF"
                     "bom",
                     "", qos::at_most_once, 0, false, true) +
         publish_hex("plain", std::string("\x00\xFF", 2), qos::at_most_once));
  REQUIRE(p.messages().size() == 2);
  CHECK(p.messages()[0].topic ==
        "\xEF\xBB\xBF"
        "bom");
  CHECK(p.messages()[0].retain);
  CHECK(p.messages()[0].payload.empty());
  CHECK_FALSE(p.messages()[1].retain);
  CHECK(p.messages()[1].payload == std::string("\x00\xFF", 2));
}

TEST_CASE("inbound QoS 2 state survives a reconnect only into a present session",
          "[protocol][publish-in][reconnect][MQTT-4.3.3-2][MQTT-4.1.0-1][MQTT-3.1.2-4]"
          "[MQTT-3.1.2-6]") {
  SECTION("clean_session=0, session present: the re-sent PUBLISH is not delivered again") {
    auto o = test_options();
    o.clean_session = false;
    scripted_peer p(o);
    p.establish();
    p.feed(publish_hex("t", "m", qos::exactly_once, 7));
    p.drop();  // the PUBREC may or may not have reached the server
    p.establish(true);
    p.feed(publish_hex("t", "m", qos::exactly_once, 7, true));
    p.expect("50 02 0007");
    CHECK(p.messages().size() == 1);
    p.feed("62 02 0007");
    p.expect("70 02 0007");
  }
  SECTION("clean_session=0, session NOT present: the state is cleared") {
    auto o = test_options();
    o.clean_session = false;
    scripted_peer p(o);
    p.establish();
    p.feed(publish_hex("t", "m", qos::exactly_once, 7));
    p.drop();
    p.establish(false);
    p.feed(publish_hex("t", "new", qos::exactly_once, 7));
    p.expect("50 02 0007");
    CHECK(p.messages().size() == 2);
  }
  SECTION("clean_session=1: the state is cleared") {
    scripted_peer p;
    p.establish();
    p.feed(publish_hex("t", "m", qos::exactly_once, 7));
    p.drop();
    p.establish();
    p.feed(publish_hex("t", "new", qos::exactly_once, 7));
    CHECK(p.messages().size() == 2);
  }
}

TEST_CASE("poll hands out queued events before decoding, one message per call",
          "[protocol][poll]") {
  scripted_peer p;
  p.establish();
  std::error_code ec;
  const request_id id = p.s.publish("t", "x", qos::at_most_once, false, ec);
  const byte_vector b = hex_bytes(publish_hex("a", "1", qos::at_most_once) +
                                  publish_hex("b", "2", qos::at_most_once));
  std::memcpy(p.s.prepare_input(b.size()), b.data(), b.size());
  p.s.commit_input(b.size(), p.now);
  session_event e = p.s.poll(p.now);
  REQUIRE(std::holds_alternative<publish_done_event>(e));
  CHECK(std::get<publish_done_event>(e).id == id);
  e = p.s.poll(p.now);
  REQUIRE(std::holds_alternative<message_event>(e));
  CHECK(std::get<message_event>(e).message.topic == "a");
  // Back-pressure: the driver may stop here; the second message waits in the input buffer.
  e = p.s.poll(p.now);
  REQUIRE(std::holds_alternative<message_event>(e));
  CHECK(std::get<message_event>(e).message.payload == "2");
  CHECK(std::holds_alternative<std::monostate>(p.s.poll(p.now)));
}
