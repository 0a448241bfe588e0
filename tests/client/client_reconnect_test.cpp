// amqtt::client connection loop: reconnect with backoff, refusals, timeouts, broker rotation,
// re-sending after a reconnect. Against the in-memory fake broker.
#include "client/fake_broker.hpp"

#include <catch2/catch.hpp>

#include <amqtt/client.hpp>

#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>

#include <optional>
#include <string>
#include <vector>

namespace {

using namespace amqtt;
using namespace amqtt::test;
using namespace std::chrono_literals;

template <class E>
std::vector<E> events_of(const std::vector<client_event>& events) {
  std::vector<E> out;
  for (const auto& e : events)
    if (auto* x = std::get_if<E>(&e)) out.push_back(*x);
  return out;
}

}  // namespace

TEST_CASE("client: backoff cap doubles from min to max", "[client][reconnect]") {
  using amqtt::detail::backoff_cap;
  CHECK(backoff_cap(100ms, 30000ms, 0) == 100ms);
  CHECK(backoff_cap(100ms, 30000ms, 1) == 200ms);
  CHECK(backoff_cap(100ms, 30000ms, 4) == 1600ms);
  CHECK(backoff_cap(100ms, 30000ms, 9) == 30000ms);
  CHECK(backoff_cap(100ms, 30000ms, 63) == 30000ms);
  CHECK(backoff_cap(100ms, 30000ms, 1000) == 30000ms);
  CHECK(backoff_cap(0ms, 30000ms, 5) == 0ms);
}

TEST_CASE("client: failed connects are retried with growing, jittered backoff", "[client][reconnect]") {
  fake_broker broker;  // outlives the io_context (transports refer to it)
  asio::io_context io;
  const int failures = 8;
  for (int i = 0; i < failures; ++i) broker.connect_errors.push_back(asio::error::connection_refused);
  auto o = fake_options(broker);
  o.reconnect.min_delay = 2ms;
  o.reconnect.max_delay = 40ms;
  client c(io, o);
  std::vector<client_event> events;
  c.set_event_handler([&](const client_event& e) { events.push_back(e); });
  std::optional<std::error_code> result;
  c.async_connect([&](std::error_code ec, bool) { result = ec; });
  REQUIRE(run_until(io, [&] { return result.has_value(); }));
  CHECK_FALSE(*result);
  CHECK(broker.connect_attempts == failures + 1);

  const auto failed = events_of<event::connect_failed>(events);
  REQUIRE(failed.size() == failures);
  for (const auto& f : failed) CHECK(f.error == asio::error::connection_refused);
  const auto scheduled = events_of<event::reconnect_scheduled>(events);
  REQUIRE(scheduled.size() == failures);
  for (std::size_t i = 0; i < scheduled.size(); ++i) {
    CHECK(scheduled[i].attempt == i + 1);
    CHECK(scheduled[i].delay >= 0ms);
    CHECK(scheduled[i].delay <= amqtt::detail::backoff_cap(2ms, 40ms, i));
  }
  CHECK(events_of<event::connected>(events).size() == 1);
}

TEST_CASE("client: full jitter spreads delays over [0, cap]", "[client][reconnect]") {
  fake_broker broker;  // outlives the io_context (transports refer to it)
  asio::io_context io;
  const int failures = 60;
  for (int i = 0; i < failures; ++i) broker.connect_errors.push_back(asio::error::connection_refused);
  auto o = fake_options(broker);
  o.reconnect.min_delay = 4ms;  // cap 4, 8, 8, ... ms
  o.reconnect.max_delay = 8ms;
  client c(io, o);
  std::vector<std::chrono::milliseconds> delays;
  c.set_event_handler([&](const client_event& e) {
    if (auto* s = std::get_if<event::reconnect_scheduled>(&e)) delays.push_back(s->delay);
  });
  std::optional<std::error_code> result;
  c.async_connect([&](std::error_code ec, bool) { result = ec; });
  REQUIRE(run_until(io, [&] { return result.has_value(); }, 10000ms));
  REQUIRE(delays.size() == failures);
  std::size_t low = 0, high = 0;
  for (std::size_t i = 1; i < delays.size(); ++i) {
    CHECK(delays[i] <= 8ms);
    if (delays[i] <= 3ms) ++low;
    if (delays[i] >= 5ms) ++high;
  }
  // Uniform over 0..8: both halves are hit (probability of failing ~ 2 * (5/9)^59).
  CHECK(low > 0);
  CHECK(high > 0);
}

TEST_CASE("client: permanent CONNACK refusals stop the loop", "[client][reconnect]") {
  const auto [code, expected] = GENERATE(
      std::make_pair(connect_return_code::unacceptable_protocol_version,
                     protocol_errc::unacceptable_protocol_version),
      std::make_pair(connect_return_code::identifier_rejected, protocol_errc::identifier_rejected),
      std::make_pair(connect_return_code::bad_username_or_password,
                     protocol_errc::bad_username_or_password),
      std::make_pair(connect_return_code::not_authorized, protocol_errc::not_authorized));
  fake_broker broker;  // outlives the io_context (transports refer to it)
  asio::io_context io;
  broker.connack_codes = {code, code, code};
  client c(io, fake_options(broker));
  std::vector<client_event> events;
  c.set_event_handler([&](const client_event& e) { events.push_back(e); });
  std::optional<std::error_code> run_ec, connect_ec, publish_ec;
  c.async_run([&](std::error_code ec) { run_ec = ec; });
  c.async_connect([&](std::error_code ec, bool) { connect_ec = ec; });
  c.async_publish("p", "x", qos::at_least_once, [&](std::error_code ec) { publish_ec = ec; });
  REQUIRE(run_until(io, [&] { return run_ec && connect_ec && publish_ec; }));
  CHECK(*run_ec == expected);
  CHECK(*connect_ec == expected);
  CHECK(*publish_ec == expected);
  run_for(io, 50ms);
  CHECK(broker.connect_attempts == 1);
  const auto stopped = events_of<event::stopped>(events);
  REQUIRE(stopped.size() == 1);
  CHECK(stopped[0].reason == expected);
  CHECK(events_of<event::reconnect_scheduled>(events).empty());
}

TEST_CASE("client: refusal 3 (server unavailable) is retried", "[client][reconnect]") {
  fake_broker broker;  // outlives the io_context (transports refer to it)
  asio::io_context io;
  broker.connack_codes = {connect_return_code::server_unavailable,
                          connect_return_code::server_unavailable};
  client c(io, fake_options(broker));
  std::vector<client_event> events;
  c.set_event_handler([&](const client_event& e) { events.push_back(e); });
  std::optional<std::error_code> result;
  c.async_connect([&](std::error_code ec, bool) { result = ec; });
  REQUIRE(run_until(io, [&] { return result.has_value(); }));
  CHECK_FALSE(*result);
  CHECK(broker.connects == 3);
  const auto failed = events_of<event::connect_failed>(events);
  REQUIRE(failed.size() == 2);
  CHECK(failed[0].error == protocol_errc::server_unavailable);
}

TEST_CASE("client: connect timeout covers CONNECT/CONNACK and the TCP connect", "[client][reconnect]") {
  fake_broker broker;  // outlives the io_context (transports refer to it)
  asio::io_context io;
  auto o = fake_options(broker);
  o.connect_timeout = 50ms;
  o.reconnect.enabled = false;
  SECTION("no CONNACK") { broker.send_connack = false; }
  SECTION("TCP connect hangs") { broker.hang_connect = true; }
  client c(io, o);
  std::optional<std::error_code> run_ec;
  const auto start = std::chrono::steady_clock::now();
  c.async_run([&](std::error_code ec) { run_ec = ec; });
  REQUIRE(run_until(io, [&] { return run_ec.has_value(); }));
  CHECK(*run_ec == client_errc::connect_timeout);
  CHECK(std::chrono::steady_clock::now() - start >= 45ms);
  REQUIRE(run_until(io, [&] { return broker.transports_alive <= 1; }));
}

TEST_CASE("client: brokers are tried in turn", "[client][reconnect]") {
  fake_broker broker;  // outlives the io_context (transports refer to it)
  asio::io_context io;
  broker.connect_errors = {asio::error::connection_refused, asio::error::host_not_found,
                           asio::error::connection_refused};
  auto o = fake_options(broker);
  o.brokers = {{"a", 1}, {"b", 2}};
  client c(io, o);
  std::vector<client_event> events;
  c.set_event_handler([&](const client_event& e) { events.push_back(e); });
  std::optional<std::error_code> result;
  c.async_connect([&](std::error_code ec, bool) { result = ec; });
  REQUIRE(run_until(io, [&] { return result.has_value(); }));
  CHECK_FALSE(*result);
  CHECK(broker.hosts == std::vector<std::string>{"a:1", "b:2", "a:1", "b:2"});
  // The next broker is tried from a fresh handler: a failed transport is never destroyed inside
  // its own completion handler.
  CHECK(broker.destroyed_in_handler == 0);
  // One backoff after each full round of failures.
  CHECK(events_of<event::reconnect_scheduled>(events).size() == 1);
  const auto connected = events_of<event::connected>(events);
  REQUIRE(connected.size() == 1);
  CHECK(connected[0].broker == broker_address{"b", 2});
}

TEST_CASE("client: without reconnect, a failure or loss ends async_run", "[client][reconnect]") {
  fake_broker broker;  // outlives the io_context (transports refer to it)
  asio::io_context io;
  auto o = fake_options(broker);
  o.reconnect.enabled = false;
  client c(io, o);
  SECTION("connection refused") {
    broker.connect_errors = {asio::error::connection_refused};
    std::optional<std::error_code> run_ec, connect_ec;
    c.async_run([&](std::error_code ec) { run_ec = ec; });
    c.async_connect([&](std::error_code ec, bool) { connect_ec = ec; });
    REQUIRE(run_until(io, [&] { return run_ec && connect_ec; }));
    CHECK(*run_ec == asio::error::connection_refused);
    CHECK(*connect_ec == asio::error::connection_refused);
  }
  SECTION("connection lost") {
    std::optional<std::error_code> run_ec;
    bool connected = false;
    c.async_run([&](std::error_code ec) { run_ec = ec; });
    c.async_connect([&](std::error_code ec, bool) { connected = !ec; });
    REQUIRE(run_until(io, [&] { return connected; }));
    broker.drop();
    REQUIRE(run_until(io, [&] { return run_ec.has_value(); }));
    CHECK(*run_ec == asio::error::eof);
  }
  CHECK(broker.connect_attempts == 1);
}

TEST_CASE("client: after a loss, in-flight messages are re-sent and subscriptions renewed",
          "[client][reconnect]") {
  fake_broker broker;  // outlives the io_context (transports refer to it)
  asio::io_context io;
  client c(io, fake_options(broker));
  std::vector<client_event> events;
  c.set_event_handler([&](const client_event& e) { events.push_back(e); });
  bool connected = false;
  c.async_connect([&](std::error_code ec, bool) { connected = !ec; });
  REQUIRE(run_until(io, [&] { return connected; }));

  std::optional<std::vector<suback_return_code>> rc;
  c.async_subscribe("r/#", qos::at_least_once, [&](std::error_code, std::vector<suback_return_code> r) { rc = r; });
  REQUIRE(run_until(io, [&] { return rc.has_value(); }));

  broker.ack_publishes = false;
  std::optional<std::error_code> done;
  c.async_publish("r/x", "keep", qos::at_least_once, [&](std::error_code ec) { done = ec; });
  REQUIRE(run_until(io, [&] { return broker.publishes == 1; }));
  broker.ack_publishes = true;
  broker.drop();

  REQUIRE(run_until(io, [&] { return done.has_value(); }));
  CHECK_FALSE(*done);
  std::vector<sent_packet> pubs;
  for (auto& p : broker.received)
    if (p.type == packet_type::publish && p.topic == "r/x") pubs.push_back(p);
  REQUIRE(pubs.size() >= 2);
  CHECK_FALSE(pubs[0].dup);
  CHECK(pubs[1].dup);  // re-sent with DUP after the reconnect
  CHECK(pubs[1].packet_id == pubs[0].packet_id);

  REQUIRE(run_until(io, [&] { return !events_of<event::resubscribed>(events).empty(); }));
  const auto resub = events_of<event::resubscribed>(events);
  CHECK(resub[0].filter == "r/#");
  CHECK(resub[0].result == suback_return_code::granted_qos1);
  const auto disconnected = events_of<event::disconnected>(events);
  REQUIRE(disconnected.size() == 1);
  CHECK(disconnected[0].reason == asio::error::eof);
  CHECK(events_of<event::connected>(events).size() == 2);
}

TEST_CASE("client: keepalive timeout is detected and the client reconnects", "[client][reconnect]") {
  fake_broker broker;  // outlives the io_context (transports refer to it)
  asio::io_context io;
  auto o = fake_options(broker);
  o.session.keep_alive = std::chrono::seconds(1);
  o.session.ping_timeout = 200ms;
  client c(io, o);
  std::vector<client_event> events;
  c.set_event_handler([&](const client_event& e) { events.push_back(e); });
  bool connected = false;
  c.async_connect([&](std::error_code ec, bool) { connected = !ec; });
  REQUIRE(run_until(io, [&] { return connected; }));
  // Pings answered: the link stays up.
  REQUIRE(run_until(io, [&] { return broker.count(packet_type::pingreq) >= 1; }, 3000ms));
  run_for(io, 300ms);
  CHECK(events_of<event::disconnected>(events).empty());
  // The broker goes silent: dead link detected, then a reconnect.
  broker.answer_pings = false;
  const auto silent_at = std::chrono::steady_clock::now();
  REQUIRE(run_until(io, [&] { return !events_of<event::disconnected>(events).empty(); }, 4000ms));
  CHECK(std::chrono::steady_clock::now() - silent_at < 2500ms);
  CHECK(events_of<event::disconnected>(events)[0].reason == protocol_errc::keepalive_timeout);
  broker.answer_pings = true;
  REQUIRE(run_until(io, [&] { return events_of<event::connected>(events).size() == 2; }));
}

TEST_CASE("client: graceful disconnect sends DISCONNECT and ends the loop", "[client][reconnect]") {
  fake_broker broker;  // outlives the io_context (transports refer to it)
  asio::io_context io;
  client c(io, fake_options(broker));
  std::vector<client_event> events;
  c.set_event_handler([&](const client_event& e) { events.push_back(e); });
  std::optional<std::error_code> run_ec, receive_ec, pub_ec, disc_ec;
  c.async_run([&](std::error_code ec) { run_ec = ec; });
  bool connected = false;
  c.async_connect([&](std::error_code ec, bool) { connected = !ec; });
  REQUIRE(run_until(io, [&] { return connected; }));
  broker.ack_publishes = false;
  c.async_publish("g", "x", qos::exactly_once, [&](std::error_code ec) { pub_ec = ec; });
  c.async_receive([&](std::error_code ec, message) { receive_ec = ec; });
  REQUIRE(run_until(io, [&] { return broker.publishes == 1; }));
  c.async_disconnect([&](std::error_code ec) { disc_ec = ec; });
  REQUIRE(run_until(io, [&] { return run_ec && receive_ec && pub_ec && disc_ec; }));
  CHECK_FALSE(*run_ec);
  CHECK_FALSE(*disc_ec);
  CHECK(*receive_ec == asio::error::operation_aborted);
  CHECK(*pub_ec == asio::error::operation_aborted);
  CHECK(broker.disconnects == 1);
  REQUIRE(run_until(io, [&] { return broker.transports_alive == 0 || broker.current == nullptr; }));
  const auto stopped = events_of<event::stopped>(events);
  REQUIRE(stopped.size() == 1);
  CHECK_FALSE(stopped[0].reason);
  const auto disconnected = events_of<event::disconnected>(events);
  REQUIRE(disconnected.size() == 1);
  CHECK_FALSE(disconnected[0].reason);

  // Disconnecting again, or while stopped, completes at once; the client can start again.
  disc_ec.reset();
  c.async_disconnect([&](std::error_code ec) { disc_ec = ec; });
  REQUIRE(run_until(io, [&] { return disc_ec.has_value(); }));
  CHECK_FALSE(*disc_ec);
  connected = false;
  c.async_connect([&](std::error_code ec, bool) { connected = !ec; });
  REQUIRE(run_until(io, [&] { return connected; }));
  CHECK(broker.connect_attempts == 2);
}

TEST_CASE("client: acknowledgements the broker sends before closing complete their operations",
          "[client][reconnect][MQTT-3.14.4-1]") {
  fake_broker broker;  // outlives the io_context (transports refer to it)
  asio::io_context io;
  client c(io, fake_options(broker));
  std::optional<std::error_code> run_ec, q1_ec, q2_ec, q2b_ec, disc_ec, receive_ec;
  c.async_run([&](std::error_code ec) { run_ec = ec; });
  REQUIRE_FALSE(connect_and_wait(io, c));
  // The broker answers PUBLISH (QoS 1) and PUBREL only when it reads the DISCONNECT, just
  // before it closes: as a broker does with what it read before the DISCONNECT.
  broker.held_until_disconnect = {packet_type::puback, packet_type::pubcomp};
  c.async_publish("t", "1", qos::at_least_once, [&](std::error_code ec) { q1_ec = ec; });
  c.async_publish("t", "2", qos::exactly_once, [&](std::error_code ec) { q2_ec = ec; });
  REQUIRE(run_until(io, [&] { return broker.count(packet_type::pubrel) == 1; }));
  // A QoS 2 publish whose PUBREC comes only then: no PUBREL may follow the DISCONNECT, so it
  // does not complete.
  broker.held_until_disconnect.insert(packet_type::pubrec);
  c.async_publish("t", "3", qos::exactly_once, [&](std::error_code ec) { q2b_ec = ec; });
  REQUIRE(run_until(io, [&] { return broker.publishes == 3; }));
  c.async_receive([&](std::error_code ec, message) { receive_ec = ec; });
  c.async_disconnect([&](std::error_code ec) { disc_ec = ec; });
  REQUIRE(run_until(io, [&] { return run_ec && q1_ec && q2_ec && q2b_ec && disc_ec && receive_ec; }));
  CHECK_FALSE(*q1_ec);
  CHECK_FALSE(*q2_ec);
  CHECK(*q2b_ec == asio::error::operation_aborted);
  CHECK(*receive_ec == asio::error::operation_aborted);
  CHECK_FALSE(*disc_ec);
  CHECK_FALSE(*run_ec);
  CHECK(broker.disconnects == 1);
  CHECK(broker.count(packet_type::pubrel) == 1);  // nothing after the DISCONNECT
  CHECK(broker.received.back().type == packet_type::disconnect);
}

TEST_CASE("client: after DISCONNECT an acknowledgement still counts (receive queue full), "
          "and the linger ends at its deadline",
          "[client][reconnect]") {
  fake_broker broker;  // outlives the io_context (transports refer to it)
  asio::io_context io;
  auto o = fake_options(broker);
  o.receive_queue_limit = 1;
  o.disconnect_linger = 200ms;
  client c(io, o);
  std::optional<std::error_code> run_ec, disc_ec, sub_ec, pub_ec;
  c.async_run([&](std::error_code ec) { run_ec = ec; });
  REQUIRE_FALSE(connect_and_wait(io, c));
  c.async_subscribe("m", qos::at_most_once,
                    [&](std::error_code ec, std::vector<suback_return_code>) { sub_ec = ec; });
  REQUIRE(run_until(io, [&] { return sub_ec.has_value(); }));
  for (int i = 0; i < 3; ++i) broker.publish("m", "x");  // fills the receive queue
  // (reading stops until the disconnect, then the queue no longer blocks: stopping drains it)
  broker.held_until_disconnect = {packet_type::puback};
  broker.close_on_disconnect = false;  // the client must close the connection itself
  c.async_publish("t", "1", qos::at_least_once, [&](std::error_code ec) { pub_ec = ec; });
  REQUIRE(run_until(io, [&] { return broker.publishes == 1; }));
  const auto start = std::chrono::steady_clock::now();
  c.async_disconnect([&](std::error_code ec) { disc_ec = ec; });
  REQUIRE(run_until(io, [&] { return run_ec && disc_ec && pub_ec; }, 3000ms));
  const auto took = std::chrono::steady_clock::now() - start;
  CHECK_FALSE(*pub_ec);  // its PUBACK came after the DISCONNECT
  CHECK_FALSE(*disc_ec);
  CHECK_FALSE(*run_ec);
  CHECK(took >= 190ms);  // waited for the broker to close...
  CHECK(took < 2000ms);  // ...up to disconnect_linger
  CHECK(broker.disconnects == 1);
}

TEST_CASE("client: input read but not decoded when disconnecting cannot drop the DISCONNECT",
          "[client][reconnect][MQTT-3.14.4-1]") {
  fake_broker broker;  // outlives the io_context (transports refer to it)
  asio::io_context io;
  auto o = fake_options(broker);
  o.receive_queue_limit = 1;
  o.session.max_incoming_packet_size = 200;
  o.session.will = will_options{"will", "died", qos::at_most_once, false};
  client c(io, o);
  std::vector<client_event> events;
  c.set_event_handler([&](const client_event& e) { events.push_back(e); });
  std::optional<std::error_code> run_ec, disc_ec, sub_ec;
  c.async_run([&](std::error_code ec) { run_ec = ec; });
  REQUIRE_FALSE(connect_and_wait(io, c));
  c.async_subscribe("m", qos::at_most_once,
                    [&](std::error_code ec, std::vector<suback_return_code>) { sub_ec = ec; });
  REQUIRE(run_until(io, [&] { return sub_ec.has_value(); }));
  // The receive queue fills, so the client stops decoding; behind the messages, a packet that
  // would close the session: larger than max_incoming_packet_size, or malformed.
  for (int i = 0; i < 3; ++i) broker.publish("m", "x");
  SECTION("too large") { broker.publish("m", std::string(1000, 'y')); }
  SECTION("malformed") { broker.current->push_bytes({0x00, 0x00}); }
  run_for(io, 50ms);
  CHECK(broker.disconnects == 0);
  c.async_disconnect([&](std::error_code ec) { disc_ec = ec; });
  REQUIRE(run_until(io, [&] { return run_ec && disc_ec; }, 3000ms));
  CHECK_FALSE(*disc_ec);
  CHECK(broker.disconnects == 1);  // sent, so the broker discards the will
  CHECK(broker.received.back().type == packet_type::disconnect);
  const auto disconnected = events_of<event::disconnected>(events);
  REQUIRE(disconnected.size() == 1);
  CHECK_FALSE(disconnected[0].reason);  // the bad packet ended nothing: a graceful end
}

TEST_CASE("client: an acknowledgement read while the DISCONNECT waits behind a stalled write counts",
          "[client][reconnect]") {
  fake_broker broker;  // outlives the io_context (transports refer to it)
  asio::io_context io;
  client c(io, fake_options(broker));  // disconnect_linger 100 ms
  std::optional<std::error_code> run_ec, disc_ec, pub_ec;
  c.async_run([&](std::error_code ec) { run_ec = ec; });
  REQUIRE_FALSE(connect_and_wait(io, c));
  broker.ack_publishes = false;
  c.async_publish("t", "1", qos::at_least_once, [&](std::error_code ec) { pub_ec = ec; });  // id 1
  REQUIRE(run_until(io, [&] { return broker.publishes == 1; }));
  broker.stall_writes = true;  // the peer stops reading: the next write never completes
  c.async_publish("t", "2", qos::at_most_once, [](std::error_code) {});
  run_for(io, 20ms);
  c.async_disconnect([&](std::error_code ec) { disc_ec = ec; });  // DISCONNECT waits behind it
  run_for(io, 5ms);
  REQUIRE(broker.current != nullptr);
  broker.current->push_packet(puback_packet{1});  // the broker acknowledges what it read
  REQUIRE(run_until(io, [&] { return run_ec && disc_ec && pub_ec; }, 3000ms));
  CHECK_FALSE(*pub_ec);  // read and decoded although the DISCONNECT never went out
  CHECK_FALSE(*disc_ec);
  CHECK(broker.disconnects == 0);  // the write never completed: the linger deadline closed it
}

TEST_CASE("client: disconnect during backoff or connect stops at once", "[client][reconnect]") {
  fake_broker broker;  // outlives the io_context (transports refer to it)
  asio::io_context io;
  auto o = fake_options(broker);
  o.reconnect.min_delay = 10000ms;
  o.reconnect.max_delay = 10000ms;
  client c(io, o);
  SECTION("in backoff") {
    broker.connect_errors = {asio::error::connection_refused};
    std::optional<std::error_code> connect_ec;
    c.async_connect([&](std::error_code ec, bool) { connect_ec = ec; });
    REQUIRE(run_until(io, [&] { return broker.connect_attempts == 1; }));
    run_for(io, 10ms);
    std::optional<std::error_code> disc_ec;
    c.async_disconnect([&](std::error_code ec) { disc_ec = ec; });
    REQUIRE(run_until(io, [&] { return disc_ec && connect_ec; }, 1000ms));
    CHECK(*connect_ec == asio::error::operation_aborted);
  }
  SECTION("while waiting for CONNACK: DISCONNECT follows the CONNECT, so no will") {
    broker.send_connack = false;
    std::optional<std::error_code> connect_ec;
    c.async_connect([&](std::error_code ec, bool) { connect_ec = ec; });
    REQUIRE(run_until(io, [&] { return broker.connects == 1; }));
    std::optional<std::error_code> disc_ec;
    c.async_disconnect([&](std::error_code ec) { disc_ec = ec; });
    REQUIRE(run_until(io, [&] { return disc_ec && connect_ec; }, 1000ms));
    CHECK(*connect_ec == asio::error::operation_aborted);
    CHECK_FALSE(*disc_ec);
    CHECK(broker.disconnects == 1);
    REQUIRE(broker.received.size() == 2);
    CHECK(broker.received[0].type == packet_type::connect);
    CHECK(broker.received[1].type == packet_type::disconnect);
  }
  CHECK(broker.connect_attempts == 1);
}

TEST_CASE("client: cancelling async_run stops the client like a disconnect", "[client][reconnect]") {
  fake_broker broker;  // outlives the io_context (transports refer to it)
  asio::io_context io;
  client c(io, fake_options(broker));
  asio::cancellation_signal run_cancel;
  std::optional<std::error_code> run_ec, pub_ec;
  c.async_run(asio::bind_cancellation_slot(run_cancel.slot(),
                                           [&](std::error_code ec) { run_ec = ec; }));
  bool connected = false;
  c.async_connect([&](std::error_code ec, bool) { connected = !ec; });
  REQUIRE(run_until(io, [&] { return connected; }));
  broker.ack_publishes = false;
  c.async_publish("r", "x", qos::at_least_once, [&](std::error_code ec) { pub_ec = ec; });
  REQUIRE(run_until(io, [&] { return broker.publishes == 1; }));

  run_cancel.emit(asio::cancellation_type::terminal);
  REQUIRE(run_until(io, [&] { return run_ec && pub_ec; }, 5000ms));
  CHECK(*run_ec == asio::error::operation_aborted);
  CHECK(*pub_ec == asio::error::operation_aborted);
  CHECK(broker.disconnects == 1);  // graceful: DISCONNECT sent, so no will

  // The client can run again; a cancellation slot that is no longer connected changes nothing.
  run_ec.reset();
  c.async_run([&](std::error_code ec) { run_ec = ec; });
  connected = false;
  c.async_connect([&](std::error_code ec, bool) { connected = !ec; });
  REQUIRE(run_until(io, [&] { return connected; }));
  run_cancel.emit(asio::cancellation_type::terminal);
  run_for(io, 50ms);
  CHECK_FALSE(run_ec.has_value());
  CHECK(broker.connect_attempts == 2);
}
