// amqtt::client against a real mosquitto that goes away: restarted (SIGTERM, persistence) or
// killed (SIGKILL) in the middle of a stream of 10,000 QoS 1 / QoS 2 messages, frozen with
// SIGSTOP (keepalive timeout, then reconnect after SIGCONT). The SIGKILL variant streams 2,000
// messages (mosquitto saving after every change is slow).
#include "client/broker_util.hpp"

#include <catch2/catch.hpp>

#include <amqtt/client.hpp>

#include <atomic>
#include <mutex>
#include <set>
#include <string>
#include <vector>

namespace {

using namespace amqtt;
using namespace amqtt::test;
using namespace std::chrono_literals;

constexpr int restart_stream_size = 10'000;
// With autosave after every change mosquitto is slow: the SIGKILL variant streams fewer.
constexpr int kill_stream_size = 2'000;

struct stream_result {
  std::vector<int> received_count;  // per sequence number
  std::set<int> acked_before_failure;
  std::size_t publisher_reconnects = 0;
  std::size_t subscriber_reconnects = 0;
};

// Streams `stream_size` messages of QoS `q` from a persistent publisher to a persistent
// subscriber; `fail` (restart or kill) is applied to the broker once `fail_after` are acked.
template <class Fail>
stream_result run_stream(mosquitto_broker& broker, qos q, int stream_size, int fail_after, Fail fail) {
  stream_result r;
  r.received_count.assign(stream_size, 0);
  std::mutex mu;
  std::atomic<int> acked{0};
  std::atomic<int> failed_publishes{0};
  std::vector<char> acked_flags(stream_size, 0);  // under mu

  io_thread io;
  const std::string tag = q == qos::exactly_once ? "q2" : "q1";
  auto so = broker_options(broker);
  so.session.client_id = "amqtt-it-sub-" + tag;
  so.session.clean_session = false;
  auto po = broker_options(broker);
  po.session.client_id = "amqtt-it-pub-" + tag;
  po.session.clean_session = false;
  po.session.max_queued = stream_size + 10;
  event_log sub_log, pub_log;

  client sub(io.io, so);
  sub.set_event_handler(sub_log.handler());
  connect(sub);
  auto [sub_ec, rc] = wait_get(sub.async_subscribe(
      "stream/" + tag, q,
      [&](const message_view& m) {
        const int seq = std::stoi(std::string(m.payload));
        std::lock_guard<std::mutex> lock(mu);
        if (seq >= 0 && seq < stream_size) ++r.received_count[seq];
      },
      tuple_future));
  REQUIRE_FALSE(sub_ec);

  client pub(io.io, po);
  pub.set_event_handler(pub_log.handler());
  connect(pub);
  // Hand every message to the client at once: it pipelines them (64 in flight) and keeps the
  // rest in its queue; after a broker failure it re-sends what was not acknowledged.
  for (int i = 0; i < stream_size; ++i)
    pub.async_publish("stream/" + tag, std::to_string(i), q, [&, i](std::error_code ec) {
      if (ec) {
        ++failed_publishes;
        return;
      }
      {
        std::lock_guard<std::mutex> lock(mu);
        acked_flags[static_cast<std::size_t>(i)] = 1;
      }
      ++acked;
    });

  REQUIRE(eventually([&] { return acked.load() >= fail_after; }, 30s));
  fail();
  // Whatever the broker acknowledged before it failed (the publisher has seen the connection
  // drop, so no further ack from the old broker can arrive).
  REQUIRE(eventually([&] { return pub_log.count<event::disconnected>() >= 1; }, 15s));
  {
    std::lock_guard<std::mutex> lock(mu);
    for (int i = 0; i < stream_size; ++i)
      if (acked_flags[static_cast<std::size_t>(i)]) r.acked_before_failure.insert(i);
  }

  REQUIRE(eventually([&] { return acked.load() + failed_publishes.load() == stream_size; }, 60s));
  CHECK(failed_publishes.load() == 0);
  // Let the subscriber drain what is still on its way.
  auto all_received = [&] {
    std::lock_guard<std::mutex> lock(mu);
    for (int c : r.received_count)
      if (c == 0) return false;
    return true;
  };
  (void)eventually(all_received, 20s);
  r.publisher_reconnects = pub_log.count<event::connected>() - 1;
  r.subscriber_reconnects = sub_log.count<event::connected>() - 1;
  disconnect(pub);
  disconnect(sub);
  std::lock_guard<std::mutex> lock(mu);
  return r;
}

}  // namespace

TEST_CASE("client: broker restarted (SIGTERM, persistence) mid-stream: nothing lost, no QoS 2 duplicate",
          "[integration][client][resilience]") {
  const qos q = GENERATE(qos::at_least_once, qos::exactly_once);
  mosquitto_options bo;
  bo.persistence = true;
  bo.autosave_on_changes = false;  // saved on SIGTERM
  bo.autosave_interval = 3600;
  bo.extra_config = "max_queued_messages 100000\nmax_inflight_messages 100";
  mosquitto_broker broker(bo);

  const int stream_size = restart_stream_size;
  stream_result r = run_stream(broker, q, stream_size, stream_size / 3, [&] { broker.restart(); });
  std::size_t lost = 0, duplicated = 0;
  for (int c : r.received_count) {
    lost += c == 0 ? 1 : 0;
    duplicated += c > 1 ? 1 : 0;
  }
  INFO("QoS " << static_cast<int>(q) << ": lost " << lost << ", duplicated " << duplicated
              << ", publisher reconnects " << r.publisher_reconnects << ", subscriber reconnects "
              << r.subscriber_reconnects);
  CHECK(lost == 0);
  if (q == qos::exactly_once) CHECK(duplicated == 0);
  CHECK(r.publisher_reconnects >= 1);
  CHECK(r.subscriber_reconnects >= 1);
}

TEST_CASE("client: broker killed (SIGKILL) mid-stream: only what the broker acknowledged may be lost",
          "[integration][client][resilience]") {
  const qos q = GENERATE(qos::at_least_once, qos::exactly_once);
  mosquitto_options bo;
  bo.persistence = true;
  bo.autosave_on_changes = true;
  bo.autosave_interval = 1;  // saved after every change (mosquitto still acks before saving)
  bo.extra_config = "max_queued_messages 100000\nmax_inflight_messages 100";
  mosquitto_broker broker(bo);

  const int stream_size = kill_stream_size;
  stream_result r = run_stream(broker, q, stream_size, stream_size / 3, [&] {
    broker.kill();
    broker.restart();
  });
  // What the broker may have acknowledged before dying: every message whose PUBACK/PUBCOMP the
  // publisher had; for QoS 2 also the ones in flight at the kill (the broker may have sent
  // PUBREC, after which the client must not re-send the PUBLISH [MQTT-4.3.3]; mosquitto keeps
  // such messages in memory until PUBREL). The session sends strictly in order, so those are
  // the first max_inflight (64) not completed.
  std::set<int> broker_acknowledged = r.acked_before_failure;
  if (q == qos::exactly_once) {
    int added = 0;
    for (int i = 0; i < stream_size && added < 64; ++i)
      if (broker_acknowledged.insert(i).second) ++added;
  }
  std::size_t lost = 0, lost_by_client = 0, duplicated = 0;
  for (int i = 0; i < stream_size; ++i) {
    const int c = r.received_count[static_cast<std::size_t>(i)];
    duplicated += c > 1 ? 1 : 0;
    if (c != 0) continue;
    ++lost;
    // A message the broker never acknowledged before dying is the client's responsibility:
    // it must have been re-sent after the reconnect.
    if (broker_acknowledged.count(i) == 0) ++lost_by_client;
  }
  INFO("QoS " << static_cast<int>(q) << ": lost " << lost << " (acknowledged by the broker before "
              << "SIGKILL: " << lost - lost_by_client << ", not acknowledged: " << lost_by_client
              << "), duplicated " << duplicated << ", acked before the kill "
              << r.acked_before_failure.size());
  if (q == qos::at_least_once) {
    CHECK(lost_by_client == 0);
  } else {
    // QoS 2 after SIGKILL: mosquitto restarts from its last autosave, which can still hold
    // incoming QoS 2 flows the publisher completed later. When the client reuses such a packet
    // id for a new message, the restored broker takes the new PUBLISH for a re-send of the old
    // one: it delivers the old message again and drops the new one. Each such loss comes with a
    // duplicate, so a loss the client would be responsible for is one not matched by either an
    // acknowledgement or a stale duplicate.
    CHECK(lost_by_client <= duplicated);
  }
  WARN("SIGKILL QoS " << static_cast<int>(q) << ": broker-side loss " << lost - lost_by_client
                      << ", duplicates " << duplicated);
}

TEST_CASE("client: broker frozen (SIGSTOP): keepalive timeout, reconnect after SIGCONT",
          "[integration][client][resilience]") {
  mosquitto_broker broker;
  io_thread io;
  auto o = broker_options(broker);
  o.session.keep_alive = std::chrono::seconds(2);  // dead link declared ~1 s after a PINGREQ
  o.connect_timeout = 1000ms;                      // a frozen broker never sends CONNACK
  o.reconnect.max_delay = 100ms;
  client c(io.io, o);
  event_log log;
  c.set_event_handler(log.handler());
  connect(c);
  subscribe(c, "frozen/#", qos::at_least_once);

  broker.freeze();
  const auto frozen_at = std::chrono::steady_clock::now();
  REQUIRE(eventually([&] { return log.count<event::disconnected>() >= 1; }, 8s));
  CHECK(std::chrono::steady_clock::now() - frozen_at < 5s);
  CHECK(log.all<event::disconnected>()[0].reason == protocol_errc::keepalive_timeout);
  // While frozen, attempts time out (the kernel accepts the TCP connection, nobody answers).
  REQUIRE(eventually([&] {
    for (const auto& f : log.all<event::connect_failed>())
      if (f.error == client_errc::connect_timeout) return true;
    return false;
  }, 8s));

  broker.thaw();
  REQUIRE(eventually([&] { return log.count<event::connected>() >= 2; }, 10s));
  // Working again: publish and receive.
  publish(c, "frozen/x", "thawed", qos::at_least_once);
  message m = receive(c, 5s);
  CHECK(m.payload == "thawed");
  disconnect(c);
}
