#pragma once
// A fake link + server around a scripted_peer, on virtual time, for keepalive tests.
//
// It jumps from event to event (client publishes, server publishes, delayed server answers,
// session deadlines), takes the session's output as soon as there is any (a socket that writes
// instantly), answers each PINGREQ with a PINGRESP after `pingresp_delay` (or never), and can
// kill the server (from then on no byte reaches the client) or pause the client's input (server
// bytes are held back, as the socket is not read, and delivered on resume).

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <vector>

#include "protocol/support/scripted_peer.hpp"

namespace amqtt_test {

class link_sim {
 public:
  using time_point = amqtt::steady_time;
  using duration = std::chrono::steady_clock::duration;

  explicit link_sim(scripted_peer& p) : p_(p) {}

  // Traffic; zero disables.
  duration client_publish_every{0};                      // QoS 0 publishes by the application
  duration server_publish_every{0};                      // QoS 0 PUBLISHes from the server
  std::optional<duration> pingresp_delay = duration{0};  // nullopt: PINGREQs go unanswered
  bool server_alive = true;

  std::vector<time_point> pingreqs;  // when each PINGREQ was handed out for writing
  std::vector<time_point> sends;     // when output was handed out
  time_point last_received{};        // when bytes last reached the session
  time_point last_resume{};          // when input was last resumed
  std::optional<time_point> closed_at;

  void start() {
    next_client_ = p_.now + client_publish_every;
    next_server_ = p_.now + server_publish_every;
    last_received = p_.now;
    collect();
  }

  void set_paused(bool paused) {
    paused_ = paused;
    p_.s.set_input_paused(paused, p_.now);
    if (!paused) {
      last_resume = p_.now;
      deliver_held();
    }
  }

  // Kills the server: nothing more reaches the client, ever.
  void kill_server() {
    server_alive = false;
    answers_.clear();
    held_.clear();
  }

  // Runs until `end` or until the session closes.
  void run_until(time_point end) {
    for (int guard = 0; guard < 10'000'000 && !closed_at; ++guard) {
      time_point t = end;
      if (client_publish_every.count() > 0) t = std::min(t, next_client_);
      if (server_alive && server_publish_every.count() > 0) t = std::min(t, next_server_);
      if (!answers_.empty()) t = std::min(t, answers_.begin()->first);
      if (auto dl = p_.s.next_deadline()) t = std::min(t, std::max(*dl, p_.now));
      if (t > end) break;
      p_.now = std::max(p_.now, t);

      if (auto dl = p_.s.next_deadline(); dl && *dl <= p_.now) {
        p_.s.on_timer(p_.now);
        p_.pump();
      }
      if (client_publish_every.count() > 0 && next_client_ <= p_.now) {
        std::error_code ec;
        p_.s.publish("out", "x", amqtt::qos::at_most_once, false, ec);
        p_.pump();
        next_client_ = p_.now + client_publish_every;
      }
      if (server_alive && server_publish_every.count() > 0 && next_server_ <= p_.now) {
        server_send(hex_bytes(publish_hex("in", "y", amqtt::qos::at_most_once)));
        next_server_ = p_.now + server_publish_every;
      }
      while (!answers_.empty() && answers_.begin()->first <= p_.now) {
        auto bytes = std::move(answers_.begin()->second);
        answers_.erase(answers_.begin());
        server_send(bytes);
      }
      collect();
      if (t == end && p_.now >= end) break;
    }
  }

 private:
  void server_send(const byte_vector& bytes) {
    if (!server_alive) return;
    if (paused_) {
      held_.insert(held_.end(), bytes.begin(), bytes.end());
      return;
    }
    p_.feed_bytes(bytes);
    last_received = p_.now;
  }
  void deliver_held() {
    if (held_.empty() || !server_alive) return;
    byte_vector b;
    b.swap(held_);
    p_.feed_bytes(b);
    last_received = p_.now;
  }
  // Takes the output, notes PINGREQs (and schedules their answers), notes a close.
  void collect() {
    byte_vector out;
    p_.s.take_output(out, p_.now);
    p_.pump();
    if (!out.empty()) sends.push_back(p_.now);
    std::size_t off = 0;
    while (off < out.size()) {
      amqtt::packet pkt;
      const auto r = amqtt::decode_packet(out.data() + off, out.size() - off, pkt);
      if (r.status != amqtt::decode_status::complete) break;
      off += r.consumed;
      if (std::holds_alternative<amqtt::pingreq_packet>(pkt)) {
        pingreqs.push_back(p_.now);
        if (server_alive && pingresp_delay)
          answers_.emplace(p_.now + *pingresp_delay, byte_vector{0xD0, 0x00});
      }
    }
    if (p_.closed() && !closed_at) closed_at = p_.now;
  }

  scripted_peer& p_;
  bool paused_ = false;
  time_point next_client_{};
  time_point next_server_{};
  std::multimap<time_point, byte_vector> answers_;
  byte_vector held_;
};

}  // namespace amqtt_test
