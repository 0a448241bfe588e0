#pragma once
// Keepalive and dead-link detection [MQTT-3.1.2-23], on virtual time (no clock reads).
//
// Rules, with KA = keep alive and PT = ping timeout (0 -> KA / 2); KA == 0 disables everything:
//  - Send a PINGREQ when nothing was SENT for KA (what the server's keepalive needs), counting a
//    queued PINGREQ as sent (so a stalled writer does not make it queue one PINGREQ per tick).
//  - Also send a PINGREQ when nothing was RECEIVED for KA and no PINGREQ is outstanding (so a
//    dead link is noticed even while we only send).
//  - After a PINGREQ, the link is dead when NO BYTE AT ALL arrives within PT. Any received byte
//    proves liveness and ends the wait; a PINGRESP is not required (under an inbound flood it may
//    sit behind many messages: waiting for the PINGRESP itself causes false timeouts).
//  - Before CONNACK the link is dead when nothing arrives within KA + PT of the connection start.
//  - While input is paused nothing is read, so neither the receive rule nor the dead-link timer
//    runs. Resuming counts as "received now" and gives an outstanding PINGREQ PT again.
//
// Bound: with on_timer called at next_deadline(), a dead link is reported at the latest
// KA + PT after the last of: the last byte received, the connection start, the end of a pause.
// (The receive rule queues a PINGREQ by last + KA, unless one queued after `last` is already
// outstanding; the dead-link deadline is that PINGREQ's time + PT.)

#include <algorithm>
#include <chrono>
#include <optional>

namespace amqtt::detail {

class keepalive_monitor {
 public:
  using time_point = std::chrono::steady_clock::time_point;
  using duration = std::chrono::steady_clock::duration;

  keepalive_monitor(std::chrono::milliseconds keep_alive,
                    std::chrono::milliseconds ping_timeout) noexcept
      : keep_alive_(keep_alive),
        ping_timeout_(ping_timeout.count() > 0 ? ping_timeout : keep_alive / 2) {}

  bool enabled() const noexcept { return keep_alive_.count() > 0; }
  std::chrono::milliseconds keep_alive() const noexcept { return keep_alive_; }
  std::chrono::milliseconds ping_timeout() const noexcept { return ping_timeout_; }

  // Transport up, CONNECT queued: waiting for CONNACK.
  void start(time_point now) noexcept {
    running_ = true;
    connected_ = false;
    last_sent_ = last_received_ = last_ping_ = now;
    ping_deadline_.reset();
  }
  // CONNACK accepted: pings start.
  void on_connack(time_point now) noexcept {
    connected_ = true;
    last_received_ = std::max(last_received_, now);
  }
  void stop() noexcept {
    running_ = false;
    connected_ = false;
    ping_deadline_.reset();
  }

  void on_sent(time_point now) noexcept { last_sent_ = std::max(last_sent_, now); }
  void on_received(time_point now) noexcept {
    last_received_ = std::max(last_received_, now);
    ping_deadline_.reset();
  }
  void set_paused(bool paused, time_point now) noexcept {
    if (paused_ == paused) return;
    paused_ = paused;
    if (!paused) {
      last_received_ = std::max(last_received_, now);
      if (ping_deadline_) ping_deadline_ = std::max(*ping_deadline_, now + ping_timeout_);
    }
  }
  bool paused() const noexcept { return paused_; }
  bool ping_outstanding() const noexcept { return ping_deadline_.has_value(); }

  // True when the link must be declared dead (keepalive_timeout).
  bool dead(time_point now) const noexcept {
    if (!running_ || !enabled() || paused_) return false;
    if (!connected_) return now >= last_received_ + keep_alive_ + ping_timeout_;
    return ping_deadline_ && now >= *ping_deadline_;
  }

  // True when a PINGREQ must be queued now.
  bool ping_due(time_point now) const noexcept {
    if (!running_ || !connected_ || !enabled()) return false;
    if (now >= send_rule()) return true;
    return !paused_ && !ping_deadline_ && now >= last_received_ + keep_alive_;
  }

  void on_ping_queued(time_point now) noexcept {
    last_ping_ = std::max(last_ping_, now);
    if (!ping_deadline_) ping_deadline_ = now + ping_timeout_;
  }

  std::optional<time_point> next_deadline() const noexcept {
    if (!running_ || !enabled()) return std::nullopt;
    if (!connected_) {
      if (paused_) return std::nullopt;
      return last_received_ + keep_alive_ + ping_timeout_;
    }
    time_point t = send_rule();
    if (!paused_) t = std::min(t, ping_deadline_ ? *ping_deadline_ : last_received_ + keep_alive_);
    return t;
  }

 private:
  time_point send_rule() const noexcept { return std::max(last_sent_, last_ping_) + keep_alive_; }

  std::chrono::milliseconds keep_alive_;
  std::chrono::milliseconds ping_timeout_;
  bool running_ = false;
  bool connected_ = false;
  bool paused_ = false;
  time_point last_sent_{};
  time_point last_received_{};
  time_point last_ping_{};
  std::optional<time_point> ping_deadline_;
};

}  // namespace amqtt::detail
