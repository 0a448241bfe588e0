#pragma once
// The MQTT 3.1.1 client session as a sans-I/O state machine.
//
// Inputs: received bytes, the current time, user requests (publish, subscribe, unsubscribe,
// disconnect) and "connection up/down". Outputs: bytes to send, events, the next deadline.
// No Asio, no sockets, no clock reads: time is always passed in, so every rule here is tested
// with a scripted peer and virtual time (tests/protocol).
//
// How a driver (the Asio client, or a test) uses it:
//   on_connected(now)                      transport is up -> CONNECT is queued for output
//   prepare_input(n) / commit_input(k,now) read socket bytes straight into the session
//   poll(now)                              next event, or std::monostate when there is none;
//                                          call until monostate after every input/request/timer
//   has_output() / take_output(buf)        bytes to write; take_output swaps buffers (no copy);
//                                          poll() again afterwards (freed output space sends
//                                          waiting requests; a handed-out DISCONNECT closes)
//   next_deadline() / on_timer(now)        arm one timer; call on_timer when it fires
//   on_disconnected(ec, now)               transport is down; session state is kept
// A close_event means "close the transport now, then call on_disconnected".
//
// Back-pressure: poll() hands out at most one message per call (it decodes packets only until one
// yields an event; packets that yield none, e.g. PINGRESP, do not end the call). A driver whose
// consumer is full simply stops calling poll() and stops reading; while input is paused
// (set_input_paused) the dead-link timer does not run, so a slow consumer never causes a false
// keepalive timeout. Details, guarantees and bounds: docs/session.md.

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <variant>
#include <vector>

#include "amqtt/codec/codec.hpp"
#include "amqtt/protocol/error.hpp"
#include "amqtt/protocol/inflight_store.hpp"
#include "amqtt/protocol/keepalive_monitor.hpp"
#include "amqtt/protocol/packet_id_pool.hpp"
#include "amqtt/protocol/packet_id_set.hpp"
#include "amqtt/protocol/request_queue.hpp"
#include "amqtt/protocol/ring_queue.hpp"

namespace amqtt {

using steady_time = std::chrono::steady_clock::time_point;

// Identifies a request (publish, subscribe, unsubscribe) in its completion event.
using request_id = std::uint64_t;

struct will_options {
  std::string topic;
  std::string payload;
  amqtt::qos qos = amqtt::qos::at_most_once;
  bool retain = false;
};

struct session_options {
  std::string client_id;  // sent as is; the client generates one when empty (clean session)
  bool clean_session = true;
  std::chrono::seconds keep_alive{60};  // 0 disables keepalive (and dead-link detection)
  // How long after a PINGREQ the link may stay silent before it is declared dead.
  // 0 means keep_alive / 2.
  std::chrono::milliseconds ping_timeout{0};
  std::optional<will_options> will;
  std::optional<std::string> username;
  std::optional<std::string> password;
  std::size_t max_inflight = 64;             // outbound QoS 1/2 PUBLISH awaiting acks (1..65535)
  std::size_t max_queued = 10'000;           // requests waiting to be sent (offline or window full)
  std::size_t max_queued_bytes = 64u << 20;  // their topic + payload bytes
  std::size_t max_output_bytes = 1u << 20;   // encoded bytes buffered for the transport; beyond
                                             // this, new requests wait in the (bounded) queue
                                             // (0 is taken as 1: one packet at a time)
  std::size_t max_incoming_packet_size = 16u << 20;
};

// ---- events ----------------------------------------------------------------------------------

// CONNACK accepted. Re-sends and resubscriptions are already queued for output.
struct connected_event {
  bool session_present = false;
};

// An application message. Its views stay valid until the next call into the session.
// For QoS 1/2 the acknowledgement is queued when this event is returned [MQTT-4.5.0-2].
struct message_event {
  publish_packet message;
};

// A publish request finished: QoS 0 when encoded for output, QoS 1 on PUBACK, QoS 2 on PUBCOMP;
// or failed (error set: queue_full, aborted, ...).
struct publish_done_event {
  request_id id = 0;
  std::error_code error;
};

// A subscribe request finished: one result per filter, in request order [MQTT-3.9.3-1].
struct subscribe_done_event {
  request_id id = 0;
  std::error_code error;
  std::vector<suback_return_code> results;
};

struct unsubscribe_done_event {
  request_id id = 0;
  std::error_code error;
};

// The result of re-subscribing a remembered filter after a reconnect whose CONNACK said
// session_present = 0.
struct resubscribed_event {
  std::string filter;
  suback_return_code result = suback_return_code::failure;
};

// The connection must be closed now: protocol violation, refusal, keepalive timeout, or the
// end of a graceful disconnect (reason empty after DISCONNECT was handed out for writing; the
// driver may keep reading until the server closes, see disconnect()).
struct close_event {
  std::error_code reason;
};

using session_event =
    std::variant<std::monostate, connected_event, message_event, publish_done_event,
                 subscribe_done_event, unsubscribe_done_event, resubscribed_event, close_event>;

enum class session_state { disconnected, awaiting_connack, connected, disconnecting };

class session {
 public:
  explicit session(session_options options);

  const session_options& options() const noexcept;
  session_state state() const noexcept;

  // ---- connection ----
  void on_connected(steady_time now);                             // queues CONNECT [MQTT-3.1.0-1]
  void on_disconnected(std::error_code reason, steady_time now);  // keeps session state

  // ---- input ----
  std::uint8_t* prepare_input(std::size_t n);
  void commit_input(std::size_t n, steady_time now);
  void set_input_paused(bool paused, steady_time now);

  // ---- events ----
  session_event poll(steady_time now);

  // ---- output ----
  bool has_output() const noexcept;
  // Swaps the pending output into `buffer` (whose old contents are discarded; its capacity is
  // reused next time). Counts as "sent" for keepalive purposes.
  void take_output(std::vector<std::uint8_t>& buffer, steady_time now);

  // ---- time ----
  std::optional<steady_time> next_deadline() const noexcept;
  void on_timer(steady_time now);

  // ---- requests ----
  // Each returns the request id its done-event will carry, or 0 with `ec` set when the request
  // is invalid (codec error: bad topic, ...) or cannot be queued (protocol_errc::queue_full).
  // Requests made while disconnected wait in the bounded queue and go out after CONNACK.
  request_id publish(std::string_view topic, std::string_view payload, amqtt::qos qos, bool retain,
                     std::error_code& ec);
  request_id subscribe(const std::vector<subscribe_entry>& entries, std::error_code& ec);
  request_id unsubscribe(const std::vector<std::string_view>& filters, std::error_code& ec);

  // Graceful end: queue DISCONNECT [MQTT-3.14.4-1/2]; a close_event with an empty reason follows
  // once it is handed out. Also while awaiting CONNACK: the DISCONNECT follows the CONNECT, so a
  // server that accepts the CONNECT still discards the will. Until on_disconnected the session
  // keeps decoding input for acknowledgements only: a PUBACK, PUBCOMP, SUBACK or UNSUBACK the
  // server sent before it closed still completes its request. Nothing is sent after the
  // DISCONNECT, so nothing that needs an answer is acted on: PUBLISH is neither delivered nor
  // acknowledged (a server with a persistent session keeps QoS 1/2 ones), PUBREC gets no PUBREL.
  // A bad packet then (malformed, too large, a mismatched ack) does not close the session: the
  // connection is ending, and a close_event with an error would drop a DISCONNECT still in the
  // output (the will would be published); the rest of the input is discarded instead. Calling
  // it again while disconnecting does nothing.
  void disconnect(steady_time now);

  // Removes a request that has not been sent yet; its done-event carries `reason`. Returns false
  // when it was already sent (a QoS 1/2 message in flight cannot be recalled).
  bool cancel(request_id id, std::error_code reason);

  // Fails every unfinished request with `reason` (done-events follow from poll()) and forgets
  // the in-flight state: used when the client is destroyed or shut down. The ids of aborted
  // QoS 2 PUBLISHes stay reserved (the server may hold the message under that id until PUBREL,
  // and would take a new message with the id for a duplicate [MQTT-4.3.3-1]): the next
  // CONNACK with session present sends PUBREL for each and frees the id at its PUBCOMP; session
  // present 0 frees them at once.
  void abort_all(std::error_code reason);

  // ---- observability ----
  std::size_t inflight_count() const noexcept;  // outbound QoS 1/2 awaiting acks
  std::size_t queued_count() const noexcept;    // requests waiting to be sent
  std::size_t queued_bytes() const noexcept;
  std::size_t subscription_count() const noexcept;  // remembered for resubscription
  // False while disconnected: input would not be decoded, and a driver that kept reading would
  // grow the buffered input without bound. While disconnecting it is true: acknowledgements are
  // decoded, or (after a bad packet) input is discarded, and reading is how a driver sees the
  // server close the connection.
  bool wants_input() const noexcept { return link_up() || state_ == session_state::disconnecting; }
  // Bytes of output not handed out yet. Requests stop filling it at max_output_bytes, but the
  // acknowledgements input makes (PUBACK, PUBREC, PUBREL, PUBCOMP) are always added: a driver
  // whose writes are stalled stops reading while this is large (docs/session.md), or a server
  // that sends and does not read would grow it without bound.
  std::size_t output_size() const noexcept { return out_.size(); }

  // Filters per resubscription SUBSCRIBE (after a CONNACK with session_present = 0), and the
  // most filter bytes one such SUBSCRIBE carries; more filters go in further SUBSCRIBEs.
  static constexpr std::size_t resubscribe_batch_filters = 64;
  static constexpr std::size_t resubscribe_batch_bytes = 32u << 10;

 private:
  bool link_up() const noexcept {
    return state_ == session_state::awaiting_connack || state_ == session_state::connected;
  }
  // Input is decoded while the link is up and, for acknowledgements, after disconnect() until
  // a bad packet (then the rest is discarded: see close_link).
  bool decoding_input() const noexcept {
    return link_up() || (state_ == session_state::disconnecting && !discard_input_);
  }
  // A new request may skip the queue: connected, nothing older waiting, room in the output.
  bool can_send_directly() const noexcept {
    return state_ == session_state::connected && queue_.empty() && resubscribe_.empty() &&
           out_.size() < options_.max_output_bytes;
  }
  template <class P>
  void append(const P& p) {
    (void)encode_append(p, out_);  // every packet appended here was validated already
  }

  void close_link(std::error_code reason);
  std::optional<message_event> handle(const packet& p, steady_time now);
  void handle_after_disconnect(const packet& p);
  bool handle_final_ack(const packet& p);
  void handle_connack(const connack_packet& c, steady_time now);
  std::optional<message_event> handle_publish(const publish_packet& p);
  void handle_puback(std::uint16_t id);
  void handle_pubrec(std::uint16_t id);
  void handle_pubcomp(std::uint16_t id);
  void prune_abandoned_qos2();
  void handle_suback(const suback_packet& s);
  void handle_unsuback(std::uint16_t id);
  void finish(std::uint16_t id, const std::vector<suback_return_code>* results);
  void fail(detail::outbound_request&& r, std::error_code reason);
  detail::outbound_flow& add_flow(amqtt::qos qos, detail::request_kind kind);
  void send_new(const detail::outbound_request& r);
  // Subscribe/unsubscribe: validate the packet the request will become, then send or queue it.
  template <class Packet>
  bool check_request_packet(const Packet& p, std::error_code& ec);
  request_id submit_request(detail::outbound_request&& r, std::error_code& ec);
  void encode_flow(const detail::outbound_flow& f, bool resend);
  void encode_publish(const detail::outbound_request& r, std::uint16_t packet_id, bool dup);
  void queue_resubscriptions();
  void drain();

  session_options options_;
  std::size_t max_inflight_;
  session_state state_ = session_state::disconnected;
  bool connect_in_output_ = false;     // CONNECT not handed out yet: it stays first
  bool disconnect_in_output_ = false;  // DISCONNECT queued: nothing may follow it
  bool discard_input_ = false;         // disconnecting, after a bad packet: input is dropped
  stream_decoder decoder_;
  packet packet_;  // decode target, reused
  std::vector<std::uint8_t> out_;
  detail::ring_queue<session_event> events_;
  detail::packet_id_pool ids_;
  detail::packet_id_set inbound_qos2_;  // PUBREC sent, PUBREL not received [MQTT-4.3.3-2]
  // Aborted QoS 2 ids, oldest first, reserved in ids_ until PUBCOMP. A PUBCOMP only frees the
  // id; prune_abandoned_qos2() drops such entries before the vector is used or grows.
  std::vector<std::uint16_t> abandoned_qos2_;
  detail::inflight_store inflight_;
  detail::request_queue queue_;
  std::deque<detail::outbound_request> resubscribe_;  // internal SUBSCRIBE batches, before queue_
  std::map<std::string, amqtt::qos, std::less<>> subscriptions_;
  detail::keepalive_monitor keepalive_;
  request_id next_request_id_ = 1;
  std::vector<subscribe_entry> scratch_entries_;
  std::vector<std::string_view> scratch_filters_;
};

// ---- construction, observability ---------------------------------------------------------------

inline session::session(session_options options)
    : options_(std::move(options)),
      max_inflight_(
          std::clamp<std::size_t>(options_.max_inflight, 1, detail::packet_id_pool::capacity)),
      decoder_(
          decode_options{packet_direction::server_to_client, options_.max_incoming_packet_size}),
      inflight_(options_.max_queued_bytes),
      queue_(options_.max_queued, options_.max_queued_bytes),
      keepalive_(std::chrono::duration_cast<std::chrono::milliseconds>(std::clamp(
                     options_.keep_alive, std::chrono::seconds(0), std::chrono::seconds(65535))),
                 options_.ping_timeout) {
  // 0 would keep every request waiting forever: the output is never below it.
  if (options_.max_output_bytes == 0) options_.max_output_bytes = 1;
}

inline const session_options& session::options() const noexcept { return options_; }
inline session_state session::state() const noexcept { return state_; }
inline std::size_t session::inflight_count() const noexcept { return inflight_.publish_count(); }
inline std::size_t session::queued_count() const noexcept { return queue_.size(); }
inline std::size_t session::queued_bytes() const noexcept { return queue_.bytes(); }
inline std::size_t session::subscription_count() const noexcept { return subscriptions_.size(); }

// ---- connection
// ----------------------------------------------------------------------------------

inline void session::on_connected(steady_time now) {
  decoder_.reset();
  out_.clear();
  disconnect_in_output_ = false;
  discard_input_ = false;
  state_ = session_state::awaiting_connack;

  connect_packet c;
  c.client_id = options_.client_id;
  c.clean_session = options_.clean_session;
  c.keep_alive = static_cast<std::uint16_t>(
      std::clamp<std::chrono::seconds::rep>(options_.keep_alive.count(), 0, 65535));
  if (options_.will)
    c.will = will_message{options_.will->topic, options_.will->payload, options_.will->qos,
                          options_.will->retain};
  if (options_.username) c.username = *options_.username;
  if (options_.password) c.password = *options_.password;
  if (auto ec = encode_append(c, out_)) {  // e.g. invalid client id or will topic
    out_.clear();
    close_link(ec);
    return;
  }
  connect_in_output_ = true;  // the first packet on the connection [MQTT-3.1.0-1]
  keepalive_.start(now);
}

inline void session::on_disconnected(std::error_code, steady_time) {
  state_ = session_state::disconnected;
  out_.clear();  // unsent output is dropped; in-flight flows are re-sent after the next CONNACK
  decoder_.reset();
  keepalive_.stop();
  connect_in_output_ = false;
  disconnect_in_output_ = false;
  discard_input_ = false;
}

inline void session::close_link(std::error_code reason) {
  if (state_ == session_state::disconnecting) {
    // After disconnect(): no close with an error (it would drop a DISCONNECT not handed out
    // yet, and the connection is ending anyway); the rest of the input is dropped.
    discard_input_ = true;
    decoder_.reset();
    return;
  }
  events_.push_back(close_event{reason});
  state_ = session_state::disconnected;
  out_.clear();
  keepalive_.stop();
  connect_in_output_ = false;
  disconnect_in_output_ = false;
}

// ---- input
// -----------------------------------------------------------------------------------------

inline std::uint8_t* session::prepare_input(std::size_t n) { return decoder_.prepare(n); }

inline void session::commit_input(std::size_t n, steady_time now) {
  decoder_.commit(n);
  if (discard_input_) decoder_.reset();                 // disconnecting after a bad packet
  if (n > 0 && link_up()) keepalive_.on_received(now);  // any byte proves the link is alive
}

inline void session::set_input_paused(bool paused, steady_time now) {
  keepalive_.set_paused(paused, now);
}

// ---- events
// ----------------------------------------------------------------------------------------

inline session_event session::poll(steady_time now) {
  if (!events_.empty()) return events_.pop_front();
  while (decoding_input()) {
    const decode_result r = decoder_.next(packet_);
    if (r.status == decode_status::need_more) break;
    if (r.status == decode_status::error) {  // [MQTT-4.8.0-1]
      close_link(r.error);
      break;
    }
    if (auto m = handle(packet_, now)) return std::move(*m);
    if (!events_.empty()) return events_.pop_front();
  }
  if (!events_.empty()) return events_.pop_front();
  return std::monostate{};
}

inline std::optional<message_event> session::handle(const packet& p, steady_time now) {
  if (state_ == session_state::disconnecting) {
    handle_after_disconnect(p);
    return std::nullopt;
  }
  if (state_ == session_state::awaiting_connack) {
    if (const auto* c = std::get_if<connack_packet>(&p))
      handle_connack(*c, now);
    else
      close_link(protocol_errc::packet_before_connack);  // [MQTT-3.2.0-1]
    return std::nullopt;
  }
  switch (type_of(p)) {
    case packet_type::connack:
      close_link(protocol_errc::unexpected_connack);
      break;
    case packet_type::publish:
      return handle_publish(std::get<publish_packet>(p));
    case packet_type::pubrec:
      handle_pubrec(std::get<pubrec_packet>(p).packet_id);
      break;
    case packet_type::pubrel: {
      // Also for unknown ids: the PUBCOMP may have been lost on an earlier connection.
      const std::uint16_t id = std::get<pubrel_packet>(p).packet_id;
      inbound_qos2_.erase(id);  // after PUBCOMP the id starts a new message [MQTT-4.3.3-2]
      append(pubcomp_packet{id});
      break;
    }
    case packet_type::pingresp:
      break;  // liveness was already counted when its bytes arrived
    default:
      // The decoder (server_to_client) produces nothing else than the final acks.
      if (!handle_final_ack(p)) close_link(codec_errc::unexpected_packet_direction);
      break;
  }
  return std::nullopt;
}

// PUBACK, PUBCOMP, SUBACK, UNSUBACK: the acknowledgements that end a flow. False for any other
// packet.
inline bool session::handle_final_ack(const packet& p) {
  switch (type_of(p)) {
    case packet_type::puback:
      handle_puback(std::get<puback_packet>(p).packet_id);
      return true;
    case packet_type::pubcomp:
      handle_pubcomp(std::get<pubcomp_packet>(p).packet_id);
      return true;
    case packet_type::suback:
      handle_suback(std::get<suback_packet>(p));
      return true;
    case packet_type::unsuback:
      handle_unsuback(std::get<unsuback_packet>(p).packet_id);
      return true;
    default:
      return false;
  }
}

// After DISCONNECT: only the acknowledgements that end a flow; they send nothing (drain()
// sends only while connected). Anything else (PUBLISH, PUBREC, PUBREL, CONNACK, PINGRESP)
// would need an answer or means nothing now, and nothing may follow the DISCONNECT
// [MQTT-3.14.4-2]: ignored.
inline void session::handle_after_disconnect(const packet& p) { (void)handle_final_ack(p); }

inline void session::handle_connack(const connack_packet& c, steady_time now) {
  if (c.return_code != connect_return_code::accepted) {
    close_link(c.session_present ? make_error_code(protocol_errc::session_present_with_refusal)
                                 : connack_error(c.return_code));
    return;
  }
  if (c.session_present && options_.clean_session) {
    close_link(protocol_errc::session_present_on_clean_session);  // [MQTT-3.2.2-1]
    return;
  }
  state_ = session_state::connected;
  keepalive_.on_connack(now);
  events_.push_back(connected_event{c.session_present});
  std::size_t resend_count = inflight_.unacked_count();
  if (!c.session_present) {
    // The server has no session: it will not re-send QoS 2 PUBLISHes we already PUBREC'd, and
    // it forgot our subscriptions. Resubscribe to every remembered filter (superseding any
    // resubscription of an earlier connection that was never acknowledged), first: a re-sent
    // UNSUBSCRIBE must apply after it, and re-sent PUBLISHes should find the subscriptions.
    inbound_qos2_.clear();
    prune_abandoned_qos2();
    for (std::uint16_t id : abandoned_qos2_) ids_.release(id);  // the server forgot them too
    abandoned_qos2_.clear();
    std::vector<std::uint16_t> stale;
    inflight_.for_each_unacked([&](const detail::outbound_flow& f) {
      if (f.request.id == 0) stale.push_back(f.packet_id);
    });
    for (std::uint16_t id : stale) {
      inflight_.erase(id);
      ids_.release(id);
    }
    // Our QoS 2 messages past PUBREC: the lost session may have held them undelivered (a server
    // may deliver at PUBREL, as mosquitto does), and a PUBREL alone would be answered with a
    // PUBCOMP for nothing. Send the PUBLISH again instead: at least once, like the flows still
    // awaiting PUBREC.
    inflight_.unrelease_all();
    resend_count = inflight_.unacked_count();
    queue_resubscriptions();
    while (!resubscribe_.empty() && !ids_.exhausted()) {
      send_new(resubscribe_.front());
      resubscribe_.pop_front();
    }
    // The resubscriptions go out before the re-sends: put them first in the unacked order too,
    // so that a re-send on a later connection (session present) keeps this wire order and a
    // user's re-sent UNSUBSCRIBE or SUBSCRIBE still applies after them.
    inflight_.rotate_unacked(resend_count);
  }
  // Re-send what was sent but not acknowledged, same ids [MQTT-4.4.0-1]: PUBRELs in PUBREC
  // order [MQTT-4.6.0-4], then PUBLISH (DUP=1 [MQTT-3.3.1-1]) / SUBSCRIBE / UNSUBSCRIBE in
  // their original order [MQTT-4.6.0-1]. Only the flows from before this CONNACK: the
  // resubscriptions just sent come before them in the unacked order.
  // The aborted QoS 2 flows the server may still hold, oldest: release them so that their ids
  // can be used again (the message may be delivered now; its request already failed).
  prune_abandoned_qos2();
  for (std::uint16_t id : abandoned_qos2_) append(pubrel_packet{id});
  inflight_.for_each_released(
      [&](const detail::outbound_flow& f) { append(pubrel_packet{f.packet_id}); });
  const std::size_t skip = inflight_.unacked_count() - resend_count;
  std::size_t n = 0;
  inflight_.for_each_unacked([&](const detail::outbound_flow& f) {
    if (n++ >= skip) encode_flow(f, true);
  });
  drain();
}

inline std::optional<message_event> session::handle_publish(const publish_packet& p) {
  // Every PUBLISH is acknowledged, wanted or not [MQTT-4.5.0-2], in receive order
  // [MQTT-4.6.0-2], [MQTT-4.6.0-3], with its own id [MQTT-2.3.1-6], [MQTT-3.3.4-1].
  switch (p.qos) {
    case qos::at_most_once:
      break;
    case qos::at_least_once:
      append(puback_packet{p.packet_id});
      break;
    case qos::exactly_once: {
      const bool fresh = inbound_qos2_.insert(p.packet_id);
      append(pubrec_packet{p.packet_id});
      if (!fresh) return std::nullopt;  // a re-sent PUBLISH: not delivered twice [MQTT-4.3.3-2]
      break;
    }
  }
  return message_event{p};
}

// Acknowledgements of our flows. An ack whose id is not in flight is "unsolicited": PUBACK,
// PUBCOMP, SUBACK, UNSUBACK are ignored (a PUBCOMP frees the id of an aborted QoS 2 flow);
// PUBREC is answered with PUBREL (the server may hold a QoS 2 message of ours we no longer
// know). An ack whose id IS in flight but does not fit the flow's current step closes the
// connection with ack_type_mismatch (not after disconnect(): see close_link).
inline void session::handle_puback(std::uint16_t id) {
  const detail::outbound_flow* f = inflight_.find(id);
  if (f == nullptr) return;
  if (f->phase != detail::flow_phase::await_puback)
    return close_link(protocol_errc::ack_type_mismatch);
  finish(id, nullptr);
}

inline void session::handle_pubrec(std::uint16_t id) {
  const detail::outbound_flow* f = inflight_.find(id);
  if (f == nullptr) {
    append(pubrel_packet{id});
    return;
  }
  if (f->phase == detail::flow_phase::await_pubrec) {
    inflight_.release(id);  // not re-sent in this session from now on [MQTT-4.3.3-1]
    append(pubrel_packet{id});
  } else if (f->phase == detail::flow_phase::await_pubcomp) {
    append(pubrel_packet{id});  // a repeated PUBREC: the PUBREL may have been lost
  } else {
    close_link(protocol_errc::ack_type_mismatch);
  }
}

inline void session::handle_pubcomp(std::uint16_t id) {
  const detail::outbound_flow* f = inflight_.find(id);
  if (f == nullptr) {
    // The end of an aborted QoS 2 flow (an id in use and not in flight is one): its id is free
    // now. Its entry in abandoned_qos2_ stays until the next prune, so this is O(1) however
    // many flows were aborted.
    if (ids_.release(id)) drain();  // a request may have waited for a free id
    return;
  }
  if (f->phase != detail::flow_phase::await_pubcomp)
    return close_link(protocol_errc::ack_type_mismatch);
  finish(id, nullptr);
}

inline void session::handle_suback(const suback_packet& s) {
  const detail::outbound_flow* f = inflight_.find(s.packet_id);
  if (f == nullptr) return;
  if (f->phase != detail::flow_phase::await_suback)
    return close_link(protocol_errc::ack_type_mismatch);
  if (s.return_codes.size() != f->request.filters.size())
    return close_link(protocol_errc::suback_count_mismatch);
  finish(s.packet_id, &s.return_codes);
}

inline void session::handle_unsuback(std::uint16_t id) {
  const detail::outbound_flow* f = inflight_.find(id);
  if (f == nullptr) return;
  if (f->phase != detail::flow_phase::await_unsuback)
    return close_link(protocol_errc::ack_type_mismatch);
  finish(id, nullptr);
}

// The flow's final ack arrived: free its id [MQTT-2.3.1-3], report, and send what waited.
inline void session::finish(std::uint16_t id, const std::vector<suback_return_code>* results) {
  detail::outbound_request& r = inflight_.find(id)->request;
  switch (r.kind) {
    case detail::request_kind::publish:
      events_.push_back(publish_done_event{r.id, {}});
      break;
    case detail::request_kind::subscribe:
      for (std::size_t i = 0; i < r.filters.size(); ++i) {
        const suback_return_code rc = (*results)[i];
        if (rc == suback_return_code::failure) {
          auto it = subscriptions_.find(r.filters[i]);
          if (it != subscriptions_.end()) subscriptions_.erase(it);
        } else {
          subscriptions_[r.filters[i]] = r.filter_qos[i];
        }
        if (r.id == 0) events_.push_back(resubscribed_event{std::move(r.filters[i]), rc});
      }
      if (r.id != 0) events_.push_back(subscribe_done_event{r.id, {}, *results});
      break;
    case detail::request_kind::unsubscribe:
      for (const auto& filter : r.filters) {
        auto it = subscriptions_.find(filter);
        if (it != subscriptions_.end()) subscriptions_.erase(it);
      }
      events_.push_back(unsubscribe_done_event{r.id, {}});
      break;
  }
  inflight_.erase(id);  // its slot (and buffers) are reused by later flows
  ids_.release(id);
  drain();
}

inline void session::fail(detail::outbound_request&& r, std::error_code reason) {
  if (r.id == 0) return;  // internal resubscription
  switch (r.kind) {
    case detail::request_kind::publish:
      events_.push_back(publish_done_event{r.id, reason});
      break;
    case detail::request_kind::subscribe:
      events_.push_back(subscribe_done_event{r.id, reason, {}});
      break;
    case detail::request_kind::unsubscribe:
      events_.push_back(unsubscribe_done_event{r.id, reason});
      break;
  }
}

// ---- output
// ------------------------------------------------------------------------------------------

inline bool session::has_output() const noexcept { return !out_.empty(); }

inline void session::take_output(std::vector<std::uint8_t>& buffer, steady_time now) {
  buffer.clear();
  if (out_.empty()) return;
  out_.swap(buffer);  // out_ now reuses the caller's old buffer (and its capacity)
  keepalive_.on_sent(now);
  connect_in_output_ = false;
  if (disconnect_in_output_) {  // DISCONNECT handed out: close, send nothing more [MQTT-3.14.4-1/2]
    // state_ stays disconnecting until on_disconnected: late acknowledgements still count.
    disconnect_in_output_ = false;
    events_.push_back(close_event{});
    return;
  }
  drain();  // output space freed
}

inline void session::encode_publish(const detail::outbound_request& r, std::uint16_t packet_id,
                                    bool dup) {
  publish_packet p;
  p.topic = r.topic;
  p.payload = r.payload;
  p.qos = r.qos;
  p.retain = r.retain;
  p.dup = dup && r.qos != qos::at_most_once;
  p.packet_id = r.qos == qos::at_most_once ? 0 : packet_id;
  append(p);
}

inline void session::encode_flow(const detail::outbound_flow& f, bool resend) {
  const detail::outbound_request& r = f.request;
  switch (r.kind) {
    case detail::request_kind::publish:
      encode_publish(r, f.packet_id, resend);  // DUP=1 on a re-send [MQTT-3.3.1-1]
      break;
    case detail::request_kind::subscribe: {
      scratch_entries_.clear();
      for (std::size_t i = 0; i < r.filters.size(); ++i)
        scratch_entries_.push_back(subscribe_entry{r.filters[i], r.filter_qos[i]});
      subscribe_packet s;
      s.packet_id = f.packet_id;
      s.entries.swap(scratch_entries_);
      append(s);
      s.entries.swap(scratch_entries_);
      break;
    }
    case detail::request_kind::unsubscribe: {
      scratch_filters_.clear();
      for (const auto& filter : r.filters) scratch_filters_.push_back(filter);
      unsubscribe_packet u;
      u.packet_id = f.packet_id;
      u.filters.swap(scratch_filters_);
      append(u);
      u.filters.swap(scratch_filters_);
      break;
    }
  }
}

// Sends a request that needs a packet id (QoS 1/2 PUBLISH, SUBSCRIBE, UNSUBSCRIBE). The caller
// checked that an id is free (and, for a PUBLISH, that the window has room).
// A new in-flight flow with a fresh packet id; its request (recycled slot, empty) is filled in by
// the caller, which then encodes it.
inline detail::outbound_flow& session::add_flow(amqtt::qos qos, detail::request_kind kind) {
  const std::uint16_t id = ids_.acquire();  // unused, non-zero [MQTT-2.3.1-1], [MQTT-2.3.1-2]
  detail::flow_phase phase = detail::flow_phase::await_puback;
  if (kind == detail::request_kind::subscribe)
    phase = detail::flow_phase::await_suback;
  else if (kind == detail::request_kind::unsubscribe)
    phase = detail::flow_phase::await_unsuback;
  else if (qos == qos::exactly_once)
    phase = detail::flow_phase::await_pubrec;
  return inflight_.add(id, phase);
}

// Copies the request into a recycled in-flight slot (reusing its buffers) and encodes it.
inline void session::send_new(const detail::outbound_request& r) {
  detail::outbound_flow& f = add_flow(r.qos, r.kind);
  detail::assign_request(f.request, r);
  encode_flow(f, false);
}

inline void session::queue_resubscriptions() {
  resubscribe_.clear();
  detail::outbound_request batch;
  std::size_t bytes = 0;
  for (const auto& [filter, q] : subscriptions_) {
    if (!batch.filters.empty() && (batch.filters.size() >= resubscribe_batch_filters ||
                                   bytes + filter.size() > resubscribe_batch_bytes)) {
      resubscribe_.push_back(std::move(batch));
      batch = detail::outbound_request{};
      bytes = 0;
    }
    batch.kind = detail::request_kind::subscribe;
    batch.filters.push_back(filter);
    batch.filter_qos.push_back(q);
    bytes += filter.size();
  }
  if (!batch.filters.empty()) resubscribe_.push_back(std::move(batch));
}

// Sends waiting requests, strictly in order, while connected, the output is under
// max_output_bytes, packet ids are free and (for QoS 1/2) the in-flight window has room.
inline void session::drain() {
  while (state_ == session_state::connected && out_.size() < options_.max_output_bytes) {
    if (!resubscribe_.empty()) {
      if (ids_.exhausted()) return;
      send_new(resubscribe_.front());
      resubscribe_.pop_front();
      continue;
    }
    if (queue_.empty()) return;
    const detail::outbound_request& next = queue_.front();
    if (next.kind == detail::request_kind::publish && next.qos == qos::at_most_once) {
      const request_id id = next.id;
      encode_publish(next, 0, false);
      queue_.discard_front();
      events_.push_back(publish_done_event{id, {}});
      continue;
    }
    if (next.kind == detail::request_kind::publish && inflight_.publish_count() >= max_inflight_)
      return;
    if (ids_.exhausted()) return;
    // The request moves into its flow by a swap of buffers: a queued payload is copied once,
    // into the packet, not also into the flow.
    detail::outbound_flow& f = add_flow(next.qos, next.kind);
    queue_.pop_front_into(f.request);
    encode_flow(f, false);
  }
}

// ---- time
// ----------------------------------------------------------------------------------------------

inline std::optional<steady_time> session::next_deadline() const noexcept {
  if (!link_up()) return std::nullopt;
  return keepalive_.next_deadline();
}

inline void session::on_timer(steady_time now) {
  if (!link_up()) return;
  if (keepalive_.dead(now)) {
    close_link(protocol_errc::keepalive_timeout);
    return;
  }
  if (state_ == session_state::connected && keepalive_.ping_due(now)) {
    // Ahead of output not handed out yet (unless that holds the CONNECT), so a backlog of our
    // own messages does not delay it.
    static constexpr std::uint8_t pingreq[2] = {0xC0, 0x00};
    out_.insert(connect_in_output_ ? out_.end() : out_.begin(), pingreq, pingreq + 2);
    keepalive_.on_ping_queued(now);
  }
}

// ---- requests
// ------------------------------------------------------------------------------------------

inline request_id session::publish(std::string_view topic, std::string_view payload, amqtt::qos qos,
                                   bool retain, std::error_code& ec) {
  ec.clear();
  publish_packet p;
  p.topic = topic;
  p.payload = payload;
  p.qos = qos;
  p.retain = retain;
  p.packet_id = qos == qos::at_most_once ? 0 : 1;
  if (auto e = validate_packet(p)) {  // bad topic [MQTT-3.3.2-2], QoS 3, ...
    ec = e;
    return 0;
  }
  if (detail::body_size(p) > max_remaining_length) {
    ec = codec_errc::remaining_length_overflow;
    return 0;
  }
  if (qos == qos::at_most_once && can_send_directly()) {
    const request_id id = next_request_id_++;
    append(p);  // straight into the output buffer: no copy, no allocation
    events_.push_back(publish_done_event{id, {}});
    return id;
  }
  const bool direct = qos != qos::at_most_once && can_send_directly() &&
                      inflight_.publish_count() < max_inflight_ && !ids_.exhausted();
  if (!direct && !queue_.fits(topic.size() + payload.size())) {
    ec = protocol_errc::queue_full;
    return 0;
  }
  // Topic and payload are copied into a recycled slot (in flight or queued), whose buffers are
  // reused: no allocation in steady state.
  const request_id id = next_request_id_++;
  if (direct) {
    detail::outbound_flow& f = add_flow(qos, detail::request_kind::publish);
    detail::outbound_request& r = f.request;
    r.id = id;
    r.qos = qos;
    r.retain = retain;
    r.topic.assign(topic);
    r.payload.assign(payload);
    encode_flow(f, false);
  } else {
    queue_.push_back_publish(id, qos, retain, topic, payload);
  }
  return id;
}

inline request_id session::subscribe(const std::vector<subscribe_entry>& entries,
                                     std::error_code& ec) {
  subscribe_packet p;
  p.packet_id = 1;  // any non-zero id: only the packet's validity and size are checked here
  p.entries = entries;
  if (!check_request_packet(p, ec)) return 0;
  detail::outbound_request r;
  r.kind = detail::request_kind::subscribe;
  for (const auto& e : entries) {
    r.filters.emplace_back(e.filter);
    r.filter_qos.push_back(e.max_qos);
  }
  return submit_request(std::move(r), ec);
}

inline request_id session::unsubscribe(const std::vector<std::string_view>& filters,
                                       std::error_code& ec) {
  unsubscribe_packet p;
  p.packet_id = 1;
  p.filters = filters;
  if (!check_request_packet(p, ec)) return 0;
  detail::outbound_request r;
  r.kind = detail::request_kind::unsubscribe;
  for (auto f : filters) r.filters.emplace_back(f);
  return submit_request(std::move(r), ec);
}

template <class Packet>
inline bool session::check_request_packet(const Packet& p, std::error_code& ec) {
  ec = validate_packet(p);
  if (!ec && detail::body_size(p) > max_remaining_length)
    ec = codec_errc::remaining_length_overflow;
  return !ec;
}

inline request_id session::submit_request(detail::outbound_request&& r, std::error_code& ec) {
  const bool direct = can_send_directly() && !ids_.exhausted();
  if (!direct && !queue_.fits(r.bytes())) {
    ec = protocol_errc::queue_full;
    return 0;
  }
  r.id = next_request_id_++;
  const request_id id = r.id;
  if (direct)
    send_new(r);
  else
    queue_.push_back(std::move(r));
  return id;
}

inline void session::disconnect(steady_time) {
  if (link_up()) {
    append(disconnect_packet{});  // after everything already in the output [MQTT-3.14.4-2]
    disconnect_in_output_ = true;
    state_ = session_state::disconnecting;
    keepalive_.stop();
  } else if (state_ == session_state::disconnected) {
    events_.push_back(close_event{});  // nothing to send: done at once
  }
}

inline bool session::cancel(request_id id, std::error_code reason) {
  if (id == 0) return false;
  auto r = queue_.remove(id);
  if (!r) return false;
  fail(std::move(*r), reason);
  return true;
}

inline void session::prune_abandoned_qos2() {
  // Live: still reserved and not in flight. An entry whose PUBCOMP came is not; neither is one
  // whose id was handed out again since (in flight, or finished and released).
  abandoned_qos2_.erase(std::remove_if(abandoned_qos2_.begin(), abandoned_qos2_.end(),
                                       [&](std::uint16_t id) {
                                         return !ids_.in_use(id) || inflight_.find(id) != nullptr;
                                       }),
                        abandoned_qos2_.end());
}

inline void session::abort_all(std::error_code reason) {
  prune_abandoned_qos2();  // before the in-flight flows are forgotten: they tell reused ids
  inflight_.drain([&](detail::outbound_flow&& f) {
    if (f.request.kind == detail::request_kind::publish && f.request.qos == qos::exactly_once)
      abandoned_qos2_.push_back(f.packet_id);
    fail(std::move(f.request), reason);
  });
  ids_.clear();
  for (std::uint16_t id : abandoned_qos2_) ids_.reserve(id);
  while (!queue_.empty()) fail(queue_.pop_front(), reason);
  resubscribe_.clear();
}

}  // namespace amqtt
