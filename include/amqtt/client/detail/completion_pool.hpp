#pragma once
// The client's memory for pending operations and their completions.
//
// Without it every completion posted to the client's strand costs Asio's handler memory: its
// per-thread cache keeps two blocks per purpose, and a client with hundreds of completions
// queued (a publisher with a window of outstanding QoS 0 publishes) misses it almost every
// time. The pool keeps freed blocks on per-size free lists instead, so in steady state
// neither a pending operation nor its completion allocates.
//
// Threading: blocks are taken only on the client's strand (the strand serializes all callers
// and orders their memory), but Asio may free them on any thread that runs the io_context
// (e.g. the io_context operation that schedules the strand). So each free list is a
// multi-producer, single-consumer stack: pushes from any thread, pops from one at a time. With
// one popper the classic ABA problem cannot occur: between reading the head and replacing it,
// only pushes happen, and they never change the `next` of a node already on the stack.
//
// Lifetime: reference counted; the client holds one reference and every block handed out holds
// one, so a completion still queued in an io_context after the client went away frees its
// memory into a live pool.
//
// The pool also holds the client's ready-completion queue (completion_runner.hpp): same owner,
// same lifetime, and its nodes are pool blocks.

#include <atomic>
#include <cstddef>
#include <new>

#include "amqtt/client/detail/ready_queue.hpp"

namespace amqtt::detail {

class completion_pool {
 public:
  // Block sizes served from free lists; larger (or over-aligned) requests go to operator new.
  static constexpr std::size_t class_count = 4;
  static constexpr std::size_t smallest_block = 64;
  static constexpr std::size_t largest_block = smallest_block << (class_count - 1);  // 512
  // At most this many free blocks are kept per size class: the pool retains the peak number of
  // blocks in use at once, up to this bound, and returns the rest to the heap.
  static constexpr std::size_t max_cached_per_class = 4096;

  static completion_pool* create() { return new completion_pool(); }

  void add_ref() noexcept { refs_.fetch_add(1, std::memory_order_relaxed); }
  void release() noexcept {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

  // On the client's strand only (single consumer).
  void* allocate(std::size_t size, std::size_t align) {
    void* p = nullptr;
    const std::size_t c = size_class(size, align);
    if (c == class_count) {
      p = heap_allocate(size, align);
    } else {
      node* head = free_[c].load(std::memory_order_acquire);
      while (head != nullptr &&
             !free_[c].compare_exchange_weak(head, head->next, std::memory_order_acquire,
                                             std::memory_order_acquire)) {
      }
      if (head != nullptr) {
        cached_[c].fetch_sub(1, std::memory_order_relaxed);
        p = head;
      } else {
        p = ::operator new(block_size(c));
      }
    }
    add_ref();
    return p;
  }

  // Any thread.
  void deallocate(void* p, std::size_t size, std::size_t align) noexcept {
    const std::size_t c = size_class(size, align);
    if (c == class_count) {
      heap_deallocate(p, align);
    } else if (cached_[c].load(std::memory_order_relaxed) >= max_cached_per_class) {
      ::operator delete(p);
    } else {
      cached_[c].fetch_add(1, std::memory_order_relaxed);
      node* n = ::new (p) node{free_[c].load(std::memory_order_relaxed)};
      while (!free_[c].compare_exchange_weak(n->next, n, std::memory_order_release,
                                             std::memory_order_relaxed)) {
      }
    }
    release();
  }

  // The client's ready completions (completion_runner.hpp); on the client's strand only.
  detail::ready_queue& ready() noexcept { return ready_; }

  // Free blocks currently kept (for tests).
  std::size_t cached_blocks() const noexcept {
    std::size_t total = 0;
    for (const auto& c : cached_) total += c.load(std::memory_order_relaxed);
    return total;
  }

  completion_pool(const completion_pool&) = delete;
  completion_pool& operator=(const completion_pool&) = delete;

 private:
  struct node {
    node* next;
  };

  completion_pool() = default;
  ~completion_pool() {
    for (auto& list : free_) {
      node* n = list.load(std::memory_order_acquire);
      while (n != nullptr) {
        node* next = n->next;
        ::operator delete(n);
        n = next;
      }
    }
  }

  static constexpr std::size_t block_size(std::size_t c) noexcept { return smallest_block << c; }

  static std::size_t size_class(std::size_t size, std::size_t align) noexcept {
    if (align > alignof(std::max_align_t) || size > largest_block) return class_count;
    std::size_t c = 0;
    while (block_size(c) < size) ++c;
    return c;
  }

  static void* heap_allocate(std::size_t size, std::size_t align) {
    if (align > alignof(std::max_align_t))
      return ::operator new(size, static_cast<std::align_val_t>(align));
    return ::operator new(size);
  }
  static void heap_deallocate(void* p, std::size_t align) noexcept {
    if (align > alignof(std::max_align_t))
      ::operator delete(p, static_cast<std::align_val_t>(align));
    else
      ::operator delete(p);
  }

  std::atomic<node*> free_[class_count] = {};
  std::atomic<std::size_t> cached_[class_count] = {};
  std::atomic<std::size_t> refs_{1};
  detail::ready_queue ready_;
};

// A standard allocator over a completion_pool (what Asio sees as the handler's allocator).
template <class T>
class pool_allocator {
 public:
  using value_type = T;

  explicit pool_allocator(completion_pool* pool) noexcept : pool_(pool) {}
  template <class U>
  pool_allocator(const pool_allocator<U>& other) noexcept : pool_(other.pool()) {}

  T* allocate(std::size_t n) { return static_cast<T*>(pool_->allocate(n * sizeof(T), alignof(T))); }
  void deallocate(T* p, std::size_t n) noexcept { pool_->deallocate(p, n * sizeof(T), alignof(T)); }

  completion_pool* pool() const noexcept { return pool_; }

  template <class U>
  bool operator==(const pool_allocator<U>& o) const noexcept {
    return pool_ == o.pool();
  }
  template <class U>
  bool operator!=(const pool_allocator<U>& o) const noexcept {
    return pool_ != o.pool();
  }

 private:
  completion_pool* pool_;
};

}  // namespace amqtt::detail
