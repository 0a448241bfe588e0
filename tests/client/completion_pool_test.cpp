// amqtt::detail::completion_pool: the client's memory for pending operations and completions.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include <amqtt/client/detail/completion_pool.hpp>

using amqtt::detail::completion_pool;
using amqtt::detail::pool_allocator;

namespace {

// Releases the creator's reference at scope exit.
struct pool_ref {
  completion_pool* p = completion_pool::create();
  ~pool_ref() { p->release(); }
  completion_pool* operator->() const { return p; }
};

}  // namespace

TEST_CASE("completion_pool: a freed block is reused for the same size class", "[client][pool]") {
  pool_ref pool;
  void* a = pool->allocate(48, alignof(std::max_align_t));
  pool->deallocate(a, 48, alignof(std::max_align_t));
  CHECK(pool->cached_blocks() == 1);
  void* b = pool->allocate(64, alignof(std::max_align_t));  // same class (<= 64 B)
  CHECK(b == a);
  CHECK(pool->cached_blocks() == 0);
  void* c = pool->allocate(100, alignof(std::max_align_t));  // next class: a new block
  CHECK(c != b);
  pool->deallocate(b, 64, alignof(std::max_align_t));
  pool->deallocate(c, 100, alignof(std::max_align_t));
  CHECK(pool->cached_blocks() == 2);
}

TEST_CASE("completion_pool: blocks are usable to their full size and alignment", "[client][pool]") {
  pool_ref pool;
  std::vector<std::pair<void*, std::size_t>> blocks;
  for (std::size_t size : {1u, 63u, 64u, 65u, 200u, 512u, 513u, 4000u}) {
    void* p = pool->allocate(size, alignof(std::max_align_t));
    CHECK(reinterpret_cast<std::uintptr_t>(p) % alignof(std::max_align_t) == 0);
    std::fill_n(static_cast<unsigned char*>(p), size, 0xab);  // ASan checks the bounds
    blocks.emplace_back(p, size);
  }
  void* over = pool->allocate(32, 64);  // over-aligned: from the heap, aligned
  CHECK(reinterpret_cast<std::uintptr_t>(over) % 64 == 0);
  pool->deallocate(over, 32, 64);
  for (auto [p, size] : blocks) pool->deallocate(p, size, alignof(std::max_align_t));
  // Larger than the biggest class (513, 4000) and over-aligned blocks go back to the heap.
  CHECK(pool->cached_blocks() == 6);
}

TEST_CASE("completion_pool: keeps at most max_cached_per_class free blocks per class",
          "[client][pool]") {
  pool_ref pool;
  const std::size_t n = completion_pool::max_cached_per_class + 10;
  std::vector<void*> blocks;
  for (std::size_t i = 0; i < n; ++i)
    blocks.push_back(pool->allocate(40, alignof(std::max_align_t)));
  for (void* p : blocks) pool->deallocate(p, 40, alignof(std::max_align_t));
  CHECK(pool->cached_blocks() == completion_pool::max_cached_per_class);
}

TEST_CASE("completion_pool: outstanding blocks keep the pool alive", "[client][pool]") {
  completion_pool* pool = completion_pool::create();
  pool_allocator<std::uint64_t> alloc(pool);
  std::uint64_t* p = alloc.allocate(4);
  pool->release();         // the owner goes away first (a client destroyed with completions queued)
  p[3] = 7;                // still valid memory (ASan would report a use after free)
  alloc.deallocate(p, 4);  // the last reference: the pool goes away here
}

TEST_CASE("completion_pool: one allocating thread, blocks freed concurrently by others",
          "[client][pool][threads]") {
  // The client's pattern: blocks are taken on its strand (one thread at a time) and Asio may
  // free them on any io_context thread. Bounded: 240,000 blocks, each wait bounded.
  pool_ref pool;
  constexpr int freers = 3, per_freer = 64, rounds = 1250;
  auto size_of_slot = [](std::size_t i) {
    return 24 + (i % 4) * 100;
  };  // 4 size classes
  std::vector<std::atomic<void*>> slots(freers * per_freer);
  for (auto& s : slots) s.store(nullptr);
  std::atomic<bool> stop{false};
  std::atomic<std::size_t> handed_out{0}, freed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < freers; ++t) {
    threads.emplace_back([&, t] {
      for (;;) {
        const bool stopping = stop.load(std::memory_order_acquire);
        bool any = false;
        for (int i = 0; i < per_freer; ++i) {
          const std::size_t slot = static_cast<std::size_t>(t * per_freer + i);
          if (void* p = slots[slot].exchange(nullptr)) {
            static_cast<unsigned char*>(p)[0] = 1;
            pool->deallocate(p, size_of_slot(slot), alignof(std::max_align_t));
            freed.fetch_add(1);
            any = true;
          }
        }
        if (stopping && !any) return;  // nothing more will be handed out
        if (!any) std::this_thread::yield();
      }
    });
  }
  bool timed_out = false;
  for (int r = 0; r < rounds && !timed_out; ++r) {
    for (std::size_t i = 0; i < slots.size(); ++i) {
      void* p = pool->allocate(size_of_slot(i), alignof(std::max_align_t));
      static_cast<unsigned char*>(p)[0] = 2;
      // Wait (bounded) for the freer to take the previous block in this slot.
      for (int spin = 0; slots[i].load() != nullptr && spin < 1000000; ++spin)
        std::this_thread::yield();
      if (slots[i].load() != nullptr) {
        pool->deallocate(p, size_of_slot(i), alignof(std::max_align_t));
        timed_out = true;
        break;
      }
      slots[i].store(p);
      handed_out.fetch_add(1);
    }
  }
  stop.store(true, std::memory_order_release);
  for (auto& th : threads) th.join();
  REQUIRE_FALSE(timed_out);
  CHECK(freed.load() == handed_out.load());
  CHECK(handed_out.load() == slots.size() * rounds);
  // Blocks kept: at most what was live at once (every slot plus the one being handed out) plus
  // one in transit per freeing thread (pushed while the allocator found the list empty).
  CHECK(pool->cached_blocks() <= slots.size() + 1 + freers);
}
