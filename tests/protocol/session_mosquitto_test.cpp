// Every MQTT 3.1.1 (ver 4) case of mosquitto's msg-sequence test data, run against the session
// through the scripted peer, the way mosquitto's own fake broker runs them against a client:
// connect (+ CONNACK unless "connack": false), the "command", then group_msgs and msgs
// (send -> fed to the session, recv -> the session's exact next output), then: a close_event iff
// expect_disconnect; when the session must stay connected it must still work (a QoS 1 PUBLISH
// fed to it is answered with its PUBACK).

#include <cstddef>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "protocol/support/json.hpp"
#include "protocol/support/scripted_peer.hpp"

#ifndef AMQTT_SHARED_DIR
#error "AMQTT_SHARED_DIR must point at the shared test data (set by tests/CMakeLists.txt)"
#endif

using namespace amqtt;
using namespace amqtt_test;

namespace {

const char* const files[] = {"AUTH",      "CONNACK",   "CONNECT",  "DISCONNECT",
                             "FORBIDDEN", "PINGREQ",   "PINGRESP", "PUBACK",
                             "PUBREC",    "SUBSCRIBE", "UNSUBACK", "UNSUBSCRIBE"};

// A setting of the test, else of its group, else `fallback`.
bool flag(const json::value& test, const json::value& group, const char* key, bool fallback) {
  if (const auto* v = test.find(key)) return v->b;
  if (const auto* v = group.find(key)) return v->b;
  return fallback;
}
std::string text(const json::value& test, const json::value& group, const char* key) {
  if (const auto* v = test.find(key)) return v->str;
  if (const auto* v = group.find(key)) return v->str;
  return {};
}
int version(const json::value& v, int fallback) {
  const auto* ver = v.find("ver");
  return ver ? static_cast<int>(ver->number) : fallback;
}

struct case_result {
  std::string name;
  bool ok = true;
  std::string why;
};

void run_case(const json::value& group, const json::value& test, case_result& result) {
  auto fail = [&](std::string why) {
    if (result.ok) result.why = std::move(why);
    result.ok = false;
  };
  scripted_peer p;
  p.connect();
  const std::string connect_hex = p.take();
  if (connect_hex.substr(0, 2) != "10") fail("first packet is not CONNECT: " + connect_hex);
  if (flag(test, group, "connack", true)) {
    p.feed("20 02 00 00");
    if (p.s.state() != session_state::connected) return fail("not connected after CONNACK");
  }

  const std::string command = text(test, group, "command");
  std::error_code ec;
  if (command == "publish-1") {
    p.s.publish("test/publish", "message", qos::at_least_once, false, ec);
  } else if (command == "publish-2") {
    p.s.publish("test/publish", "message", qos::exactly_once, false, ec);
  } else if (command == "unsubscribe") {
    p.s.unsubscribe({"test/subscribe"}, ec);
  } else if (command == "subscribe") {
    p.s.subscribe({{"test/subscribe", qos::at_most_once}}, ec);
  } else if (!command.empty()) {
    return fail("unknown command " + command);
  }
  if (ec) return fail("command failed: " + ec.message());

  std::vector<const json::value*> msgs;
  if (const auto* gm = group.find("group_msgs"))
    for (const auto& m : gm->items) msgs.push_back(&m);
  if (const auto* tm = test.find("msgs"))
    for (const auto& m : tm->items) msgs.push_back(&m);
  for (const json::value* m : msgs) {
    const std::string type = m->find("type")->str;
    const std::string payload = m->find("payload")->str;
    if (type == "send") {
      p.feed(payload);
    } else if (type == "recv") {
      const std::string got = p.take();
      if (got != norm_hex(payload)) fail("expected " + norm_hex(payload) + ", got " + got);
    } else {
      fail("unknown msg type " + type);
    }
  }

  const bool expect_disconnect = flag(test, group, "expect_disconnect", true);
  if (expect_disconnect) {
    if (!p.closed()) return fail("no close_event");
    if (!p.close_reason()) fail("close_event without a reason");
    if (p.s.has_output()) fail("output after close_event");
    return;
  }
  if (p.closed()) return fail("unexpected close_event: " + p.close_reason().message());
  // Still working: a QoS 1 PUBLISH is delivered and answered with its PUBACK.
  p.feed(publish_hex("t", "alive", qos::at_least_once, 0x4242));
  const std::string got = p.take();
  if (got != norm_hex("40 02 42 42")) fail("keep-working check: expected PUBACK, got " + got);
  if (p.messages().empty() || p.messages().back().payload != "alive")
    fail("keep-working check: message not delivered");
  if (p.closed()) fail("closed during the keep-working check");
}

}  // namespace

TEST_CASE("session passes every mosquitto ver-4 msg-sequence case",
          "[protocol][mosquitto][MQTT-3.2.0-1][MQTT-2.2.2-1][MQTT-2.2.2-2][MQTT-4.8.0-1]"
          "[MQTT-3.2.2-1][MQTT-2.3.1-1][MQTT-2.3.1-6][MQTT-3.6.1-1][MQTT-3.1.0-1]"
          "[MQTT-4.5.0-2][MQTT-3.3.4-1]") {
  std::size_t loaded = 0, passed = 0, disconnect_cases = 0, stay_cases = 0;
  for (const char* file : files) {
    const std::string path =
        std::string(AMQTT_SHARED_DIR) + "/conformance/mosquitto-msg-sequence/" + file + ".json";
    const json::value doc = json::parse_file(path);
    REQUIRE(doc.is_array());
    for (const auto& group : doc.items) {
      const int group_ver = version(group, 4);
      for (const auto& test : group.find("tests")->items) {
        if (version(test, group_ver) != 4) continue;  // MQTT 5 (or 3.1) cases
        case_result r;
        r.name =
            std::string(file) + " / " + group.find("group")->str + " / " + test.find("name")->str;
        ++loaded;
        (flag(test, group, "expect_disconnect", true) ? disconnect_cases : stay_cases)++;
        run_case(group, test, r);
        INFO(r.name << ": " << r.why);
        CHECK(r.ok);
        if (r.ok) ++passed;
      }
    }
  }
  INFO("loaded " << loaded << " cases, passed " << passed);
  REQUIRE(loaded > 0);
  CHECK(stay_cases > 0);
  CHECK(disconnect_cases > 0);
  CHECK(passed == loaded);
}
