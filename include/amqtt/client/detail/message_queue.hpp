#pragma once
// Received messages waiting for async_receive: a ring of `message` slots that keep their string
// capacity, so a steady stream of messages is copied into reused buffers (no allocation). The
// ring keeps turning when it empties (the head is not reset), so every slot gets used and warmed
// within one lap: the backlog reaching a depth it had not reached before then costs nothing.

#include <cstddef>
#include <utility>
#include <vector>

#include "amqtt/client/message.hpp"

namespace amqtt::detail {

class message_queue {
 public:
  bool empty() const noexcept { return size_ == 0; }
  std::size_t size() const noexcept { return size_; }
  std::size_t capacity() const noexcept { return slots_.size(); }

  // Copies `m` in at the back.
  void push(const message_view& m) {
    if (size_ == slots_.size()) grow();
    message& slot = slots_[(head_ + size_) % slots_.size()];
    slot.topic.assign(m.topic.data(), m.topic.size());
    slot.payload.assign(m.payload.data(), m.payload.size());
    slot.qos = m.qos;
    slot.retain = m.retain;
    slot.dup = m.dup;
    ++size_;
  }

  // Swaps the oldest message into `out` (whose old strings are kept for reuse). Not empty.
  void pop_into(message& out) noexcept {
    swap(out, slots_[head_]);
    head_ = (head_ + 1) % slots_.size();
    --size_;
  }

  // Frees every slot.
  void clear() noexcept {
    slots_.clear();
    slots_.shrink_to_fit();
    head_ = size_ = 0;
  }

 private:
  void grow() {
    std::vector<message> bigger(slots_.empty() ? 16 : slots_.size() * 2);
    for (std::size_t i = 0; i < size_; ++i) swap(bigger[i], slots_[(head_ + i) % slots_.size()]);
    slots_.swap(bigger);
    head_ = 0;
  }

  std::vector<message> slots_;
  std::size_t head_ = 0;
  std::size_t size_ = 0;
};

}  // namespace amqtt::detail
