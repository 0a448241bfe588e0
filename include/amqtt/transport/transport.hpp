#pragma once
// The byte-stream transport the client talks MQTT over.
//
// The client owns one transport object per connection attempt and creates it with a
// transport_factory, so a stream that cannot be reused after close (TLS) is simply made anew for
// every reconnect. Plain TCP lives in transport/tcp.hpp; TLS plugs in the same way.
//
// Completion handlers are not templates: each operation takes a reference to a long-lived
// io_handler owned by the caller (the client keeps one per kind of operation). An implementation
// wraps it in io_handler_ptr, a one-pointer completion handler, so with Asio's recycling
// allocator an I/O operation allocates nothing in steady state.
//
// Contract between the client and a transport implementation:
//  * the transport is created with the client's executor (a strand); every handler is invoked
//    through it, and never from inside the initiating call;
//  * at most one async_connect, one async_read_some and one async_write are outstanding at once;
//  * buffers passed in stay valid until their operation completes;
//  * close() may be called at any time (from the executor): it cancels outstanding operations,
//    which then complete (usually with asio::error::operation_aborted). A transport is never
//    reused after close(), and the client destroys it only after every outstanding operation has
//    completed;
//  * io_handler_ptr keeps the handler's owner alive (retain/release) while an operation is
//    outstanding; implementations must hold one for every operation they accept.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <typeinfo>
#include <utility>

#include <asio/any_io_executor.hpp>
#include <asio/buffer.hpp>
#include <asio/io_context.hpp>
#include <asio/recycling_allocator.hpp>
#include <asio/strand.hpp>

namespace amqtt {

// Receives the completion of one transport operation.
class io_handler {
 public:
  // `bytes`: bytes transferred (0 for connect).
  virtual void on_io(std::error_code ec, std::size_t bytes) = 0;
  // Lifetime hooks: an io_handler_ptr retains its handler for as long as it exists. The default
  // does nothing (for handlers whose owner outlives the transport by other means).
  virtual void retain() noexcept {}
  virtual void release() noexcept {}
  // Memory for the Asio operation that carries this handler (io_handler_ptr's associated
  // allocator). The default is Asio's per-thread recycling allocator.
  virtual void* allocate_op(std::size_t size) {
    return asio::recycling_allocator<std::max_align_t>().allocate(chunks(size));
  }
  virtual void deallocate_op(void* p, std::size_t size) noexcept {
    asio::recycling_allocator<std::max_align_t>().deallocate(static_cast<std::max_align_t*>(p),
                                                             chunks(size));
  }

 protected:
  static std::size_t chunks(std::size_t size) noexcept {
    return (size + sizeof(std::max_align_t) - 1) / sizeof(std::max_align_t);
  }

  io_handler() = default;
  io_handler(const io_handler&) = default;
  io_handler& operator=(const io_handler&) = default;
  ~io_handler() = default;
};

// The allocator associated with io_handler_ptr: operation memory comes from the io_handler.
template <class T>
class io_handler_allocator {
 public:
  using value_type = T;
  explicit io_handler_allocator(io_handler* h) noexcept : h_(h) {}
  template <class U>
  io_handler_allocator(const io_handler_allocator<U>& o) noexcept : h_(o.handler()) {}  // NOLINT

  T* allocate(std::size_t n) {
    static_assert(alignof(T) <= alignof(std::max_align_t), "over-aligned operation");
    return static_cast<T*>(h_->allocate_op(n * sizeof(T)));
  }
  void deallocate(T* p, std::size_t n) noexcept { h_->deallocate_op(p, n * sizeof(T)); }

  io_handler* handler() const noexcept { return h_; }
  template <class U>
  bool operator==(const io_handler_allocator<U>& o) const noexcept {
    return h_ == o.handler();
  }
  template <class U>
  bool operator!=(const io_handler_allocator<U>& o) const noexcept {
    return h_ != o.handler();
  }

 private:
  io_handler* h_;
};

// A one-pointer, move-only Asio completion handler calling an io_handler. Retains the handler
// while it exists; callable once. Its associated allocator takes operation memory from the
// io_handler.
class io_handler_ptr {
 public:
  using allocator_type = io_handler_allocator<void>;
  allocator_type get_allocator() const noexcept { return allocator_type(h_); }

  explicit io_handler_ptr(io_handler& h) noexcept : h_(&h) { h_->retain(); }
  io_handler_ptr(io_handler_ptr&& other) noexcept : h_(std::exchange(other.h_, nullptr)) {}
  io_handler_ptr& operator=(io_handler_ptr&& other) noexcept {
    if (this != &other) {
      reset();
      h_ = std::exchange(other.h_, nullptr);
    }
    return *this;
  }
  io_handler_ptr(const io_handler_ptr&) = delete;
  io_handler_ptr& operator=(const io_handler_ptr&) = delete;
  ~io_handler_ptr() { reset(); }

  explicit operator bool() const noexcept { return h_ != nullptr; }

  void operator()(std::error_code ec, std::size_t bytes = 0) {
    io_handler_ptr self(std::move(*this));  // released after the call
    self.h_->on_io(ec, bytes);
  }

  void reset() noexcept {
    if (io_handler* h = std::exchange(h_, nullptr)) h->release();
  }

 private:
  io_handler* h_;
};

class transport {
 public:
  virtual ~transport() = default;

  // Resolves `host` and connects to `port`, trying each resolved endpoint in turn (and, for
  // transports with a handshake such as TLS, performs it). Completes with bytes = 0.
  virtual void async_connect(const std::string& host, std::uint16_t port, io_handler& handler) = 0;

  // Reads at least one byte into `buffer` (or fails: asio::error::eof when the peer closed).
  virtual void async_read_some(asio::mutable_buffer buffer, io_handler& handler) = 0;

  // Writes the whole buffer, or fails.
  virtual void async_write(asio::const_buffer buffer, io_handler& handler) = 0;

  // Closes the stream abruptly and cancels outstanding operations. Idempotent.
  virtual void close() noexcept = 0;
};

// The client's strand as the concrete strand<io_context::executor_type>, when it is one (a client
// constructed from an io_context). A transport binds its completion handlers to it
// (asio::bind_executor): Asio then dispatches each completion through the concrete strand with
// the handler's allocator, instead of through any_io_executor, which wraps every completion in a
// type-erased function taken from Asio's per-thread cache (or the heap when that is empty).
using io_strand_executor = asio::strand<asio::io_context::executor_type>;

// `ex`'s target when it is a T, else null. (any_io_executor::target<T>() does not check the
// type in Asio 1.22.)
template <class T>
const T* executor_target(const asio::any_io_executor& ex) noexcept {
#if !defined(ASIO_NO_TYPEID)
  if (ex && ex.target_type() == typeid(T)) return ex.target<T>();
#else
  (void)ex;
#endif
  return nullptr;
}

inline std::optional<io_strand_executor> concrete_io_strand(const asio::any_io_executor& ex) {
  if (const auto* s = executor_target<io_strand_executor>(ex)) return *s;
  return std::nullopt;
}

// The executor a transport gives its socket. When the client's executor is the concrete strand,
// the socket gets the strand's io_context executor: every read and write handler is bound to the
// strand anyway, and an I/O object whose executor is a strand inside any_io_executor makes Asio
// take an extra work-tracking copy of the type-erased strand for each operation (a shared_ptr
// reference count up and down, an indirect call). Handlers that are not bound explicitly (connect,
// handshake) must then be bound to the client's executor.
inline asio::any_io_executor socket_executor(const asio::any_io_executor& ex) {
  if (const auto* s = executor_target<io_strand_executor>(ex)) return s->get_inner_executor();
  return ex;
}

// Creates the transport for one connection attempt. The executor is the client's strand: every
// completion handler the transport calls must run on it (the transport's I/O objects use it, or
// use socket_executor(ex) and bind each handler to the strand).
using transport_factory = std::function<std::unique_ptr<transport>(const asio::any_io_executor&)>;

}  // namespace amqtt
