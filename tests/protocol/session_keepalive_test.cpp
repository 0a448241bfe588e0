// Keepalive and dead-link detection on virtual time [MQTT-3.1.2-23].
// KA = keep_alive, PT = ping_timeout (default KA / 2).

#include <random>

#include <catch2/catch.hpp>

#include "protocol/support/link_sim.hpp"
#include "protocol/support/scripted_peer.hpp"

using namespace amqtt;
using namespace amqtt_test;

namespace {

session_options ka_options(std::chrono::seconds ka, std::chrono::milliseconds pt = {}) {
  auto o = test_options();
  o.keep_alive = ka;
  o.ping_timeout = pt;
  return o;
}

// Largest gap between consecutive sends (from `from`), i.e. the longest the server heard nothing.
std::chrono::steady_clock::duration max_gap(const std::vector<steady_time>& sends,
                                            steady_time from) {
  std::chrono::steady_clock::duration gap{0};
  steady_time prev = from;
  for (auto t : sends) {
    gap = std::max(gap, t - prev);
    prev = t;
  }
  return gap;
}

}  // namespace

TEST_CASE("an idle link sends PINGREQ every keep_alive", "[protocol][keepalive][MQTT-3.1.2-23]") {
  scripted_peer p(ka_options(10s));
  const auto t0 = p.now;
  p.establish();
  REQUIRE(p.s.next_deadline() == t0 + 10s);
  for (int i = 1; i <= 5; ++i) {
    p.advance_to(t0 + i * 10s);
    p.expect("C0 00");
    // Waiting for any byte, at most PT = 5 s.
    CHECK(p.s.next_deadline() == p.now + 5s);
    p.advance(1s);
    p.feed("D0 00");
    CHECK(p.s.next_deadline() == t0 + (i + 1) * 10s);  // sent-rule: last send + KA
    p.advance(8s);
    p.expect_nothing();
  }
  CHECK_FALSE(p.closed());
}

TEST_CASE("a PINGREQ goes ahead of output not yet handed out",
          "[protocol][keepalive][MQTT-3.1.2-23]") {
  scripted_peer p(ka_options(10s));
  p.establish();
  std::error_code ec;
  p.advance(9s);
  p.s.publish("t", "m", qos::at_most_once, false, ec);  // written late: not "sent" yet
  p.advance(1s);
  p.expect("C0 00" + publish_hex("t", "m", qos::at_most_once));
}

TEST_CASE("keep_alive 0 disables pings and dead-link detection", "[protocol][keepalive]") {
  scripted_peer p(ka_options(0s));
  p.establish();
  CHECK_FALSE(p.s.next_deadline());
  p.advance(24h);
  p.expect_nothing();
  CHECK_FALSE(p.closed());
  SECTION("also while waiting for CONNACK") {
    scripted_peer q(ka_options(0s));
    q.connect();
    CHECK_FALSE(q.s.next_deadline());
  }
}

TEST_CASE("no CONNACK within KA + PT of the connection start is a dead link",
          "[protocol][keepalive]") {
  scripted_peer p(ka_options(10s));
  const auto t0 = p.now;
  p.connect();
  p.take();
  CHECK(p.s.next_deadline() == t0 + 15s);
  p.advance(14s);
  CHECK_FALSE(p.closed());
  p.advance(1s);
  CHECK(p.close_reason() == protocol_errc::keepalive_timeout);
  CHECK_FALSE(p.s.next_deadline());
}

TEST_CASE("silence after a PINGREQ: keepalive_timeout after PT, any byte is enough",
          "[protocol][keepalive][MQTT-3.12.4-1]") {
  SECTION("default PT = KA / 2") {
    scripted_peer p(ka_options(10s));
    p.establish();
    p.advance(10s);
    p.expect("C0 00");
    p.advance(4999ms);
    CHECK_FALSE(p.closed());
    p.advance(1ms);
    CHECK(p.close_reason() == protocol_errc::keepalive_timeout);
    CHECK_FALSE(p.s.has_output());
  }
  SECTION("explicit PT") {
    scripted_peer p(ka_options(10s, 2s));
    p.establish();
    p.advance(10s);
    p.take();
    p.advance(2s);
    CHECK(p.close_reason() == protocol_errc::keepalive_timeout);
  }
  SECTION("one byte of some other packet ends the wait (no PINGRESP needed)") {
    scripted_peer p(ka_options(10s));
    p.establish();
    p.advance(10s);
    p.take();
    p.advance(4s);
    p.feed("30");   // the first byte of a PUBLISH
    p.advance(6s);  // to t0 + 20 s: the sent-rule's next PINGREQ
    CHECK_FALSE(p.closed());
    p.expect("C0 00");  // a new PINGREQ (sent-rule), the old wait is over
  }
}

TEST_CASE("one-way outbound flood: no false timeout when the server answers",
          "[protocol][keepalive][MQTT-3.1.2-23]") {
  scripted_peer p(ka_options(10s));
  p.establish();
  link_sim sim(p);
  sim.client_publish_every = 1s;  // we send all the time: the sent-rule never fires
  sim.pingresp_delay = 4s;        // slow, but within PT
  sim.start();
  sim.run_until(p.now + 10min);
  CHECK_FALSE(p.closed());
  // Nothing else arrives, so the receive-rule still pings: once every KA + answer delay.
  CHECK(sim.pingreqs.size() >= 40);
}

TEST_CASE("one-way outbound flood: a dead server is detected within KA + PT",
          "[protocol][keepalive][MQTT-3.12.4-1]") {
  scripted_peer p(ka_options(10s));
  p.establish();
  link_sim sim(p);
  sim.client_publish_every = 1s;
  sim.pingresp_delay = 1s;
  sim.start();
  sim.run_until(p.now + 1min);
  REQUIRE_FALSE(p.closed());
  sim.kill_server();
  const auto last = sim.last_received;
  sim.run_until(p.now + 1min);
  REQUIRE(sim.closed_at);
  CHECK(p.close_reason() == protocol_errc::keepalive_timeout);
  CHECK(*sim.closed_at - last <= 15s);
  CHECK(*sim.closed_at - last > 10s);  // not before a PINGREQ had PT to be answered
}

TEST_CASE("one-way inbound flood: pings are still sent and a late PINGRESP is no timeout",
          "[protocol][keepalive][MQTT-3.1.2-23]") {
  scripted_peer p(ka_options(10s));
  const auto t0 = p.now;
  p.establish();
  link_sim sim(p);
  sim.server_publish_every = 100ms;
  sim.pingresp_delay = std::nullopt;  // the PINGRESP is stuck behind the flood (Paho's bug)
  sim.start();
  sim.run_until(p.now + 10min);
  CHECK_FALSE(p.closed());
  CHECK(sim.pingreqs.size() == 60);      // the server needs something every KA
  CHECK(max_gap(sim.sends, t0) <= 10s);  // [MQTT-3.1.2-23]
  SECTION("the flood stops with the server: detected within KA + PT") {
    sim.kill_server();
    const auto last = sim.last_received;
    sim.run_until(p.now + 1min);
    REQUIRE(sim.closed_at);
    CHECK(*sim.closed_at - last <= 15s);
  }
}

TEST_CASE("paused input: no dead-link timeout while paused, pings continue",
          "[protocol][keepalive][MQTT-3.1.2-23]") {
  scripted_peer p(ka_options(10s));
  const auto t0 = p.now;
  p.establish();
  link_sim sim(p);
  sim.server_publish_every = 500ms;
  sim.pingresp_delay = 1s;
  sim.start();
  sim.run_until(p.now + 1min);
  sim.set_paused(true);  // the consumer is slow: the driver stops reading
  sim.run_until(p.now + 5min);
  CHECK_FALSE(p.closed());
  CHECK(max_gap(sim.sends, t0) <= 10s);  // still pinging the server
  sim.set_paused(false);                 // held bytes arrive
  sim.run_until(p.now + 1min);
  CHECK_FALSE(p.closed());
  SECTION("dead while paused: detected within KA + PT after resuming") {
    sim.set_paused(true);
    sim.kill_server();
    sim.run_until(p.now + 10min);
    CHECK_FALSE(p.closed());
    sim.set_paused(false);
    const auto resumed = p.now;
    sim.run_until(p.now + 1min);
    REQUIRE(sim.closed_at);
    CHECK(*sim.closed_at - resumed <= 15s);
  }
}

TEST_CASE("next_deadline is the earliest pending deadline", "[protocol][keepalive]") {
  scripted_peer p(ka_options(10s, 3s));
  const auto t0 = p.now;
  p.establish();
  CHECK(p.s.next_deadline() == t0 + 10s);  // both rules at KA
  p.advance(4s);
  p.feed("D0 00");                         // received at t0 + 4
  CHECK(p.s.next_deadline() == t0 + 10s);  // sent-rule (last send t0) is earlier
  std::error_code ec;
  p.s.publish("t", "m", qos::at_most_once, false, ec);
  p.take();                                // sent at t0 + 4
  CHECK(p.s.next_deadline() == t0 + 14s);  // both at t0 + 4 + KA
  p.advance(10s);
  p.expect("C0 00");
  CHECK(p.s.next_deadline() == t0 + 17s);  // PT after the PINGREQ
  p.drop();
  CHECK_FALSE(p.s.next_deadline());  // offline: nothing to time
}

TEST_CASE("a dead link is detected within KA + PT under every traffic pattern",
          "[protocol][keepalive][bound][MQTT-3.1.2-23]") {
  // The bound: the link dies at D (from then on no byte reaches the client). With on_timer run
  // at next_deadline(), keepalive_timeout is reported at most KA + PT after the later of the last
  // byte received and the last resume of paused input; never while paused; never while the server
  // answers every PINGREQ within PT; and the client never stays silent for more than KA.
  std::mt19937 rng(20240611);
  auto pick = [&](int lo, int hi) {
    return std::uniform_int_distribution<int>(lo, hi)(rng);
  };
  int detected = 0;
  for (int run = 0; run < 300; ++run) {
    const auto ka = std::chrono::seconds(pick(1, 60));
    const auto pt =
        pick(0, 1) ? std::chrono::milliseconds(0)
                   : std::chrono::milliseconds(pick(100, 2 * 1000 * static_cast<int>(ka.count())));
    scripted_peer p(ka_options(ka, pt));
    const auto effective_pt =
        pt.count() ? pt : std::chrono::duration_cast<std::chrono::milliseconds>(ka) / 2;
    INFO("run " << run << " KA " << ka.count() << "s PT " << effective_pt.count() << "ms");
    const auto t0 = p.now;
    p.establish();
    link_sim sim(p);
    const int pattern = pick(0, 3);  // idle, outbound flood, inbound flood, both
    const auto rate = [&] {
      return std::chrono::milliseconds(pick(50, 3 * 1000 * static_cast<int>(ka.count())));
    };
    if (pattern & 1) sim.client_publish_every = rate();
    if (pattern & 2) sim.server_publish_every = rate();
    sim.pingresp_delay =
        std::chrono::milliseconds(pick(0, static_cast<int>(effective_pt.count()) - 1));
    sim.start();
    // Alive phase, with random pauses.
    const int periods = pick(2, 20);  // (one pick per statement: reproducible on every compiler)
    const auto death = p.now + ka * periods + std::chrono::milliseconds(pick(0, 999));
    while (p.now < death && !p.closed()) {
      sim.run_until(std::min(death, p.now + std::chrono::milliseconds(
                                                pick(100, 4000 * static_cast<int>(ka.count())))));
      if (pick(0, 3) == 0) sim.set_paused(!pick(0, 1));
    }
    REQUIRE_FALSE(p.closed());  // no false timeout while the server answers within PT
    sim.kill_server();
    // Dead phase, maybe with a pause that ends later.
    bool paused_after_death = pick(0, 2) == 0;
    if (paused_after_death) {
      sim.set_paused(true);
      sim.run_until(p.now + ka * pick(1, 5));
      REQUIRE_FALSE(p.closed());  // never while paused
      sim.set_paused(false);
    } else {
      sim.set_paused(false);
    }
    const auto reference = std::max(sim.last_received, sim.last_resume);
    sim.run_until(p.now + 3 * ka + 2 * effective_pt + 1s);
    REQUIRE(sim.closed_at);
    CHECK(p.close_reason() == protocol_errc::keepalive_timeout);
    CHECK(*sim.closed_at - reference <= ka + effective_pt);
    CHECK(max_gap(sim.sends, t0) <= ka);  // [MQTT-3.1.2-23]
    ++detected;
  }
  CHECK(detected == 300);
}

TEST_CASE("resuming input gives an outstanding PINGREQ PT again", "[protocol][keepalive]") {
  scripted_peer p(ka_options(10s));
  p.establish();
  p.advance(10s);
  p.expect("C0 00");
  p.s.set_input_paused(true, p.now);
  // While paused the wait does not run: the only deadline is the sent-rule's next PINGREQ.
  CHECK(p.s.next_deadline() == p.now + 10s);
  p.now += 7s;  // past the PINGREQ's original deadline (+5 s); the driver read nothing
  p.s.set_input_paused(false, p.now);
  // The answer may be sitting unread in the socket: a timer firing before the next read must
  // not report a dead link.
  const auto resumed = p.now;
  CHECK(p.s.next_deadline() == resumed + 3s);  // the sent-rule (last send + 10 s) comes first
  p.s.on_timer(p.now);
  p.pump();
  CHECK_FALSE(p.closed());
  p.advance(3s);
  p.expect("C0 00");                           // the sent-rule's PINGREQ
  CHECK(p.s.next_deadline() == resumed + 5s);  // the wait: PT from the resume
  p.advance(2s);
  CHECK(p.close_reason() == protocol_errc::keepalive_timeout);
}
