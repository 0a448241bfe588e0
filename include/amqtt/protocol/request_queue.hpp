#pragma once
// Outbound requests (publish, subscribe, unsubscribe) as owned copies, and the bounded FIFO
// they wait in while they cannot be sent: offline, before CONNACK, while the in-flight window or
// the output buffer is full, or behind older requests (the queue is strictly in order).
//
// The queue is bounded by a count and by a byte total (topic + payload for a publish, the filters
// for a subscribe/unsubscribe). A request that does not fit is refused by the caller with
// protocol_errc::queue_full; nothing is ever dropped silently.

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "amqtt/codec/packets.hpp"

namespace amqtt::detail {

enum class request_kind : std::uint8_t { publish, subscribe, unsubscribe };

struct outbound_request {
  std::uint64_t id = 0;  // the request_id of its done-event; 0 for internal resubscriptions
  request_kind kind = request_kind::publish;
  amqtt::qos qos = amqtt::qos::at_most_once;  // publish only
  bool retain = false;                        // publish only
  std::string topic;                          // publish only
  std::string payload;                        // publish only
  std::vector<std::string> filters;           // subscribe / unsubscribe
  std::vector<amqtt::qos> filter_qos;         // subscribe: requested QoS per filter

  // What the request counts against max_queued_bytes.
  std::size_t bytes() const noexcept {
    std::size_t n = topic.size() + payload.size();
    for (const auto& f : filters) n += f.size();
    return n;
  }
};

class request_queue {
 public:
  request_queue(std::size_t max_count, std::size_t max_bytes) noexcept
      : max_count_(max_count), max_bytes_(max_bytes) {}

  // True when a request of `bytes` bytes can be added without passing either limit.
  bool fits(std::size_t bytes) const noexcept {
    return queue_.size() < max_count_ && bytes <= max_bytes_ && bytes_ <= max_bytes_ - bytes;
  }

  // Adds at the back; returns false (and leaves `r` untouched) when it does not fit.
  bool push_back(outbound_request&& r) {
    const std::size_t n = r.bytes();
    if (!fits(n)) return false;
    queue_.push_back(std::move(r));
    bytes_ += n;
    return true;
  }

  bool empty() const noexcept { return queue_.empty(); }
  std::size_t size() const noexcept { return queue_.size(); }
  std::size_t bytes() const noexcept { return bytes_; }

  const outbound_request& front() const noexcept { return queue_.front(); }

  outbound_request pop_front() {
    outbound_request r = std::move(queue_.front());
    queue_.pop_front();
    bytes_ -= r.bytes();
    return r;
  }

  // Removes the request with `id`; nullopt when it is not queued.
  std::optional<outbound_request> remove(std::uint64_t id) {
    for (auto it = queue_.begin(); it != queue_.end(); ++it) {
      if (it->id != id) continue;
      outbound_request r = std::move(*it);
      queue_.erase(it);
      bytes_ -= r.bytes();
      return r;
    }
    return std::nullopt;
  }

 private:
  std::deque<outbound_request> queue_;
  std::size_t bytes_ = 0;
  std::size_t max_count_;
  std::size_t max_bytes_;
};

}  // namespace amqtt::detail
