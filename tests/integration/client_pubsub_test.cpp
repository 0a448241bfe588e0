// amqtt::client against a real mosquitto: publish/subscribe at every QoS, wildcards, retained
// messages, unsubscribe, per-subscription handlers.
#include "client/broker_util.hpp"

#include <catch2/catch.hpp>

#include <amqtt/client.hpp>

#include <algorithm>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

namespace {

using namespace amqtt;
using namespace amqtt::test;
using namespace std::chrono_literals;

}  // namespace

TEST_CASE("client: publish and receive at QoS 0, 1 and 2 through mosquitto",
          "[integration][client]") {
  mosquitto_broker broker;
  io_thread io;
  client c(io.io, broker_options(broker));
  connect(c);

  for (qos sub_qos : {qos::at_most_once, qos::at_least_once, qos::exactly_once}) {
    const std::string filter = "amqtt/test/q" + std::to_string(static_cast<int>(sub_qos));
    auto [sub_ec, rc] = wait_get(c.async_subscribe(filter, sub_qos, tuple_future));
    REQUIRE_FALSE(sub_ec);
    REQUIRE(rc.size() == 1);
    CHECK(rc[0] == static_cast<suback_return_code>(sub_qos));

    for (qos pub_qos : {qos::at_most_once, qos::at_least_once, qos::exactly_once}) {
      const std::string payload = "payload-" + std::to_string(static_cast<int>(pub_qos));
      auto [ec] = wait_get(c.async_publish(filter, payload, pub_qos, tuple_future));
      REQUIRE_FALSE(ec);
      message m = receive(c);
      CHECK(m.topic == filter);
      CHECK(m.payload == payload);
      CHECK(static_cast<int>(m.qos) == std::min(static_cast<int>(sub_qos), static_cast<int>(pub_qos)));
      CHECK_FALSE(m.retain);
    }
  }
  disconnect(c);
}

TEST_CASE("client: wildcards, retained messages, unsubscribe", "[integration][client]") {
  mosquitto_broker broker;
  io_thread io;
  client pub(io.io, broker_options(broker));
  client sub(io.io, broker_options(broker));
  connect(pub);
  connect(sub);

  // A retained message published before the subscription arrives with retain = 1.
  REQUIRE_FALSE(std::get<0>(
      wait_get(pub.async_publish("amqtt/ret/a", "kept", qos::at_least_once, true, tuple_future))));
  subscribe(sub, "amqtt/ret/+", qos::at_least_once);
  message r = receive(sub);
  CHECK(r.topic == "amqtt/ret/a");
  CHECK(r.payload == "kept");
  CHECK(r.retain);

  // Wildcards: '+' one level, '#' any depth.
  subscribe(sub, "amqtt/w/+/x", qos::at_least_once);
  subscribe(sub, "amqtt/deep/#", qos::at_least_once);
  for (const char* t : {"amqtt/w/1/x", "amqtt/w/2/y", "amqtt/deep", "amqtt/deep/a/b/c"})
    REQUIRE_FALSE(std::get<0>(wait_get(pub.async_publish(t, t, qos::at_least_once, tuple_future))));
  std::set<std::string> got;
  for (int i = 0; i < 3; ++i) got.insert(receive(sub).topic);
  CHECK(got == std::set<std::string>{"amqtt/w/1/x", "amqtt/deep", "amqtt/deep/a/b/c"});

  // Unsubscribe: nothing more arrives for that filter.
  REQUIRE_FALSE(std::get<0>(wait_get(sub.async_unsubscribe("amqtt/deep/#", tuple_future))));
  REQUIRE_FALSE(std::get<0>(
      wait_get(pub.async_publish("amqtt/deep/z", "gone", qos::at_least_once, tuple_future))));
  REQUIRE_FALSE(std::get<0>(
      wait_get(pub.async_publish("amqtt/w/9/x", "marker", qos::at_least_once, tuple_future))));
  message m = receive(sub);
  CHECK(m.topic == "amqtt/w/9/x");  // the marker, not amqtt/deep/z

  // Clear the retained message.
  REQUIRE_FALSE(std::get<0>(
      wait_get(pub.async_publish("amqtt/ret/a", "", qos::at_least_once, true, tuple_future))));
  disconnect(sub);
  disconnect(pub);
}

TEST_CASE("client: per-subscription handlers with overlapping filters", "[integration][client]") {
  mosquitto_broker broker;
  io_thread io;
  client c(io.io, broker_options(broker));
  connect(c);

  std::mutex mu;
  std::map<std::string, std::vector<std::string>> calls;  // filter -> topics
  auto handler_for = [&](std::string filter) {
    return [&, filter](const message_view& m) {
      std::lock_guard<std::mutex> lock(mu);
      calls[filter].emplace_back(m.topic);
    };
  };
  REQUIRE_FALSE(std::get<0>(
      wait_get(c.async_subscribe("amqtt/h/#", qos::at_least_once, handler_for("amqtt/h/#"), tuple_future))));
  REQUIRE_FALSE(std::get<0>(
      wait_get(c.async_subscribe("amqtt/h/+", qos::at_least_once, handler_for("amqtt/h/+"), tuple_future))));
  subscribe(c, "amqtt/other", qos::at_least_once);  // no handler: async_receive

  REQUIRE_FALSE(std::get<0>(wait_get(c.async_publish("amqtt/h/a", "1", qos::at_least_once, tuple_future))));
  REQUIRE_FALSE(std::get<0>(wait_get(c.async_publish("amqtt/h/a/b", "2", qos::at_least_once, tuple_future))));
  REQUIRE_FALSE(std::get<0>(wait_get(c.async_publish("amqtt/other", "3", qos::at_least_once, tuple_future))));
  message m = receive(c);
  CHECK(m.topic == "amqtt/other");
  CHECK(m.payload == "3");

  // mosquitto sends one PUBLISH per matching message (not per subscription); every matching
  // handler is called once per PUBLISH received.
  REQUIRE(eventually([&] {
    std::lock_guard<std::mutex> lock(mu);
    return calls["amqtt/h/#"].size() >= 2 && calls["amqtt/h/+"].size() >= 1;
  }));
  {
    std::lock_guard<std::mutex> lock(mu);
    const auto& hash = calls["amqtt/h/#"];
    const auto& plus = calls["amqtt/h/+"];
    CHECK(std::count(hash.begin(), hash.end(), "amqtt/h/a") ==
          std::count(plus.begin(), plus.end(), "amqtt/h/a"));
    CHECK(std::count(plus.begin(), plus.end(), "amqtt/h/a/b") == 0);
    CHECK(std::count(hash.begin(), hash.end(), "amqtt/h/a/b") >= 1);
  }

  // After unsubscribing "amqtt/h/+" its handler is gone.
  REQUIRE_FALSE(std::get<0>(wait_get(c.async_unsubscribe("amqtt/h/+", tuple_future))));
  std::size_t plus_before;
  {
    std::lock_guard<std::mutex> lock(mu);
    plus_before = calls["amqtt/h/+"].size();
    calls["amqtt/h/#"].clear();
  }
  REQUIRE_FALSE(std::get<0>(wait_get(c.async_publish("amqtt/h/c", "4", qos::at_least_once, tuple_future))));
  REQUIRE(eventually([&] {
    std::lock_guard<std::mutex> lock(mu);
    return !calls["amqtt/h/#"].empty();
  }));
  {
    std::lock_guard<std::mutex> lock(mu);
    CHECK(calls["amqtt/h/+"].size() == plus_before);
  }
  disconnect(c);
}
