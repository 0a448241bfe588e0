#pragma once
// A FIFO on a growable ring buffer. Unlike std::deque it never allocates once it has grown to the
// largest size it held, so a steady stream of push/pop (e.g. session events) is allocation-free.
// T must be default-constructible and movable; a popped slot is reset to T{} so it holds no
// resources.

#include <cstddef>
#include <utility>
#include <vector>

namespace amqtt::detail {

template <class T>
class ring_queue {
 public:
  bool empty() const noexcept { return size_ == 0; }
  std::size_t size() const noexcept { return size_; }
  std::size_t capacity() const noexcept { return slots_.size(); }

  void push_back(T value) {
    if (size_ == slots_.size()) grow();
    slots_[(head_ + size_) % slots_.size()] = std::move(value);
    ++size_;
  }

  T& front() noexcept { return slots_[head_]; }

  // Removes and returns the oldest element. The queue must not be empty.
  T pop_front() {
    T value = std::move(slots_[head_]);
    slots_[head_] = T{};
    head_ = (head_ + 1) % slots_.size();
    --size_;
    if (size_ == 0) head_ = 0;
    return value;
  }

  void clear() {
    while (!empty()) pop_front();
  }

 private:
  void grow() {
    std::vector<T> bigger(slots_.empty() ? 8 : slots_.size() * 2);
    for (std::size_t i = 0; i < size_; ++i)
      bigger[i] = std::move(slots_[(head_ + i) % slots_.size()]);
    slots_ = std::move(bigger);
    head_ = 0;
  }

  std::vector<T> slots_;
  std::size_t head_ = 0;
  std::size_t size_ = 0;
};

}  // namespace amqtt::detail
