#pragma once
// Helpers shared by the libFuzzer targets.

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <variant>

#include "amqtt/codec/codec.hpp"

// A failed invariant: a plain trap, so that libFuzzer reports it as a crash (with the input
// saved as crash-<sha1>) whatever the sanitizer options are.
#define AMQTT_FUZZ_CHECK(cond) \
  do {                         \
    if (!(cond)) __builtin_trap(); \
  } while (0)

namespace amqtt_fuzz {

// FNV-1a over every byte of `s`, read one at a time by instrumented code, so that ASan checks
// that a decoded packet's views point at live, in-bounds memory. (std::hash would run in the
// uninstrumented libstdc++.)
inline std::uint64_t mix(std::uint64_t h, std::string_view s) noexcept {
  for (const char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ull;
  }
  h ^= s.size();
  return h * 0x100000001b3ull;
}

inline std::uint64_t mix(std::uint64_t h, std::uint64_t v) noexcept {
  h ^= v;
  return h * 0x100000001b3ull;
}

// Touches every byte every view of `p` refers to.
inline std::uint64_t hash_packet(const amqtt::packet& p) noexcept {
  std::uint64_t h = 0xcbf29ce484222325ull;
  h = mix(h, p.index());
  std::visit(
      [&h](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, amqtt::connect_packet>) {
          h = mix(h, x.client_id);
          h = mix(h, std::uint64_t{x.keep_alive} << 1 | x.clean_session);
          if (x.will) {
            h = mix(h, x.will->topic);
            h = mix(h, x.will->payload);
            h = mix(h, static_cast<std::uint64_t>(x.will->qos) << 1 | x.will->retain);
          }
          if (x.username) h = mix(h, *x.username);
          if (x.password) h = mix(h, *x.password);
        } else if constexpr (std::is_same_v<T, amqtt::connack_packet>) {
          h = mix(h, static_cast<std::uint64_t>(x.return_code) << 1 | x.session_present);
        } else if constexpr (std::is_same_v<T, amqtt::publish_packet>) {
          h = mix(h, x.topic);
          h = mix(h, x.payload);
          h = mix(h, std::uint64_t{x.packet_id} << 8 | static_cast<std::uint64_t>(x.qos) << 2 |
                         std::uint64_t{x.dup} << 1 | x.retain);
        } else if constexpr (std::is_same_v<T, amqtt::subscribe_packet>) {
          h = mix(h, x.packet_id);
          for (const auto& e : x.entries) {
            h = mix(h, e.filter);
            h = mix(h, static_cast<std::uint64_t>(e.max_qos));
          }
        } else if constexpr (std::is_same_v<T, amqtt::suback_packet>) {
          h = mix(h, x.packet_id);
          for (auto c : x.return_codes) h = mix(h, static_cast<std::uint64_t>(c));
        } else if constexpr (std::is_same_v<T, amqtt::unsubscribe_packet>) {
          h = mix(h, x.packet_id);
          for (auto f : x.filters) h = mix(h, f);
        } else if constexpr (std::is_same_v<T, amqtt::puback_packet> ||
                             std::is_same_v<T, amqtt::pubrec_packet> ||
                             std::is_same_v<T, amqtt::pubrel_packet> ||
                             std::is_same_v<T, amqtt::pubcomp_packet> ||
                             std::is_same_v<T, amqtt::unsuback_packet>) {
          h = mix(h, x.packet_id);
        }
        // PINGREQ, PINGRESP, DISCONNECT: nothing to touch.
      },
      p);
  return h;
}

// Keeps a value alive so the compiler cannot drop the reads that produced it.
inline void sink(std::uint64_t v) noexcept {
  static volatile std::uint64_t s;
  s = s + v;
}

}  // namespace amqtt_fuzz
