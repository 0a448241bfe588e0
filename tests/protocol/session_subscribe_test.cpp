// SUBSCRIBE / UNSUBSCRIBE, remembered subscriptions and resubscription after a reconnect.

#include <catch2/catch.hpp>

#include "protocol/support/scripted_peer.hpp"

using namespace amqtt;
using namespace amqtt_test;

TEST_CASE("SUBSCRIBE bytes, SUBACK results in filter order",
          "[protocol][subscribe][MQTT-3.8.1-1][MQTT-2.3.1-7][MQTT-3.9.3-1][MQTT-3.8.4-5]"
          "[MQTT-3.8.3-1][MQTT-3-8.3-4]") {
  scripted_peer p;
  p.establish();
  std::error_code ec;
  const request_id id =
      p.s.subscribe({{"a/+", qos::at_least_once}, {"b/#", qos::exactly_once}}, ec);
  REQUIRE_FALSE(ec);
  p.expect("82 0E 0001 0003 612F2B 01 0003 622F23 02");
  p.feed("90 04 0001 01 80");
  REQUIRE(p.count<subscribe_done_event>() == 1);
  const auto done = p.all<subscribe_done_event>()[0];
  CHECK(done.id == id);
  CHECK_FALSE(done.error);
  CHECK(done.results == std::vector<suback_return_code>{suback_return_code::granted_qos1,
                                                        suback_return_code::failure});
  CHECK(p.s.subscription_count() == 1);  // the refused filter is not remembered
}

TEST_CASE("UNSUBSCRIBE bytes, UNSUBACK completes it and forgets the filters",
          "[protocol][subscribe][MQTT-3.10.1-1][MQTT-3.10.3-1][MQTT-3.10.4-4][MQTT-2.3.1-7]") {
  scripted_peer p;
  p.establish();
  std::error_code ec;
  p.s.subscribe({{"a/+", qos::at_least_once}, {"c", qos::at_most_once}}, ec);
  p.take();
  p.feed("90 04 0001 01 00");
  CHECK(p.s.subscription_count() == 2);
  const request_id id = p.s.unsubscribe({"a/+"}, ec);
  p.expect("A2 07 0002 0003 612F2B");
  CHECK(p.s.subscription_count() == 2);  // until the UNSUBACK
  p.feed("B0 02 0002");
  REQUIRE(p.count<unsubscribe_done_event>() == 1);
  CHECK(p.all<unsubscribe_done_event>()[0].id == id);
  CHECK(p.s.subscription_count() == 1);
}

TEST_CASE("a SUBACK with the wrong number of return codes closes the connection",
          "[protocol][subscribe][MQTT-3.8.4-5][MQTT-4.8.0-1]") {
  scripted_peer p;
  p.establish();
  std::error_code ec;
  p.s.subscribe({{"a", qos::at_least_once}, {"b", qos::at_least_once}}, ec);
  p.take();
  const char* suback = GENERATE("90 03 0001 01", "90 05 0001 01 01 01");
  p.feed(suback);
  CHECK(p.close_reason() == protocol_errc::suback_count_mismatch);
  CHECK(p.count<subscribe_done_event>() == 0);
}

TEST_CASE("invalid subscribe/unsubscribe requests fail with the codec error",
          "[protocol][subscribe][MQTT-4.7.1-2][MQTT-4.7.1-3][MQTT-3.8.3-3][MQTT-3.10.3-2]"
          "[MQTT-3-8.3-4][MQTT-4.7.3-1]") {
  scripted_peer p;
  p.establish();
  std::error_code ec;
  CHECK(p.s.subscribe({{"a/#/b", qos::at_most_once}}, ec) == 0);
  CHECK(ec == codec_errc::invalid_topic_filter);
  CHECK(p.s.subscribe({{"a+", qos::at_most_once}}, ec) == 0);
  CHECK(ec == codec_errc::invalid_topic_filter);
  CHECK(p.s.subscribe({}, ec) == 0);
  CHECK(ec == codec_errc::empty_subscribe);
  CHECK(p.s.subscribe({{"a", static_cast<qos>(3)}}, ec) == 0);
  CHECK(ec == codec_errc::invalid_requested_qos);
  CHECK(p.s.subscribe({{"", qos::at_most_once}}, ec) == 0);
  CHECK(ec == codec_errc::empty_topic);
  CHECK(p.s.unsubscribe({}, ec) == 0);
  CHECK(ec == codec_errc::empty_unsubscribe);
  CHECK(p.s.unsubscribe({"#/a"}, ec) == 0);
  CHECK(ec == codec_errc::invalid_topic_filter);
  p.expect_nothing();
  CHECK(p.s.queued_count() == 0);
  // Valid wildcard filters are accepted.
  CHECK(p.s.subscribe({{"#", qos::at_most_once}, {"+/x/+", qos::at_most_once}}, ec) != 0);
  CHECK_FALSE(ec);
}

TEST_CASE("after CONNACK session_present=0 remembered subscriptions are re-sent and reported",
          "[protocol][subscribe][reconnect][MQTT-3.2.2-3][MQTT-3.1.2-6][MQTT-3.9.3-1]") {
  auto o = test_options();
  const bool clean = GENERATE(true, false);
  o.clean_session = clean;
  scripted_peer p(o);
  p.establish();
  std::error_code ec;
  p.s.subscribe({{"b", qos::exactly_once}, {"a", qos::at_least_once}}, ec);
  p.s.subscribe({{"c", qos::at_most_once}}, ec);
  p.take();
  p.feed("90 04 0001 02 01 90 03 0002 00");
  CHECK(p.s.subscription_count() == 3);
  p.drop();
  p.clear_events();

  p.establish(false);
  REQUIRE(p.count<connected_event>() == 1);
  REQUIRE(std::holds_alternative<connected_event>(p.events.front()));  // reported first
  // One batched SUBSCRIBE with every remembered filter and its requested QoS, a fresh id.
  p.expect("82 0E 0003 0001 61 01 0001 62 02 0001 63 00");
  p.feed("90 05 0003 01 80 00");
  const auto r = p.all<resubscribed_event>();
  REQUIRE(r.size() == 3);
  CHECK(r[0].filter == "a");
  CHECK(r[0].result == suback_return_code::granted_qos1);
  CHECK(r[1].filter == "b");
  CHECK(r[1].result == suback_return_code::failure);
  CHECK(r[2].filter == "c");
  CHECK(r[2].result == suback_return_code::granted_qos0);
  CHECK(p.count<subscribe_done_event>() == 0);  // internal: no user request completes
  CHECK(p.s.subscription_count() == 2);         // "b" was refused: forgotten
}

TEST_CASE("no resubscription when the server kept the session",
          "[protocol][subscribe][reconnect][MQTT-3.2.2-2]") {
  auto o = test_options();
  o.clean_session = false;
  scripted_peer p(o);
  p.establish();
  std::error_code ec;
  p.s.subscribe({{"a", qos::at_least_once}}, ec);
  p.take();
  p.feed("90 03 0001 01");
  p.drop();
  p.establish(true);
  p.expect_nothing();
  CHECK(p.s.subscription_count() == 1);
}

TEST_CASE("many remembered subscriptions are re-sent in batches",
          "[protocol][subscribe][reconnect][MQTT-3.2.2-3]") {
  scripted_peer p;
  p.establish();
  std::error_code ec;
  const std::size_t n = 150;
  std::vector<std::string> names;
  for (std::size_t i = 0; i < n; ++i) names.push_back("f/" + std::to_string(1000 + i));
  for (std::size_t i = 0; i < n; ++i) {
    p.s.subscribe({{names[i], qos::at_least_once}}, ec);
    byte_vector b;
    p.s.take_output(b, p.now);
    const auto id = static_cast<std::uint16_t>(i + 1);
    p.feed_packet(suback_packet{id, {suback_return_code::granted_qos1}});
  }
  REQUIRE(p.s.subscription_count() == n);
  p.drop();
  p.establish(false);
  byte_vector out;
  p.s.take_output(out, p.now);
  std::size_t offset = 0, filters = 0;
  std::vector<std::uint16_t> ids;
  while (offset < out.size()) {
    packet pkt;
    const auto r = decode_packet(out.data() + offset, out.size() - offset, pkt);
    REQUIRE(r.status == decode_status::complete);
    offset += r.consumed;
    const auto& s = std::get<subscribe_packet>(pkt);
    CHECK(s.entries.size() <= session::resubscribe_batch_filters);
    filters += s.entries.size();
    ids.push_back(s.packet_id);
  }
  CHECK(filters == n);
  REQUIRE(ids.size() == 3);  // 64 + 64 + 22
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const std::size_t count = i < 2 ? 64 : n - 128;
    p.feed_packet(suback_packet{
        ids[i], std::vector<suback_return_code>(count, suback_return_code::granted_qos1)});
  }
  CHECK(p.count<resubscribed_event>() == n);
  CHECK_FALSE(p.closed());
}
