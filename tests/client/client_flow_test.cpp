// amqtt::client flow control and cancellation, against the in-memory fake broker.
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

void connect(asio::io_context& io, client& c) { REQUIRE_FALSE(connect_and_wait(io, c)); }

}  // namespace

TEST_CASE("client: back-pressure stops reading when the receive queue is full", "[client][flow]") {
  fake_broker broker;  // outlives the io_context (transports refer to it)
  asio::io_context io;
  auto o = fake_options(broker);
  o.receive_queue_limit = 10;
  o.read_buffer_size = 64;  // many reads for the flood
  client c(io, o);
  connect(io, c);

  // The broker floods 500 QoS 1 messages nobody receives.
  const int total = 500;
  for (int i = 0; i < total; ++i) broker.publish("flood", "m" + std::to_string(i), qos::at_least_once);
  run_for(io, 100ms);
  const std::size_t reads_when_full = broker.read_requests;
  const std::size_t pubacks_when_full = broker.count(packet_type::puback);
  run_for(io, 100ms);
  // No further read request while nobody receives: TCP back-pressure.
  CHECK(broker.read_requests == reads_when_full);
  CHECK(broker.current->inbound_pending() > 0);
  // Only ~limit messages were taken (acknowledged); the rest waits in the transport. The
  // overshoot is bounded by what one read brought in (64 bytes: a few messages).
  CHECK(pubacks_when_full >= 10);
  CHECK(pubacks_when_full <= 10 + 64 / 10 + 1);

  // Receiving resumes reading; every message arrives, in order.
  message m;
  int next = 0;
  bool failed = false;
  std::function<void(std::error_code)> on_receive = [&](std::error_code ec) {
    if (ec || m.payload != "m" + std::to_string(next)) {
      failed = true;
      return;
    }
    if (++next < total) c.async_receive(m, on_receive);
  };
  c.async_receive(m, on_receive);
  REQUIRE(run_until(io, [&] { return next == total || failed; }));
  CHECK_FALSE(failed);
  CHECK(broker.read_requests > reads_when_full);
  REQUIRE(run_until(io, [&] { return broker.count(packet_type::puback) == total; }));
}

TEST_CASE("client: back-pressure does not hold up publishing or keepalive", "[client][flow]") {
  fake_broker broker;  // outlives the io_context (transports refer to it)
  asio::io_context io;
  auto o = fake_options(broker);
  o.receive_queue_limit = 2;
  o.read_buffer_size = 16;
  o.session.keep_alive = std::chrono::seconds(1);
  client c(io, o);
  connect(io, c);
  for (int i = 0; i < 50; ++i) broker.publish("flood", "xxxxxxxxxxxxxxxxxxxx");
  run_for(io, 50ms);
  // QoS 0 publishes still go out while input is paused.
  int done = 0;
  for (int i = 0; i < 20; ++i)
    c.async_publish("out", "x", qos::at_most_once, [&](std::error_code ec) {
      CHECK_FALSE(ec);
      ++done;
    });
  REQUIRE(run_until(io, [&] { return done == 20; }));
  REQUIRE(run_until(io, [&] { return broker.publishes == 20; }));
  // The keepalive PINGREQ is still sent; no false keepalive timeout while paused.
  std::vector<client_event> events;
  c.set_event_handler([&](const client_event& e) { events.push_back(e); });
  REQUIRE(run_until(io, [&] { return broker.count(packet_type::pingreq) >= 1; }, 3000ms));
  run_for(io, 1500ms);
  for (auto& e : events) CHECK_FALSE(std::holds_alternative<event::disconnected>(e));
}

TEST_CASE("client: async_receive cancellation", "[client][flow]") {
  fake_broker broker;  // outlives the io_context (transports refer to it)
  asio::io_context io;
  client c(io, fake_options(broker));
  connect(io, c);

  asio::cancellation_signal signal;
  std::optional<std::error_code> first;
  c.async_receive(asio::bind_cancellation_slot(signal.slot(), [&](std::error_code ec, message) {
    first = ec;
  }));
  run_for(io, 10ms);
  CHECK_FALSE(first.has_value());

  // Only one receive at a time.
  std::optional<std::error_code> second;
  c.async_receive([&](std::error_code ec, message) { second = ec; });
  REQUIRE(run_until(io, [&] { return second.has_value(); }));
  CHECK(*second == client_errc::receive_pending);

  signal.emit(asio::cancellation_type::terminal);
  REQUIRE(run_until(io, [&] { return first.has_value(); }));
  CHECK(*first == asio::error::operation_aborted);

  // The next receive gets the next message; a late cancel of a completed op is harmless.
  std::optional<message> m;
  message into;
  c.async_receive(into, asio::bind_cancellation_slot(signal.slot(), [&](std::error_code ec) {
    CHECK_FALSE(ec);
    m = into;
  }));
  broker.publish("t", "after");
  REQUIRE(run_until(io, [&] { return m.has_value(); }));
  CHECK(m->payload == "after");
  signal.emit(asio::cancellation_type::terminal);
  run_for(io, 10ms);

  // Cancelling a receive-into leaves the target untouched.
  std::optional<std::error_code> third;
  into.payload = "untouched";
  c.async_receive(into, asio::bind_cancellation_slot(signal.slot(), [&](std::error_code ec) { third = ec; }));
  run_for(io, 5ms);
  signal.emit(asio::cancellation_type::terminal);
  REQUIRE(run_until(io, [&] { return third.has_value(); }));
  CHECK(*third == asio::error::operation_aborted);
  CHECK(into.payload == "untouched");
}

TEST_CASE("client: publish cancellation: queued is removed, in flight completes", "[client][flow]") {
  fake_broker broker;  // outlives the io_context (transports refer to it)
  asio::io_context io;
  client c(io, fake_options(broker));

  // Not connected: the publish waits in the queue and can be cancelled.
  asio::cancellation_signal queued_signal;
  std::optional<std::error_code> queued;
  c.async_publish("c/q", "x", qos::at_least_once,
                  asio::bind_cancellation_slot(queued_signal.slot(), [&](std::error_code ec) { queued = ec; }));
  std::optional<std::error_code> kept;
  c.async_publish("c/k", "y", qos::at_least_once, [&](std::error_code ec) { kept = ec; });
  run_for(io, 10ms);
  queued_signal.emit(asio::cancellation_type::terminal);
  REQUIRE(run_until(io, [&] { return queued.has_value(); }));
  CHECK(*queued == asio::error::operation_aborted);

  connect(io, c);
  REQUIRE(run_until(io, [&] { return kept.has_value(); }));
  CHECK_FALSE(*kept);
  REQUIRE(broker.publishes == 1);
  CHECK(broker.received.back().topic == "c/k");

  // In flight (sent, not acknowledged): cancellation cannot recall it.
  broker.ack_publishes = false;
  asio::cancellation_signal flight_signal;
  std::optional<std::error_code> flight;
  c.async_publish("c/f", "z", qos::at_least_once,
                  asio::bind_cancellation_slot(flight_signal.slot(), [&](std::error_code ec) { flight = ec; }));
  REQUIRE(run_until(io, [&] { return broker.publishes == 2; }));
  flight_signal.emit(asio::cancellation_type::terminal);
  run_for(io, 20ms);
  CHECK_FALSE(flight.has_value());
  broker.current->push_packet(puback_packet{broker.received.back().packet_id});
  REQUIRE(run_until(io, [&] { return flight.has_value(); }));
  CHECK_FALSE(*flight);
}

TEST_CASE("client: async_connect cancellation leaves the loop running", "[client][flow]") {
  fake_broker broker;  // outlives the io_context (transports refer to it)
  asio::io_context io;
  broker.send_connack = false;
  client c(io, fake_options(broker));
  asio::cancellation_signal signal;
  std::optional<std::error_code> ec;
  c.async_connect(asio::bind_cancellation_slot(signal.slot(), [&](std::error_code e, bool) { ec = e; }));
  REQUIRE(run_until(io, [&] { return broker.connects == 1; }));
  signal.emit(asio::cancellation_type::terminal);
  REQUIRE(run_until(io, [&] { return ec.has_value(); }));
  CHECK(*ec == asio::error::operation_aborted);
  // The loop goes on: CONNACK arrives later and a new async_connect sees it.
  broker.current->push_packet(connack_packet{});
  std::optional<std::error_code> ec2;
  c.async_connect([&](std::error_code e, bool) { ec2 = e; });
  REQUIRE(run_until(io, [&] { return ec2.has_value(); }));
  CHECK_FALSE(*ec2);
  CHECK(broker.connect_attempts == 1);
}

TEST_CASE("client: a server that sends and does not read cannot grow the output without bound",
          "[client][flow]") {
  fake_broker broker;  // outlives the io_context (transports refer to it)
  asio::io_context io;
  auto o = fake_options(broker);
  o.read_buffer_size = 4096;
  o.session.max_output_bytes = 4096;
  o.session.keep_alive = std::chrono::seconds(1);  // dead-link detection: PINGRESP within 0.5 s
  client c(io, o);
  std::vector<client_event> events;
  c.set_event_handler([&](const client_event& e) { events.push_back(e); });
  connect(io, c);

  // From now on the broker reads nothing (writes never complete) and sends 1 MB of PUBRELs,
  // each of which the client answers with a 4-byte PUBCOMP.
  broker.stall_writes = true;
  std::vector<std::uint8_t> flood;
  for (std::uint32_t i = 0; i < 250'000; ++i) {
    const auto id = static_cast<std::uint16_t>(1 + i % 65535);
    const std::uint8_t b[4] = {0x62, 0x02, static_cast<std::uint8_t>(id >> 8),
                               static_cast<std::uint8_t>(id & 0xFF)};
    flood.insert(flood.end(), b, b + 4);
  }
  fake_transport* t = broker.current;
  REQUIRE(t != nullptr);
  t->push_bytes(flood);
  run_for(io, 200ms);
  const std::size_t consumed = flood.size() - t->inbound_pending();
  INFO("bytes read while the writes were stalled: " << consumed);
  // The client stopped reading once the acknowledgements waiting behind the stalled write passed
  // max(2 x 4096, 4096 + 64 KiB); one more read (4096 B) may have added to them.
  CHECK(t->inbound_pending() > 0);
  CHECK(consumed <= 4096 + (64u << 10) + 2 * 4096);

  // The link is dead for the client: the PINGREQ cannot go out, no PINGRESP comes, and the
  // connection is closed with keepalive_timeout (not left hanging).
  const auto lost = [&] {
    for (auto& e : events)
      if (auto* d = std::get_if<event::disconnected>(&e))
        return d->reason == make_error_code(protocol_errc::keepalive_timeout);
    return false;
  };
  CHECK(run_until(io, lost, 5000ms));
  // And it reconnects to a broker that reads again.
  broker.stall_writes = false;
  const auto reconnected = [&] {
    int n = 0;
    for (auto& e : events) n += std::holds_alternative<event::connected>(e) ? 1 : 0;
    return n >= 1;
  };
  CHECK(run_until(io, reconnected, 5000ms));
}
