#pragma once
// Topic names, topic filters and matching [MQTT-4.7].

#include <cstdint>
#include <cstring>
#include <string_view>
#include <system_error>

#include "amqtt/codec/error.hpp"
#include "amqtt/codec/force_inline.hpp"
#include "amqtt/codec/utf8.hpp"

#if defined(__SSE2__) || defined(_M_X64) || (defined(_M_IX86_FP) && _M_IX86_FP >= 2)
#include <emmintrin.h>
#define AMQTT_CODEC_SSE2 1
#endif

namespace amqtt {

namespace detail {

// Word-at-a-time ("SWAR") byte tests over 8 bytes. Each returns a value with the high bit of some
// byte set exactly when at least one byte has the property (which byte is not meaningful).
inline constexpr std::uint64_t swar_ones = 0x0101010101010101ull;
inline constexpr std::uint64_t swar_high = 0x8080808080808080ull;
constexpr std::uint64_t swar_zero_byte(std::uint64_t w) noexcept {
  return (w - swar_ones) & ~w & swar_high;
}
// A byte b is '+' or '#' exactly when (b | 0x08) == '+'.
constexpr std::uint64_t swar_wildcard_byte(std::uint64_t w) noexcept {
  return swar_zero_byte((w | (swar_ones * 0x08)) ^ (swar_ones * '+'));
}
inline std::uint64_t load8(const char* p) noexcept {
  std::uint64_t w;
  std::memcpy(&w, p, 8);
  return w;
}

// True when `s` contains '+' or '#'.
inline bool has_wildcard(std::string_view s) noexcept {
  const char* p = s.data();
  std::size_t n = s.size();
  for (; n >= 8; p += 8, n -= 8)
    if (swar_wildcard_byte(load8(p))) return true;
  for (; n != 0; ++p, --n)
    if (*p == '+' || *p == '#') return true;
  return false;
}

#ifdef AMQTT_CODEC_SSE2
// For 16 bytes at `at`: a byte's high bit is set where it is non-ASCII, NUL, '+' or '#'.
// (b | (b - 1)) has the high bit set exactly for NUL and non-ASCII bytes; (b | 0x08) == '+'
// exactly for '+' and '#'.
AMQTT_FORCE_INLINE __m128i sse2_special(const char* at) noexcept {
  const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(at));
  const __m128i nul_or_high = _mm_or_si128(v, _mm_add_epi8(v, _mm_set1_epi8(-1)));
  const __m128i wildcard = _mm_cmpeq_epi8(_mm_or_si128(v, _mm_set1_epi8(0x08)), _mm_set1_epi8('+'));
  return _mm_or_si128(nul_or_high, wildcard);
}
#endif

// The fast path of validate_topic_name(): true when [p, p + n), n >= 8, is plain ASCII without
// NUL, '+' or '#' (the usual topic name, and then a valid one); false means "check exactly".
// Blocks of 16 (SSE2) or 8 bytes; the last block is the last 16 / 8 bytes, overlapping the
// previous one. (string_view::find_first_of("+#") calls memchr once per byte: it used to be
// most of the cost of decoding a small PUBLISH.)
AMQTT_FORCE_INLINE bool plain_topic_name(const char* p, std::size_t n) noexcept {
#ifdef AMQTT_CODEC_SSE2
  if (n >= 16) {
    // The first and the last 16 bytes (enough up to 32 bytes, without a loop), then every block
    // between them; independent, then combined.
    __m128i special = _mm_or_si128(sse2_special(p), sse2_special(p + n - 16));
    for (std::size_t i = 16; i + 16 < n; i += 16)
      special = _mm_or_si128(special, sse2_special(p + i));
    return _mm_movemask_epi8(special) == 0;
  }
#endif
  const auto special_bytes = [](std::uint64_t w) noexcept {
    return swar_zero_byte(w) | swar_wildcard_byte(w) | w;
  };
  std::uint64_t special = special_bytes(load8(p)) | special_bytes(load8(p + n - 8));
  for (std::size_t i = 8; i + 8 < n; i += 8) special |= special_bytes(load8(p + i));
  return (special & swar_high) == 0;
}

// codec_errc{} when `name` is a valid topic name (see validate_topic_name).
AMQTT_FORCE_INLINE codec_errc topic_name_errc(std::string_view name) noexcept {
  const std::size_t n = name.size();
  if (n >= 8 && n <= 65535 && plain_topic_name(name.data(), n)) return {};
  if (n == 0) return codec_errc::empty_topic;
  if (has_wildcard(name)) return codec_errc::wildcard_in_topic_name;
  return mqtt_string_errc(name);
}

// codec_errc{} when `filter` is a valid topic filter (see validate_topic_filter).
inline codec_errc topic_filter_errc(std::string_view filter) noexcept {
  if (filter.empty()) return codec_errc::empty_topic;
  const std::size_t n = filter.size();
  for (std::size_t i = 0; i < n; ++i) {
    const char c = filter[i];
    if (c != '+' && c != '#') continue;
    const bool starts_level = i == 0 || filter[i - 1] == '/';
    const bool ends_level = i + 1 == n || filter[i + 1] == '/';
    if (!starts_level || !ends_level) return codec_errc::invalid_topic_filter;
    if (c == '#' && i + 1 != n) return codec_errc::invalid_topic_filter;
  }
  return mqtt_string_errc(filter);
}

}  // namespace detail

// A topic name (what PUBLISH carries): 1..65,535 bytes of valid UTF-8 without wildcards
// [MQTT-4.7.3-1], [MQTT-4.7.1-1], [MQTT-3.3.2-2].
inline std::error_code validate_topic_name(std::string_view name) noexcept {
  return detail::to_error_code(detail::topic_name_errc(name));
}

// A topic filter (what SUBSCRIBE/UNSUBSCRIBE carry): '+' fills a whole level [MQTT-4.7.1-3],
// '#' fills a whole level and is last [MQTT-4.7.1-2]; non-empty [MQTT-4.7.3-1].
inline std::error_code validate_topic_filter(std::string_view filter) noexcept {
  return detail::to_error_code(detail::topic_filter_errc(filter));
}

// True when topic name `name` matches topic filter `filter`. Both are assumed valid.
// A filter starting with a wildcard does not match names starting with '$' [MQTT-4.7.2-1].
inline bool topic_matches(std::string_view filter, std::string_view name) noexcept {
  if (!name.empty() && name.front() == '$' && !filter.empty() &&
      (filter.front() == '+' || filter.front() == '#'))
    return false;
  std::size_t f = 0, t = 0;
  const std::size_t fn = filter.size(), tn = name.size();
  for (;;) {
    // Compare one level: filter level [f, fe), name level [t, te).
    std::size_t fe = filter.find('/', f);
    if (fe == std::string_view::npos) fe = fn;
    std::size_t te = name.find('/', t);
    if (te == std::string_view::npos) te = tn;
    const std::string_view flevel = filter.substr(f, fe - f);
    if (flevel == "#") return true;  // matches this level and everything below (and the parent)
    if (flevel != "+" && flevel != name.substr(t, te - t)) return false;
    const bool filter_done = fe == fn;
    const bool name_done = te == tn;
    if (filter_done && name_done) return true;
    if (name_done) {
      // "a/#" matches "a": the rest of the filter must be exactly "/#".
      return filter.substr(fe) == "/#";
    }
    if (filter_done) return false;
    f = fe + 1;
    t = te + 1;
  }
}

}  // namespace amqtt
