#pragma once
// Decoding bytes into packets.
//
// Decoded packets view the input (zero-copy): their strings and payloads point into the bytes
// given to the decoder, so those bytes must outlive the packet. Nothing is allocated from a
// length the peer announced: SUBSCRIBE/SUBACK/UNSUBSCRIBE lists grow one entry per entry that
// actually arrived, and the packet-size limit is checked before any body byte is needed.

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <system_error>

#include "amqtt/codec/error.hpp"
#include "amqtt/codec/force_inline.hpp"
#include "amqtt/codec/packets.hpp"
#include "amqtt/codec/remaining_length.hpp"
#include "amqtt/codec/topic.hpp"
#include "amqtt/codec/utf8.hpp"

namespace amqtt {

// Which side sent the bytes being decoded. A client decodes with `server_to_client`, which
// rejects packets only a client may send (CONNECT, SUBSCRIBE, UNSUBSCRIBE, PINGREQ, DISCONNECT)
// with codec_errc::unexpected_packet_direction.
enum class packet_direction { any, server_to_client, client_to_server };

struct decode_options {
  packet_direction direction = packet_direction::any;
  // Largest whole packet (fixed header included) accepted; larger is codec_errc::packet_too_large.
  std::size_t max_packet_size = 16u * 1024u * 1024u;
};

inline constexpr std::size_t default_max_packet_size = 16u * 1024u * 1024u;

struct fixed_header {
  packet_type type = packet_type::connect;
  std::uint8_t flags = 0;              // low nibble of the first byte
  std::uint32_t remaining_length = 0;  // bytes after the fixed header
  std::uint8_t size = 0;               // bytes of the fixed header itself (2..5)

  std::size_t packet_size() const noexcept { return size + std::size_t{remaining_length}; }
};

struct decode_result {
  decode_status status = decode_status::need_more;
  std::size_t consumed = 0;  // bytes of the input that made up the packet (when complete)
  std::error_code error;     // set when status == error
};

namespace detail {

constexpr bool allowed_from(packet_type t, packet_direction d) noexcept {
  switch (d) {
    case packet_direction::any:
      return true;
    case packet_direction::server_to_client:
      return t != packet_type::connect && t != packet_type::subscribe &&
             t != packet_type::unsubscribe && t != packet_type::pingreq &&
             t != packet_type::disconnect;
    case packet_direction::client_to_server:
      return t != packet_type::connack && t != packet_type::suback && t != packet_type::unsuback &&
             t != packet_type::pingresp;
  }
  return false;
}

// Validates the first byte of a packet: type and reserved flags [MQTT-2.2.2-1], [MQTT-2.2.2-2].
// Returns codec_errc{} (0) when the byte is acceptable.
constexpr codec_errc first_byte_errc(std::uint8_t byte, packet_direction d) noexcept {
  const unsigned type = byte >> 4;
  const unsigned flags = byte & 0x0Fu;
  if (type == 0) return codec_errc::reserved_packet_type;
  if (type == 15) return codec_errc::auth_not_supported;
  const auto t = static_cast<packet_type>(type);
  if (!allowed_from(t, d)) return codec_errc::unexpected_packet_direction;
  switch (t) {
    case packet_type::publish: {
      const unsigned q = (flags >> 1) & 3u;
      if (q == 3) return codec_errc::invalid_qos;                       // [MQTT-3.3.1-4]
      if (q == 0 && (flags & 0x08u)) return codec_errc::dup_with_qos0;  // [MQTT-3.3.1-2]
      return codec_errc{};
    }
    case packet_type::pubrel:       // [MQTT-3.6.1-1]
    case packet_type::subscribe:    // [MQTT-3.8.1-1]
    case packet_type::unsubscribe:  // [MQTT-3.10.1-1]
      return flags == 0x02 ? codec_errc{} : codec_errc::invalid_fixed_header_flags;
    default:
      return flags == 0 ? codec_errc{} : codec_errc::invalid_fixed_header_flags;
  }
}

// first_byte_errc() for every byte and direction, so the hot path is one table load.
struct first_byte_table {
  codec_errc errc[3][256];
};
constexpr first_byte_table make_first_byte_table() noexcept {
  first_byte_table t{};
  for (unsigned d = 0; d < 3; ++d)
    for (unsigned b = 0; b < 256; ++b)
      t.errc[d][b] =
          first_byte_errc(static_cast<std::uint8_t>(b), static_cast<packet_direction>(d));
  return t;
}
inline constexpr first_byte_table first_byte_errors = make_first_byte_table();

AMQTT_FORCE_INLINE codec_errc check_first_byte_fast(std::uint8_t byte,
                                                    packet_direction d) noexcept {
  const auto di = static_cast<unsigned>(d);
  return di < 3 ? first_byte_errors.errc[di][byte] : first_byte_errc(byte, d);
}

// Bounds-checked big-endian reader over one packet body. Any read past the end means the
// remaining length was too short for the contents.
class body_reader {
 public:
  body_reader(const std::uint8_t* data, std::size_t size) noexcept : p_(data), end_(data + size) {}

  std::size_t left() const noexcept { return static_cast<std::size_t>(end_ - p_); }

  AMQTT_FORCE_INLINE bool u8(std::uint8_t& v) noexcept {
    if (p_ == end_) return false;
    v = *p_++;
    return true;
  }
  AMQTT_FORCE_INLINE bool u16(std::uint16_t& v) noexcept {
    if (left() < 2) return false;
    v = static_cast<std::uint16_t>((p_[0] << 8) | p_[1]);
    p_ += 2;
    return true;
  }
  // A length-prefixed field (string or binary data).
  AMQTT_FORCE_INLINE bool field(std::string_view& s) noexcept {
    std::uint16_t n;
    if (!u16(n) || left() < n) return false;
    s = std::string_view(reinterpret_cast<const char*>(p_), n);
    p_ += n;
    return true;
  }
  AMQTT_FORCE_INLINE std::string_view rest() noexcept {
    std::string_view s(reinterpret_cast<const char*>(p_), left());
    p_ = end_;
    return s;
  }

 private:
  const std::uint8_t* p_;
  const std::uint8_t* end_;
};

inline codec_errc truncated() noexcept { return codec_errc::truncated_packet; }
inline codec_errc finish(const body_reader& r) noexcept {
  return r.left() == 0 ? codec_errc{} : codec_errc::trailing_bytes;
}

inline codec_errc decode_connect(body_reader& r, connect_packet& p) noexcept {
  std::string_view name;
  std::uint8_t level, flags;
  if (!r.field(name)) return truncated();
  if (name != "MQTT") return codec_errc::invalid_protocol_name;  // [MQTT-3.1.2-1]
  if (!r.u8(level)) return truncated();
  if (level != 4) return codec_errc::unsupported_protocol_level;  // [MQTT-3.1.2-2]
  if (!r.u8(flags) || !r.u16(p.keep_alive)) return truncated();
  if (flags & 0x01u) return codec_errc::connect_reserved_flag;  // [MQTT-3.1.2-3]
  const bool will = flags & 0x04u;
  const unsigned will_qos = (flags >> 3) & 3u;
  const bool will_retain = flags & 0x20u;
  const bool has_password = flags & 0x40u;
  const bool has_username = flags & 0x80u;
  if (!will && (will_qos != 0 || will_retain))
    return codec_errc::will_flags_without_will;            // [MQTT-3.1.2-11], -13, -15
  if (will_qos == 3) return codec_errc::invalid_will_qos;  // [MQTT-3.1.2-14]
  if (has_password && !has_username)
    return codec_errc::password_without_username;  // [MQTT-3.1.2-22]
  p.clean_session = flags & 0x02u;
  // Payload order: client id, will topic, will message, user name, password [MQTT-3.1.3-1].
  if (!r.field(p.client_id)) return truncated();  // [MQTT-3.1.3-3]
  if (const codec_errc err = utf8_errc(p.client_id); err != codec_errc{})
    return err;  // [MQTT-3.1.3-4]
  if (p.client_id.empty() && !p.clean_session)
    return codec_errc::empty_client_id_needs_clean_session;  // [MQTT-3.1.3-7]
  p.will.reset();
  if (will) {  // [MQTT-3.1.2-9]
    will_message w;
    if (!r.field(w.topic) || !r.field(w.payload)) return truncated();
    if (const codec_errc err = topic_name_errc(w.topic); err != codec_errc{})
      return err;  // [MQTT-3.1.3-10]
    w.qos = static_cast<qos>(will_qos);
    w.retain = will_retain;
    p.will = w;
  }
  p.username.reset();
  p.password.reset();
  if (has_username) {  // [MQTT-3.1.2-19]
    std::string_view u;
    if (!r.field(u)) return truncated();
    if (const codec_errc err = utf8_errc(u); err != codec_errc{}) return err;  // [MQTT-3.1.3-11]
    p.username = u;
  }
  if (has_password) {  // [MQTT-3.1.2-21]
    std::string_view pw;
    if (!r.field(pw)) return truncated();
    p.password = pw;
  }
  return finish(r);  // [MQTT-3.1.2-18], [MQTT-3.1.2-20]: no unflagged fields
}

inline codec_errc decode_connack(body_reader& r, connack_packet& p) noexcept {
  std::uint8_t flags, rc;
  if (!r.u8(flags) || !r.u8(rc)) return truncated();
  if (flags & 0xFEu) return codec_errc::connack_reserved_bits;
  if (rc > 5) return codec_errc::invalid_connack_return_code;
  p.session_present = flags & 0x01u;
  p.return_code = static_cast<connect_return_code>(rc);
  return finish(r);
}

AMQTT_FORCE_INLINE void store_publish(std::uint8_t flags, std::string_view topic,
                                      std::uint16_t packet_id, std::string_view payload,
                                      publish_packet& p) noexcept {
  p.topic = topic;
  p.payload = payload;
  p.packet_id = packet_id;
  p.qos = static_cast<qos>((flags >> 1) & 3u);
  p.dup = flags & 0x08u;
  p.retain = flags & 0x01u;
}

AMQTT_FORCE_INLINE codec_errc decode_publish(std::uint8_t flags, body_reader& r,
                                             publish_packet& p) noexcept {
  // Fields are decoded into locals and stored once at the end: the compiler need not reload
  // them after each store into `p`, and a rejected packet leaves `p` untouched.
  const auto q = static_cast<qos>((flags >> 1) & 3u);
  std::string_view topic;
  std::uint16_t packet_id = 0;
  if (!r.field(topic)) return truncated();
  if (const codec_errc err = topic_name_errc(topic); err != codec_errc{})
    return err;  // [MQTT-3.3.2-1], [MQTT-3.3.2-2]
  if (q != qos::at_most_once) {
    if (!r.u16(packet_id)) return truncated();
    if (packet_id == 0) return codec_errc::zero_packet_id;  // [MQTT-2.3.1-1]
  }
  store_publish(flags, topic, packet_id, r.rest(), p);
  return {};
}

template <class Ack>
inline codec_errc decode_ack(body_reader& r, Ack& p) noexcept {
  if (!r.u16(p.packet_id)) return truncated();
  if (p.packet_id == 0) return codec_errc::zero_packet_id;
  return finish(r);
}

inline codec_errc decode_subscribe(body_reader& r, subscribe_packet& p) {
  if (!r.u16(p.packet_id)) return truncated();
  if (p.packet_id == 0) return codec_errc::zero_packet_id;
  if (r.left() == 0) return codec_errc::empty_subscribe;  // [MQTT-3.8.3-3]
  p.entries.clear();
  while (r.left() != 0) {
    subscribe_entry e;
    std::uint8_t q;
    if (!r.field(e.filter) || !r.u8(q)) return truncated();
    if (const codec_errc err = topic_filter_errc(e.filter); err != codec_errc{})
      return err;                                         // [MQTT-3.8.3-1]
    if (q > 2) return codec_errc::invalid_requested_qos;  // [MQTT-3-8.3-4]
    e.max_qos = static_cast<qos>(q);
    p.entries.push_back(e);
  }
  return {};
}

inline codec_errc decode_suback(body_reader& r, suback_packet& p) {
  if (!r.u16(p.packet_id)) return truncated();
  if (p.packet_id == 0) return codec_errc::zero_packet_id;
  if (r.left() == 0) return codec_errc::empty_suback;
  p.return_codes.clear();
  std::uint8_t c;
  while (r.u8(c)) {
    if (!is_valid_suback_return_code(c)) return codec_errc::invalid_suback_return_code;
    p.return_codes.push_back(static_cast<suback_return_code>(c));
  }
  return {};
}

inline codec_errc decode_unsubscribe(body_reader& r, unsubscribe_packet& p) {
  if (!r.u16(p.packet_id)) return truncated();
  if (p.packet_id == 0) return codec_errc::zero_packet_id;
  if (r.left() == 0) return codec_errc::empty_unsubscribe;  // [MQTT-3.10.3-2]
  p.filters.clear();
  while (r.left() != 0) {
    std::string_view f;
    if (!r.field(f)) return truncated();
    if (const codec_errc err = topic_filter_errc(f); err != codec_errc{})
      return err;  // [MQTT-3.10.3-1]
    p.filters.push_back(f);
  }
  return {};
}

// Emplaces alternative P into the variant (reusing it when it already holds a P, which keeps
// the vectors' capacity across packets) and decodes into it.
template <class P, class F>
AMQTT_FORCE_INLINE codec_errc decode_into(packet& out, F&& f) {
  P* p = std::get_if<P>(&out);
  if (p == nullptr) p = &out.emplace<P>();
  return f(*p);
}

// decode_fixed_header() with the error as codec_errc (see to_error_code).
AMQTT_FORCE_INLINE decode_status fixed_header_errc(const std::uint8_t* data, std::size_t size,
                                                   const decode_options& options,
                                                   fixed_header& header,
                                                   codec_errc& error) noexcept {
  if (size == 0) return decode_status::need_more;
  if (const codec_errc e = check_first_byte_fast(data[0], options.direction); e != codec_errc{}) {
    error = e;
    return decode_status::error;
  }
  std::uint32_t length = 0;
  std::size_t used = 0;
  const decode_status st = remaining_length_status(data + 1, size - 1, length, used);
  if (st != decode_status::complete) {
    if (st == decode_status::error) error = codec_errc::malformed_remaining_length;
    return st;
  }
  header.type = static_cast<packet_type>(data[0] >> 4);
  header.flags = static_cast<std::uint8_t>(data[0] & 0x0Fu);
  header.remaining_length = length;
  header.size = static_cast<std::uint8_t>(1 + used);
  if (header.packet_size() > options.max_packet_size) {
    error = codec_errc::packet_too_large;
    return decode_status::error;
  }
  return decode_status::complete;
}

// body_errc() of a PUBLISH (forced inline into it).
AMQTT_FORCE_INLINE codec_errc publish_body_errc(const fixed_header& h, const std::uint8_t* body,
                                                packet& out) {
  publish_packet* p = std::get_if<publish_packet>(&out);
  if (p == nullptr) p = &out.emplace<publish_packet>();
  body_reader r(body, h.remaining_length);
  return decode_publish(h.flags, r, *p);
}

// decode_body() with the error as codec_errc.
inline codec_errc body_errc(const fixed_header& h, const std::uint8_t* body, packet& out) {
  body_reader r(body, h.remaining_length);
  switch (h.type) {
    case packet_type::connect:
      return decode_into<connect_packet>(out, [&](auto& p) { return decode_connect(r, p); });
    case packet_type::connack:
      return decode_into<connack_packet>(out, [&](auto& p) { return decode_connack(r, p); });
    case packet_type::publish:
      return publish_body_errc(h, body, out);
    case packet_type::puback:
      return decode_into<puback_packet>(out, [&](auto& p) { return decode_ack(r, p); });
    case packet_type::pubrec:
      return decode_into<pubrec_packet>(out, [&](auto& p) { return decode_ack(r, p); });
    case packet_type::pubrel:
      return decode_into<pubrel_packet>(out, [&](auto& p) { return decode_ack(r, p); });
    case packet_type::pubcomp:
      return decode_into<pubcomp_packet>(out, [&](auto& p) { return decode_ack(r, p); });
    case packet_type::subscribe:
      return decode_into<subscribe_packet>(out, [&](auto& p) { return decode_subscribe(r, p); });
    case packet_type::suback:
      return decode_into<suback_packet>(out, [&](auto& p) { return decode_suback(r, p); });
    case packet_type::unsubscribe:
      return decode_into<unsubscribe_packet>(out,
                                             [&](auto& p) { return decode_unsubscribe(r, p); });
    case packet_type::unsuback:
      return decode_into<unsuback_packet>(out, [&](auto& p) { return decode_ack(r, p); });
    case packet_type::pingreq:
      out.emplace<pingreq_packet>();
      return finish(r);
    case packet_type::pingresp:
      out.emplace<pingresp_packet>();
      return finish(r);
    case packet_type::disconnect:
      out.emplace<disconnect_packet>();
      return finish(r);
    case packet_type::auth:
      break;
  }
  return codec_errc::auth_not_supported;
}

}  // namespace detail

// Decodes a fixed header from the start of [data, data+size). Validates the first byte as soon
// as it is there (so garbage is rejected before its length arrives) and the packet-size limit
// as soon as the remaining length is known.
inline decode_status decode_fixed_header(const std::uint8_t* data, std::size_t size,
                                         const decode_options& options, fixed_header& header,
                                         std::error_code& ec) noexcept {
  codec_errc e{};
  const decode_status st = detail::fixed_header_errc(data, size, options, header, e);
  if (st == decode_status::error) ec = e;
  return st;
}

// Decodes the body of a packet whose fixed header is `h`; `body` holds h.remaining_length bytes.
inline std::error_code decode_body(const fixed_header& h, const std::uint8_t* body, packet& out) {
  return detail::to_error_code(detail::body_errc(h, body, out));
}

namespace detail {

// The fast path of decode_packet() for a PUBLISH whose fixed header `h` was read and whose body
// is all there: a valid packet with a topic of at least 8 plain ASCII bytes, decoded into an
// `out` that already holds a publish_packet (a loop decoding a stream of messages). Anything
// else, errors included, returns false and touches nothing: body_errc() then decodes it and
// names the error. It makes no calls, so the caller needs no saved registers for it.
AMQTT_FORCE_INLINE bool decode_plain_publish(const fixed_header& h, const std::uint8_t* body,
                                             packet& out) noexcept {
  publish_packet* const p = std::get_if<publish_packet>(&out);
  if (p == nullptr) return false;
  body_reader r(body, h.remaining_length);
  std::string_view topic;
  std::uint16_t packet_id = 0;
  if (!r.field(topic) || topic.size() < 8 || !plain_topic_name(topic.data(), topic.size()))
    return false;
  if (((h.flags >> 1) & 3u) != 0 && (!r.u16(packet_id) || packet_id == 0)) return false;
  store_publish(h.flags, topic, packet_id, r.rest(), *p);
  return true;
}

// decode_packet() without the std::error_code: 16 bytes, returned in registers. (Building a
// std::error_code calls std::system_category() in libstdc++.so; decode_packet() does that
// in the caller, where a loop can hoist it.)
struct packet_decode {
  decode_status status;
  codec_errc error;      // set when status == error
  std::size_t consumed;  // set when status == complete
};

// The body of any packet, every error. Out of line (and `h` by value), so that the fast path
// calling it last stays free of register saves.
AMQTT_NOINLINE inline packet_decode decode_packet_body(fixed_header h, const std::uint8_t* data,
                                                       packet& out) {
  const codec_errc e = body_errc(h, data + h.size, out);
  if (e != codec_errc{}) return {decode_status::error, e, 0};
  return {decode_status::complete, codec_errc{}, h.packet_size()};
}

inline packet_decode decode_packet_errc(const std::uint8_t* data, std::size_t size, packet& out,
                                        const decode_options& options) {
  fixed_header h;
  codec_errc e{};
  const decode_status st = fixed_header_errc(data, size, options, h, e);
  if (st != decode_status::complete) return {st, e, 0};
  if (size < h.packet_size()) return {decode_status::need_more, codec_errc{}, 0};
  if (h.type == packet_type::publish && decode_plain_publish(h, data + h.size, out))
    return {decode_status::complete, codec_errc{}, h.packet_size()};  // the hot path
  return decode_packet_body(h, data, out);
}

}  // namespace detail

// Decodes one packet from the start of [data, data+size): `need_more` until the whole packet is
// there, then `complete` with `consumed` = its size. The packet views `data`.
AMQTT_FORCE_INLINE decode_result decode_packet(const std::uint8_t* data, std::size_t size,
                                               packet& out, const decode_options& options = {}) {
  const detail::packet_decode d = detail::decode_packet_errc(data, size, out, options);
  decode_result result;
  result.status = d.status;
  result.consumed = d.consumed;
  if (d.status == decode_status::error) result.error = d.error;
  return result;
}

inline decode_result decode_packet(std::string_view bytes, packet& out,
                                   const decode_options& options = {}) {
  return decode_packet(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size(), out,
                       options);
}

}  // namespace amqtt
