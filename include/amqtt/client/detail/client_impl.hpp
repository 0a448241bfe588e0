#pragma once
// The client's non-template core: the connection loop, I/O, timers and the bookkeeping of
// pending operations. Everything here runs on the client's strand. The public `client`
// (client.hpp) only erases completion handlers and hands them in here.
//
// Lifetime: client_impl is intrusively reference counted. The public client holds one
// reference; every outstanding I/O operation and timer wait holds one (through io_handler_ptr);
// every closure posted to the strand holds one. So the object stays alive while anything can
// still touch it, and goes away by itself once the client is gone and everything has completed
// (or the io_context destroyed the outstanding handlers).

#include <algorithm>
#include <atomic>
#include <cassert>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <variant>
#include <vector>

#include <asio/any_io_executor.hpp>
#include <asio/bind_allocator.hpp>
#include <asio/buffer.hpp>
#include <asio/cancellation_type.hpp>
#include <asio/error.hpp>
#include <asio/execution/context.hpp>
#include <asio/execution_context.hpp>
#include <asio/io_context.hpp>
#include <asio/query.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>

#include "amqtt/client/detail/message_queue.hpp"
#include "amqtt/client/detail/pending_op.hpp"
#include "amqtt/client/error.hpp"
#include "amqtt/client/events.hpp"
#include "amqtt/client/message.hpp"
#include "amqtt/client/options.hpp"
#include "amqtt/codec/subscription_index.hpp"
#include "amqtt/codec/topic.hpp"
#include "amqtt/protocol/error.hpp"
#include "amqtt/protocol/session.hpp"
#include "amqtt/transport/tcp.hpp"
#include "amqtt/transport/transport.hpp"

namespace amqtt::detail {

class client_impl;

struct adopt_ref_t {};
inline constexpr adopt_ref_t adopt_ref{};

// An owning, one-pointer reference to a client_impl.
class impl_ptr {
 public:
  impl_ptr() noexcept = default;
  explicit impl_ptr(client_impl* p) noexcept;                // adds a reference
  impl_ptr(client_impl* p, adopt_ref_t) noexcept : p_(p) {}  // takes over a reference
  impl_ptr(const impl_ptr& o) noexcept;
  impl_ptr(impl_ptr&& o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
  impl_ptr& operator=(impl_ptr o) noexcept {
    std::swap(p_, o.p_);
    return *this;
  }
  ~impl_ptr();

  client_impl* get() const noexcept { return p_; }
  client_impl* operator->() const noexcept { return p_; }
  client_impl& operator*() const noexcept { return *p_; }
  explicit operator bool() const noexcept { return p_ != nullptr; }

 private:
  client_impl* p_ = nullptr;
};

using run_op = pending_op<std::error_code>;
using connect_op = pending_op<std::error_code, bool>;
using void_op = pending_op<std::error_code>;  // publish, unsubscribe, disconnect, receive-into
using subscribe_op = pending_op<std::error_code, std::vector<suback_return_code>>;
using receive_op = pending_op<std::error_code, message>;

// Owned copies of the arguments of subscribe/unsubscribe: made in the initiating function, so
// the caller's strings may go away before the operation runs on the strand.
struct subscribe_request {
  std::vector<std::string> filters;
  std::vector<amqtt::qos> qos;
  std::shared_ptr<const message_handler> handler;  // optional per-subscription handler
};

struct unsubscribe_request {
  std::vector<std::string> filters;
};

// Backoff upper bound for the n-th consecutive failed round: min(max, min * 2^n).
inline std::chrono::milliseconds backoff_cap(std::chrono::milliseconds min_delay,
                                             std::chrono::milliseconds max_delay,
                                             std::size_t attempt) noexcept {
  if (min_delay.count() <= 0) return std::chrono::milliseconds(0);
  if (attempt >= 40) return max_delay;
  const auto factor = static_cast<std::chrono::milliseconds::rep>(1) << attempt;
  if (min_delay.count() > max_delay.count() / factor) return max_delay;
  return std::min(max_delay, min_delay * factor);
}

// "amqtt-" + 16 random hex digits.
inline std::string generate_client_id() {
  std::random_device rd;
  std::uint64_t v = (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
  std::mt19937_64 mix(
      v ^ static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()));
  v = mix();
  static constexpr char digits[] = "0123456789abcdef";
  std::string id = "amqtt-";
  for (int i = 15; i >= 0; --i) id.push_back(digits[(v >> (i * 4)) & 0xF]);
  return id;
}

inline session_options prepare_session_options(session_options o) {
  if (o.client_id.empty() && o.clean_session) o.client_id = generate_client_id();
  return o;
}

inline std::error_code validate_options(const client_options& o) {
  if (o.brokers.empty()) return client_errc::no_brokers;
  if (o.session.client_id.empty() && !o.session.clean_session) return client_errc::empty_client_id;
  if (o.session.keep_alive.count() < 0 || o.session.keep_alive.count() > 65535 ||
      o.connect_timeout.count() <= 0 || o.reconnect.min_delay.count() < 0 ||
      o.reconnect.max_delay < o.reconnect.min_delay || o.receive_queue_limit == 0 ||
      o.read_buffer_size == 0 || o.disconnect_linger.count() < 0 || o.session.max_inflight == 0 ||
      o.session.max_inflight > 65535)
    return client_errc::invalid_options;
  // The CONNECT these options make must be encodable (will topic, credentials, client id):
  // otherwise every attempt would fail the same way and the loop would retry forever.
  const session_options& so = o.session;
  connect_packet c;
  c.client_id = so.client_id;
  c.clean_session = so.clean_session;
  if (so.will)
    c.will = will_message{so.will->topic, so.will->payload, so.will->qos, so.will->retain};
  if (so.username) c.username = *so.username;
  if (so.password) c.password = *so.password;
  return validate_packet(c);
}

// Every client_impl of an execution context, so that the context's shutdown (io_context
// destruction) can drop the user handlers the clients hold, as Asio's own I/O objects have theirs
// destroyed by the context: pending operations live in client_impl, not in the io_context, so a
// handler that owns the client (a coroutine frame holding it, an object passing
// shared_from_this()) would otherwise keep it alive forever.
class client_registry final : public asio::execution_context::service {
 public:
  static inline asio::execution_context::id id;

  explicit client_registry(asio::execution_context& ctx) : asio::execution_context::service(ctx) {}

  void add(client_impl* c) {
    std::lock_guard<std::mutex> lock(mutex_);
    clients_.push_back(c);
  }
  void remove(client_impl* c) noexcept {
    std::lock_guard<std::mutex> lock(mutex_);
    const auto it = std::find(clients_.begin(), clients_.end(), c);
    if (it != clients_.end()) {
      *it = clients_.back();
      clients_.pop_back();
    }
  }

 private:
  void shutdown() override;

  std::mutex mutex_;
  std::vector<client_impl*> clients_;
};

class client_impl {
 public:
  // The strand, type-erased. When the executor given is an io_context's (the common case) the
  // strand wraps the concrete io_context executor: it fits any_io_executor's small buffer and
  // never queries properties through a type-erased executor, which in Asio 1.22 allocates.
  // A strand given by the user (strand<io_context::executor_type> or strand<any_io_executor>)
  // is used as is.
  using strand_type = asio::any_io_executor;
  using io_strand = io_strand_executor;  // transport.hpp
  using generic_strand = asio::strand<asio::any_io_executor>;
  using clock = std::chrono::steady_clock;

  // Which concrete strand a client_strand holds.
  enum class strand_kind { io, generic };
  struct client_strand {
    asio::any_io_executor executor;
    strand_kind kind;
  };

  // The client's strand for `ex`: `ex` itself when it is a strand, else a new strand around it.
  // Without RTTI (ASIO_NO_TYPEID) an any_io_executor cannot be asked what it holds, so the client
  // then always makes a strand<any_io_executor> around `ex`, whose type it knows (a strand given
  // by the user is wrapped rather than shared: handlers still run on it, in order). The
  // overloads for an io_context executor or strand know the type in every build.
  static client_strand make_client_strand(const asio::any_io_executor& ex) {
    if (executor_target<io_strand>(ex) != nullptr) return {ex, strand_kind::io};
    if (executor_target<generic_strand>(ex) != nullptr) return {ex, strand_kind::generic};
    if (const auto* io_ex = executor_target<asio::io_context::executor_type>(ex))
      return make_client_strand(*io_ex);
    return {asio::any_io_executor(asio::make_strand(ex)), strand_kind::generic};
  }
  static client_strand make_client_strand(const asio::io_context::executor_type& ex) {
    return {asio::any_io_executor(asio::make_strand(ex)), strand_kind::io};
  }
  static client_strand make_client_strand(const io_strand& strand) {
    return {asio::any_io_executor(strand), strand_kind::io};
  }

  client_impl(const asio::any_io_executor& ex, client_options options)
      : client_impl(make_client_strand(ex), std::move(options)) {}
  client_impl(const asio::io_context::executor_type& ex, client_options options)
      : client_impl(make_client_strand(ex), std::move(options)) {}
  client_impl(const io_strand& strand, client_options options)
      : client_impl(make_client_strand(strand), std::move(options)) {}

  // any_io_executor::target<T>() does not check T (Asio 1.22): `s.kind` says which T it holds.
  client_impl(client_strand s, client_options options)
      : strand_(std::move(s.executor)),
        io_strand_(s.kind == strand_kind::io ? strand_.target<io_strand>() : nullptr),
        generic_strand_(s.kind == strand_kind::generic ? strand_.target<generic_strand>()
                                                       : nullptr),
        completions_{strand_, io_strand_, io_strand_ ? completion_pool::create() : nullptr},
        options_(std::move(options)),
        options_error_(validate_options(options_)),
        session_(prepare_session_options(options_.session)),
        timer_(strand_),
        rng_(std::random_device{}()),
        read_h_(this),
        write_h_(this),
        connect_h_(this),
        timer_h_(this) {
    options_.session.client_id = session_.options().client_id;
    if (!options_.transport) options_.transport = &make_tcp_transport;
    registry_ = &asio::use_service<client_registry>(asio::query(strand_, asio::execution::context));
    registry_->add(this);
  }

  client_impl(const client_impl&) = delete;
  client_impl& operator=(const client_impl&) = delete;

  ~client_impl() {
    // Reached only when nothing refers to us any more: no I/O, no timer wait, no posted
    // closure. Operations still stored here are dropped without being called (their
    // io_context is going away, or they were aborted already).
    if (registry_) registry_->remove(this);
    drop_all_ops();
    // Completions still queued in the io_context keep the pool alive until they are freed.
    if (completions_.pool) completions_.pool->release();
  }

  // ---- reference counting ----------------------------------------------------------------
  void add_ref() noexcept { refs_.fetch_add(1, std::memory_order_relaxed); }
  // A reference unless the count already reached 0 (the object is being destroyed).
  bool try_add_ref() noexcept {
    std::size_t n = refs_.load(std::memory_order_relaxed);
    while (n != 0)
      if (refs_.compare_exchange_weak(n, n + 1, std::memory_order_relaxed)) return true;
    return false;
  }
  void release() noexcept {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

  // ---- threading ---------------------------------------------------------------------------
  const strand_type& strand() const noexcept { return strand_; }
  // Where completions go, and the memory pending operations and completions use.
  const completion_context& completions() const noexcept { return completions_; }
  const client_options& options() const noexcept { return options_; }

  // True when a public call may run right here: on the strand, and not from inside a callback
  // the client is running synchronously (event handler, per-subscription handler), where the
  // client is in the middle of its own processing.
  bool can_run_inline() const noexcept { return running_in_this_thread() && !in_callback_; }

  bool running_in_this_thread() const noexcept {
    return io_strand_ ? io_strand_->running_in_this_thread()
                      : generic_strand_->running_in_this_thread();
  }

  // ---- operations (on the strand) ----------------------------------------------------------

  void start_run(run_op* op) {
    if (shutdown_) return op->complete(asio::error::operation_aborted);
    if (run_op_) return op->complete(client_errc::already_running);
    if (running_ && stop_requested_) return op->complete(client_errc::disconnecting);
    if (options_error_) return op->complete(options_error_);
    op->id = ++serial_;
    install_canceller(op, cancel_kind::run);
    run_op_ = op;
    if (!running_) start_loop();
  }

  void start_connect(connect_op* op) {
    if (shutdown_) return op->complete(asio::error::operation_aborted, false);
    if (running_ && stop_requested_) return op->complete(client_errc::disconnecting, false);
    if (options_error_) return op->complete(options_error_, false);
    if (state_ == loop_state::connected && !closing_) return op->complete({}, session_present_);
    op->id = ++serial_;
    install_canceller(op, cancel_kind::connect);
    connect_ops_.push_back(op);
    if (!running_) start_loop();
  }

  void start_disconnect(void_op* op) {
    if (shutdown_) return op->complete(asio::error::operation_aborted);
    if (!running_) {
      abort_requests(asio::error::operation_aborted);
      return op->complete({});
    }
    disconnect_ops_.push_back(op);
    request_stop();
  }

  // A graceful stop of the loop (async_disconnect, or a cancelled async_run): DISCONNECT once
  // the CONNECT is out (also before the CONNACK: a broker that accepts the CONNECT would
  // otherwise publish the will), then finish_stop().
  void request_stop() {
    if (stop_requested_) return;  // already stopping: completes with the others
    stop_requested_ = true;
    if (closing_) return;  // after_close() sees stop_requested_
    switch (state_) {
      case loop_state::handshaking:
      case loop_state::connected:
        session_.disconnect(now());
        connect_deadline_.reset();
        linger_deadline_ = now() + 2 * options_.disconnect_linger + std::chrono::milliseconds(100);
        process();
        break;
      case loop_state::connecting:
        begin_close(asio::error::operation_aborted);
        break;
      case loop_state::backoff:
      case loop_state::idle:
        backoff_deadline_.reset();
        finish_stop({});
        break;
    }
  }

  // Hands a publish to the session. Returns its id, or 0 with `ec` set. The caller registers
  // its pending operation (QoS 1/2) with add_publish_op, then calls request_made().
  request_id publish(std::string_view topic, std::string_view payload, amqtt::qos q, bool retain,
                     std::error_code& ec) {
    if (shutdown_) {
      ec = asio::error::operation_aborted;
      return 0;
    }
    const request_id id = session_.publish(topic, payload, q, retain, ec);
    return ec ? 0 : id;
  }

  void add_publish_op(request_id id, void_op* op) {
    op->id = id;
    install_canceller(op, cancel_kind::publish);
    publish_ops_.push_back(op);
  }

  // A request went to the session: collect its events and write its bytes.
  void request_made() { process(); }

  void start_subscribe(subscribe_request& req, subscribe_op* op) {
    std::error_code ec;
    if (shutdown_) ec = asio::error::operation_aborted;
    request_id id = 0;
    if (!ec) {
      std::vector<subscribe_entry> entries;
      entries.reserve(req.filters.size());
      for (std::size_t i = 0; i < req.filters.size(); ++i)
        entries.push_back(subscribe_entry{req.filters[i], req.qos[i]});
      id = session_.subscribe(entries, ec);
    }
    if (ec) return op->complete(ec, std::vector<suback_return_code>{});
    op->id = id;
    if (req.handler) {
      for (const auto& f : req.filters) handlers_.insert(f, req.handler);
      pending_subscribes_.push_back(pending_subscribe{id, std::move(req.filters), req.handler});
    }
    subscribe_ops_.push_back(op);
    request_made();
  }

  void start_unsubscribe(unsubscribe_request& req, void_op* op) {
    std::error_code ec;
    if (shutdown_) ec = asio::error::operation_aborted;
    request_id id = 0;
    if (!ec) {
      std::vector<std::string_view> views(req.filters.begin(), req.filters.end());
      id = session_.unsubscribe(views, ec);
    }
    if (ec) return op->complete(ec);
    op->id = id;
    pending_unsubscribes_.push_back(pending_unsubscribe{id, std::move(req.filters)});
    unsubscribe_ops_.push_back(op);
    request_made();
  }

  // async_receive(token): completes with an owned message.
  void start_receive(receive_op* op) {
    if (shutdown_) return op->complete(asio::error::operation_aborted, message{});
    if (receive_pending()) return op->complete(client_errc::receive_pending, message{});
    if (!rx_queue_.empty()) {
      message m;
      rx_queue_.pop_into(m);
      op->complete({}, std::move(m));
      after_receive();
      return;
    }
    op->id = ++serial_;
    install_canceller(op, cancel_kind::receive);
    receive_op_ = op;
    after_receive();
  }

  // async_receive(message&, token): swaps the message into `*target` (zero-copy steady state).
  void start_receive_into(message* target, void_op* op) {
    if (shutdown_) return op->complete(asio::error::operation_aborted);
    if (receive_pending()) return op->complete(client_errc::receive_pending);
    if (!rx_queue_.empty()) {
      rx_queue_.pop_into(*target);
      op->complete({});
      after_receive();
      return;
    }
    op->id = ++serial_;
    install_canceller(op, cancel_kind::receive);
    receive_into_op_ = op;
    receive_target_ = target;
    after_receive();
  }

  void set_event_handler(event_handler h) {
    if (!shutdown_) event_handler_ = std::move(h);
  }

  // The public client is going away: abort everything, close the connection abruptly (no
  // DISCONNECT: the will is published), stop.
  void shutdown() {
    if (shutdown_) return;
    shutdown_ = true;
    stop_requested_ = true;
    event_handler_ = nullptr;
    const std::error_code aborted = asio::error::operation_aborted;
    if (run_op* op = std::exchange(run_op_, nullptr)) op->complete(aborted);
    while (connect_op* op = connect_ops_.pop_front()) op->complete(aborted, false);
    while (void_op* op = disconnect_ops_.pop_front()) op->complete(aborted);
    abort_requests(aborted);
    handlers_.clear();
    pending_subscribes_.clear();
    rx_queue_.clear();
    running_ = false;
    backoff_deadline_.reset();
    connect_deadline_.reset();
    if (transport_ && !closing_) begin_close(aborted);
    timer_.cancel();
  }

  // The execution context is shutting down (client_registry::shutdown, on the thread that
  // destroys it; nothing runs any more). Drops every user handler without calling it: pending
  // operations, the event handler, per-subscription handlers. The context destroys its own
  // handlers (I/O, timer, posted closures) after this, which releases their references.
  void on_context_shutdown() noexcept {
    registry_ = nullptr;  // it is going away
    shutdown_ = true;
    stop_requested_ = true;
    running_ = false;
    event_handler_ = nullptr;
    drop_all_ops();
    handlers_.clear();
    pending_subscribes_.clear();
    rx_queue_.clear();
  }

  // Cancellation requests (posted to the strand by the slot handlers).
  void cancel_publish(request_id id) {
    if (shutdown_ || !publish_ops_.find(id)) return;
    if (session_.cancel(id, asio::error::operation_aborted)) process();
    // else: already sent (in flight) -- cannot be recalled; completes normally.
  }

  // Cancelling async_run stops the loop as async_disconnect does; the run completes with
  // operation_aborted.
  void cancel_run(std::uint64_t serial) {
    if (shutdown_ || !run_op_ || run_op_->id != serial || !running_) return;
    run_cancelled_ = true;
    request_stop();
  }

  void cancel_connect(std::uint64_t serial) {
    if (connect_op* op = connect_ops_.take(serial))
      op->complete(asio::error::operation_aborted, false);
  }

  void cancel_receive(std::uint64_t serial) {
    if (receive_op_ && receive_op_->id == serial) {
      std::exchange(receive_op_, nullptr)->complete(asio::error::operation_aborted, message{});
    } else if (receive_into_op_ && receive_into_op_->id == serial) {
      receive_target_ = nullptr;
      std::exchange(receive_into_op_, nullptr)->complete(asio::error::operation_aborted);
    } else {
      return;
    }
    update_pause();
  }

  // ---- observability (on the strand; for tests and diagnostics) ----------------------------
  const session& get_session() const noexcept { return session_; }
  std::size_t queued_messages() const noexcept { return rx_queue_.size(); }
  bool input_paused() const noexcept { return paused_; }
  bool connected() const noexcept { return state_ == loop_state::connected && !closing_; }

 private:
  enum class loop_state { idle, connecting, handshaking, connected, backoff };
  enum class cancel_kind { publish, connect, receive, run };

  // Completion objects for transport and timer operations: one per kind, alive as long as we
  // are. retain/release keep us alive while an operation is outstanding.
  // Operation memory comes from three fixed slots per handler (one operation of each kind is
  // outstanding; while its completion is dispatched through the strand up to two more blocks
  // are live), so transport and timer I/O does not allocate; anything larger or more falls back
  // to Asio's recycling allocator. Allocation and deallocation of one handler's blocks are ordered
  // by Asio's own synchronization (they may happen on different io_context threads).
  template <void (client_impl::*Fn)(std::error_code, std::size_t)>
  class member_io_handler final : public io_handler {
   public:
    explicit member_io_handler(client_impl* self) noexcept : self_(self) {}
    void on_io(std::error_code ec, std::size_t n) override {
      // The transport contract (transport.hpp): completions run on the client's strand.
      assert(self_->running_in_this_thread() && "transport completed an operation off the strand");
      (self_->*Fn)(ec, n);
    }
    void retain() noexcept override { self_->add_ref(); }
    void release() noexcept override { self_->release(); }

    void* allocate_op(std::size_t size) override {
      if (size <= slot_size)
        for (auto& s : slots_)
          if (!s.used.exchange(true, std::memory_order_acquire)) return s.storage;
      return io_handler::allocate_op(size);
    }
    void deallocate_op(void* p, std::size_t size) noexcept override {
      for (auto& s : slots_)
        if (p == static_cast<void*>(s.storage)) {
          s.used.store(false, std::memory_order_release);
          return;
        }
      io_handler::deallocate_op(p, size);
    }

   private:
    static constexpr std::size_t slot_size = 320;
    struct slot {
      alignas(std::max_align_t) unsigned char storage[slot_size];
      std::atomic<bool> used{false};
    };
    client_impl* self_;
    slot slots_[3];
  };

  // Installed in the operation's cancellation slot. It holds no reference: one would keep the
  // client alive through the slot of an operation that only the client's destruction clears (a
  // cycle, leaked or, once the io_context is gone, destroyed too late). The slot is cleared when
  // the operation completes or is dropped, before the client goes away, so `self` is valid
  // whenever the canceller is called (Asio: a signal is not emitted concurrently with the
  // operation's completion).
  struct canceller {
    client_impl* self;
    std::uint64_t id;
    cancel_kind kind;
    void operator()(asio::cancellation_type type) const {
      if ((type & (asio::cancellation_type::terminal | asio::cancellation_type::partial |
                   asio::cancellation_type::total)) == asio::cancellation_type::none)
        return;
      asio::post(self->strand(), [self = impl_ptr(self), id = id, kind = kind] {
        switch (kind) {
          case cancel_kind::publish:
            self->cancel_publish(id);
            break;
          case cancel_kind::connect:
            self->cancel_connect(id);
            break;
          case cancel_kind::receive:
            self->cancel_receive(id);
            break;
          case cancel_kind::run:
            self->cancel_run(id);
            break;
        }
      });
    }
  };

  struct pending_subscribe {
    request_id id;
    std::vector<std::string> filters;
    std::shared_ptr<const message_handler> handler;
  };
  struct pending_unsubscribe {
    request_id id;
    std::vector<std::string> filters;
  };

  // Marks the client as running a user callback synchronously (public calls get posted).
  class callback_scope {
   public:
    explicit callback_scope(client_impl& c) noexcept : c_(c), prev_(c.in_callback_) {
      c.in_callback_ = true;
    }
    ~callback_scope() { c_.in_callback_ = prev_; }
    callback_scope(const callback_scope&) = delete;
    callback_scope& operator=(const callback_scope&) = delete;

   private:
    client_impl& c_;
    bool prev_;
  };

  template <class Op>
  void install_canceller(Op* op, cancel_kind kind) {
    if (op->slot.is_connected())
      op->slot.template emplace<canceller>(canceller{this, op->id, kind});
  }

  static steady_time now() noexcept { return clock::now(); }

  bool receive_pending() const noexcept {
    return receive_op_ != nullptr || receive_into_op_ != nullptr;
  }

  // Stop reading: the acknowledgements that input makes are piling up behind a write that does
  // not complete (a server that sends and does not read). Requests stop at max_output_bytes
  // (the packet that crosses it is still added whole: a very large publish can also reach this
  // limit, and reading then waits for the current write); the output stays below the limit plus
  // what one read can add. Reading resumes once the write completes and the output is handed out.
  // The dead-link timer keeps running: a link whose writes never complete is dead.
  bool output_backlogged() const noexcept {
    const std::size_t budget = session_.options().max_output_bytes;
    return session_.output_size() > budget + std::max<std::size_t>(budget, 64u << 10);
  }

  // Stop decoding input: the receive queue is full and nobody is receiving. Never while
  // stopping (the session must be drained then).
  bool input_blocked() const noexcept {
    return !stop_requested_ && !receive_pending() &&
           rx_queue_.size() >= options_.receive_queue_limit;
  }

  // ---- the connection loop -----------------------------------------------------------------

  void start_loop() {
    running_ = true;
    stop_requested_ = false;
    backoff_attempt_ = 0;
    round_tried_ = 0;
    start_attempt();
  }

  void start_attempt() {
    retired_transport_.reset();
    const broker_address& broker = options_.brokers[broker_index_];
    state_ = loop_state::connecting;
    try {
      transport_ = options_.transport(strand_);
    } catch (...) {
      transport_.reset();
    }
    if (!transport_) {
      emit(event::connect_failed{broker, client_errc::transport_failed});
      finish_stop(client_errc::transport_failed);
      return;
    }
    connect_deadline_ = now() + options_.connect_timeout;
    emit(event::connecting{broker});
    connecting_ = true;
    transport_->async_connect(broker.host, broker.port, connect_h_);
    rearm_timer();
  }

  void on_connect_io(std::error_code ec, std::size_t) {
    connecting_ = false;
    if (closing_) return drain_check();
    if (ec) return begin_close(ec);
    io_up_ = true;
    state_ = loop_state::handshaking;
    session_.on_connected(now());
    process();
  }

  void on_read_io(std::error_code ec, std::size_t n) {
    reading_ = false;
    if (closing_) return drain_check();
    // Disconnecting: the peer closing the connection ends it (the session still takes the
    // acknowledgements that arrive before that).
    if (ec) return begin_close(graceful_pending_ ? std::error_code{} : ec);
    const steady_time t = now();
    session_.commit_input(n, t);
    process(t);
  }

  void on_write_io(std::error_code ec, std::size_t) {
    writing_ = false;
    if (closing_) return drain_check();
    if (ec) return begin_close(graceful_pending_ ? std::error_code{} : ec);
    process();
  }

  void on_timer_io(std::error_code ec, std::size_t) {
    --timer_waits_;
    if (timer_waits_ == 0) armed_.reset();
    if (ec == asio::error::operation_aborted || shutdown_) return;
    const steady_time t = now();
    if (connect_deadline_ && t >= *connect_deadline_) {
      connect_deadline_.reset();
      begin_close(client_errc::connect_timeout);
    }
    if (linger_deadline_ && t >= *linger_deadline_) {
      linger_deadline_.reset();
      begin_close({});
    }
    if (backoff_deadline_ && t >= *backoff_deadline_) {
      backoff_deadline_.reset();
      if (running_ && state_ == loop_state::backoff && !closing_) start_attempt();
    }
    if (const auto d = session_.next_deadline(); d && t >= *d) {
      session_.on_timer(t);
      process();
    }
    rearm_timer();
  }

  // One steady_timer serves every deadline: the session's, connect timeout, backoff, linger.
  // It is re-armed only when the earliest deadline moves earlier; a wake-up for a deadline that
  // moved later just re-arms.
  void rearm_timer() {
    if (shutdown_) return;
    std::optional<steady_time> d = session_.next_deadline();
    for (const auto& x : {connect_deadline_, backoff_deadline_, linger_deadline_})
      if (x && (!d || *x < *d)) d = x;
    if (!d) return;
    if (armed_ && *armed_ <= *d) return;
    armed_ = *d;
    timer_.expires_at(*d);
    ++timer_waits_;
    io_handler_ptr h(timer_h_);
    const auto alloc = h.get_allocator();
    timer_.async_wait(
        asio::bind_allocator(alloc, [h = std::move(h)](std::error_code ec) mutable { h(ec); }));
  }

  void maybe_read() {
    if (reading_ || !io_up_ || closing_ || !transport_) return;
    // After disconnect() the session decodes acknowledgements only (no message, no output),
    // and reading is how the broker's close is seen: once the DISCONNECT was handed out, read
    // even when the output is backlogged (the receive queue never blocks while stopping).
    if (!session_.wants_input()) return;
    if (!graceful_pending_ && (input_blocked() || output_backlogged())) return;
    std::uint8_t* p = session_.prepare_input(options_.read_buffer_size);
    reading_ = true;
    transport_->async_read_some(asio::buffer(p, options_.read_buffer_size), read_h_);
  }

  bool flush_output(steady_time t) {
    if (writing_ || !io_up_ || closing_ || !transport_ || !session_.has_output()) return false;
    session_.take_output(out_buf_, t);
    if (out_buf_.empty()) return false;
    writing_ = true;
    transport_->async_write(asio::buffer(out_buf_), write_h_);
    return true;
  }

  // Drives the session: events until none is left (or input is blocked), output, reads, timer.
  // The clock is read once per round, not per session call (that was a few percent of the
  // client's CPU time under load; docs/benchmarks.md).
  void process() {
    if (processing_) {
      reprocess_ = true;
      return;
    }
    process(now());
  }
  void process(steady_time t) {
    if (processing_) {
      reprocess_ = true;
      return;
    }
    {
      struct guard {
        bool& b;
        ~guard() { b = false; }
      } g{processing_};
      processing_ = true;
      bool first_round = true;
      do {
        if (!std::exchange(first_round, false)) t = now();
        reprocess_ = false;
        poll_events(t);
        if (flush_output(t)) reprocess_ = true;
        if (graceful_pending_ && !lingering_ && !writing_ && !session_.has_output() && io_up_ &&
            !closing_) {
          lingering_ = true;
          linger_deadline_ = t + options_.disconnect_linger;
        }
      } while (reprocess_);
    }
    update_pause();
    maybe_read();
    rearm_timer();
  }

  // Polls until the session has nothing more. While input is blocked (receive queue full) the
  // session's queued events (request completions, close) are still collected, but at most one
  // more message is decoded per call: poll() returns queued events before decoding input, and
  // no new input is read while blocked, so the overshoot is bounded by the bytes already read.
  void poll_events(steady_time t) {
    while (!closing_) {
      const bool blocked = input_blocked();
      session_event ev = session_.poll(t);
      if (std::holds_alternative<std::monostate>(ev)) break;
      const bool is_message = std::holds_alternative<message_event>(ev);
      std::visit([this](auto& e) { on_event(e); }, ev);
      if (blocked && is_message) break;
    }
  }

  void update_pause() {
    const bool want = input_blocked() && !closing_ && io_up_;
    if (want == paused_) return;
    paused_ = want;
    session_.set_input_paused(want, now());
  }

  void after_receive() {
    if (paused_ && !input_blocked())
      process();
    else
      update_pause();
  }

  // ---- session events ----------------------------------------------------------------------

  void on_event(std::monostate&) {}

  void on_event(connected_event& e) {
    state_ = loop_state::connected;
    session_present_ = e.session_present;
    connect_deadline_.reset();
    backoff_attempt_ = 0;
    round_tried_ = 0;
    while (connect_op* op = connect_ops_.pop_front()) op->complete({}, e.session_present);
    emit(event::connected{options_.brokers[broker_index_], e.session_present});
  }

  void on_event(message_event& e) {
    const publish_packet& p = e.message;
    const message_view view(p.topic, p.payload, p.qos, p.retain, p.dup);
    if (shutdown_) return;
    if (!handlers_.empty()) {
      bool handled = false;
      callback_scope scope(*this);
      handlers_.match(view.topic, [&](const std::shared_ptr<const message_handler>& h) {
        handled = true;
        if (*h) (*h)(view);
      });
      if (handled) return;
    }
    if (rx_queue_.empty()) {
      if (receive_op_) {
        message m = view.to_message();
        std::exchange(receive_op_, nullptr)->complete({}, std::move(m));
        return;
      }
      if (receive_into_op_) {
        message& out = *std::exchange(receive_target_, nullptr);
        out.topic.assign(view.topic.data(), view.topic.size());
        out.payload.assign(view.payload.data(), view.payload.size());
        out.qos = view.qos;
        out.retain = view.retain;
        out.dup = view.dup;
        std::exchange(receive_into_op_, nullptr)->complete({});
        return;
      }
    }
    rx_queue_.push(view);
  }

  void on_event(publish_done_event& e) {
    if (void_op* op = publish_ops_.take(e.id)) op->complete(e.error);
  }

  void on_event(subscribe_done_event& e) {
    for (auto it = pending_subscribes_.begin(); it != pending_subscribes_.end(); ++it) {
      if (it->id != e.id) continue;
      // Drop the handler of every filter the broker refused (or all, on error), unless it has
      // been replaced since.
      for (std::size_t i = 0; i < it->filters.size(); ++i) {
        const bool failed =
            e.error || i >= e.results.size() || e.results[i] == suback_return_code::failure;
        if (!failed) continue;
        auto* current = handlers_.find(it->filters[i]);
        if (current && *current == it->handler) handlers_.erase(it->filters[i]);
      }
      pending_subscribes_.erase(it);
      break;
    }
    if (subscribe_op* op = subscribe_ops_.take(e.id)) op->complete(e.error, std::move(e.results));
  }

  void on_event(unsubscribe_done_event& e) {
    for (auto it = pending_unsubscribes_.begin(); it != pending_unsubscribes_.end(); ++it) {
      if (it->id != e.id) continue;
      if (!e.error)
        for (const auto& f : it->filters) handlers_.erase(f);
      pending_unsubscribes_.erase(it);
      break;
    }
    if (void_op* op = unsubscribe_ops_.take(e.id)) op->complete(e.error);
  }

  void on_event(resubscribed_event& e) { emit(event::resubscribed{std::move(e.filter), e.result}); }

  void on_event(close_event& e) {
    if (!e.reason) {
      graceful_pending_ = true;  // DISCONNECT handed out: close once it is written
      return;
    }
    begin_close(e.reason);
  }

  // ---- closing -----------------------------------------------------------------------------

  void begin_close(std::error_code reason) {
    if (closing_ || !transport_) return;
    closing_ = true;
    close_reason_ = reason;
    io_up_ = false;
    graceful_pending_ = false;
    lingering_ = false;
    connect_deadline_.reset();
    linger_deadline_.reset();
    transport_->close();
    drain_check();
  }

  // The transport is closed; once its outstanding operations have completed, the session is
  // told and the loop decides what comes next.
  void drain_check() {
    if (!closing_ || connecting_ || reading_ || writing_) return;
    closing_ = false;
    // Destroyed at the next attempt, which always starts from a handler of its own (the timer,
    // or post_next_attempt), never inside this transport's completion handler.
    retired_transport_ = std::move(transport_);
    const bool was_connected = state_ == loop_state::connected;
    const std::error_code reason = close_reason_;
    state_ = loop_state::idle;
    if (paused_) {
      paused_ = false;
      session_.set_input_paused(false, now());
    }
    session_.on_disconnected(reason, now());
    if (!shutdown_) {
      if (was_connected)
        emit(event::disconnected{reason});
      else if (!stop_requested_)
        emit(event::connect_failed{options_.brokers[broker_index_], reason});
    }
    process();
    after_close(reason, was_connected);
  }

  void after_close(std::error_code reason, bool was_connected) {
    if (shutdown_ || !running_) return;
    if (stop_requested_) return finish_stop({});
    if (is_permanent_refusal(reason)) return finish_stop(reason);
    if (!was_connected) {
      broker_index_ = (broker_index_ + 1) % options_.brokers.size();
      if (++round_tried_ < options_.brokers.size()) return post_next_attempt();
    }
    round_tried_ = 0;
    if (!options_.reconnect.enabled) return finish_stop(reason);
    schedule_backoff();
  }

  // The next broker of the round, from a fresh handler: this one may be running inside the
  // completion handler of the transport it is about to destroy. Until it runs the loop is idle
  // (a disconnect in between stops it at once; an attempt started meanwhile makes it a no-op).
  void post_next_attempt() {
    asio::post(strand(), [self = impl_ptr(this)] {
      if (self->running_ && !self->shutdown_ && !self->closing_ &&
          self->state_ == loop_state::idle && !self->transport_)
        self->start_attempt();
    });
  }

  void schedule_backoff() {
    const auto cap =
        backoff_cap(options_.reconnect.min_delay, options_.reconnect.max_delay, backoff_attempt_);
    std::uniform_int_distribution<std::chrono::milliseconds::rep> dist(0, cap.count());
    const std::chrono::milliseconds delay(dist(rng_));
    ++backoff_attempt_;
    state_ = loop_state::backoff;
    backoff_deadline_ = now() + delay;
    emit(event::reconnect_scheduled{delay, backoff_attempt_});
    rearm_timer();
  }

  // The loop ends: reason empty for a requested stop.
  void finish_stop(std::error_code reason) {
    running_ = false;
    stop_requested_ = false;
    state_ = loop_state::idle;
    backoff_deadline_.reset();
    connect_deadline_.reset();
    linger_deadline_.reset();
    const std::error_code op_error =
        reason ? reason : make_error_code(asio::error::operation_aborted);
    const bool run_cancelled = std::exchange(run_cancelled_, false);
    if (run_op* op = std::exchange(run_op_, nullptr))
      op->complete(run_cancelled && !reason ? make_error_code(asio::error::operation_aborted)
                                            : reason);
    while (connect_op* op = connect_ops_.pop_front()) op->complete(op_error, false);
    abort_requests(op_error);
    while (void_op* op = disconnect_ops_.pop_front()) op->complete({});
    emit(event::stopped{reason});
  }

  // Fails every publish/subscribe/unsubscribe and the pending receive with `ec`.
  void abort_requests(std::error_code ec) {
    session_.abort_all(ec);
    {
      // Collect the done-events abort_all produced (and anything decodable before them).
      const bool prev = stop_requested_;
      stop_requested_ = true;  // poll regardless of the receive queue
      process();
      stop_requested_ = prev;
    }
    while (void_op* op = publish_ops_.pop_front()) op->complete(ec);
    while (subscribe_op* op = subscribe_ops_.pop_front())
      op->complete(ec, std::vector<suback_return_code>{});
    while (void_op* op = unsubscribe_ops_.pop_front()) op->complete(ec);
    for (const auto& s : pending_subscribes_)
      for (const auto& f : s.filters) {
        auto* current = handlers_.find(f);
        if (current && *current == s.handler) handlers_.erase(f);
      }
    pending_subscribes_.clear();
    pending_unsubscribes_.clear();
    if (receive_op_) std::exchange(receive_op_, nullptr)->complete(ec, message{});
    if (receive_into_op_) {
      receive_target_ = nullptr;
      std::exchange(receive_into_op_, nullptr)->complete(ec);
    }
    update_pause();
  }

  void drop_all_ops() noexcept {
    if (run_op_) std::exchange(run_op_, nullptr)->destroy();
    if (receive_op_) std::exchange(receive_op_, nullptr)->destroy();
    if (receive_into_op_) std::exchange(receive_into_op_, nullptr)->destroy();
    while (auto* op = connect_ops_.pop_front()) op->destroy();
    while (auto* op = disconnect_ops_.pop_front()) op->destroy();
    while (auto* op = publish_ops_.pop_front()) op->destroy();
    while (auto* op = subscribe_ops_.pop_front()) op->destroy();
    while (auto* op = unsubscribe_ops_.pop_front()) op->destroy();
  }

  template <class Event>
  void emit(Event&& e) {
    if (!event_handler_ || shutdown_) return;
    const client_event ce(std::forward<Event>(e));
    callback_scope scope(*this);
    event_handler_(ce);
  }

  // ---- data --------------------------------------------------------------------------------
  std::atomic<std::size_t> refs_{1};
  client_registry* registry_ = nullptr;  // null once the context shut down
  strand_type strand_;
  const io_strand* io_strand_;  // the concrete strand inside strand_ (one of these)
  const generic_strand* generic_strand_;
  completion_context completions_;
  client_options options_;
  std::error_code options_error_;
  session session_;
  asio::steady_timer timer_;
  std::minstd_rand rng_;

  member_io_handler<&client_impl::on_read_io> read_h_;
  member_io_handler<&client_impl::on_write_io> write_h_;
  member_io_handler<&client_impl::on_connect_io> connect_h_;
  member_io_handler<&client_impl::on_timer_io> timer_h_;

  std::unique_ptr<transport> transport_;
  std::unique_ptr<transport> retired_transport_;
  std::vector<std::uint8_t> out_buf_;

  // loop
  loop_state state_ = loop_state::idle;
  bool running_ = false;
  bool stop_requested_ = false;
  bool shutdown_ = false;
  bool closing_ = false;
  bool io_up_ = false;
  bool connecting_ = false;
  bool reading_ = false;
  bool writing_ = false;
  bool graceful_pending_ = false;  // DISCONNECT handed out (stays set while lingering)
  bool lingering_ = false;         // DISCONNECT written: waiting for the peer to close
  bool paused_ = false;
  bool processing_ = false;
  bool reprocess_ = false;
  bool in_callback_ = false;
  bool session_present_ = false;
  std::error_code close_reason_;
  std::size_t broker_index_ = 0;
  std::size_t round_tried_ = 0;
  std::size_t backoff_attempt_ = 0;
  std::uint64_t serial_ = 0;

  // deadlines
  std::optional<steady_time> connect_deadline_;
  std::optional<steady_time> backoff_deadline_;
  std::optional<steady_time> linger_deadline_;
  std::optional<steady_time> armed_;
  std::size_t timer_waits_ = 0;

  // pending operations
  run_op* run_op_ = nullptr;
  bool run_cancelled_ = false;  // async_run was cancelled: it completes with operation_aborted
  op_list<connect_op> connect_ops_;
  op_list<void_op> disconnect_ops_;
  op_list<void_op> publish_ops_;
  op_list<subscribe_op> subscribe_ops_;
  op_list<void_op> unsubscribe_ops_;
  receive_op* receive_op_ = nullptr;
  void_op* receive_into_op_ = nullptr;
  message* receive_target_ = nullptr;

  // messages
  message_queue rx_queue_;
  subscription_index<std::shared_ptr<const message_handler>> handlers_;
  std::vector<pending_subscribe> pending_subscribes_;
  std::vector<pending_unsubscribe> pending_unsubscribes_;
  event_handler event_handler_;
};

inline impl_ptr::impl_ptr(client_impl* p) noexcept : p_(p) {
  if (p_) p_->add_ref();
}
inline impl_ptr::impl_ptr(const impl_ptr& o) noexcept : p_(o.p_) {
  if (p_) p_->add_ref();
}
inline impl_ptr::~impl_ptr() {
  if (p_) p_->release();
}

inline void client_registry::shutdown() {
  // Take a reference to each live client under the lock (one being destroyed removes itself),
  // then run the hooks without it: dropping a handler may destroy a client, which removes
  // itself from here.
  std::vector<impl_ptr> live;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<client_impl*> rest;
    for (client_impl* c : clients_) {
      if (c->try_add_ref())
        live.emplace_back(c, adopt_ref);
      else
        rest.push_back(c);
    }
    clients_.swap(rest);
  }
  for (const impl_ptr& c : live) c->on_context_shutdown();
}

}  // namespace amqtt::detail
