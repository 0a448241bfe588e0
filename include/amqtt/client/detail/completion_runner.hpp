#pragma once
// Completions on the client's strand, run in batches.
//
// A completion whose handler runs on the client's strand and may use the completion pool
// (pending_op.hpp) is not posted to the strand on its own: it joins the client's ready queue,
// and one posted runner runs the queue in order. A completion queued while the runner is running
// (the usual case in a loop: a handler calls async_receive or async_publish again and that
// completes at once) runs in the same turn, right after the handler that queued it returned,
// instead of in a later turn of the io_context. That saves a trip through the io_context's
// queue per completion, and with it the reactor poll (an epoll_wait system call) that the
// scheduler makes between queued handlers: about one system call per message in such a loop
// (docs/benchmarks.md). At most max_completions_per_turn run per turn; then the runner is posted
// again, so other handlers of the io_context are not held up for long.
//
// What a user can observe: handlers still run on the strand, one at a time, in the order the
// client completed them, never inside an initiating function; a handler the user posts to the
// client's strand may run after client completions that became ready after the post, within
// one turn (as with any handler the strand runs back to back).
//
// On the client's strand only, except the destruction of a runner that never ran (its
// io_context is being destroyed), when nothing else runs.

#include <cstddef>
#include <new>
#include <type_traits>
#include <utility>

#include <asio/bind_allocator.hpp>
#include <asio/post.hpp>

#include "amqtt/client/detail/completion_pool.hpp"
#include "amqtt/client/detail/ready_queue.hpp"
#include "amqtt/transport/transport.hpp"

namespace amqtt::detail {

inline constexpr std::size_t max_completions_per_turn = 64;

// A queued completion: a nullary callable (the handler with its arguments bound) in pool memory.
template <class Completion>
class ready_completion_impl final : public ready_completion {
 public:
  static ready_completion* create(completion_pool* pool, Completion&& c) {
    void* mem = pool->allocate(sizeof(ready_completion_impl), alignof(ready_completion_impl));
    try {
      return ::new (mem) ready_completion_impl(pool, std::move(c));
    } catch (...) {
      pool->deallocate(mem, sizeof(ready_completion_impl), alignof(ready_completion_impl));
      throw;
    }
  }

  void run() override {
    Completion c(std::move(completion_));
    free_self();
    c();
  }
  void discard() noexcept override { free_self(); }

 private:
  ready_completion_impl(completion_pool* pool, Completion&& c)
      : completion_(std::move(c)), pool_(pool) {}
  ~ready_completion_impl() = default;

  void free_self() noexcept {
    completion_pool* pool = pool_;
    this->~ready_completion_impl();
    pool->deallocate(this, sizeof(ready_completion_impl), alignof(ready_completion_impl));
  }

  Completion completion_;
  completion_pool* pool_;
};

inline void post_completion_runner(completion_pool* pool, const io_strand_executor& strand);

// The handler posted to the strand to run the ready queue. Holds a pool reference.
class completion_runner {
 public:
  completion_runner(completion_pool* pool, const io_strand_executor& strand) noexcept
      : pool_(pool), strand_(strand) {
    pool_->add_ref();
  }
  completion_runner(completion_runner&& other) noexcept
      : pool_(std::exchange(other.pool_, nullptr)), strand_(std::move(other.strand_)) {}
  completion_runner(const completion_runner&) = delete;
  completion_runner& operator=(const completion_runner&) = delete;
  completion_runner& operator=(completion_runner&&) = delete;

  ~completion_runner() {
    if (pool_ == nullptr) return;  // moved from, or ran
    // Destroyed without running: the io_context is going away with it queued.
    ready_queue& q = pool_->ready();
    q.runner_posted = false;
    q.discard_all();
    pool_->release();
  }

  void operator()() {
    completion_pool* const pool = std::exchange(pool_, nullptr);
    ready_queue& q = pool->ready();
    q.runner_posted = false;
    q.running = true;
    try {
      for (std::size_t n = 0; n < max_completions_per_turn; ++n) {
        ready_completion* c = q.pop();
        if (c == nullptr) break;
        c->run();  // may queue more: they run in this turn
      }
    } catch (...) {  // a handler threw: it propagates out of io_context::run(), as with post
      end_turn(pool);
      throw;
    }
    end_turn(pool);
  }

 private:
  void end_turn(completion_pool* pool) {
    ready_queue& q = pool->ready();
    q.running = false;
    struct release_on_exit {
      completion_pool* pool;
      ~release_on_exit() { pool->release(); }
    } release{pool};
    if (!q.empty()) post_completion_runner(pool, strand_);  // the rest, in a later turn
  }

  completion_pool* pool_;
  io_strand_executor strand_;
};

inline void post_completion_runner(completion_pool* pool, const io_strand_executor& strand) {
  ready_queue& q = pool->ready();
  q.runner_posted = true;
  try {
    asio::post(strand,
               asio::bind_allocator(pool_allocator<void>(pool), completion_runner(pool, strand)));
  } catch (...) {
    q.runner_posted = false;
    throw;
  }
}

// Queues `completion` (a nullary callable) to run on `strand`, the client's. On the strand.
template <class Completion>
void enqueue_completion(completion_pool* pool, const io_strand_executor& strand,
                        Completion&& completion) {
  using node = ready_completion_impl<std::decay_t<Completion>>;
  ready_queue& q = pool->ready();
  // Post the runner first: if that throws, nothing was queued (the completion is lost with
  // the exception, as when asio::post throws).
  if (!q.running && !q.runner_posted) post_completion_runner(pool, strand);
  q.push(node::create(pool, std::forward<Completion>(completion)));
}

}  // namespace amqtt::detail
