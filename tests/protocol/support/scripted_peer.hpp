#pragma once
// A scripted MQTT server for session tests, on virtual time.
//
//   scripted_peer p;                   // a session with test options (client id "c", KA 60 s)
//   p.establish();                     // on_connected, take the CONNECT, feed CONNACK 20 02 00 00
//   p.s.publish("a", "x", qos::at_least_once, false, ec);
//   p.expect("32 06 0001 61 0001 78");  // the exact next output (hex, spaces ignored)
//   p.feed("40 02 0001");              // server bytes; polls the session until it is idle
//   p.advance(30s);                    // moves time, firing timers at next_deadline()
//
// Every event the session reports is recorded in `events` (messages as owned copies, because a
// message_event's views die at the next call into the session).

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <variant>
#include <vector>

#include <catch2/catch.hpp>

#include <amqtt/codec/codec.hpp>
#include <amqtt/protocol/session.hpp>

namespace amqtt_test {

using namespace std::chrono_literals;
using byte_vector = std::vector<std::uint8_t>;

inline byte_vector hex_bytes(std::string_view hex) {
  byte_vector out;
  int high = -1;
  for (char c : hex) {
    int v = -1;
    if (c >= '0' && c <= '9')
      v = c - '0';
    else if (c >= 'a' && c <= 'f')
      v = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F')
      v = c - 'A' + 10;
    else if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
      continue;
    else
      throw std::invalid_argument("hex_bytes: bad character in \"" + std::string(hex) + "\"");
    if (high < 0) {
      high = v;
    } else {
      out.push_back(static_cast<std::uint8_t>(high * 16 + v));
      high = -1;
    }
  }
  if (high >= 0) throw std::invalid_argument("hex_bytes: odd digit count");
  return out;
}

inline std::string to_hex(const std::uint8_t* p, std::size_t n) {
  static const char digits[] = "0123456789abcdef";
  std::string s;
  s.reserve(n * 3);
  for (std::size_t i = 0; i < n; ++i) {
    if (i) s.push_back(' ');
    s.push_back(digits[p[i] >> 4]);
    s.push_back(digits[p[i] & 15]);
  }
  return s;
}
inline std::string to_hex(const byte_vector& b) { return to_hex(b.data(), b.size()); }
// Canonical form of a hex string (lower case, one space between bytes) for comparisons.
inline std::string norm_hex(std::string_view hex) { return to_hex(hex_bytes(hex)); }

// Hex of a packet encoded by the codec (for building expectations).
template <class P>
std::string hex_of(const P& p) {
  byte_vector b;
  if (auto ec = amqtt::encode_append(p, b)) throw std::logic_error("hex_of: " + ec.message());
  return to_hex(b);
}

struct owned_message {
  std::string topic;
  std::string payload;
  amqtt::qos qos = amqtt::qos::at_most_once;
  bool retain = false;
  bool dup = false;
  std::uint16_t packet_id = 0;
};

using owned_event =
    std::variant<std::monostate, amqtt::connected_event, owned_message, amqtt::publish_done_event,
                 amqtt::subscribe_done_event, amqtt::unsubscribe_done_event,
                 amqtt::resubscribed_event, amqtt::close_event>;

inline amqtt::session_options test_options() {
  amqtt::session_options o;
  o.client_id = "c";
  o.keep_alive = 60s;
  return o;
}

class scripted_peer {
 public:
  using time_point = amqtt::steady_time;

  explicit scripted_peer(amqtt::session_options o = test_options()) : s(std::move(o)) {}

  amqtt::session s;
  time_point now = time_point{} + 1000h;  // far from the epoch
  std::vector<owned_event> events;

  // ---- connection ----
  void connect() {
    s.on_connected(now);
    pump();
  }
  // Transport up, CONNECT taken, CONNACK fed.
  void establish(bool session_present = false) {
    connect();
    const std::string connect_hex = take();
    REQUIRE(connect_hex.substr(0, 2) == "10");
    feed(session_present ? "20 02 01 00" : "20 02 00 00");
    REQUIRE(s.state() == amqtt::session_state::connected);
  }
  void drop(std::error_code ec = std::make_error_code(std::errc::connection_reset)) {
    s.on_disconnected(ec, now);
    pump();
  }

  // ---- input ----
  // Server bytes, delivered in chunks of `chunk` bytes; the session is polled after each chunk.
  void feed(std::string_view hex, std::size_t chunk = static_cast<std::size_t>(-1)) {
    feed_bytes(hex_bytes(hex), chunk);
  }
  void feed_bytes(const byte_vector& b, std::size_t chunk = static_cast<std::size_t>(-1)) {
    std::size_t off = 0;
    while (off < b.size()) {
      const std::size_t n = std::min(chunk, b.size() - off);
      std::uint8_t* p = s.prepare_input(n);
      std::memcpy(p, b.data() + off, n);
      s.commit_input(n, now);
      off += n;
      pump();
    }
  }
  template <class P>
  void feed_packet(const P& p) {
    byte_vector b;
    REQUIRE_FALSE(amqtt::encode_append(p, b));
    feed_bytes(b);
  }

  // Polls until the session has nothing more to say.
  void pump() {
    for (int guard = 0; guard < 1'000'000; ++guard) {
      amqtt::session_event e = s.poll(now);
      if (std::holds_alternative<std::monostate>(e)) return;
      record(std::move(e));
    }
    FAIL("session::poll never returned monostate");
  }

  // ---- output ----
  // Everything the session has to send now, as hex ("" when nothing).
  std::string take() {
    byte_vector buf;
    s.take_output(buf, now);
    pump();  // take_output may complete a DISCONNECT or send queued requests
    return to_hex(buf);
  }
  // The output must be exactly `hex` (spaces and case ignored).
  void expect(std::string_view hex) { CHECK(take() == norm_hex(hex)); }
  void expect_nothing() { CHECK(take().empty()); }

  // ---- time ----
  // Moves virtual time forward by `d`, calling on_timer at every deadline on the way.
  void advance(std::chrono::steady_clock::duration d) { advance_to(now + d); }
  void advance_to(time_point target) {
    for (int guard = 0; guard < 1'000'000; ++guard) {
      auto dl = s.next_deadline();
      if (!dl || *dl > target) break;
      now = std::max(now, *dl);
      s.on_timer(now);
      pump();
    }
    now = std::max(now, target);
  }

  // ---- events ----
  template <class T>
  std::vector<T> all() const {
    std::vector<T> out;
    for (const auto& e : events)
      if (const T* t = std::get_if<T>(&e)) out.push_back(*t);
    return out;
  }
  template <class T>
  std::size_t count() const {
    return all<T>().size();
  }
  std::vector<owned_message> messages() const { return all<owned_message>(); }
  bool closed() const { return count<amqtt::close_event>() > 0; }
  std::error_code close_reason() const {
    auto c = all<amqtt::close_event>();
    return c.empty() ? std::error_code{} : c.back().reason;
  }
  void clear_events() { events.clear(); }

 private:
  void record(amqtt::session_event&& e) {
    if (auto* m = std::get_if<amqtt::message_event>(&e)) {
      const auto& p = m->message;
      events.emplace_back(owned_message{std::string(p.topic), std::string(p.payload), p.qos,
                                        p.retain, p.dup, p.packet_id});
      return;
    }
    std::visit(
        [this](auto&& x) {
          using T = std::decay_t<decltype(x)>;
          if constexpr (!std::is_same_v<T, amqtt::message_event>) events.emplace_back(std::move(x));
        },
        std::move(e));
  }
};

// Hex helpers for common packets.
inline std::string publish_hex(std::string_view topic, std::string_view payload, amqtt::qos q,
                               std::uint16_t id = 0, bool dup = false, bool retain = false) {
  amqtt::publish_packet p;
  p.topic = topic;
  p.payload = payload;
  p.qos = q;
  p.packet_id = id;
  p.dup = dup;
  p.retain = retain;
  return hex_of(p);
}

}  // namespace amqtt_test
