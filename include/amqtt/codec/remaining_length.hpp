#pragma once
// The Remaining Length variable-length integer of the fixed header [MQTT-2.2.3]: 7 bits per byte,
// least significant group first, high bit = "more bytes follow", 1 to 4 bytes.

#include <cstddef>
#include <cstdint>
#include <system_error>

#include "amqtt/codec/error.hpp"
#include "amqtt/codec/force_inline.hpp"

namespace amqtt {

inline constexpr std::uint32_t max_remaining_length = 268'435'455;  // 0xFF 0xFF 0xFF 0x7F

// Outcome of a decode step that may be waiting for input.
enum class decode_status {
  complete,   // a value or packet was decoded
  need_more,  // the input ends before the value or packet does; feed more bytes
  error,      // the input is malformed; see the error_code
};

// Number of bytes the varint encoding of `value` takes (1..4); value must be <= max.
constexpr std::size_t remaining_length_size(std::uint32_t value) noexcept {
  return value < 128u ? 1 : value < 16'384u ? 2 : value < 2'097'152u ? 3 : 4;
}

// Writes the encoding of `value` (<= max_remaining_length) to out; returns bytes written.
inline std::size_t encode_remaining_length(std::uint32_t value, std::uint8_t* out) noexcept {
  std::size_t n = 0;
  do {
    std::uint8_t byte = static_cast<std::uint8_t>(value & 0x7Fu);
    value >>= 7;
    if (value != 0) byte |= 0x80u;
    out[n++] = byte;
  } while (value != 0);
  return n;
}

namespace detail {
// decode_remaining_length() without the error_code: `error` always means
// codec_errc::malformed_remaining_length.
AMQTT_FORCE_INLINE decode_status remaining_length_status(const std::uint8_t* data, std::size_t size,
                                                         std::uint32_t& value,
                                                         std::size_t& used) noexcept {
  if (size != 0 && data[0] < 0x80u) {  // the usual packet: < 128 bytes of body, one byte
    value = data[0];
    used = 1;
    return decode_status::complete;
  }
  std::uint32_t result = 0;
  for (std::size_t i = 0; i < 4; ++i) {
    if (i == size) return decode_status::need_more;
    const std::uint8_t byte = data[i];
    result |= static_cast<std::uint32_t>(byte & 0x7Fu) << (7 * i);
    if ((byte & 0x80u) == 0) {
      value = result;
      used = i + 1;
      return decode_status::complete;
    }
  }
  return decode_status::error;
}
}  // namespace detail

// Decodes a remaining length from [data, data+size). On `complete`, `value` and `used` are set.
// `need_more` when the input ends in the middle of the varint; `error` (malformed_remaining_length)
// when a fourth byte still has its continuation bit set.
inline decode_status decode_remaining_length(const std::uint8_t* data, std::size_t size,
                                             std::uint32_t& value, std::size_t& used,
                                             std::error_code& ec) noexcept {
  const decode_status st = detail::remaining_length_status(data, size, value, used);
  if (st == decode_status::error) ec = codec_errc::malformed_remaining_length;
  return st;
}

}  // namespace amqtt
