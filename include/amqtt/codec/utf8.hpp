#pragma once
// UTF-8 string validation for MQTT strings [MQTT-1.5.3-1..3].
//
// Rejects ill-formed sequences (overlong forms, surrogates U+D800..U+DFFF, code points above
// U+10FFFF, truncated sequences) and U+0000. U+FEFF is an ordinary character and is kept
// verbatim [MQTT-1.5.3-3]. Control characters and non-characters are allowed: the spec says a
// receiver MAY close on them, and rejecting them would refuse topics real brokers deliver.

#include <cstdint>
#include <cstring>
#include <string_view>
#include <system_error>

#include "amqtt/codec/error.hpp"

namespace amqtt {
namespace detail {

// codec_errc{} when `s` is well-formed UTF-8 without U+0000.
inline codec_errc utf8_errc(std::string_view s) noexcept {
  const auto* p = reinterpret_cast<const std::uint8_t*>(s.data());
  const auto* const end = p + s.size();
  while (p != end) {
    // ASCII fast path: eight bytes at a time while none has the high bit set or is zero.
    while (end - p >= 8) {
      std::uint64_t word;
      std::memcpy(&word, p, 8);
      constexpr std::uint64_t high = 0x8080808080808080ull;
      constexpr std::uint64_t ones = 0x0101010101010101ull;
      const bool any_high = (word & high) != 0;
      const bool any_zero = ((word - ones) & ~word & high) != 0;
      if (any_high || any_zero) break;
      p += 8;
    }
    if (p == end) break;
    const std::uint8_t b0 = *p;
    if (b0 < 0x80) {
      if (b0 == 0) return codec_errc::utf8_null_character;
      ++p;
      continue;
    }
    std::size_t len;
    std::uint32_t cp;
    if (b0 >= 0xC2 && b0 <= 0xDF) {
      len = 2;
      cp = b0 & 0x1Fu;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
      len = 3;
      cp = b0 & 0x0Fu;
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
      len = 4;
      cp = b0 & 0x07u;
    } else {
      return codec_errc::ill_formed_utf8;  // continuation byte, C0/C1 overlong lead, F5..FF
    }
    if (static_cast<std::size_t>(end - p) < len) return codec_errc::ill_formed_utf8;
    for (std::size_t i = 1; i < len; ++i) {
      if ((p[i] & 0xC0u) != 0x80u) return codec_errc::ill_formed_utf8;
      cp = (cp << 6) | (p[i] & 0x3Fu);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
      return codec_errc::ill_formed_utf8;  // overlong or out of range
    if (cp >= 0xD800 && cp <= 0xDFFF) return codec_errc::ill_formed_utf8;  // surrogate
    p += len;
  }
  return {};
}

inline codec_errc mqtt_string_errc(std::string_view s) noexcept {
  if (s.size() > 65535) return codec_errc::string_too_long;
  return utf8_errc(s);
}

}  // namespace detail

// Well-formed UTF-8 without U+0000 [MQTT-1.5.3-1], [MQTT-1.5.3-2].
inline std::error_code validate_utf8(std::string_view s) noexcept {
  return detail::to_error_code(detail::utf8_errc(s));
}

// An MQTT UTF-8 string: well-formed, no U+0000, at most 65,535 bytes.
inline std::error_code validate_mqtt_string(std::string_view s) noexcept {
  return detail::to_error_code(detail::mqtt_string_errc(s));
}

}  // namespace amqtt
