#pragma once
// A set of 16-bit packet identifiers: one bit per id (8 KiB), O(1) insert/erase/contains.
//
// Used for the outbound id pool (ids in flight) and for the inbound QoS 2 ids that received a
// PUBREC but no PUBREL yet [MQTT-4.3.3-2]. Id 0 is never a member (it is not a valid id).

#include <cstddef>
#include <cstdint>
#include <vector>

namespace amqtt::detail {

class packet_id_set {
 public:
  packet_id_set() : words_(65536 / 64, 0) {}

  bool contains(std::uint16_t id) const noexcept { return (words_[id >> 6] >> (id & 63u)) & 1u; }

  // Returns true when `id` was not there yet. Id 0 is refused (returns false).
  bool insert(std::uint16_t id) noexcept {
    if (id == 0 || contains(id)) return false;
    words_[id >> 6] |= std::uint64_t{1} << (id & 63u);
    ++size_;
    return true;
  }

  // Returns true when `id` was there.
  bool erase(std::uint16_t id) noexcept {
    if (!contains(id)) return false;
    words_[id >> 6] &= ~(std::uint64_t{1} << (id & 63u));
    --size_;
    return true;
  }

  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }

  void clear() noexcept {
    if (size_ == 0) return;
    for (auto& w : words_) w = 0;
    size_ = 0;
  }

 private:
  std::vector<std::uint64_t> words_;
  std::size_t size_ = 0;
};

}  // namespace amqtt::detail
