// An in-memory MQTT "broker" and transport for the client's unit tests: no sockets.
//
// fake_broker::factory() is a transport_factory. Each connection attempt creates a
// fake_transport that talks to the broker. The broker decodes what the client writes and answers
// like a (tiny) real broker: CONNACK, PUBACK/PUBREC/PUBCOMP, SUBACK, UNSUBACK, PINGRESP, and it
// routes PUBLISHes back to the client when they match one of its subscriptions.
//
// Threading: every fake_broker / fake_transport member runs on the client's strand (transport
// calls come from there; tests call the broker from handlers or via asio::post to the strand,
// or run the io_context on the test thread). Counters are read by the test after the
// io_context threads were joined, or from the test thread that runs the io_context.
#pragma once

#include <amqtt/client.hpp>

#include <asio/bind_allocator.hpp>
#include <asio/error.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <system_error>
#include <vector>

namespace amqtt::test {

using namespace std::chrono_literals;

// What the client sent, as owned copies.
struct sent_packet {
  packet_type type = packet_type::connect;
  std::string topic;    // PUBLISH
  std::string payload;  // PUBLISH
  amqtt::qos qos = amqtt::qos::at_most_once;
  bool retain = false;
  bool dup = false;
  std::uint16_t packet_id = 0;
  std::vector<std::string> filters;  // SUBSCRIBE / UNSUBSCRIBE
  std::string client_id;             // CONNECT
  bool clean_session = true;         // CONNECT
};

class fake_broker;

// Pending reads (and hung connects) wait on a timer, so like a socket operation they live in the
// io_context: destroying the io_context destroys them (and the references they hold).
class fake_transport final : public transport {
 public:
  fake_transport(fake_broker& b, asio::any_io_executor ex);
  ~fake_transport() override;

  void async_connect(const std::string& host, std::uint16_t port, io_handler& h) override;
  void async_read_some(asio::mutable_buffer buf, io_handler& h) override;
  void async_write(asio::const_buffer buf, io_handler& h) override;
  void close() noexcept override;

  // Server side.
  template <class P>
  void push_packet(const P& p) {
    (void)encode_append(p, inbound_);
    wake();
  }
  void push_bytes(const std::vector<std::uint8_t>& b) {
    inbound_.insert(inbound_.end(), b.begin(), b.end());
    wake();
  }
  void push_eof() {
    eof_ = true;
    wake();
  }
  bool closed() const noexcept { return closed_; }
  bool connected() const noexcept { return connected_; }
  std::size_t inbound_pending() const noexcept { return inbound_.size() - inbound_pos_; }

 private:
  friend class fake_broker;
  template <class F>
  void post(F&& f) {
    asio::post(ex_, std::forward<F>(f));
  }
  void wake() {
    if (reading_) read_timer_.cancel();
  }
  void wait_read(io_handler_ptr h);

  fake_broker& broker_;
  asio::any_io_executor ex_;
  asio::steady_timer read_timer_;
  asio::steady_timer write_timer_;  // stalled writes wait here
  bool reading_ = false;
  asio::mutable_buffer read_buf_;
  std::vector<std::uint8_t> inbound_;
  std::size_t inbound_pos_ = 0;
  stream_decoder decoder_{decode_options{packet_direction::client_to_server, 1u << 24}};
  bool connected_ = false;
  bool closed_ = false;
  bool eof_ = false;
  // Set while a connect or read completion handler runs; the destructor counts a destruction
  // from inside one (fake_broker::destroyed_in_handler). `alive_` tells the completion whether
  // the transport still exists after the handler returned.
  bool in_handler_ = false;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
  template <class F>
  void run_handler(F&& call) {
    std::weak_ptr<int> alive = alive_;
    in_handler_ = true;
    call();
    if (!alive.expired()) in_handler_ = false;
  }
};

class fake_broker {
 public:
  // ---- behaviour ----
  // Errors for the next connection attempts (popped one per attempt); empty: success.
  std::deque<std::error_code> connect_errors;
  // Connection attempts that never complete (until the client closes the transport).
  bool hang_connect = false;
  // Return codes of the next CONNACKs (popped one per CONNECT); empty: accepted.
  std::deque<connect_return_code> connack_codes;
  bool send_connack = true;     // false: CONNECT is never answered
  bool session_present = false;  // on accepted CONNACKs when clean_session is false
  bool ack_publishes = true;    // PUBACK / PUBREC / PUBCOMP
  bool echo = true;             // route publishes to matching subscriptions of the client
  bool answer_pings = true;     // PINGRESP
  bool stall_writes = false;    // writes from now on never complete (until close): a peer that
                                // does not read
  bool record = true;           // keep sent_packet copies in `received`
  // Acknowledgements of these types are held back and sent just before the connection closes
  // on the client's DISCONNECT: a broker that acknowledged what it read before the DISCONNECT.
  std::set<packet_type> held_until_disconnect;
  bool close_on_disconnect = true;  // false: the client has to close (disconnect_linger)
  std::vector<std::string> refused_filters;  // SUBACK 0x80 for these

  // ---- observations ----
  std::vector<sent_packet> received;
  std::size_t connect_attempts = 0;
  std::size_t connects = 0;  // CONNECT packets
  std::size_t read_requests = 0;
  std::size_t writes = 0;
  std::size_t publishes = 0;
  std::size_t disconnects = 0;  // DISCONNECT packets
  std::size_t transports_created = 0;
  std::size_t transports_alive = 0;
  std::size_t destroyed_in_handler = 0;  // transports destroyed inside their own completion
  std::vector<std::string> hosts;  // host:port of every attempt
  fake_transport* current = nullptr;

  transport_factory factory() {
    return [this](const asio::any_io_executor& ex) -> std::unique_ptr<transport> {
      ++transports_created;
      return std::make_unique<fake_transport>(*this, ex);
    };
  }

  // Server -> client PUBLISH on the current connection.
  void publish(std::string_view topic, std::string_view payload, amqtt::qos q = amqtt::qos::at_most_once,
               bool retain = false) {
    if (!current) return;
    publish_packet p;
    p.topic = topic;
    p.payload = payload;
    p.qos = q;
    p.retain = retain;
    if (q != amqtt::qos::at_most_once) p.packet_id = next_id();
    current->push_packet(p);
  }

  // Drops the current connection as if the peer closed it.
  void drop() {
    if (current) current->push_eof();
  }

  std::size_t count(packet_type t) const {
    return static_cast<std::size_t>(std::count_if(received.begin(), received.end(),
                                                  [t](const sent_packet& p) { return p.type == t; }));
  }

  std::vector<std::string> subscriptions;

 private:
  friend class fake_transport;

  std::uint16_t next_id() {
    if (++id_ == 0) id_ = 1;
    return id_;
  }

  void on_packet(fake_transport& t, const packet& p) {
    if (record) {
      sent_packet s;
      s.type = type_of(p);
      if (auto* x = std::get_if<publish_packet>(&p)) {
        s.topic = std::string(x->topic);
        s.payload = std::string(x->payload);
        s.qos = x->qos;
        s.retain = x->retain;
        s.dup = x->dup;
        s.packet_id = x->packet_id;
      } else if (auto* c = std::get_if<connect_packet>(&p)) {
        s.client_id = std::string(c->client_id);
        s.clean_session = c->clean_session;
      } else if (auto* sub = std::get_if<subscribe_packet>(&p)) {
        for (auto& e : sub->entries) s.filters.emplace_back(e.filter);
        s.packet_id = sub->packet_id;
      } else if (auto* uns = std::get_if<unsubscribe_packet>(&p)) {
        for (auto& f : uns->filters) s.filters.emplace_back(f);
        s.packet_id = uns->packet_id;
      }
      received.push_back(std::move(s));
    }
    std::visit([&](const auto& x) { handle(t, x); }, p);
  }

  void handle(fake_transport& t, const connect_packet& c) {
    ++connects;
    if (!send_connack) return;
    connack_packet a;
    if (!connack_codes.empty()) {
      a.return_code = connack_codes.front();
      connack_codes.pop_front();
    }
    a.session_present = a.return_code == connect_return_code::accepted && !c.clean_session &&
                        session_present;
    if (c.clean_session) subscriptions.clear();
    t.push_packet(a);
    if (a.return_code != connect_return_code::accepted) t.push_eof();
  }
  template <class Ack>
  void ack(fake_transport& t, const Ack& a) {
    if (held_until_disconnect.count(type_of(packet{a})) == 0) return t.push_packet(a);
    (void)encode_append(a, held_);
  }
  void handle(fake_transport& t, const publish_packet& p) {
    ++publishes;
    if (ack_publishes) {
      if (p.qos == amqtt::qos::at_least_once) ack(t, puback_packet{p.packet_id});
      if (p.qos == amqtt::qos::exactly_once) ack(t, pubrec_packet{p.packet_id});
    }
    if (!echo) return;
    for (const auto& f : subscriptions) {
      if (!topic_matches(f, p.topic)) continue;
      publish_packet out;
      out.topic = p.topic;
      out.payload = p.payload;
      out.qos = p.qos;
      if (out.qos != amqtt::qos::at_most_once) out.packet_id = next_id();
      t.push_packet(out);
      break;  // one copy per message
    }
  }
  void handle(fake_transport& t, const pubrel_packet& p) { ack(t, pubcomp_packet{p.packet_id}); }
  void handle(fake_transport& t, const pubrec_packet& p) { t.push_packet(pubrel_packet{p.packet_id}); }
  void handle(fake_transport& t, const subscribe_packet& s) {
    suback_packet a;
    a.packet_id = s.packet_id;
    for (const auto& e : s.entries) {
      const bool refused = std::find(refused_filters.begin(), refused_filters.end(),
                                     std::string(e.filter)) != refused_filters.end();
      a.return_codes.push_back(refused ? suback_return_code::failure
                                       : static_cast<suback_return_code>(e.max_qos));
      if (!refused &&
          std::find(subscriptions.begin(), subscriptions.end(), std::string(e.filter)) ==
              subscriptions.end())
        subscriptions.emplace_back(e.filter);
    }
    t.push_packet(a);
  }
  void handle(fake_transport& t, const unsubscribe_packet& u) {
    for (auto f : u.filters)
      subscriptions.erase(std::remove(subscriptions.begin(), subscriptions.end(), std::string(f)),
                          subscriptions.end());
    t.push_packet(unsuback_packet{u.packet_id});
  }
  void handle(fake_transport& t, const pingreq_packet&) {
    if (answer_pings) t.push_packet(pingresp_packet{});
  }
  void handle(fake_transport& t, const disconnect_packet&) {
    ++disconnects;
    if (!held_.empty()) t.push_bytes(std::exchange(held_, {}));
    if (close_on_disconnect) t.push_eof();
  }
  template <class P>
  void handle(fake_transport&, const P&) {}

  std::uint16_t id_ = 0;
  std::vector<std::uint8_t> held_;  // encoded acknowledgements held until DISCONNECT
};

inline fake_transport::fake_transport(fake_broker& b, asio::any_io_executor ex)
    : broker_(b), ex_(std::move(ex)), read_timer_(ex_), write_timer_(ex_) {
  ++broker_.transports_alive;
}

inline fake_transport::~fake_transport() {
  --broker_.transports_alive;
  if (in_handler_) ++broker_.destroyed_in_handler;
  if (broker_.current == this) broker_.current = nullptr;
}

inline void fake_transport::async_connect(const std::string& host, std::uint16_t port, io_handler& h) {
  ++broker_.connect_attempts;
  broker_.hosts.push_back(host + ":" + std::to_string(port));
  if (broker_.hang_connect) {
    // Completes only when close() cancels the wait.
    read_timer_.expires_at(asio::steady_timer::time_point::max());
    read_timer_.async_wait([p = io_handler_ptr(h)](std::error_code) mutable {
      p(asio::error::operation_aborted);
    });
    return;
  }
  std::error_code ec;
  if (!broker_.connect_errors.empty()) {
    ec = broker_.connect_errors.front();
    broker_.connect_errors.pop_front();
  }
  if (!ec) {
    connected_ = true;
    broker_.current = this;
  }
  post([this, p = io_handler_ptr(h), ec]() mutable { run_handler([&] { p(ec); }); });
}

inline void fake_transport::async_read_some(asio::mutable_buffer buf, io_handler& h) {
  ++broker_.read_requests;
  read_buf_ = buf;
  reading_ = true;
  if (closed_ || eof_ || inbound_pending() > 0) {
    // Ready now: still complete through the executor.
    read_timer_.expires_at(asio::steady_timer::time_point::min());
  } else {
    read_timer_.expires_at(asio::steady_timer::time_point::max());
  }
  wait_read(io_handler_ptr(h));
}

inline void fake_transport::wait_read(io_handler_ptr h) {
  // Like a socket read: the operation's memory comes from the handler's allocator.
  const auto alloc = h.get_allocator();
  read_timer_.async_wait(asio::bind_allocator(alloc, [this, p = std::move(h)](std::error_code) mutable {
    if (closed_) {
      reading_ = false;
      return p(asio::error::operation_aborted);
    }
    const std::size_t avail = inbound_pending();
    if (avail == 0 && !eof_) {  // spurious wake-up
      read_timer_.expires_at(asio::steady_timer::time_point::max());
      return wait_read(std::move(p));
    }
    reading_ = false;
    if (avail == 0) return run_handler([&] { p(asio::error::eof); });
    const std::size_t n = std::min(avail, read_buf_.size());
    std::memcpy(read_buf_.data(), inbound_.data() + inbound_pos_, n);
    inbound_pos_ += n;
    if (inbound_pos_ == inbound_.size()) {
      inbound_.clear();
      inbound_pos_ = 0;
    }
    run_handler([&] { p(std::error_code{}, n); });
  }));
}

inline void fake_transport::async_write(asio::const_buffer buf, io_handler& h) {
  ++broker_.writes;
  if (broker_.stall_writes && !closed_) {  // completes only when close() cancels the wait
    write_timer_.expires_at(asio::steady_timer::time_point::max());
    io_handler_ptr hp(h);
    const auto alloc = hp.get_allocator();
    write_timer_.async_wait(asio::bind_allocator(
        alloc, [p = std::move(hp)](std::error_code) mutable { p(asio::error::operation_aborted); }));
    return;
  }
  std::error_code ec;
  if (closed_) {
    ec = asio::error::operation_aborted;
  } else {
    decoder_.feed(buf.data(), buf.size());
    packet p;
    for (;;) {
      const decode_result r = decoder_.next(p);
      if (r.status != decode_status::complete) break;
      broker_.on_packet(*this, p);
    }
  }
  io_handler_ptr hp(h);
  const auto alloc = hp.get_allocator();
  post(asio::bind_allocator(alloc, [p = std::move(hp), ec, n = ec ? 0 : buf.size()]() mutable { p(ec, n); }));
}

inline void fake_transport::close() noexcept {
  if (closed_) return;
  closed_ = true;
  connected_ = false;
  if (broker_.current == this) broker_.current = nullptr;
  read_timer_.cancel();
  write_timer_.cancel();
}

// Runs `io` on this thread until pred() holds or `timeout` passes. Returns pred().
template <class Pred>
bool run_until(asio::io_context& io, Pred pred, std::chrono::milliseconds timeout = 5000ms) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    if (io.stopped()) io.restart();
    io.run_one_for(10ms);
  }
  return true;
}

// Starts `c` connecting and runs `io` until CONNACK (or the error that stopped the loop);
// std::errc::timed_out when nothing completed within 5 s.
inline std::error_code connect_and_wait(asio::io_context& io, client& c) {
  std::optional<std::error_code> result;
  c.async_connect([&](std::error_code ec, bool) { result = ec; });
  if (!run_until(io, [&] { return result.has_value(); }))
    return std::make_error_code(std::errc::timed_out);
  return *result;
}

// Runs `io` for `d` (lets pending work happen).
inline void run_for(asio::io_context& io, std::chrono::milliseconds d) {
  if (io.stopped()) io.restart();
  io.run_for(d);
}

// Options for a client talking to `b` with fast reconnects.
inline client_options fake_options(fake_broker& b) {
  client_options o;
  o.transport = b.factory();
  o.reconnect.min_delay = 1ms;
  o.reconnect.max_delay = 10ms;
  o.connect_timeout = 2000ms;
  o.disconnect_linger = 100ms;
  return o;
}

}  // namespace amqtt::test
