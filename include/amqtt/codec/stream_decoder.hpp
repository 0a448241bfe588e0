#pragma once
// A streaming decoder: bytes go in, in chunks of any size (one byte at a time works), complete
// packets come out.
//
// Two ways to give it bytes:
//  - zero-copy: `prepare(n)` returns room for n bytes to read into directly (e.g. from a
//    socket), then `commit(k)` with the k bytes actually read;
//  - copying: `feed(data, size)`.
// Then call `next(packet)` until it reports need_more. Packets returned by `next` view the
// decoder's buffer and stay valid until the next `prepare` or `feed`.
//
// Memory: the buffer only grows when bytes arrive (or when the caller asks for room with
// prepare); it is never sized from a length the peer announced. Growth is geometric but capped
// at the size of the packet being assembled, so the buffer stays within twice the bytes held
// plus the caller's read size. A packet larger than options.max_packet_size is an error as soon
// as its fixed header arrives. After an error the decoder stays failed (the connection is dead).

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <system_error>

#include "amqtt/codec/decoder.hpp"
#include "amqtt/codec/packets.hpp"

namespace amqtt {

class stream_decoder {
 public:
  explicit stream_decoder(decode_options options = {}) noexcept : options_(options) {}

  const decode_options& options() const noexcept { return options_; }

  // Room for `n` more bytes at the end of the buffered data. Invalidates packets from next().
  std::uint8_t* prepare(std::size_t n) {
    compact();
    reserve(end_ + n);
    prepared_ = n;
    return data_.get() + end_;
  }

  // Marks `n` bytes written after prepare() as received: at most what that prepare() offered
  // (a larger `n` is clamped, so bytes never written are never decoded), once.
  void commit(std::size_t n) noexcept {
    end_ += std::min(n, prepared_);
    prepared_ = 0;
  }

  // Copies bytes in. Invalidates packets from next().
  void feed(const void* bytes, std::size_t n) {
    if (n == 0) return;
    prepared_ = 0;  // the room of an earlier prepare() is gone
    compact();
    reserve(end_ + n);
    std::memcpy(data_.get() + end_, bytes, n);
    end_ += n;
  }

  // Decodes the next complete packet from the buffered bytes.
  decode_result next(packet& out) {
    if (error_) return {decode_status::error, 0, error_};
    decode_result r = decode_packet(data_.get() + begin_, end_ - begin_, out, options_);
    if (r.status == decode_status::complete) {
      begin_ += r.consumed;
    } else if (r.status == decode_status::error) {
      error_ = r.error;
    } else {
      // Remember how big the packet being assembled is, to cap buffer growth at it.
      fixed_header h;
      std::error_code ec;
      if (decode_fixed_header(data_.get() + begin_, end_ - begin_, options_, h, ec) ==
          decode_status::complete)
        pending_packet_size_ = h.packet_size();
      else
        pending_packet_size_ = 0;
    }
    return r;
  }

  std::size_t buffered() const noexcept { return end_ - begin_; }  // bytes not yet decoded
  std::size_t capacity() const noexcept { return capacity_; }      // bytes allocated
  std::error_code error() const noexcept { return error_; }

  // Drops all buffered bytes and any error (for a new connection).
  void reset() noexcept {
    begin_ = end_ = 0;
    pending_packet_size_ = 0;
    prepared_ = 0;
    error_.clear();
  }

  // Frees the buffer when it is empty (e.g. after a burst of large packets).
  void shrink_to_fit() {
    compact();
    if (end_ == 0) {
      data_.reset();
      capacity_ = 0;
    }
  }

 private:
  void compact() noexcept {
    if (begin_ == 0) return;
    if (end_ != begin_) std::memmove(data_.get(), data_.get() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
  }

  void reserve(std::size_t needed) {
    if (needed <= capacity_) return;
    // Grow geometrically with the bytes held (end_), not with the room asked for: doubling
    // capacity_ would also double a large prepare() size and break the bound above. Copying
    // stays amortised O(1) per byte: with a steady read size, the buffer is reallocated only
    // after the bytes held have doubled.
    std::size_t cap = std::max(needed, std::min(capacity_ * 2, needed + end_));
    // Do not grow past the packet being assembled (when that is known and bigger than needed).
    if (pending_packet_size_ != 0 && pending_packet_size_ >= needed)
      cap = std::min(cap, pending_packet_size_);
    cap = std::max(cap, needed);
    std::unique_ptr<std::uint8_t[]> bigger(
        new std::uint8_t[cap]);  // not zeroed: bytes are written before read
    if (end_ != 0) std::memcpy(bigger.get(), data_.get(), end_);
    data_ = std::move(bigger);
    capacity_ = cap;
  }

  decode_options options_;
  std::unique_ptr<std::uint8_t[]> data_;
  std::size_t capacity_ = 0;
  std::size_t begin_ = 0;  // first byte not yet decoded
  std::size_t end_ = 0;    // one past the last byte received
  std::size_t pending_packet_size_ = 0;
  std::size_t prepared_ = 0;  // room offered by the last prepare() and not yet committed
  std::error_code error_;
};

}  // namespace amqtt
