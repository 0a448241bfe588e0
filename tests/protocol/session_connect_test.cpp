// CONNECT / CONNACK handling and connection-level protocol violations.

#include <catch2/catch.hpp>

#include "protocol/support/scripted_peer.hpp"

using namespace amqtt;
using namespace amqtt_test;

TEST_CASE("CONNECT is built from the options and is the first packet",
          "[protocol][connect][MQTT-3.1.0-1][MQTT-3.1.3-1][MQTT-3.1.3-3][MQTT-3.1.2-9]"
          "[MQTT-3.1.2-14][MQTT-3.1.2-19][MQTT-3.1.2-21][MQTT-3.1.2-3][MQTT-3.1.3-10]"
          "[MQTT-3.1.3-11][MQTT-3.1.3-4]") {
  SECTION("every field") {
    session_options o;
    o.client_id = "cid";
    o.clean_session = false;
    o.keep_alive = std::chrono::seconds(30);
    o.will = will_options{"w", "bye", qos::at_least_once, true};
    o.username = "u";
    o.password = "p";
    scripted_peer p(o);
    p.connect();
    CHECK(p.s.state() == session_state::awaiting_connack);
    // flags: user 0x80 | password 0x40 | will retain 0x20 | will QoS 1 0x08 | will 0x04 = 0xEC
    p.expect("10 1D 0004 4D515454 04 EC 001E 0003 636964 0001 77 0003 627965 0001 75 0001 70");
  }
  SECTION("minimal: no will, no user name, no password, flags 0x02",
          "[MQTT-3.1.2-11][MQTT-3.1.2-13][MQTT-3.1.2-15][MQTT-3.1.2-18][MQTT-3.1.2-20]") {
    scripted_peer p;
    p.connect();
    p.expect("10 0D 0004 4D515454 04 02 003C 0001 63");
  }
  SECTION("keep alive 0 is sent as 0") {
    auto o = test_options();
    o.keep_alive = std::chrono::seconds(0);
    scripted_peer p(o);
    p.connect();
    p.expect("10 0D 0004 4D515454 04 02 0000 0001 63");
  }
}

TEST_CASE("CONNECT is sent once per connection and first on every new connection",
          "[protocol][connect][MQTT-3.1.0-1][MQTT-3.1.0-2][MQTT-4.1.0-2]") {
  scripted_peer p;
  std::error_code ec;
  // A request made before the connection goes out after CONNACK, never before CONNECT.
  p.s.publish("t", "early", qos::at_most_once, false, ec);
  REQUIRE_FALSE(ec);
  p.connect();
  p.s.publish("t", "waiting", qos::at_most_once, false, ec);
  p.expect("10 0D 0004 4D515454 04 02 003C 0001 63");
  p.expect_nothing();  // nothing before CONNACK
  p.feed("20 02 00 00");
  p.expect(publish_hex("t", "early", qos::at_most_once) +
           publish_hex("t", "waiting", qos::at_most_once));
  // Lots of traffic later: never a second CONNECT on this connection.
  for (int i = 0; i < 20; ++i) {
    p.s.publish("t", "x", qos::at_least_once, false, ec);
    const std::string out = p.take();
    CHECK(out.substr(0, 2) == "32");
    p.feed("40 02 00 " + to_hex(std::vector<std::uint8_t>{static_cast<std::uint8_t>(i + 1)}));
  }
  CHECK(p.count<publish_done_event>() == 22);
  // A new connection starts with a new CONNECT.
  p.drop();
  CHECK(p.s.state() == session_state::disconnected);
  p.connect();
  CHECK(p.take().substr(0, 2) == "10");
}

TEST_CASE("a CONNECT that cannot be encoded closes the connection with the codec error",
          "[protocol][connect][MQTT-3.1.3-7][MQTT-3.1.2-22]") {
  SECTION("empty client id needs clean session") {
    auto o = test_options();
    o.client_id = "";
    o.clean_session = false;
    scripted_peer p(o);
    p.connect();
    CHECK(p.close_reason() == codec_errc::empty_client_id_needs_clean_session);
    CHECK_FALSE(p.s.has_output());
  }
  SECTION("password without user name") {
    auto o = test_options();
    o.password = "secret";
    scripted_peer p(o);
    p.connect();
    CHECK(p.close_reason() == codec_errc::password_without_username);
    CHECK_FALSE(p.s.has_output());
  }
  SECTION("empty client id with clean session is sent") {
    auto o = test_options();
    o.client_id = "";
    scripted_peer p(o);
    p.connect();
    p.expect("10 0C 0004 4D515454 04 02 003C 0000");
  }
}

TEST_CASE("any packet before CONNACK is a protocol violation",
          "[protocol][connack][MQTT-3.2.0-1][MQTT-4.8.0-1]") {
  const char* first = GENERATE("30 03 0001 61",       // PUBLISH
                               "32 05 0001 61 0001",  // PUBLISH QoS 1
                               "40 02 0001",          // PUBACK
                               "50 02 0001",          // PUBREC
                               "62 02 0001",          // PUBREL
                               "70 02 0001",          // PUBCOMP
                               "90 03 0001 00",       // SUBACK
                               "B0 02 0001",          // UNSUBACK
                               "D0 00");              // PINGRESP
  scripted_peer p;
  p.connect();
  p.take();
  p.feed(first);
  CHECK(p.close_reason() == protocol_errc::packet_before_connack);
  CHECK(p.messages().empty());
  CHECK_FALSE(p.s.has_output());  // no acknowledgement either
  CHECK(p.s.state() == session_state::disconnected);
}

TEST_CASE("a second CONNACK closes with unexpected_connack", "[protocol][connack][MQTT-4.8.0-1]") {
  scripted_peer p;
  p.establish();
  p.feed("20 02 00 00");
  CHECK(p.close_reason() == protocol_errc::unexpected_connack);
}

TEST_CASE("session present on a clean session is a violation, accepted otherwise",
          "[protocol][connack][MQTT-3.2.2-1][MQTT-3.2.2-2][MQTT-3.2.2-3]") {
  SECTION("clean session, session present 1") {
    scripted_peer p;
    p.connect();
    p.take();
    p.feed("20 02 01 00");
    CHECK(p.close_reason() == protocol_errc::session_present_on_clean_session);
    CHECK(p.count<connected_event>() == 0);
  }
  SECTION("persistent session, session present 1") {
    auto o = test_options();
    o.clean_session = false;
    scripted_peer p(o);
    p.connect();
    p.take();
    p.feed("20 02 01 00");
    REQUIRE(p.count<connected_event>() == 1);
    CHECK(p.all<connected_event>()[0].session_present);
    CHECK_FALSE(p.closed());
  }
  SECTION("persistent session, session present 0") {
    auto o = test_options();
    o.clean_session = false;
    scripted_peer p(o);
    p.establish(false);
    REQUIRE(p.count<connected_event>() == 1);
    CHECK_FALSE(p.all<connected_event>()[0].session_present);
  }
}

TEST_CASE("CONNACK refusals close with the refusal's error",
          "[protocol][connack][MQTT-3.2.2-4][MQTT-3.2.2-5][MQTT-3.1.2-2][MQTT-3.1.3-9]") {
  struct row {
    const char* hex;
    protocol_errc expected;
    bool permanent;
  };
  const row r = GENERATE(values<row>({
      {"20 02 00 01", protocol_errc::unacceptable_protocol_version, true},
      {"20 02 00 02", protocol_errc::identifier_rejected, true},
      {"20 02 00 03", protocol_errc::server_unavailable, false},
      {"20 02 00 04", protocol_errc::bad_username_or_password, true},
      {"20 02 00 05", protocol_errc::not_authorized, true},
      {"20 02 01 03", protocol_errc::session_present_with_refusal, false},
  }));
  scripted_peer p;
  p.connect();
  p.take();
  p.feed(r.hex);
  CHECK(p.close_reason() == r.expected);
  CHECK(is_permanent_refusal(p.close_reason()) == r.permanent);
  CHECK(p.count<connected_event>() == 0);
  CHECK(p.s.state() == session_state::disconnected);
}

TEST_CASE("malformed packets close the connection with the codec error",
          "[protocol][codec-errors][MQTT-4.8.0-1][MQTT-2.2.2-2][MQTT-3.3.1-4][MQTT-1.5.3-1]"
          "[MQTT-1.5.3-2][MQTT-3.6.1-1][MQTT-3.9.3-2]") {
  struct row {
    const char* hex;
    codec_errc expected;
  };
  const row r = GENERATE(values<row>({
      {"41 02 0001", codec_errc::invalid_fixed_header_flags},              // PUBACK flags
      {"60 02 0001", codec_errc::invalid_fixed_header_flags},              // PUBREL must be 0x62
      {"36 03 0001 61", codec_errc::invalid_qos},                          // QoS 3
      {"38 03 0001 61", codec_errc::dup_with_qos0},                        // DUP on QoS 0
      {"30 04 0002 EDA0 ", codec_errc::ill_formed_utf8},                   // truncated surrogate
      {"30 05 0002 6100 78", codec_errc::utf8_null_character},             // U+0000 in topic
      {"82 06 0001 0001 61 00", codec_errc::unexpected_packet_direction},  // SUBSCRIBE
      {"10 00", codec_errc::unexpected_packet_direction},                  // CONNECT
      {"90 03 0001 03", codec_errc::invalid_suback_return_code},
      {"F0 00", codec_errc::auth_not_supported},
      {"00 00", codec_errc::reserved_packet_type},
      {"40 FF FF FF FF 7F", codec_errc::malformed_remaining_length},
      {"32 05 0001 61 0000", codec_errc::zero_packet_id},
  }));
  scripted_peer p;
  p.establish();
  p.feed(r.hex);
  CHECK(p.close_reason() == r.expected);
  CHECK(p.messages().empty());
  CHECK_FALSE(p.s.has_output());
}

TEST_CASE("an incoming packet larger than max_incoming_packet_size closes the connection",
          "[protocol][codec-errors][MQTT-4.8.0-1]") {
  auto o = test_options();
  o.max_incoming_packet_size = 16;
  scripted_peer p(o);
  p.establish();
  p.feed(publish_hex("t", "0123456789", qos::at_most_once));  // 15 bytes: fine
  CHECK(p.messages().size() == 1);
  p.feed("30 10");  // announces 18 bytes: refused before the body arrives
  CHECK(p.close_reason() == codec_errc::packet_too_large);
}

TEST_CASE("packets split across reads at any byte are decoded", "[protocol][input]") {
  scripted_peer p;
  p.connect();
  p.take();
  const std::string stream = "20 02 00 00 " + publish_hex("a/b", "hello", qos::at_least_once, 7) +
                             " D0 00 " + publish_hex("c", "", qos::at_most_once);
  p.feed(stream, 1);
  CHECK(p.count<connected_event>() == 1);
  REQUIRE(p.messages().size() == 2);
  CHECK(p.messages()[0].topic == "a/b");
  CHECK(p.messages()[0].payload == "hello");
  CHECK(p.messages()[1].topic == "c");
  p.expect("40 02 0007");
  CHECK_FALSE(p.closed());
}

TEST_CASE("protocol error codes have a category and messages", "[protocol][errors]") {
  CHECK(std::string(protocol_category().name()) == "amqtt.protocol");
  for (int v = static_cast<int>(protocol_errc::keepalive_timeout);
       v <= static_cast<int>(protocol_errc::not_authorized); ++v) {
    const std::error_code ec = static_cast<protocol_errc>(v);
    CHECK(ec.category() == protocol_category());
    CHECK(ec.message().find("unknown") == std::string::npos);
  }
  CHECK_FALSE(connack_error(connect_return_code::accepted));
  CHECK(connack_error(connect_return_code::server_unavailable) ==
        protocol_errc::server_unavailable);
  CHECK_FALSE(is_permanent_refusal(std::make_error_code(std::errc::connection_refused)));
}
