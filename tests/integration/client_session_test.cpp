// amqtt::client against a real mosquitto: the will (abrupt close vs graceful disconnect),
// persistent sessions with offline queueing, wrong port, refused credentials.
#include "client/broker_util.hpp"

#include <catch2/catch.hpp>

#include <amqtt/client.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <future>
#include <map>
#include <mutex>
#include <set>
#include <string>

namespace {

using namespace amqtt;
using namespace amqtt::test;
using namespace std::chrono_literals;

// A loopback port nobody listens on (bound, then released).
std::uint16_t unused_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0);
  ::close(fd);
  return ntohs(a.sin_port);
}

}  // namespace

TEST_CASE("client: the will is published on an abrupt close, not after async_disconnect",
          "[integration][client]") {
  mosquitto_broker broker;
  io_thread io;
  client watcher(io.io, broker_options(broker));
  connect(watcher);
  subscribe(watcher, "will/#", qos::at_least_once);

  // Abrupt: the transport is closed under the client (no DISCONNECT).
  killable_tcp killer;
  auto ao = broker_options(broker);
  ao.session.will = will_options{"will/a", "a died", qos::at_least_once, false};
  ao.reconnect.enabled = false;
  ao.transport = killer.factory();
  client a(io.io, ao);
  connect(a);
  asio::post(a.get_executor(), [&] { killer.made.back()->close(); });
  message m = receive(watcher);
  CHECK(m.topic == "will/a");
  CHECK(m.payload == "a died");

  // Graceful: DISCONNECT is sent, the broker discards the will.
  auto bo = broker_options(broker);
  bo.session.will = will_options{"will/b", "b died", qos::at_least_once, false};
  client b(io.io, bo);
  connect(b);
  disconnect(b);
  publish(watcher, "will/marker", "marker", qos::at_least_once);
  message next = receive(watcher);
  CHECK(next.topic == "will/marker");

  // Destroying a connected client is abrupt too: the will is published.
  auto co = broker_options(broker);
  co.session.will = will_options{"will/c", "c died", qos::at_most_once, false};
  {
    client c(io.io, co);
    connect(c);
  }
  message w = receive(watcher);
  CHECK(w.topic == "will/c");
  disconnect(watcher);
}

TEST_CASE("client: a graceful disconnect reports done exactly the publishes mosquitto delivered",
          "[integration][client][MQTT-3.14.4-1]") {
  mosquitto_broker broker;
  io_thread io;
  client watcher(io.io, broker_options(broker));
  connect(watcher);
  subscribe(watcher, "fin/#", qos::at_least_once);

  // 64 QoS 1 publishes fill the in-flight window and go out in one write, followed by the
  // DISCONNECT; 16 more wait in the queue. mosquitto acknowledges the 64 before it reads the
  // DISCONNECT, so those PUBACKs arrive after it: they must still count as delivered.
  client p(io.io, broker_options(broker));
  connect(p);
  constexpr int sent_window = 64, total = 80;
  std::mutex mu;
  std::map<std::string, std::error_code> outcome;
  std::promise<std::error_code> disconnected;
  asio::post(p.get_executor(), [&] {
    for (int i = 0; i < total; ++i) {
      const std::string payload = "m" + std::to_string(i);
      p.async_publish("fin/x", payload, qos::at_least_once, [&, payload](std::error_code ec) {
        std::lock_guard<std::mutex> lock(mu);
        outcome[payload] = ec;
      });
    }
    p.async_disconnect([&](std::error_code ec) { disconnected.set_value(ec); });
  });
  auto done = disconnected.get_future();
  REQUIRE(done.wait_for(10s) == std::future_status::ready);
  CHECK_FALSE(done.get());

  std::set<std::string> ok, aborted;
  {
    std::lock_guard<std::mutex> lock(mu);
    REQUIRE(outcome.size() == static_cast<std::size_t>(total));
    for (const auto& [payload, ec] : outcome) {
      if (!ec)
        ok.insert(payload);
      else if (ec == asio::error::operation_aborted)
        aborted.insert(payload);
    }
  }
  CHECK(ok.size() == static_cast<std::size_t>(sent_window));
  CHECK(ok.size() + aborted.size() == static_cast<std::size_t>(total));

  // Everything mosquitto delivered arrives before a marker published afterwards.
  publish(watcher, "fin/marker", "marker", qos::at_least_once);
  std::set<std::string> delivered;
  for (int i = 0; i <= total; ++i) {
    message m = receive(watcher);
    if (m.topic == "fin/marker") break;
    delivered.insert(m.payload);
  }
  CHECK(delivered == ok);  // none reported done is lost; none reported aborted was delivered
  disconnect(watcher);
}

TEST_CASE("client: persistent session: the broker queues QoS 1/2 messages while offline",
          "[integration][client]") {
  mosquitto_broker broker;
  io_thread io;
  auto po = broker_options(broker);
  po.session.client_id = "amqtt-it-persistent";
  po.session.clean_session = false;
  {
    // Start from a clean slate: a clean session discards any previous state for this id.
    auto clean = po;
    clean.session.clean_session = true;
    client c(io.io, clean);
    CHECK_FALSE(connect(c));
    disconnect(c);
  }
  {
    client c(io.io, po);
    CHECK_FALSE(connect(c));  // no session yet
    subscribe(c, "offline/#", qos::exactly_once);
    disconnect(c);
  }
  client pub(io.io, broker_options(broker));
  connect(pub);
  for (int i = 0; i < 5; ++i) publish(pub, "offline/x", "m" + std::to_string(i), static_cast<qos>(1 + i % 2));
  publish(pub, "offline/x", "qos0 is not queued", qos::at_most_once);

  client c(io.io, po);
  CHECK(connect(c));  // session present
  std::set<std::string> got;
  for (int i = 0; i < 5; ++i) got.insert(receive(c).payload);
  CHECK(got == std::set<std::string>{"m0", "m1", "m2", "m3", "m4"});
  disconnect(c);
  disconnect(pub);
}

TEST_CASE("client: connection refused (wrong port) is retried with backoff, then reported",
          "[integration][client]") {
  io_thread io;
  const std::uint16_t port = unused_port();
  SECTION("with reconnect: events, backoff, disconnect stops it") {
    client_options o;
    o.brokers = {{"127.0.0.1", port}};
    o.reconnect.min_delay = 5ms;
    o.reconnect.max_delay = 40ms;
    client c(io.io, o);
    event_log log;
    c.set_event_handler(log.handler());
    auto run = c.async_run(tuple_future);
    REQUIRE(eventually([&] { return log.count<event::connect_failed>() >= 4; }));
    for (const auto& f : log.all<event::connect_failed>()) CHECK(f.error == asio::error::connection_refused);
    const auto scheduled = log.all<event::reconnect_scheduled>();
    REQUIRE(scheduled.size() >= 3);
    for (std::size_t i = 0; i < scheduled.size(); ++i)
      CHECK(scheduled[i].delay <= amqtt::detail::backoff_cap(5ms, 40ms, i));
    disconnect(c);
    auto [ec] = wait_get(run);
    CHECK_FALSE(ec);
  }
  SECTION("without reconnect: async_run fails with connection_refused") {
    client_options o;
    o.brokers = {{"127.0.0.1", port}};
    o.reconnect.enabled = false;
    client c(io.io, o);
    auto [ec] = wait_get(c.async_run(tuple_future));
    CHECK(ec == asio::error::connection_refused);
  }
  SECTION("unresolvable host name") {
    client_options o;
    o.brokers = {{"no-such-host.invalid", 1883}};
    o.reconnect.enabled = false;
    client c(io.io, o);
    auto [ec] = wait_get(c.async_run(tuple_future));
    CHECK(ec);
    CHECK(ec != asio::error::operation_aborted);
  }
}

TEST_CASE("client: refused credentials stop the loop with the CONNACK's error",
          "[integration][client]") {
  mosquitto_options bo;
  bo.password_file_user = "amqtt";
  bo.password = "secret";
  mosquitto_broker broker(bo);
  io_thread io;

  auto o = broker_options(broker);
  o.session.username = "amqtt";
  o.session.password = "wrong";
  client bad(io.io, o);
  event_log log;
  bad.set_event_handler(log.handler());
  auto run = bad.async_run(tuple_future);
  auto [ec, sp] = wait_get(bad.async_connect(tuple_future));
  INFO(ec.message());
  CHECK((ec == protocol_errc::not_authorized || ec == protocol_errc::bad_username_or_password));
  auto [run_ec] = wait_get(run);
  CHECK(run_ec == ec);
  CHECK(is_permanent_refusal(run_ec));
  CHECK(log.count<event::reconnect_scheduled>() == 0);
  CHECK(log.count<event::connecting>() == 1);

  // Anonymous is refused as well; the right password is accepted.
  client anon(io.io, broker_options(broker));
  auto [anon_ec, anon_sp] = wait_get(anon.async_connect(tuple_future));
  CHECK((anon_ec == protocol_errc::not_authorized || anon_ec == protocol_errc::bad_username_or_password));
  o.session.password = "secret";
  client good(io.io, o);
  connect(good);
  disconnect(good);
}
