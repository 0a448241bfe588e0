// libFuzzer target: amqtt::stream_decoder fed in chunks.
//
// Input layout:
//   byte 0      configuration
//                 bits 0-1  direction: any, server_to_client, client_to_server, any
//                 bits 2-3  max_packet_size: default (16 MiB), 2 + b1, 64 + 16*b1, 5 + 256*b1
//                 bit  4    reuse one `packet` object for every next() (else a fresh one)
//                 bit  5    shrink_to_fit() whenever the buffer is drained
//                 bit  6    prepare() more room than is then committed
//   byte 1      max_packet_size parameter (b1 above)
//   byte 2      bits 0-2  k - 1: number of chunk-size bytes that follow
//               bit  3    chunk sizes are multiplied by 64 (big chunks, for big packets)
//               bits 4-5  how bytes go in: alternate feed() and prepare()/commit(),
//                         feed() only, prepare()/commit() only, pseudo-random
//   k bytes     chunk sizes, used in a cycle; 0 means "everything that is left"
//   rest        the byte stream
//
// Invariants checked (a failure is __builtin_trap, i.e. a crash for libFuzzer):
//   - every packet next() returns equals, in order, the packet decode_packet() returns when
//     the whole stream is given to it at once and decoded in a loop; `consumed` agrees too;
//   - the final state agrees: same error code after the same packets, or need_more with the
//     same number of undecoded bytes;
//   - once next() has returned an error it returns the same error forever (also after more
//     bytes arrive), and error() reports it;
//   - capacity(): every growth is to at most twice the bytes held plus the room requested (the
//     bound documented in stream_decoder.hpp), so capacity() < 2 * the largest
//     (held + requested) since the last shrink_to_fit(); while no error occurred and the
//     caller drains with next() after every chunk, bytes held before a chunk are at most
//     max(4, max_packet_size - 1), so capacity() < 2 * (that + the largest request);
//   - prepare(n) gives at least n bytes of room; feed/commit add exactly the bytes given;
//   - every byte of every view of every decoded packet is read (ASan checks it is live).

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <system_error>
#include <vector>

#include "amqtt/codec/codec.hpp"
#include "fuzz_common.hpp"

namespace {

using amqtt_fuzz::hash_packet;
using amqtt_fuzz::sink;

struct reference {
  std::vector<amqtt::packet> packets;
  std::vector<std::size_t> sizes;
  amqtt::decode_status final_status = amqtt::decode_status::need_more;
  std::error_code final_error;
  std::size_t consumed = 0;
};

reference decode_all(const std::uint8_t* data, std::size_t size,
                     const amqtt::decode_options& options) {
  reference ref;
  for (;;) {
    amqtt::packet p;
    const auto r = amqtt::decode_packet(data + ref.consumed, size - ref.consumed, p, options);
    if (r.status != amqtt::decode_status::complete) {
      ref.final_status = r.status;
      ref.final_error = r.error;
      AMQTT_FUZZ_CHECK((r.status == amqtt::decode_status::error) == bool(r.error));
      return ref;
    }
    AMQTT_FUZZ_CHECK(r.consumed >= 2 && r.consumed <= size - ref.consumed);
    AMQTT_FUZZ_CHECK(r.consumed <= options.max_packet_size);
    ref.consumed += r.consumed;
    ref.sizes.push_back(r.consumed);
    ref.packets.push_back(std::move(p));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 3) return 0;
  const std::uint8_t config = data[0];
  const std::uint8_t size_param = data[1];
  const std::uint8_t chunking = data[2];
  const std::size_t k = 1 + (chunking & 7u);
  if (size < 3 + k) return 0;
  const std::uint8_t* const chunk_table = data + 3;
  const std::uint8_t* const stream = data + 3 + k;
  const std::size_t n = size - 3 - k;

  amqtt::decode_options options;
  switch (config & 3u) {
    case 1: options.direction = amqtt::packet_direction::server_to_client; break;
    case 2: options.direction = amqtt::packet_direction::client_to_server; break;
    default: options.direction = amqtt::packet_direction::any; break;
  }
  switch ((config >> 2) & 3u) {
    case 1: options.max_packet_size = 2 + std::size_t{size_param}; break;
    case 2: options.max_packet_size = 64 + 16 * std::size_t{size_param}; break;
    case 3: options.max_packet_size = 5 + 256 * std::size_t{size_param}; break;
    default: break;  // default_max_packet_size
  }
  const bool reuse_packet = config & 0x10u;
  const bool shrink_when_drained = config & 0x20u;
  const bool over_prepare = config & 0x40u;
  const std::size_t chunk_scale = (chunking & 0x08u) ? 64 : 1;
  const unsigned input_mode = (chunking >> 4) & 3u;
  // Bytes that may stay buffered after a drain: an incomplete fixed header (at most the first
  // byte and three continuation bytes) or an incomplete packet no larger than the limit.
  const std::size_t max_held = std::max<std::size_t>(4, options.max_packet_size - 1);

  const reference ref = decode_all(stream, n, options);

  amqtt::stream_decoder dec(options);
  AMQTT_FUZZ_CHECK(dec.capacity() == 0 && dec.buffered() == 0 && !dec.error());
  amqtt::packet reused;
  std::size_t next_ref = 0;
  std::size_t pos = 0;
  std::size_t high_water = 0;     // largest (held + requested room) since the last shrink
  std::size_t max_requested = 0;  // largest room requested by one feed/prepare
  bool failed = false;
  std::error_code first_error;

  for (std::size_t chunk = 0; pos < n; ++chunk) {
    const std::uint8_t c = chunk_table[chunk % k];
    std::size_t len = c == 0 ? n - pos : std::min(n - pos, std::size_t{c} * chunk_scale);
    bool use_prepare = false;
    switch (input_mode) {
      case 0: use_prepare = chunk % 2 == 1; break;
      case 1: use_prepare = false; break;
      case 2: use_prepare = true; break;
      default: use_prepare = ((chunk * 0x9E3779B1u) >> 7) & 1u; break;
    }
    const std::size_t held = dec.buffered();
    const std::size_t capacity_before = dec.capacity();
    if (!failed) AMQTT_FUZZ_CHECK(held <= max_held);
    std::size_t requested = len;
    if (use_prepare) {
      if (over_prepare) requested += (chunk * 131u + c) % 1500u;
      std::uint8_t* room = dec.prepare(requested);
      AMQTT_FUZZ_CHECK(room != nullptr);
      AMQTT_FUZZ_CHECK(dec.capacity() - dec.buffered() >= requested);
      std::memcpy(room, stream + pos, len);
      dec.commit(len);
    } else {
      dec.feed(stream + pos, len);
    }
    pos += len;
    AMQTT_FUZZ_CHECK(dec.buffered() == held + len);
    high_water = std::max(high_water, held + requested);
    max_requested = std::max(max_requested, requested);
    AMQTT_FUZZ_CHECK(dec.capacity() >= dec.buffered());
    // A growth goes to at most twice the bytes held plus the room asked for.
    if (dec.capacity() != capacity_before)
      AMQTT_FUZZ_CHECK(dec.capacity() <= 2 * held + requested);
    AMQTT_FUZZ_CHECK(dec.capacity() < 2 * high_water);
    if (!failed) AMQTT_FUZZ_CHECK(dec.capacity() < 2 * (max_held + max_requested));

    // Drain.
    for (;;) {
      amqtt::packet fresh;
      amqtt::packet& out = reuse_packet ? reused : fresh;
      const amqtt::decode_result r = dec.next(out);
      if (r.status == amqtt::decode_status::complete) {
        AMQTT_FUZZ_CHECK(!failed && !r.error && !dec.error());
        AMQTT_FUZZ_CHECK(next_ref < ref.packets.size());
        AMQTT_FUZZ_CHECK(r.consumed == ref.sizes[next_ref]);
        AMQTT_FUZZ_CHECK(out == ref.packets[next_ref]);
        sink(hash_packet(out));
        ++next_ref;
        continue;
      }
      if (r.status == amqtt::decode_status::error) {
        AMQTT_FUZZ_CHECK(bool(r.error));
        if (failed) {
          AMQTT_FUZZ_CHECK(r.error == first_error);
        } else {
          failed = true;
          first_error = r.error;
          // Same error as the one-shot decoder, after the same packets.
          AMQTT_FUZZ_CHECK(ref.final_status == amqtt::decode_status::error);
          AMQTT_FUZZ_CHECK(next_ref == ref.packets.size());
          AMQTT_FUZZ_CHECK(r.error == ref.final_error);
        }
        AMQTT_FUZZ_CHECK(dec.error() == first_error);
        // Asking again changes nothing.
        const amqtt::decode_result again = dec.next(out);
        AMQTT_FUZZ_CHECK(again.status == amqtt::decode_status::error &&
                         again.error == first_error && again.consumed == 0);
        break;
      }
      AMQTT_FUZZ_CHECK(r.status == amqtt::decode_status::need_more);
      AMQTT_FUZZ_CHECK(!failed && !r.error && !dec.error());
      break;
    }

    if (shrink_when_drained && dec.buffered() == 0) {
      dec.shrink_to_fit();
      AMQTT_FUZZ_CHECK(dec.capacity() == 0);
      high_water = 0;
    }
  }

  // Final state agrees with the one-shot decoder.
  AMQTT_FUZZ_CHECK(next_ref == ref.packets.size());
  if (failed) {
    AMQTT_FUZZ_CHECK(ref.final_status == amqtt::decode_status::error);
    amqtt::packet p;
    const auto r = dec.next(p);
    AMQTT_FUZZ_CHECK(r.status == amqtt::decode_status::error && r.error == first_error);
  } else {
    AMQTT_FUZZ_CHECK(ref.final_status == amqtt::decode_status::need_more);
    AMQTT_FUZZ_CHECK(dec.buffered() == n - ref.consumed);
  }

  // reset() forgets bytes and error; the decoder is usable again.
  dec.reset();
  AMQTT_FUZZ_CHECK(dec.buffered() == 0 && !dec.error());
  if (!ref.packets.empty()) {
    dec.feed(stream, ref.sizes[0]);
    amqtt::packet p;
    const auto r = dec.next(p);
    AMQTT_FUZZ_CHECK(r.status == amqtt::decode_status::complete && r.consumed == ref.sizes[0]);
    AMQTT_FUZZ_CHECK(p == ref.packets[0]);
    sink(hash_packet(p));
  }
  return 0;
}
