// libFuzzer target: decode -> encode -> decode round trip.
//
// The input is a byte stream decoded packet after packet (direction any, default limits) until
// the first error or incomplete packet. For every packet decoded from bytes `orig`:
//   - validate_packet() accepts it (the encoder's rules are no stricter than the decoder's);
//   - encode_append() succeeds and encoded_size() is the size it wrote;
//   - the encoding is canonical: the re-encoding has the same first byte, the same remaining
//     length value and the same body bytes as `orig`. The only freedom MQTT 3.1.1 leaves is
//     the Remaining Length varint: the decoder accepts non-minimal forms (e.g. "80 00" for 0,
//     3.1.1 has no rule against them, unlike MQTT 5's [MQTT-1.5.5-1]) and the encoder always
//     writes the minimal one. So the re-encoding is byte-identical to `orig` exactly when
//     `orig` used the minimal varint;
//   - decoding the re-encoding gives an equal packet (operator==) that re-encodes to the very
//     same bytes;
//   - encode() into a buffer of exactly encoded_size() bytes writes the same bytes, and one
//     byte less is buffer_too_small;
//   - every proper prefix tried of `orig` is need_more; max_packet_size = size accepts it and
//     size - 1 rejects it with packet_too_large;
//   - the direction check: decoding with server_to_client / client_to_server gives the same
//     packet or unexpected_packet_direction, exactly for the types that direction forbids;
//   - every view is read byte by byte (ASan).
// Every decode step is also repeated into a packet holding a publish_packet (decode_packet()'s
// fast path may take it) and into one holding a connack_packet (it may not): same status, error,
// size and packet.
// Errors must carry a codec_category code with a known message.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <system_error>
#include <vector>

#include "amqtt/codec/codec.hpp"
#include "fuzz_common.hpp"

namespace {

using amqtt::decode_status;
using amqtt::packet_type;

bool forbidden(packet_type t, amqtt::packet_direction d) {
  switch (d) {
    case amqtt::packet_direction::server_to_client:
      return t == packet_type::connect || t == packet_type::subscribe ||
             t == packet_type::unsubscribe || t == packet_type::pingreq ||
             t == packet_type::disconnect;
    case amqtt::packet_direction::client_to_server:
      return t == packet_type::connack || t == packet_type::suback || t == packet_type::unsuback ||
             t == packet_type::pingresp;
    case amqtt::packet_direction::any:
      return false;
  }
  return false;
}

void check_error(const std::error_code& ec) {
  AMQTT_FUZZ_CHECK(bool(ec));
  AMQTT_FUZZ_CHECK(&ec.category() == &amqtt::codec_category());
  AMQTT_FUZZ_CHECK(ec.message() != "unknown amqtt codec error");
}

void check_packet(const std::uint8_t* orig, std::size_t size, const amqtt::packet& p) {
  amqtt_fuzz::sink(amqtt_fuzz::hash_packet(p));
  AMQTT_FUZZ_CHECK(!amqtt::validate_packet(p));

  // Encode.
  std::vector<std::uint8_t> enc;
  AMQTT_FUZZ_CHECK(!amqtt::encode_append(p, enc));
  AMQTT_FUZZ_CHECK(enc.size() == amqtt::encoded_size(p));

  // Canonical: same first byte, remaining length value and body; minimal varint.
  std::uint32_t orig_len = 0, enc_len = 0;
  std::size_t orig_used = 0, enc_used = 0;
  std::error_code ec;
  AMQTT_FUZZ_CHECK(amqtt::decode_remaining_length(orig + 1, size - 1, orig_len, orig_used, ec) ==
                   decode_status::complete);
  AMQTT_FUZZ_CHECK(amqtt::decode_remaining_length(enc.data() + 1, enc.size() - 1, enc_len, enc_used,
                                                  ec) == decode_status::complete);
  AMQTT_FUZZ_CHECK(enc[0] == orig[0]);
  AMQTT_FUZZ_CHECK(enc_len == orig_len);
  AMQTT_FUZZ_CHECK(enc_used == amqtt::remaining_length_size(enc_len));
  AMQTT_FUZZ_CHECK(orig_used >= enc_used);
  AMQTT_FUZZ_CHECK(1 + orig_used + orig_len == size);
  AMQTT_FUZZ_CHECK(1 + enc_used + enc_len == enc.size());
  AMQTT_FUZZ_CHECK(orig_len == 0 ||
                   std::memcmp(orig + 1 + orig_used, enc.data() + 1 + enc_used, orig_len) == 0);
  if (orig_used == enc_used) {
    AMQTT_FUZZ_CHECK(enc.size() == size && std::memcmp(orig, enc.data(), size) == 0);
  }

  // Decode the re-encoding: equal packet, and it re-encodes to the same bytes.
  amqtt::packet p2;
  const auto r2 = amqtt::decode_packet(enc.data(), enc.size(), p2);
  AMQTT_FUZZ_CHECK(r2.status == decode_status::complete && r2.consumed == enc.size());
  AMQTT_FUZZ_CHECK(p2 == p);
  amqtt_fuzz::sink(amqtt_fuzz::hash_packet(p2));
  std::vector<std::uint8_t> enc2;
  AMQTT_FUZZ_CHECK(!amqtt::encode_append(p2, enc2));
  AMQTT_FUZZ_CHECK(enc2 == enc);

  // encode() into an exact buffer, and into one a byte too small.
  std::vector<std::uint8_t> buf(enc.size());
  const auto e1 = amqtt::encode(p, buf.data(), buf.size());
  AMQTT_FUZZ_CHECK(!e1.error && e1.size == enc.size() && buf == enc);
  const auto e2 = amqtt::encode(p, buf.data(), buf.size() - 1);
  AMQTT_FUZZ_CHECK(e2.error == amqtt::codec_errc::buffer_too_small && e2.size == 0);

  // Appending keeps what was in the buffer.
  std::string appended = "xy";
  AMQTT_FUZZ_CHECK(!amqtt::encode_append(p, appended));
  AMQTT_FUZZ_CHECK(appended.size() == 2 + enc.size() && appended.compare(0, 2, "xy") == 0 &&
                   std::memcmp(appended.data() + 2, enc.data(), enc.size()) == 0);

  // Prefixes are need_more.
  for (std::size_t cut : {std::size_t{0}, std::size_t{1}, size / 2, size - 1}) {
    if (cut >= size) continue;
    amqtt::packet q;
    const auto r = amqtt::decode_packet(orig, cut, q);
    AMQTT_FUZZ_CHECK(r.status == decode_status::need_more && !r.error && r.consumed == 0);
  }

  // The packet-size limit is inclusive.
  {
    amqtt::packet q;
    amqtt::decode_options o;
    o.max_packet_size = size;
    auto r = amqtt::decode_packet(orig, size, q, o);
    AMQTT_FUZZ_CHECK(r.status == decode_status::complete && q == p);
    o.max_packet_size = size - 1;
    r = amqtt::decode_packet(orig, size, q, o);
    AMQTT_FUZZ_CHECK(r.status == decode_status::error &&
                     r.error == amqtt::codec_errc::packet_too_large);
  }

  // Directions.
  for (auto d :
       {amqtt::packet_direction::server_to_client, amqtt::packet_direction::client_to_server}) {
    amqtt::packet q;
    amqtt::decode_options o;
    o.direction = d;
    const auto r = amqtt::decode_packet(orig, size, q, o);
    if (forbidden(amqtt::type_of(p), d)) {
      AMQTT_FUZZ_CHECK(r.status == decode_status::error &&
                       r.error == amqtt::codec_errc::unexpected_packet_direction);
    } else {
      AMQTT_FUZZ_CHECK(r.status == decode_status::complete && r.consumed == size && q == p);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::size_t pos = 0;
  amqtt::packet p;  // reused across packets, as a connection would
  while (pos < size) {
    const auto r = amqtt::decode_packet(data + pos, size - pos, p);
    {
      amqtt::packet fast = amqtt::publish_packet{};
      amqtt::packet general = amqtt::connack_packet{};
      const auto rf = amqtt::decode_packet(data + pos, size - pos, fast);
      const auto rg = amqtt::decode_packet(data + pos, size - pos, general);
      AMQTT_FUZZ_CHECK(rf.status == r.status && rf.error == r.error && rf.consumed == r.consumed);
      AMQTT_FUZZ_CHECK(rg.status == r.status && rg.error == r.error && rg.consumed == r.consumed);
      if (r.status == decode_status::complete) AMQTT_FUZZ_CHECK(fast == p && general == p);
    }
    if (r.status == decode_status::error) {
      check_error(r.error);
      AMQTT_FUZZ_CHECK(r.consumed == 0);
      break;
    }
    if (r.status == decode_status::need_more) {
      AMQTT_FUZZ_CHECK(!r.error && r.consumed == 0);
      break;
    }
    AMQTT_FUZZ_CHECK(!r.error && r.consumed >= 2 && r.consumed <= size - pos);
    check_packet(data + pos, r.consumed, p);
    pos += r.consumed;
  }
  return 0;
}
