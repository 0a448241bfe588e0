// amqtt::client against the in-memory fake broker: connect, publish at every QoS with every kind
// of completion token, subscribe / receive, per-subscription handlers, events.
#include "client/fake_broker.hpp"
#include "client/test_util.hpp"

#include <catch2/catch.hpp>

#include <amqtt/client.hpp>

#include <asio/bind_cancellation_slot.hpp>
#include <asio/experimental/deferred.hpp>
#include <asio/use_future.hpp>

#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace amqtt;
using namespace amqtt::test;
using namespace std::chrono_literals;

struct connected_client {
  fake_broker broker;  // outlives the io_context (transports refer to it)
  asio::io_context io;
  client c;
  std::vector<client_event> events;

  explicit connected_client(client_options o = {}, bool connect = true)
      : c(io, with_fake(std::move(o))) {
    c.set_event_handler([this](const client_event& e) { events.push_back(e); });
    if (connect) do_connect();
  }

  client_options with_fake(client_options o) {
    const auto f = fake_options(broker);
    o.transport = f.transport;
    o.reconnect.min_delay = f.reconnect.min_delay;
    o.reconnect.max_delay = f.reconnect.max_delay;
    o.disconnect_linger = f.disconnect_linger;
    return o;
  }

  void do_connect() {
    std::optional<std::error_code> result;
    c.async_connect([&](std::error_code ec, bool) { result = ec; });
    REQUIRE(run_until(io, [&] { return result.has_value(); }));
    REQUIRE_FALSE(*result);
  }

  template <class E>
  std::size_t count_events() const {
    return static_cast<std::size_t>(std::count_if(
        events.begin(), events.end(), [](const client_event& e) { return std::holds_alternative<E>(e); }));
  }
};

}  // namespace

TEST_CASE("client: async_connect completes at CONNACK, id generated, events", "[client]") {
  connected_client t({}, false);
  std::optional<std::error_code> result;
  bool session_present = true;
  t.c.async_connect([&](std::error_code ec, bool sp) {
    result = ec;
    session_present = sp;
  });
  REQUIRE(run_until(t.io, [&] { return result.has_value(); }));
  CHECK_FALSE(*result);
  CHECK_FALSE(session_present);

  const std::string& id = t.c.client_id();
  REQUIRE(id.size() == 6 + 16);
  CHECK(id.rfind("amqtt-", 0) == 0);
  CHECK(id.find_first_not_of("0123456789abcdef", 6) == std::string::npos);
  REQUIRE(t.broker.count(packet_type::connect) == 1);
  CHECK(t.broker.received[0].client_id == id);
  CHECK(t.broker.received[0].clean_session);
  CHECK(t.broker.hosts == std::vector<std::string>{"127.0.0.1:1883"});

  REQUIRE(t.events.size() == 2);
  CHECK(std::get<event::connecting>(t.events[0]).broker == broker_address{});
  CHECK_FALSE(std::get<event::connected>(t.events[1]).session_present);

  // A second async_connect while connected completes at once.
  result.reset();
  t.c.async_connect([&](std::error_code ec, bool) { result = ec; });
  REQUIRE(run_until(t.io, [&] { return result.has_value(); }));
  CHECK_FALSE(*result);
  CHECK(t.broker.connect_attempts == 1);

  // Two clients get different ids.
  asio::io_context io2;
  client other(io2);
  CHECK(other.client_id() != id);
}

// Every way of giving the client its executor (also built without RTTI, in
// amqtt-tests-client-nortti, where the client cannot ask an any_io_executor what it holds).
TEST_CASE("client: constructed from an io_context, its executor, a strand or an any_io_executor",
          "[client]") {
  fake_broker broker;
  asio::io_context io;
  using io_strand = asio::strand<asio::io_context::executor_type>;
  using any_strand = asio::strand<asio::any_io_executor>;
  // on_user_strand: whether the calling thread is inside the strand the test gave the client.
  auto round_trip = [&](client& c, const std::function<bool()>& on_user_strand_now) {
    std::optional<std::error_code> connected;
    c.async_connect([&](std::error_code ec, bool) { connected = ec; });
    REQUIRE(run_until(io, [&] { return connected.has_value(); }));
    REQUIRE_FALSE(*connected);
    bool subscribed = false;
    c.async_subscribe({{"exec/t", qos::at_least_once}},
                      [&](std::error_code ec, std::vector<suback_return_code>) {
                        CHECK_FALSE(ec);
                        subscribed = true;
                      });
    REQUIRE(run_until(io, [&] { return subscribed; }));
    // Handlers run on the client's strand: never concurrently with the client, and inside a
    // strand the user gave (shared or wrapped).
    bool published = false;
    bool on_user_strand = true;
    c.async_publish("exec/t", "payload", qos::at_least_once, [&](std::error_code ec) {
      CHECK_FALSE(ec);
      on_user_strand = on_user_strand && on_user_strand_now();
      published = true;
    });
    std::optional<message> m;
    c.async_receive([&](std::error_code ec, message msg) {
      CHECK_FALSE(ec);
      on_user_strand = on_user_strand && on_user_strand_now();
      m = std::move(msg);
    });
    REQUIRE(run_until(io, [&] { return published && m.has_value(); }));
    CHECK(m->payload == "payload");
    CHECK(on_user_strand);
    bool done = false;
    c.async_disconnect([&](std::error_code) { done = true; });
    REQUIRE(run_until(io, [&] { return done; }));
  };
  const auto anywhere = [] {
    return true;
  };
  SECTION("io_context") {
    client c(io, fake_options(broker));
    round_trip(c, anywhere);
  }
  SECTION("io_context executor") {
    client c(io.get_executor(), fake_options(broker));
    round_trip(c, anywhere);
  }
  SECTION("io_context executor as any_io_executor") {
    client c(asio::any_io_executor(io.get_executor()), fake_options(broker));
    round_trip(c, anywhere);
  }
  SECTION("concrete strand") {
    const io_strand strand = asio::make_strand(io.get_executor());
    client c(strand, fake_options(broker));
    CHECK(c.get_executor() == asio::any_io_executor(strand));  // shared, not wrapped
    round_trip(c, [&] { return strand.running_in_this_thread(); });
  }
  SECTION("concrete strand as any_io_executor") {
    const io_strand strand = asio::make_strand(io.get_executor());
    client c(asio::any_io_executor(strand), fake_options(broker));
    round_trip(c, [&] { return strand.running_in_this_thread(); });
  }
  SECTION("strand of an any_io_executor") {
    const any_strand strand = asio::make_strand(asio::any_io_executor(io.get_executor()));
    client c(asio::any_io_executor(strand), fake_options(broker));
    round_trip(c, [&] { return strand.running_in_this_thread(); });
  }
}

TEST_CASE("client: publish at QoS 0, 1 and 2 with callbacks", "[client]") {
  connected_client t;
  std::vector<std::error_code> done;
  t.c.async_publish("a/0", "zero", qos::at_most_once, [&](std::error_code ec) { done.push_back(ec); });
  t.c.async_publish("a/1", "one", qos::at_least_once, true, [&](std::error_code ec) { done.push_back(ec); });
  t.c.async_publish("a/2", "two", qos::exactly_once, [&](std::error_code ec) { done.push_back(ec); });
  // Completion is never inline.
  CHECK(done.empty());
  REQUIRE(run_until(t.io, [&] { return done.size() == 3; }));
  for (auto& ec : done) CHECK_FALSE(ec);

  REQUIRE(run_until(t.io, [&] { return t.broker.count(packet_type::pubrel) == 1; }));
  std::vector<sent_packet> pubs;
  for (auto& p : t.broker.received)
    if (p.type == packet_type::publish) pubs.push_back(p);
  REQUIRE(pubs.size() == 3);
  CHECK(pubs[0].topic == "a/0");
  CHECK(pubs[0].payload == "zero");
  CHECK(pubs[0].qos == qos::at_most_once);
  CHECK(pubs[1].topic == "a/1");
  CHECK(pubs[1].qos == qos::at_least_once);
  CHECK(pubs[1].retain);
  CHECK(pubs[2].qos == qos::exactly_once);
  CHECK_FALSE(pubs[2].retain);
}

TEST_CASE("client: QoS 1 completes only on PUBACK", "[client]") {
  connected_client t;
  t.broker.ack_publishes = false;
  std::optional<std::error_code> done;
  t.c.async_publish("a", "b", qos::at_least_once, [&](std::error_code ec) { done = ec; });
  run_for(t.io, 50ms);
  CHECK_FALSE(done.has_value());
  CHECK(t.broker.publishes == 1);
  // The broker acknowledges now.
  t.broker.current->push_packet(puback_packet{t.broker.received.back().packet_id});
  REQUIRE(run_until(t.io, [&] { return done.has_value(); }));
  CHECK_FALSE(*done);
}

TEST_CASE("client: invalid requests fail with codec errors, completed asynchronously", "[client]") {
  connected_client t;
  std::vector<std::error_code> done;
  t.c.async_publish("a/+", "x", qos::at_most_once, [&](std::error_code ec) { done.push_back(ec); });
  t.c.async_publish("", "x", qos::at_least_once, [&](std::error_code ec) { done.push_back(ec); });
  std::optional<std::error_code> sub_ec;
  t.c.async_subscribe("a/#/b", qos::at_most_once,
                      [&](std::error_code ec, std::vector<suback_return_code>) { sub_ec = ec; });
  std::optional<std::error_code> unsub_ec;
  t.c.async_unsubscribe("", [&](std::error_code ec) { unsub_ec = ec; });
  CHECK(done.empty());
  REQUIRE(run_until(t.io, [&] { return done.size() == 2 && sub_ec && unsub_ec; }));
  CHECK(done[0] == codec_errc::wildcard_in_topic_name);
  CHECK(done[1] == codec_errc::empty_topic);
  CHECK(*sub_ec == codec_errc::invalid_topic_filter);
  CHECK(*unsub_ec == codec_errc::empty_topic);
  CHECK(t.broker.publishes == 0);
}

TEST_CASE("client: publish with asio::use_future from another thread", "[client]") {
  fake_broker broker;
  io_thread io;
  client c(io.io, fake_options(broker));
  auto connected = c.async_connect(asio::use_future);
  REQUIRE(connected.wait_for(5s) == std::future_status::ready);
  CHECK_FALSE(connected.get());  // session_present

  std::vector<std::future<void>> fs;
  fs.push_back(c.async_publish("f/0", "x", qos::at_most_once, asio::use_future));
  fs.push_back(c.async_publish("f/1", "x", qos::at_least_once, asio::use_future));
  fs.push_back(c.async_publish("f/2", "x", qos::exactly_once, asio::use_future));
  for (auto& f : fs) {
    REQUIRE(f.wait_for(5s) == std::future_status::ready);
    CHECK_NOTHROW(f.get());
  }
  // An error surfaces as std::system_error.
  auto bad = c.async_publish("f/#", "x", qos::at_least_once, asio::use_future);
  REQUIRE(bad.wait_for(5s) == std::future_status::ready);
  CHECK_THROWS_AS(bad.get(), std::system_error);

  auto sub = c.async_subscribe("f/+", qos::at_least_once, asio::use_future);
  REQUIRE(sub.wait_for(5s) == std::future_status::ready);
  CHECK(sub.get() == std::vector<suback_return_code>{suback_return_code::granted_qos1});
  auto rx = c.async_receive(asio::use_future);
  c.async_publish("f/9", "echo", qos::at_least_once, asio::use_future).wait_for(5s);
  REQUIRE(rx.wait_for(5s) == std::future_status::ready);
  message m = rx.get();
  CHECK(m.topic == "f/9");
  CHECK(m.payload == "echo");
  CHECK(m.qos == qos::at_least_once);

  auto d = c.async_disconnect(asio::use_future);
  REQUIRE(d.wait_for(5s) == std::future_status::ready);
  CHECK_NOTHROW(d.get());
}

TEST_CASE("client: deferred operations run when launched", "[client]") {
  connected_client t;
  std::size_t expected = 0;
  for (qos q : {qos::at_most_once, qos::at_least_once, qos::exactly_once}) {
    auto op = t.c.async_publish("d/1", "x", q, asio::experimental::deferred);
    run_for(t.io, 20ms);
    CHECK(t.broker.publishes == expected);  // nothing happens before the launch
    std::optional<std::error_code> done;
    std::move(op)([&](std::error_code ec) { done = ec; });
    REQUIRE(run_until(t.io, [&] { return done.has_value(); }));
    CHECK_FALSE(*done);
    REQUIRE(run_until(t.io, [&] { return t.broker.publishes == expected + 1; }));
    ++expected;
  }

  // Chained: subscribe, then publish, then receive.
  auto chain = t.c.async_subscribe("d/+", qos::at_most_once, asio::experimental::deferred(
      [&](std::error_code, std::vector<suback_return_code>) {
        return t.c.async_publish("d/2", "y", qos::at_most_once, asio::experimental::deferred);
      }));
  std::optional<std::error_code> chained;
  std::move(chain)([&](std::error_code ec) { chained = ec; });
  REQUIRE(run_until(t.io, [&] { return chained.has_value(); }));
  CHECK_FALSE(*chained);
  std::optional<message> m;
  t.c.async_receive(asio::experimental::deferred)([&](std::error_code ec, message msg) {
    CHECK_FALSE(ec);
    m = std::move(msg);
  });
  REQUIRE(run_until(t.io, [&] { return m.has_value(); }));
  CHECK(m->topic == "d/2");
  CHECK(m->payload == "y");
}


TEST_CASE("client: subscribe, receive (owned and into a reused message)", "[client]") {
  connected_client t;
  std::optional<std::vector<suback_return_code>> rc;
  t.c.async_subscribe({{"s/a", qos::at_most_once}, {"s/b/#", qos::exactly_once}, {"s/refused", qos::at_least_once}},
                      [&](std::error_code ec, std::vector<suback_return_code> r) {
                        CHECK_FALSE(ec);
                        rc = std::move(r);
                      });
  t.broker.refused_filters = {"s/refused"};
  REQUIRE(run_until(t.io, [&] { return rc.has_value(); }));
  CHECK(*rc == std::vector<suback_return_code>{suback_return_code::granted_qos0,
                                               suback_return_code::granted_qos2,
                                               suback_return_code::failure});

  // Messages sent by the broker before anyone receives are queued.
  t.broker.publish("s/a", "first", qos::at_most_once);
  t.broker.publish("s/b/c", std::string("bin\0ary", 7), qos::exactly_once, true);
  run_for(t.io, 20ms);

  std::optional<message> m1;
  t.c.async_receive([&](std::error_code ec, message m) {
    CHECK_FALSE(ec);
    m1 = std::move(m);
  });
  REQUIRE(run_until(t.io, [&] { return m1.has_value(); }));
  CHECK(m1->topic == "s/a");
  CHECK(m1->payload == "first");
  CHECK(m1->qos == qos::at_most_once);

  message reused;
  reused.topic = "old topic with some capacity";
  bool got = false;
  t.c.async_receive(reused, [&](std::error_code ec) {
    CHECK_FALSE(ec);
    got = true;
  });
  REQUIRE(run_until(t.io, [&] { return got; }));
  CHECK(reused.topic == "s/b/c");
  CHECK(reused.payload == std::string("bin\0ary", 7));
  CHECK(reused.qos == qos::exactly_once);
  CHECK(reused.retain);
  CHECK_FALSE(reused.dup);
  // The QoS 2 message was acknowledged with PUBREC.
  REQUIRE(run_until(t.io, [&] { return t.broker.count(packet_type::pubrec) == 1; }));

  // A receive pending before the message arrives.
  got = false;
  t.c.async_receive(reused, [&](std::error_code ec) {
    CHECK_FALSE(ec);
    got = true;
  });
  run_for(t.io, 10ms);
  CHECK_FALSE(got);
  t.broker.publish("s/a", "later");
  REQUIRE(run_until(t.io, [&] { return got; }));
  CHECK(reused.payload == "later");
}

TEST_CASE("client: per-subscription handlers, overlaps, fallback to async_receive", "[client]") {
  connected_client t;
  std::vector<std::string> hash_calls, plus_calls, refused_calls;
  int subacks = 0;
  auto on_suback = [&](std::error_code ec, std::vector<suback_return_code>) {
    CHECK_FALSE(ec);
    ++subacks;
  };
  t.broker.refused_filters = {"h/refused"};
  t.c.async_subscribe("h/#", qos::at_least_once,
                      [&](const message_view& m) { hash_calls.emplace_back(m.topic); }, on_suback);
  t.c.async_subscribe("h/+", qos::at_least_once,
                      [&](const message_view& m) { plus_calls.emplace_back(m.payload); }, on_suback);
  t.c.async_subscribe("h/refused", qos::at_least_once,
                      [&](const message_view& m) { refused_calls.emplace_back(m.topic); }, on_suback);
  REQUIRE(run_until(t.io, [&] { return subacks == 3; }));

  t.broker.publish("h/x", "1", qos::at_least_once);      // both handlers, once each
  t.broker.publish("h/x/y", "2", qos::at_least_once);    // only h/#
  t.broker.publish("other", "3", qos::at_least_once);    // no handler: async_receive
  t.broker.publish("h/refused", "4");                    // refused filter: handler removed; h/# and h/+ take it
  std::optional<message> m;
  t.c.async_receive([&](std::error_code ec, message msg) {
    CHECK_FALSE(ec);
    m = std::move(msg);
  });
  REQUIRE(run_until(t.io, [&] { return m.has_value() && hash_calls.size() == 3; }));
  CHECK(m->topic == "other");
  CHECK(hash_calls == std::vector<std::string>{"h/x", "h/x/y", "h/refused"});
  CHECK(plus_calls == std::vector<std::string>{"1", "4"});
  CHECK(refused_calls.empty());

  // Unsubscribe removes the handler once UNSUBACK arrives.
  std::optional<std::error_code> unsub;
  t.c.async_unsubscribe("h/+", [&](std::error_code ec) { unsub = ec; });
  REQUIRE(run_until(t.io, [&] { return unsub.has_value(); }));
  CHECK_FALSE(*unsub);
  t.broker.publish("h/z", "5");
  REQUIRE(run_until(t.io, [&] { return hash_calls.size() == 4; }));
  CHECK(plus_calls.size() == 2);
}

TEST_CASE("client: requests made before connecting are queued and sent after CONNACK", "[client]") {
  connected_client t({}, false);
  std::vector<std::error_code> done;
  for (int i = 0; i < 5; ++i)
    t.c.async_publish("q/" + std::to_string(i), "x", qos::at_least_once,
                      [&](std::error_code ec) { done.push_back(ec); });
  run_for(t.io, 20ms);
  CHECK(done.empty());
  CHECK(t.broker.connect_attempts == 0);
  t.do_connect();
  REQUIRE(run_until(t.io, [&] { return done.size() == 5; }));
  for (auto& ec : done) CHECK_FALSE(ec);
  CHECK(t.broker.publishes == 5);
}

TEST_CASE("client: the offline queue is bounded: queue_full, never a silent drop", "[client]") {
  client_options o;
  o.session.max_queued = 3;
  connected_client t(o, false);
  std::vector<std::error_code> done;
  for (int i = 0; i < 5; ++i)
    t.c.async_publish("q", "x", qos::at_least_once, [&](std::error_code ec) { done.push_back(ec); });
  REQUIRE(run_until(t.io, [&] { return done.size() == 2; }));
  CHECK(done[0] == protocol_errc::queue_full);
  CHECK(done[1] == protocol_errc::queue_full);
  t.do_connect();
  REQUIRE(run_until(t.io, [&] { return done.size() == 5; }));
  CHECK_FALSE(done[2]);
  CHECK(t.broker.publishes == 3);
}

TEST_CASE("client: options are validated when the loop starts", "[client]") {
  fake_broker broker;  // outlives the io_context (transports refer to it)
  asio::io_context io;
  SECTION("no brokers") {
    auto o = fake_options(broker);
    o.brokers.clear();
    client c(io, o);
    std::optional<std::error_code> ec;
    c.async_connect([&](std::error_code e, bool) { ec = e; });
    REQUIRE(run_until(io, [&] { return ec.has_value(); }));
    CHECK(*ec == client_errc::no_brokers);
  }
  SECTION("persistent session without an id") {
    auto o = fake_options(broker);
    o.session.clean_session = false;
    client c(io, o);
    CHECK(c.client_id().empty());
    std::optional<std::error_code> ec;
    c.async_run([&](std::error_code e) { ec = e; });
    REQUIRE(run_until(io, [&] { return ec.has_value(); }));
    CHECK(*ec == client_errc::empty_client_id);
    CHECK(broker.connect_attempts == 0);
  }
  SECTION("out of range") {
    auto o = fake_options(broker);
    o.receive_queue_limit = 0;
    client c(io, o);
    std::optional<std::error_code> ec;
    c.async_run([&](std::error_code e) { ec = e; });
    REQUIRE(run_until(io, [&] { return ec.has_value(); }));
    CHECK(*ec == client_errc::invalid_options);
  }
  SECTION("a CONNECT that cannot be encoded stops the loop at once [MQTT-3.1.2-22]") {
    auto o = fake_options(broker);
    o.session.password = "secret";  // no user name
    client c(io, o);
    std::optional<std::error_code> ec;
    c.async_run([&](std::error_code e) { ec = e; });
    REQUIRE(run_until(io, [&] { return ec.has_value(); }));
    CHECK(*ec == codec_errc::password_without_username);
    CHECK(broker.connect_attempts == 0);
  }
  SECTION("an invalid will topic stops the loop at once") {
    auto o = fake_options(broker);
    o.session.will = will_options{"will/+", "gone", qos::at_least_once, false};
    client c(io, o);
    std::optional<std::error_code> ec;
    c.async_connect([&](std::error_code e, bool) { ec = e; });
    REQUIRE(run_until(io, [&] { return ec.has_value(); }));
    CHECK(*ec == codec_errc::wildcard_in_topic_name);
    CHECK(broker.connect_attempts == 0);
  }
  SECTION("a given id is kept") {
    auto o = fake_options(broker);
    o.session.client_id = "mine";
    client c(io, o);
    CHECK(c.client_id() == "mine");
  }
}

TEST_CASE("client: error categories and messages", "[client]") {
  std::error_code ec = client_errc::connect_timeout;
  CHECK(std::string(ec.category().name()) == "amqtt.client");
  CHECK(ec.message().find("timeout") != std::string::npos);
  for (int i = 1; i <= static_cast<int>(client_errc::transport_failed); ++i)
    CHECK(make_error_code(static_cast<client_errc>(i)).message() != "unknown amqtt client error");
}
