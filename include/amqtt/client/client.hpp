#pragma once
// amqtt::client: an MQTT 3.1.1 client on standalone Asio.
//
//   asio::io_context io;
//   amqtt::client_options o;
//   o.brokers = {{"test.mosquitto.org", 1883}};
//   amqtt::client c(io, o);
//   c.async_connect([&](std::error_code ec, bool session_present) { ... });
//   c.async_publish("a/b", "hello", amqtt::qos::at_least_once, [](std::error_code ec) { ... });
//   io.run();
//
// Every async_* function accepts any Asio completion token: a callback, asio::use_future,
// asio::use_awaitable (C++20), asio::experimental::deferred, ... Handlers run on their associated
// executor, by default the client's strand (get_executor()), never inside the initiating call
// and never inside the client's own processing, so a handler may call the client freely.
//
// Threading: every member function may be called from any thread. Work runs on an internal
// strand: a call made on the strand (e.g. from a completion handler) runs at once; from any
// other thread its arguments are copied and the call is posted to the strand.
//
// See docs/client.md for the connection lifecycle, reconnects, flow control and errors.

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <asio/any_io_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/strand.hpp>

#include "amqtt/client/detail/client_impl.hpp"
#include "amqtt/client/detail/pending_op.hpp"
#include "amqtt/client/error.hpp"
#include "amqtt/client/events.hpp"
#include "amqtt/client/message.hpp"
#include "amqtt/client/options.hpp"
#include "amqtt/codec/packets.hpp"

namespace amqtt {

namespace detail {

// Runs f(client_impl&) on the strand: at once when allowed, else posted (f owns its data).
template <class F>
void on_strand(const impl_ptr& impl, F&& f) {
  if (impl->can_run_inline()) {
    f(*impl);
  } else {
    asio::post(impl->strand(), [ref = impl, fn = std::forward<F>(f)]() mutable { fn(*ref); });
  }
}

struct initiate_run {
  impl_ptr impl;
  template <class Handler>
  void operator()(Handler&& handler) const {
    on_strand(impl, [h = std::forward<Handler>(handler)](client_impl& c) mutable {
      c.start_run(make_pending_op<std::error_code>(std::move(h), c.completions(), true));
    });
  }
};

struct initiate_connect {
  impl_ptr impl;
  template <class Handler>
  void operator()(Handler&& handler) const {
    on_strand(impl, [h = std::forward<Handler>(handler)](client_impl& c) mutable {
      c.start_connect(make_pending_op<std::error_code, bool>(std::move(h), c.completions(), true));
    });
  }
};

struct initiate_disconnect {
  impl_ptr impl;
  template <class Handler>
  void operator()(Handler&& handler) const {
    on_strand(impl, [h = std::forward<Handler>(handler)](client_impl& c) mutable {
      c.start_disconnect(make_pending_op<std::error_code>(std::move(h), c.completions()));
    });
  }
};

template <class Handler>
void publish_on_strand(client_impl& c, Handler&& handler, std::string_view topic,
                       std::string_view payload, amqtt::qos q, bool retain) {
  std::error_code ec;
  const request_id id = c.publish(topic, payload, q, retain, ec);
  if (ec || q == amqtt::qos::at_most_once) {
    // Handed to the session (or refused): complete now. No allocation beyond the post, which
    // uses the handler's allocator (recycling by default).
    post_completion(c.completions(), std::forward<Handler>(handler), ec);
  } else {
    c.add_publish_op(id, make_pending_op<std::error_code>(std::forward<Handler>(handler),
                                                          c.completions(), true));
  }
  if (!ec) c.request_made();
}

struct initiate_publish {
  impl_ptr impl;
  template <class Handler>
  void operator()(Handler&& handler, std::string_view topic, std::string_view payload, amqtt::qos q,
                  bool retain) const {
    client_impl& c = *impl;
    if (c.can_run_inline()) {
      publish_on_strand(c, std::forward<Handler>(handler), topic, payload, q, retain);
      return;
    }
    asio::post(c.strand(), [ref = impl, h = std::forward<Handler>(handler), t = std::string(topic),
                            p = std::string(payload), q, retain]() mutable {
      publish_on_strand(*ref, std::move(h), t, p, q, retain);
    });
  }
};

struct initiate_subscribe {
  impl_ptr impl;
  template <class Handler>
  void operator()(Handler&& handler, subscribe_request req) const {
    on_strand(
        impl, [h = std::forward<Handler>(handler), r = std::move(req)](client_impl& c) mutable {
          c.start_subscribe(r, make_pending_op<std::error_code, std::vector<suback_return_code>>(
                                   std::move(h), c.completions()));
        });
  }
};

struct initiate_unsubscribe {
  impl_ptr impl;
  template <class Handler>
  void operator()(Handler&& handler, unsubscribe_request req) const {
    on_strand(
        impl, [h = std::forward<Handler>(handler), r = std::move(req)](client_impl& c) mutable {
          c.start_unsubscribe(r, make_pending_op<std::error_code>(std::move(h), c.completions()));
        });
  }
};

struct initiate_receive {
  impl_ptr impl;
  template <class Handler>
  void operator()(Handler&& handler) const {
    on_strand(impl, [h = std::forward<Handler>(handler)](client_impl& c) mutable {
      c.start_receive(
          make_pending_op<std::error_code, message>(std::move(h), c.completions(), true));
    });
  }
};

struct initiate_receive_into {
  impl_ptr impl;
  template <class Handler>
  void operator()(Handler&& handler, message* out) const {
    on_strand(impl, [h = std::forward<Handler>(handler), out](client_impl& c) mutable {
      c.start_receive_into(out,
                           make_pending_op<std::error_code>(std::move(h), c.completions(), true));
    });
  }
};

inline subscribe_request make_subscribe_request(const std::vector<subscribe_entry>& entries,
                                                message_handler handler) {
  subscribe_request r;
  r.filters.reserve(entries.size());
  r.qos.reserve(entries.size());
  for (const auto& e : entries) {
    r.filters.emplace_back(e.filter);
    r.qos.push_back(e.max_qos);
  }
  if (handler) r.handler = std::make_shared<const message_handler>(std::move(handler));
  return r;
}

}  // namespace detail

class client {
 public:
  // The client's strand (type-erased): completion handlers without an associated executor run
  // here.
  using executor_type = asio::any_io_executor;

  explicit client(const asio::any_io_executor& ex, client_options options = {})
      : impl_(new detail::client_impl(ex, std::move(options)), detail::adopt_ref) {}
  explicit client(asio::io_context& io, client_options options = {})
      : client(io.get_executor(), std::move(options)) {}
  // The concrete types are kept (not only seen through any_io_executor), so they take the fast
  // path also in builds without RTTI; a strand given is shared.
  explicit client(const asio::io_context::executor_type& ex, client_options options = {})
      : impl_(new detail::client_impl(ex, std::move(options)), detail::adopt_ref) {}
  explicit client(const asio::strand<asio::io_context::executor_type>& strand,
                  client_options options = {})
      : impl_(new detail::client_impl(strand, std::move(options)), detail::adopt_ref) {}

  // Aborts every pending operation (operation_aborted) and closes the connection abruptly:
  // no DISCONNECT is sent, so the broker publishes the will. Call async_disconnect first for a
  // clean end. Safe while the io_context runs, from any thread, and from inside a handler.
  ~client() {
    if (impl_) detail::on_strand(impl_, [](detail::client_impl& c) { c.shutdown(); });
  }

  client(client&&) noexcept = default;
  client& operator=(client&& other) noexcept {
    if (this != &other) {
      client tmp(std::move(*this));  // shuts down the current one
      impl_ = std::move(other.impl_);
    }
    return *this;
  }
  client(const client&) = delete;
  client& operator=(const client&) = delete;

  executor_type get_executor() const noexcept { return impl_->strand(); }

  // The options as used: session.client_id holds the generated id when one was generated.
  const client_options& options() const noexcept { return impl_->options(); }
  const std::string& client_id() const noexcept { return impl_->options().session.client_id; }

  // Connection-state events; called on the strand. Replaces the previous handler.
  void set_event_handler(event_handler handler) {
    detail::on_strand(impl_, [h = std::move(handler)](detail::client_impl& c) mutable {
      c.set_event_handler(std::move(h));
    });
  }

  // Runs the connection loop until async_disconnect (completes with no error) or a permanent
  // failure (a CONNACK refusal other than "server unavailable", or any failure when reconnect
  // is disabled). Signature: void(std::error_code).
  // Cancellable (terminal, partial or total): the client stops as with async_disconnect
  // (DISCONNECT when connected, pending requests fail with operation_aborted) and the run
  // completes with asio::error::operation_aborted.
  template <class CompletionToken>
  auto async_run(CompletionToken&& token) {
    return asio::async_initiate<CompletionToken, void(std::error_code)>(detail::initiate_run{impl_},
                                                                        token);
  }

  // Starts the loop if it is not running and completes at the first accepted CONNACK (at once
  // when connected), or with the error that stopped the loop. Cancellable (the loop goes on).
  // Signature: void(std::error_code, bool session_present).
  template <class CompletionToken>
  auto async_connect(CompletionToken&& token) {
    return asio::async_initiate<CompletionToken, void(std::error_code, bool)>(
        detail::initiate_connect{impl_}, token);
  }

  // Graceful end: DISCONNECT is sent (the will is not published; also before the CONNACK),
  // reconnecting stops. Until the broker closes (at most disconnect_linger) acknowledgements
  // still complete their operations normally; the rest complete with
  // asio::error::operation_aborted. Signature: void(std::error_code).
  template <class CompletionToken>
  auto async_disconnect(CompletionToken&& token) {
    return asio::async_initiate<CompletionToken, void(std::error_code)>(
        detail::initiate_disconnect{impl_}, token);
  }

  // QoS 0 completes once the session accepted the message (queued or encoded); QoS 1 on
  // PUBACK; QoS 2 on PUBCOMP. Fails with protocol_errc::queue_full when the session's queue is
  // full, a codec_errc for an invalid topic. Cancellable while not yet sent.
  // `topic` and `payload` are copied before this returns, except with a deferred token, where
  // they must stay valid until the operation is launched.
  // Signature: void(std::error_code).
  template <class CompletionToken>
  auto async_publish(std::string_view topic, std::string_view payload, amqtt::qos q, bool retain,
                     CompletionToken&& token) {
    return asio::async_initiate<CompletionToken, void(std::error_code)>(
        detail::initiate_publish{impl_}, token, topic, payload, q, retain);
  }
  template <class CompletionToken>
  auto async_publish(std::string_view topic, std::string_view payload, amqtt::qos q,
                     CompletionToken&& token) {
    return async_publish(topic, payload, q, false, std::forward<CompletionToken>(token));
  }

  // Subscribes; completes on SUBACK with one return code per filter.
  // Signature: void(std::error_code, std::vector<suback_return_code>).
  template <class CompletionToken>
  auto async_subscribe(const std::vector<subscribe_entry>& entries, CompletionToken&& token) {
    return asio::async_initiate<CompletionToken,
                                void(std::error_code, std::vector<suback_return_code>)>(
        detail::initiate_subscribe{impl_}, token, detail::make_subscribe_request(entries, {}));
  }
  template <class CompletionToken>
  auto async_subscribe(std::string_view filter, amqtt::qos max_qos, CompletionToken&& token) {
    return async_subscribe(std::vector<subscribe_entry>{subscribe_entry{filter, max_qos}},
                           std::forward<CompletionToken>(token));
  }

  // Subscribes and routes matching messages to `handler` instead of async_receive. The handler
  // is registered at once (messages arriving before SUBACK reach it too) and removed when the
  // broker refuses the filter or async_unsubscribe succeeds. One handler per filter: a later
  // subscription to the same filter replaces it. A message matching several filters that have
  // handlers calls each of them once.
  template <class CompletionToken>
  auto async_subscribe(const std::vector<subscribe_entry>& entries, message_handler handler,
                       CompletionToken&& token) {
    return asio::async_initiate<CompletionToken,
                                void(std::error_code, std::vector<suback_return_code>)>(
        detail::initiate_subscribe{impl_}, token,
        detail::make_subscribe_request(entries, std::move(handler)));
  }
  template <class CompletionToken>
  auto async_subscribe(std::string_view filter, amqtt::qos max_qos, message_handler handler,
                       CompletionToken&& token) {
    return async_subscribe(std::vector<subscribe_entry>{subscribe_entry{filter, max_qos}},
                           std::move(handler), std::forward<CompletionToken>(token));
  }

  // Unsubscribes; completes on UNSUBACK, then the filters' handlers are removed.
  // Signature: void(std::error_code).
  template <class CompletionToken>
  auto async_unsubscribe(const std::vector<std::string_view>& filters, CompletionToken&& token) {
    detail::unsubscribe_request r;
    r.filters.assign(filters.begin(), filters.end());
    return asio::async_initiate<CompletionToken, void(std::error_code)>(
        detail::initiate_unsubscribe{impl_}, token, std::move(r));
  }
  template <class CompletionToken>
  auto async_unsubscribe(std::string_view filter, CompletionToken&& token) {
    return async_unsubscribe(std::vector<std::string_view>{filter},
                             std::forward<CompletionToken>(token));
  }

  // The next message that no per-subscription handler took. One receive may be pending at a
  // time (client_errc::receive_pending otherwise). Cancellable (operation_aborted).
  // Signature: void(std::error_code, message).
  template <class CompletionToken>
  auto async_receive(CompletionToken&& token) {
    return asio::async_initiate<CompletionToken, void(std::error_code, message)>(
        detail::initiate_receive{impl_}, token);
  }

  // Same, swapping the message into `out`, which must stay valid until completion. Reusing one
  // `message` object makes receiving allocation-free in steady state (its buffers are recycled).
  // Signature: void(std::error_code).
  template <class CompletionToken>
  auto async_receive(message& out, CompletionToken&& token) {
    return asio::async_initiate<CompletionToken, void(std::error_code)>(
        detail::initiate_receive_into{impl_}, token, &out);
  }

 private:
  detail::impl_ptr impl_;
};

}  // namespace amqtt
