#pragma once
// Outbound packet identifiers [MQTT-2.3.1-1], [MQTT-2.3.1-2], [MQTT-2.3.1-3].
//
// One id space is shared by every outbound packet that needs one (PUBLISH QoS 1/2, SUBSCRIBE,
// UNSUBSCRIBE). acquire() hands out the next id after the last one handed out that is not in
// use, wrapping from 65535 to 1 (0 is never used); an id stays in use until release(), which the
// session calls when the flow's final acknowledgement (PUBACK, PUBCOMP, SUBACK, UNSUBACK) has
// been processed, or when it forgets the flow (abort_all; a QoS 2 id only once the server
// released it, docs/session.md). Handing ids out round-robin (rather than "lowest free") keeps
// a just-freed id from being reused at once, which makes late duplicate acks easier to tell
// apart.

#include <cstddef>
#include <cstdint>

#include "amqtt/protocol/packet_id_set.hpp"

namespace amqtt::detail {

class packet_id_pool {
 public:
  static constexpr std::size_t capacity = 65535;

  // A free id, now in use; 0 when all 65,535 ids are in use.
  std::uint16_t acquire() noexcept {
    if (used_.size() >= capacity) return 0;
    std::uint16_t id = last_;
    do {
      id = static_cast<std::uint16_t>(id == 65535 ? 1 : id + 1);
    } while (used_.contains(id));
    used_.insert(id);
    last_ = id;
    return id;
  }

  // Marks a specific id as in use (e.g. restoring persisted state). False when 0 or taken.
  bool reserve(std::uint16_t id) noexcept { return used_.insert(id); }

  // Frees `id`; false when it was not in use.
  bool release(std::uint16_t id) noexcept { return used_.erase(id); }

  bool in_use(std::uint16_t id) const noexcept { return used_.contains(id); }
  std::size_t in_use_count() const noexcept { return used_.size(); }
  bool exhausted() const noexcept { return used_.size() >= capacity; }

  // The last id handed out (0 before the first).
  std::uint16_t last() const noexcept { return last_; }

  // Frees every id; the round-robin position is kept (so ids are not reused at once).
  void clear() noexcept { used_.clear(); }

 private:
  packet_id_set used_;
  std::uint16_t last_ = 0;
};

}  // namespace amqtt::detail
