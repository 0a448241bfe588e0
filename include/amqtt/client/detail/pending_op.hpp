#pragma once
// Type-erased pending operations of the client: a completion handler (any completion token's
// handler) plus the work it keeps alive, stored until the operation finishes.
//
// The erasure is the only per-operation template code; everything else in the client is
// non-template. Memory comes from the handler's associated allocator when it has one. A handler
// with neither an allocator nor an executor of its own (a plain callback: it completes on the
// client's strand) gets its operation and its completion from the client's completion_pool
// when the strand is the concrete strand<io_context::executor_type>; otherwise from Asio's
// recycling allocator. Memory is released before the handler is invoked.
// Completion always goes through asio::post to the handler's associated executor (default: the
// client's strand), so a handler never runs inside the client's own processing and never inside
// the initiating function; completions that use the pool are posted in batches, through the
// client's ready queue (completion_runner.hpp).

#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>

#include <asio/any_io_executor.hpp>
#include <asio/associated_allocator.hpp>
#include <asio/associated_cancellation_slot.hpp>
#include <asio/associated_executor.hpp>
#include <asio/bind_allocator.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/execution/executor.hpp>
#include <asio/execution/outstanding_work.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/prefer.hpp>
#include <asio/recycling_allocator.hpp>
#include <asio/strand.hpp>

#include "amqtt/client/detail/completion_pool.hpp"
#include "amqtt/client/detail/completion_runner.hpp"
#include "amqtt/transport/transport.hpp"

namespace amqtt::detail {

using io_strand_type = io_strand_executor;  // the client's strand when concrete (transport.hpp)

// Where the client's completions go: its strand, and when that strand is a concrete
// strand<io_context::executor_type>, that strand and the pool its completions may use.
struct completion_context {
  asio::any_io_executor executor;          // the client's strand, type-erased
  const io_strand_type* strand = nullptr;  // the same strand, concrete (or null)
  completion_pool* pool = nullptr;         // non-null exactly when `strand` is
};

// A handler may use the pool when it brings no allocator and no executor of its own other
// than, possibly, an io_context strand (checked against the client's at run time).
template <class Handler>
inline constexpr bool may_use_pool_v =
    std::is_same_v<asio::associated_allocator_t<Handler>, std::allocator<void>>&&
        std::is_same_v<asio::associated_executor_t<Handler, io_strand_type>, io_strand_type>;

template <class Handler>
bool uses_pool(const Handler& h, const completion_context& ctx) noexcept {
  if constexpr (may_use_pool_v<Handler>) {
    return ctx.pool != nullptr && asio::get_associated_executor(h, *ctx.strand) == *ctx.strand;
  } else {
    (void)h;
    (void)ctx;
    return false;
  }
}

// A handler with its arguments bound, for asio::post. Forwards the handler's allocator.
template <class Handler, class... Args>
struct bound_completion {
  Handler handler;
  std::tuple<Args...> args;

  void operator()() { std::apply(std::move(handler), std::move(args)); }
};

// The allocator used for our own memory: the handler's, or the recycling allocator.
template <class Handler>
using op_proto_allocator =
    std::conditional_t<std::is_same_v<asio::associated_allocator_t<Handler>, std::allocator<void>>,
                       asio::recycling_allocator<void>, asio::associated_allocator_t<Handler>>;

template <class Handler>
op_proto_allocator<Handler> get_op_allocator(const Handler& h) noexcept {
  if constexpr (std::is_same_v<asio::associated_allocator_t<Handler>, std::allocator<void>>) {
    return asio::recycling_allocator<void>();
  } else {
    return asio::get_associated_allocator(h);
  }
}

// Posts `handler(args...)` to the handler's associated executor (default: the client's strand).
template <class Handler, class... Args>
void post_completion(const completion_context& ctx, Handler&& handler, Args&&... args) {
  using completion = bound_completion<std::decay_t<Handler>, std::decay_t<Args>...>;
  if (uses_pool(handler, ctx)) {
    enqueue_completion(ctx.pool, *ctx.strand,
                       completion{std::forward<Handler>(handler),
                                  std::tuple<std::decay_t<Args>...>(std::forward<Args>(args)...)});
    return;
  }
  auto handler_ex = asio::get_associated_executor(handler, ctx.executor);
  asio::post(handler_ex,
             completion{std::forward<Handler>(handler),
                        std::tuple<std::decay_t<Args>...>(std::forward<Args>(args)...)});
}

// Keeps outstanding work on an executor (the handler's) while an operation is pending.
template <class Executor, class = void>
class work_tracker {
 public:
  explicit work_tracker(const Executor& ex) : guard_(ex) {}
  Executor get_executor() const noexcept { return guard_.get_executor(); }

 private:
  asio::executor_work_guard<Executor> guard_;
};

template <class Executor>
class work_tracker<Executor, std::enable_if_t<asio::execution::is_executor<Executor>::value>> {
  using tracked_type = std::decay_t<decltype(asio::prefer(
      std::declval<const Executor&>(), asio::execution::outstanding_work.tracked))>;

 public:
  explicit work_tracker(const Executor& ex)
      : ex_(asio::prefer(ex, asio::execution::outstanding_work.tracked)) {}
  const tracked_type& get_executor() const noexcept { return ex_; }

 private:
  tracked_type ex_;
};

// The work an operation keeps alive while pending. An operation on the pool path completes on
// the client's concrete strand, so it counts work on the strand's io_context directly: a tracked
// io_context executor is a pointer and a counter, where a tracked any_io_executor holding the
// strand copies the strand's shared state (an atomic reference count up and down, an indirect
// call) for every operation. Other operations track their handler's executor.
template <class Handler>
class op_work {
  using handler_executor = asio::associated_executor_t<Handler, asio::any_io_executor>;
  using io_tracked =
      std::decay_t<decltype(asio::prefer(std::declval<const asio::io_context::executor_type&>(),
                                         asio::execution::outstanding_work.tracked))>;

 public:
  op_work(const Handler& handler, const completion_context& ctx, bool pool) {
    if (pool)
      io_.emplace(asio::prefer(ctx.strand->get_inner_executor(),
                               asio::execution::outstanding_work.tracked));
    else
      handler_.emplace(asio::get_associated_executor(handler, ctx.executor));
  }

  // The work, moved out when the operation completes (the operation's memory is freed before
  // the completion is posted; the work must last until then). Plain locals, not a moved
  // op_work: GCC's -Wmaybe-uninitialized misreads a moved std::optional (GCC bug 80635).
  io_tracked take_io_work() { return std::move(*io_); }
  work_tracker<handler_executor> take_handler_work() { return std::move(*handler_); }

 private:
  std::optional<io_tracked> io_;
  std::optional<work_tracker<handler_executor>> handler_;
};

// A pending operation completing with `Args...`. Linked into an intrusive list while pending.
template <class... Args>
class pending_op {
 public:
  // Posts the handler with `args` and frees this object.
  virtual void complete(Args... args) = 0;
  // Frees this object without calling the handler.
  virtual void destroy() noexcept = 0;

  std::uint64_t id = 0;        // request id / serial number
  pending_op* prev = nullptr;  // intrusive list
  pending_op* next = nullptr;
  asio::cancellation_slot slot;  // cleared before completion when connected

 protected:
  pending_op() = default;
  pending_op(const pending_op&) = delete;
  pending_op& operator=(const pending_op&) = delete;
  ~pending_op() = default;

  void clear_slot() noexcept {
    if (slot.is_connected()) slot.clear();
  }
};

template <class Handler, class... Args>
class pending_op_impl final : public pending_op<Args...> {
  using work_guard = op_work<Handler>;
  using alloc_type = typename std::allocator_traits<
      op_proto_allocator<Handler>>::template rebind_alloc<pending_op_impl>;
  using alloc_traits = std::allocator_traits<alloc_type>;

 public:
  static pending_op<Args...>* create(Handler&& handler, const completion_context& ctx,
                                     bool cancellable) {
    asio::cancellation_slot slot;
    if (cancellable) slot = asio::get_associated_cancellation_slot(handler);
    pending_op_impl* p = nullptr;
    if (uses_pool(handler, ctx)) {
      void* mem = ctx.pool->allocate(sizeof(pending_op_impl), alignof(pending_op_impl));
      try {
        p = ::new (mem) pending_op_impl(std::move(handler), ctx, true);
      } catch (...) {
        ctx.pool->deallocate(mem, sizeof(pending_op_impl), alignof(pending_op_impl));
        throw;
      }
      p->pool_ = ctx.pool;
    } else {
      alloc_type alloc(get_op_allocator(handler));
      p = alloc_traits::allocate(alloc, 1);
      try {
        ::new (static_cast<void*>(p)) pending_op_impl(std::move(handler), ctx, false);
      } catch (...) {
        alloc_traits::deallocate(alloc, p, 1);
        throw;
      }
    }
    p->slot = slot;
    return p;
  }

  void complete(Args... args) override {
    this->clear_slot();
    alloc_type alloc(get_op_allocator(handler_));  // before the handler is moved from
    Handler handler(std::move(handler_));
    completion_pool* pool = pool_;
    const io_strand_type* strand = strand_;
    using completion = bound_completion<Handler, Args...>;
    if (pool) {
      const auto work = work_.take_io_work();
      free_self(alloc);
      // The handler completes on the client's strand (checked in create()).
      enqueue_completion(pool, *strand,
                         completion{std::move(handler), std::tuple<Args...>(std::move(args)...)});
    } else {
      const auto work = work_.take_handler_work();
      free_self(alloc);
      asio::post(work.get_executor(),
                 completion{std::move(handler), std::tuple<Args...>(std::move(args)...)});
    }
  }

  void destroy() noexcept override {
    this->clear_slot();
    free_self(alloc_type(get_op_allocator(handler_)));
  }

 private:
  pending_op_impl(Handler&& handler, const completion_context& ctx, bool pool)
      : handler_(std::move(handler)), work_(handler_, ctx, pool), strand_(ctx.strand) {}
  ~pending_op_impl() = default;

  void free_self(alloc_type alloc) noexcept {
    completion_pool* pool = pool_;
    this->~pending_op_impl();
    if (pool)
      pool->deallocate(this, sizeof(pending_op_impl), alignof(pending_op_impl));
    else
      alloc_traits::deallocate(alloc, this, 1);
  }

  Handler handler_;
  work_guard work_;
  const io_strand_type* strand_;
  completion_pool* pool_ = nullptr;  // the memory came from here (and completion goes there)
};

// Erases `handler` into a pending operation. `cancellable`: keep the handler's cancellation
// slot (the client installs its canceller there).
template <class... Args, class Handler>
pending_op<Args...>* make_pending_op(Handler&& handler, const completion_context& ctx,
                                     bool cancellable = false) {
  return pending_op_impl<std::decay_t<Handler>, Args...>::create(std::forward<Handler>(handler),
                                                                 ctx, cancellable);
}

// An intrusive FIFO of pending operations; lookups by id scan from the oldest.
template <class Op>
class op_list {
 public:
  op_list() = default;
  op_list(const op_list&) = delete;
  op_list& operator=(const op_list&) = delete;

  bool empty() const noexcept { return head_ == nullptr; }
  std::size_t size() const noexcept { return size_; }

  void push_back(Op* op) noexcept {
    op->prev = tail_;
    op->next = nullptr;
    if (tail_)
      tail_->next = op;
    else
      head_ = op;
    tail_ = op;
    ++size_;
  }

  void remove(Op* op) noexcept {
    if (op->prev)
      op->prev->next = op->next;
    else
      head_ = op->next;
    if (op->next)
      op->next->prev = op->prev;
    else
      tail_ = op->prev;
    op->prev = op->next = nullptr;
    --size_;
  }

  Op* find(std::uint64_t id) const noexcept {
    for (Op* op = head_; op; op = op->next)
      if (op->id == id) return op;
    return nullptr;
  }

  // Removes and returns the operation with `id`, or nullptr.
  Op* take(std::uint64_t id) noexcept {
    Op* op = find(id);
    if (op) remove(op);
    return op;
  }

  Op* pop_front() noexcept {
    Op* op = head_;
    if (op) remove(op);
    return op;
  }

 private:
  Op* head_ = nullptr;
  Op* tail_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace amqtt::detail

namespace asio {
template <class Handler, class... Args, class Allocator>
struct associated_allocator<amqtt::detail::bound_completion<Handler, Args...>, Allocator> {
  using type = associated_allocator_t<Handler, Allocator>;
  static type get(const amqtt::detail::bound_completion<Handler, Args...>& b,
                  const Allocator& a = Allocator()) noexcept {
    return asio::get_associated_allocator(b.handler, a);
  }
};
}  // namespace asio
