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
#include <optional>
#include <string>
#include <string_view>
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

// Copies `src` into `dst`, reusing the capacity of dst's strings and vectors.
inline void assign_request(outbound_request& dst, const outbound_request& src) {
  dst.id = src.id;
  dst.kind = src.kind;
  dst.qos = src.qos;
  dst.retain = src.retain;
  dst.topic.assign(src.topic);
  dst.payload.assign(src.payload);
  dst.filters = src.filters;
  dst.filter_qos = src.filter_qos;
}

// A FIFO on a growable ring of request slots. A slot that is popped keeps the capacity of its
// topic and payload (within a byte budget for idle buffers, max_bytes), so a steady stream of
// queued publishes of stable sizes does not allocate.
class request_queue {
 public:
  request_queue(std::size_t max_count, std::size_t max_bytes) noexcept
      : max_count_(max_count), max_bytes_(max_bytes) {}

  // True when a request of `bytes` bytes can be added without passing either limit.
  bool fits(std::size_t bytes) const noexcept {
    return size_ < max_count_ && bytes <= max_bytes_ && bytes_ <= max_bytes_ - bytes;
  }

  // Adds at the back; returns false (and leaves `r` untouched) when it does not fit.
  bool push_back(outbound_request&& r) {
    const std::size_t n = r.bytes();
    if (!fits(n)) return false;
    slot& s = next_slot();
    s.request = std::move(r);
    commit_push(n);
    return true;
  }

  // Adds a publish at the back, copying topic and payload into a recycled slot.
  bool push_back_publish(std::uint64_t id, amqtt::qos qos, bool retain, std::string_view topic,
                         std::string_view payload) {
    const std::size_t n = topic.size() + payload.size();
    if (!fits(n)) return false;
    outbound_request& r = next_slot().request;
    r.id = id;
    r.kind = request_kind::publish;
    r.qos = qos;
    r.retain = retain;
    r.topic.assign(topic);
    r.payload.assign(payload);
    r.filters.clear();
    r.filter_qos.clear();
    commit_push(n);
    return true;
  }

  bool empty() const noexcept { return size_ == 0; }
  std::size_t size() const noexcept { return size_; }
  std::size_t bytes() const noexcept { return bytes_; }

  const outbound_request& front() const noexcept { return slots_[head_].request; }

  // Removes the oldest request; its slot keeps its buffers for reuse.
  void discard_front() noexcept {
    slot& s = slots_[head_];
    bytes_ -= s.request.bytes();
    park(s);
    head_ = (head_ + 1) % slots_.size();
    --size_;
  }

  // Removes the oldest request into `dst` by swapping (no copy of its topic or payload); `dst`'s
  // old buffers take its slot and are kept for reuse like a discarded request's.
  void pop_front_into(outbound_request& dst) noexcept {
    slot& s = slots_[head_];
    bytes_ -= s.request.bytes();
    std::swap(dst, s.request);
    park(s);
    head_ = (head_ + 1) % slots_.size();
    --size_;
  }

  outbound_request pop_front() {
    slot& s = slots_[head_];
    outbound_request r = std::move(s.request);
    s.request = outbound_request{};
    head_ = (head_ + 1) % slots_.size();
    --size_;
    bytes_ -= r.bytes();
    return r;
  }

  // Removes the request with `id`; nullopt when it is not queued.
  std::optional<outbound_request> remove(std::uint64_t id) {
    for (std::size_t i = 0; i < size_; ++i) {
      if (at(i).request.id != id) continue;
      outbound_request r = std::move(at(i).request);
      at(i).request = outbound_request{};
      for (std::size_t j = i; j + 1 < size_; ++j) std::swap(at(j), at(j + 1));
      --size_;
      bytes_ -= r.bytes();
      return r;
    }
    return std::nullopt;
  }

 private:
  struct slot {
    outbound_request request;
    std::size_t parked = 0;  // capacity of this idle slot's strings counted in idle_
  };

  slot& at(std::size_t i) noexcept { return slots_[(head_ + i) % slots_.size()]; }

  // The slot after the last element (growing the ring when full); its idle capacity is in use
  // again.
  slot& next_slot() {
    if (size_ == slots_.size()) grow();
    slot& s = at(size_);
    idle_ -= s.parked;
    s.parked = 0;
    return s;
  }

  void commit_push(std::size_t n) noexcept {
    ++size_;
    bytes_ += n;
  }

  void park(slot& s) noexcept {
    outbound_request& r = s.request;
    r.topic.clear();
    r.payload.clear();
    r.filters.clear();
    r.filter_qos.clear();
    const std::size_t cap = r.topic.capacity() + r.payload.capacity();
    if (cap > max_bytes_ - idle_ || idle_ > max_bytes_) {
      std::string().swap(r.topic);
      std::string().swap(r.payload);
      return;
    }
    s.parked = cap;
    idle_ += cap;
  }

  // Only called when full: no idle slot (so no parked capacity) is lost.
  void grow() {
    std::vector<slot> bigger(slots_.empty() ? 8 : slots_.size() * 2);
    for (std::size_t i = 0; i < size_; ++i) bigger[i] = std::move(at(i));
    slots_ = std::move(bigger);
    head_ = 0;
  }

  std::vector<slot> slots_;
  std::size_t head_ = 0;
  std::size_t size_ = 0;
  std::size_t bytes_ = 0;
  std::size_t idle_ = 0;
  std::size_t max_count_;
  std::size_t max_bytes_;
};

}  // namespace amqtt::detail
