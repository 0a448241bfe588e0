#pragma once
// Outbound flows that were sent and await their acknowledgement, by packet id.
//
// Two orders are kept for re-sending:
//  - `unacked`: PUBLISH QoS 1/2 awaiting PUBACK/PUBREC, SUBSCRIBE awaiting SUBACK, UNSUBSCRIBE
//    awaiting UNSUBACK, in the order they were first sent [MQTT-4.6.0-1];
//  - `released`: QoS 2 flows whose PUBREC arrived (PUBREL sent, awaiting PUBCOMP), in the order
//    the PUBRECs arrived [MQTT-4.6.0-4]. Within a session their PUBLISH is never sent again once
//    PUBREL was sent [MQTT-4.3.3-1], but topic and payload are kept until PUBCOMP: when the
//    server loses the session (CONNACK session present 0) it may never have delivered the
//    message (a server may deliver at PUBREL), so the session sends the PUBLISH again
//    (unrelease_all).
//
// Allocation-free in steady state: flows live in slots that are recycled through a free list
// (never freed one by one), found by packet id through a flat 65,536-entry index, and chained in
// the two orders by slot indices. A recycled slot keeps the capacity of its topic and payload
// strings, so once the window and the message sizes are stable, add/release/erase allocate
// nothing. The capacity kept by idle buffers is bounded by a byte budget; beyond it, buffers are
// freed when their flow ends.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "amqtt/protocol/request_queue.hpp"

namespace amqtt::detail {

enum class flow_phase : std::uint8_t {
  await_puback,    // QoS 1 PUBLISH sent
  await_pubrec,    // QoS 2 PUBLISH sent
  await_pubcomp,   // QoS 2 PUBREC received, PUBREL sent
  await_suback,    // SUBSCRIBE sent
  await_unsuback,  // UNSUBSCRIBE sent
};

struct outbound_flow {
  outbound_request request;
  std::uint16_t packet_id = 0;
  flow_phase phase = flow_phase::await_puback;
};

class inflight_store {
 public:
  // `idle_budget`: the most bytes of string capacity kept by buffers not holding a message.
  explicit inflight_store(std::size_t idle_budget = std::size_t(64) << 20) noexcept
      : idle_budget_(idle_budget) {}

  // A new flow in the `unacked` order (at its end). Its request is empty (kind publish) with the
  // slot's buffer capacity kept: the caller fills it in (see assign_request).
  outbound_flow& add(std::uint16_t packet_id, flow_phase phase) {
    if (index_.empty()) index_.assign(65536, 0);
    std::uint32_t s;
    if (free_head_ != npos) {
      s = free_head_;
      free_head_ = slots_[s].next;
    } else {
      s = static_cast<std::uint32_t>(slots_.size());
      slots_.emplace_back();
    }
    node& n = slots_[s];
    idle_ -= n.parked;
    n.parked = 0;
    reset_request(n.flow.request);
    n.flow.packet_id = packet_id;
    n.flow.phase = phase;
    link_back(unacked_, s);
    index_[packet_id] = static_cast<std::uint16_t>(s + 1);
    ++size_;
    if (is_publish(phase)) ++publishes_;
    return n.flow;
  }

  outbound_flow* find(std::uint16_t packet_id) noexcept {
    const std::uint32_t s = slot_of(packet_id);
    return s == npos ? nullptr : &slots_[s].flow;
  }

  // A QoS 2 flow's PUBREC arrived: PUBREL phase, moved to the end of the released order.
  void release(std::uint16_t packet_id) {
    const std::uint32_t s = slot_of(packet_id);
    if (s == npos) return;
    node& n = slots_[s];
    n.flow.phase = flow_phase::await_pubcomp;
    unlink(unacked_, s);
    link_back(released_, s);
  }

  // Every released flow back to the PUBREC step, at the front of the `unacked` order, in the
  // released order (they were sent before the flows still awaiting their first ack).
  void unrelease_all() noexcept {
    while (released_.tail != npos) {
      const std::uint32_t s = released_.tail;
      unlink(released_, s);
      slots_[s].flow.phase = flow_phase::await_pubrec;
      link_front(unacked_, s);
    }
  }

  // Moves the first `n` flows of the `unacked` order to its end, keeping their order: flows that
  // were sent on the wire after later-added ones (see session::handle_connack).
  void rotate_unacked(std::size_t n) noexcept {
    for (; n > 0 && unacked_.head != npos; --n) {
      const std::uint32_t s = unacked_.head;
      unlink(unacked_, s);
      link_back(unacked_, s);
    }
  }

  // Removes the flow (its final ack arrived); its slot is recycled. `packet_id` must be in flight.
  void erase(std::uint16_t packet_id) {
    const std::uint32_t s = slot_of(packet_id);
    if (s == npos) return;
    node& n = slots_[s];
    unlink(n.flow.phase == flow_phase::await_pubcomp ? released_ : unacked_, s);
    if (is_publish(n.flow.phase)) --publishes_;
    index_[packet_id] = 0;
    --size_;
    park(n);
    n.flow.request.filters.clear();
    n.flow.request.filter_qos.clear();
    n.next = free_head_;
    n.prev = npos;
    free_head_ = s;
  }

  // Visits the flows in the `unacked` / `released` order. `f` must not change the store.
  template <class F>
  void for_each_unacked(F&& f) const {
    for (std::uint32_t s = unacked_.head; s != npos; s = slots_[s].next) f(slots_[s].flow);
  }
  template <class F>
  void for_each_released(F&& f) const {
    for (std::uint32_t s = released_.head; s != npos; s = slots_[s].next) f(slots_[s].flow);
  }
  std::size_t unacked_count() const noexcept { return unacked_.count; }
  std::size_t released_count() const noexcept { return released_.count; }

  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  // PUBLISH QoS 1/2 flows (what the in-flight window counts).
  std::size_t publish_count() const noexcept { return publishes_; }

  // Moves every flow out (released first, then unacked) and empties the store.
  template <class F>
  void drain(F&& f) {
    std::vector<node> all;
    all.swap(slots_);
    const ends released = released_, unacked = unacked_;
    for (const node& n : all) index_[n.flow.packet_id] = 0;  // free slots hold stale ids: 0 too
    released_ = ends{};
    unacked_ = ends{};
    free_head_ = npos;
    size_ = 0;
    publishes_ = 0;
    idle_ = 0;
    for (std::uint32_t s = released.head; s != npos; s = all[s].next) f(std::move(all[s].flow));
    for (std::uint32_t s = unacked.head; s != npos; s = all[s].next) f(std::move(all[s].flow));
  }

  static bool is_publish(flow_phase p) noexcept {
    return p == flow_phase::await_puback || p == flow_phase::await_pubrec ||
           p == flow_phase::await_pubcomp;
  }

 private:
  static constexpr std::uint32_t npos = 0xFFFFFFFFu;

  struct node {
    outbound_flow flow;
    std::uint32_t prev = npos;
    std::uint32_t next = npos;
    std::size_t parked = 0;  // capacity of this slot's cleared strings counted in idle_
  };
  struct ends {
    std::uint32_t head = npos;
    std::uint32_t tail = npos;
    std::size_t count = 0;
  };

  static void reset_request(outbound_request& r) noexcept {
    r.id = 0;
    r.kind = request_kind::publish;
    r.qos = amqtt::qos::at_most_once;
    r.retain = false;
    r.topic.clear();
    r.payload.clear();
    r.filters.clear();
    r.filter_qos.clear();
  }

  // Clears the slot's topic and payload; keeps their capacity while the idle budget allows.
  void park(node& n) noexcept {
    outbound_request& r = n.flow.request;
    r.topic.clear();
    r.payload.clear();
    if (n.parked != 0) return;
    const std::size_t cap = r.topic.capacity() + r.payload.capacity();
    if (cap > idle_budget_ - idle_ || idle_ > idle_budget_) {
      std::string().swap(r.topic);
      std::string().swap(r.payload);
      return;
    }
    n.parked = cap;
    idle_ += cap;
  }

  std::uint32_t slot_of(std::uint16_t packet_id) const noexcept {
    if (index_.empty()) return npos;
    const std::uint16_t v = index_[packet_id];
    return v == 0 ? npos : static_cast<std::uint32_t>(v - 1);
  }

  void link_back(ends& e, std::uint32_t s) noexcept {
    node& n = slots_[s];
    n.prev = e.tail;
    n.next = npos;
    if (e.tail == npos)
      e.head = s;
    else
      slots_[e.tail].next = s;
    e.tail = s;
    ++e.count;
  }

  void link_front(ends& e, std::uint32_t s) noexcept {
    node& n = slots_[s];
    n.prev = npos;
    n.next = e.head;
    if (e.head == npos)
      e.tail = s;
    else
      slots_[e.head].prev = s;
    e.head = s;
    ++e.count;
  }

  void unlink(ends& e, std::uint32_t s) noexcept {
    node& n = slots_[s];
    if (n.prev == npos)
      e.head = n.next;
    else
      slots_[n.prev].next = n.next;
    if (n.next == npos)
      e.tail = n.prev;
    else
      slots_[n.next].prev = n.prev;
    n.prev = n.next = npos;
    --e.count;
  }

  std::vector<node> slots_;
  std::vector<std::uint16_t> index_;  // packet id -> slot + 1 (0: not in flight); 65,536 entries
  std::uint32_t free_head_ = npos;
  ends unacked_;
  ends released_;
  std::size_t size_ = 0;
  std::size_t publishes_ = 0;
  std::size_t idle_ = 0;
  std::size_t idle_budget_;
};

}  // namespace amqtt::detail
