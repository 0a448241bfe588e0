#pragma once
// Outbound flows that were sent and await their acknowledgement, by packet id.
//
// Two lists keep the orders the protocol needs for re-sending:
//  - `unacked`: PUBLISH QoS 1/2 awaiting PUBACK/PUBREC, SUBSCRIBE awaiting SUBACK, UNSUBSCRIBE
//    awaiting UNSUBACK, in the order they were first sent [MQTT-4.6.0-1];
//  - `released`: QoS 2 flows whose PUBREC arrived (PUBREL sent, awaiting PUBCOMP), in the order
//    the PUBRECs arrived [MQTT-4.6.0-4]. Their topic and payload are dropped: the PUBLISH is never
//    sent again once PUBREL was sent [MQTT-4.3.3-1].

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <list>
#include <string>
#include <unordered_map>
#include <utility>

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
  using list = std::list<outbound_flow>;

  outbound_flow& add(outbound_request&& r, std::uint16_t packet_id, flow_phase phase) {
    unacked_.push_back(outbound_flow{std::move(r), packet_id, phase});
    auto it = std::prev(unacked_.end());
    index_[packet_id] = it;
    if (is_publish(phase)) ++publishes_;
    return *it;
  }

  outbound_flow* find(std::uint16_t packet_id) noexcept {
    auto it = index_.find(packet_id);
    return it == index_.end() ? nullptr : &*it->second;
  }

  // A QoS 2 flow's PUBREC arrived: PUBREL phase, moved to the end of the released list.
  void release(std::uint16_t packet_id) {
    auto it = index_.find(packet_id);
    if (it == index_.end()) return;
    auto flow = it->second;
    flow->phase = flow_phase::await_pubcomp;
    std::string().swap(flow->request.topic);  // the PUBLISH is never sent again
    std::string().swap(flow->request.payload);
    released_.splice(released_.end(), unacked_, flow);
  }

  // Removes the flow (its final ack arrived) and returns it.
  outbound_flow erase(std::uint16_t packet_id) {
    auto it = index_.find(packet_id);
    auto flow = it->second;
    index_.erase(it);
    outbound_flow out = std::move(*flow);
    if (out.phase == flow_phase::await_pubcomp)
      released_.erase(flow);
    else
      unacked_.erase(flow);
    if (is_publish(out.phase)) --publishes_;
    return out;
  }

  const list& unacked() const noexcept { return unacked_; }
  const list& released() const noexcept { return released_; }

  std::size_t size() const noexcept { return index_.size(); }
  bool empty() const noexcept { return index_.empty(); }
  // PUBLISH QoS 1/2 flows (what the in-flight window counts).
  std::size_t publish_count() const noexcept { return publishes_; }

  // Moves every flow out (released first, then unacked) and empties the store.
  template <class F>
  void drain(F&& f) {
    list all;
    all.splice(all.end(), released_);
    all.splice(all.end(), unacked_);
    index_.clear();
    publishes_ = 0;
    for (auto& flow : all) f(std::move(flow));
  }

  static bool is_publish(flow_phase p) noexcept {
    return p == flow_phase::await_puback || p == flow_phase::await_pubrec ||
           p == flow_phase::await_pubcomp;
  }

 private:
  list unacked_;
  list released_;
  std::unordered_map<std::uint16_t, list::iterator> index_;
  std::size_t publishes_ = 0;
};

}  // namespace amqtt::detail
