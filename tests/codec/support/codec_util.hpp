#pragma once
// Helpers shared by the codec tests: hex <-> bytes, one-shot encode/decode, readable printing
// of packets and error codes for Catch, the list of every codec_errc, the test seed, and a
// generator of random valid packets.

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <iostream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <variant>
#include <vector>

#include <catch2/catch.hpp>

#include <amqtt/codec/codec.hpp>

namespace amqtt_test {

using byte_vector = std::vector<std::uint8_t>;

// "10 0D 0004 4d51" -> bytes. Whitespace is ignored; anything else that is not a hex digit, or
// an odd number of digits, throws.
inline byte_vector from_hex(std::string_view hex) {
  byte_vector out;
  int high = -1;
  for (char c : hex) {
    int v;
    if (c >= '0' && c <= '9') {
      v = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      v = c - 'a' + 10;
    } else if (c >= 'A' && c <= 'F') {
      v = c - 'A' + 10;
    } else if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      continue;
    } else {
      throw std::invalid_argument("from_hex: not a hex digit in \"" + std::string(hex) + "\"");
    }
    if (high < 0) {
      high = v;
    } else {
      out.push_back(static_cast<std::uint8_t>(high * 16 + v));
      high = -1;
    }
  }
  if (high >= 0) throw std::invalid_argument("from_hex: odd digit count: " + std::string(hex));
  return out;
}

// Bytes -> "10 0d 00 04"; long inputs are cut after `limit` bytes.
inline std::string to_hex(const std::uint8_t* p, std::size_t n, std::size_t limit = 96) {
  static const char digits[] = "0123456789abcdef";
  std::string s;
  for (std::size_t i = 0; i < n && i < limit; ++i) {
    if (i != 0) s += ' ';
    s += digits[p[i] >> 4];
    s += digits[p[i] & 15];
  }
  if (n > limit) s += " ... (" + std::to_string(n) + " bytes)";
  return s;
}
inline std::string to_hex(const byte_vector& v, std::size_t limit = 96) {
  return to_hex(v.data(), v.size(), limit);
}
inline std::string to_hex(std::string_view s, std::size_t limit = 96) {
  return to_hex(reinterpret_cast<const std::uint8_t*>(s.data()), s.size(), limit);
}

inline std::string_view as_chars(const byte_vector& v) {
  return {reinterpret_cast<const char*>(v.data()), v.size()};
}

// Encodes a packet that must be valid.
template <class P>
byte_vector encode_to_vector(const P& p) {
  byte_vector out;
  const std::error_code ec = amqtt::encode_append(p, out);
  if (ec) FAIL("encode_append failed: " << ec.message());
  return out;
}

// Result of decoding one buffer with decode_packet.
struct decoded {
  amqtt::decode_result result;
  amqtt::packet packet;
};

inline decoded decode_bytes(const byte_vector& bytes, amqtt::decode_options options = {}) {
  decoded d;
  d.result = amqtt::decode_packet(bytes.data(), bytes.size(), d.packet, options);
  return d;
}

// The error decode_packet reports for `bytes` (an empty error_code when it does not fail).
inline std::error_code decode_error(const byte_vector& bytes, amqtt::decode_options options = {}) {
  const decoded d = decode_bytes(bytes, options);
  return d.result.status == amqtt::decode_status::error ? d.result.error : std::error_code{};
}

// ---- every codec_errc ------------------------------------------------------------------------
struct errc_info {
  amqtt::codec_errc code;
  const char* name;
};

// clang-format off
#define AMQTT_TEST_ERRC(x) errc_info{amqtt::codec_errc::x, #x}
// clang-format on
inline const std::vector<errc_info>& all_codec_errcs() {
  static const std::vector<errc_info> all = {
      AMQTT_TEST_ERRC(malformed_remaining_length),
      AMQTT_TEST_ERRC(packet_too_large),
      AMQTT_TEST_ERRC(reserved_packet_type),
      AMQTT_TEST_ERRC(auth_not_supported),
      AMQTT_TEST_ERRC(invalid_fixed_header_flags),
      AMQTT_TEST_ERRC(unexpected_packet_direction),
      AMQTT_TEST_ERRC(truncated_packet),
      AMQTT_TEST_ERRC(trailing_bytes),
      AMQTT_TEST_ERRC(invalid_qos),
      AMQTT_TEST_ERRC(dup_with_qos0),
      AMQTT_TEST_ERRC(zero_packet_id),
      AMQTT_TEST_ERRC(unexpected_packet_id),
      AMQTT_TEST_ERRC(invalid_protocol_name),
      AMQTT_TEST_ERRC(unsupported_protocol_level),
      AMQTT_TEST_ERRC(connect_reserved_flag),
      AMQTT_TEST_ERRC(will_flags_without_will),
      AMQTT_TEST_ERRC(invalid_will_qos),
      AMQTT_TEST_ERRC(password_without_username),
      AMQTT_TEST_ERRC(empty_client_id_needs_clean_session),
      AMQTT_TEST_ERRC(connack_reserved_bits),
      AMQTT_TEST_ERRC(invalid_connack_return_code),
      AMQTT_TEST_ERRC(empty_subscribe),
      AMQTT_TEST_ERRC(invalid_requested_qos),
      AMQTT_TEST_ERRC(empty_suback),
      AMQTT_TEST_ERRC(invalid_suback_return_code),
      AMQTT_TEST_ERRC(empty_unsubscribe),
      AMQTT_TEST_ERRC(ill_formed_utf8),
      AMQTT_TEST_ERRC(utf8_null_character),
      AMQTT_TEST_ERRC(string_too_long),
      AMQTT_TEST_ERRC(empty_topic),
      AMQTT_TEST_ERRC(wildcard_in_topic_name),
      AMQTT_TEST_ERRC(invalid_topic_filter),
      AMQTT_TEST_ERRC(buffer_too_small),
      AMQTT_TEST_ERRC(remaining_length_overflow),
  };
  return all;
}
#undef AMQTT_TEST_ERRC

inline const char* errc_name(amqtt::codec_errc e) {
  for (const auto& i : all_codec_errcs())
    if (i.code == e) return i.name;
  return "?";
}

inline std::string describe(const std::error_code& ec) {
  if (!ec) return "no error";
  if (ec.category() == amqtt::codec_category())
    return std::string("codec_errc::") + errc_name(static_cast<amqtt::codec_errc>(ec.value())) +
           " (" + ec.message() + ")";
  return std::string(ec.category().name()) + ":" + std::to_string(ec.value()) + " (" +
         ec.message() + ")";
}

// ---- printing packets ------------------------------------------------------------------------
inline std::string quoted(std::string_view s, std::size_t limit = 80) {
  std::string out = "\"";
  static const char digits[] = "0123456789abcdef";
  for (std::size_t i = 0; i < s.size() && i < limit; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7F && c != '"' && c != '\\') {
      out += static_cast<char>(c);
    } else {
      out += "\\x";
      out += digits[c >> 4];
      out += digits[c & 15];
    }
  }
  out += '"';
  if (s.size() > limit) out += "...(" + std::to_string(s.size()) + " bytes)";
  return out;
}

inline std::string describe(const amqtt::packet& p) {
  using namespace amqtt;
  std::ostringstream o;
  std::visit(
      [&o](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, connect_packet>) {
          o << "CONNECT{client_id=" << quoted(x.client_id) << " clean=" << x.clean_session
            << " keep_alive=" << x.keep_alive;
          if (x.will)
            o << " will={topic=" << quoted(x.will->topic) << " payload=" << quoted(x.will->payload)
              << " qos=" << int(x.will->qos) << " retain=" << x.will->retain << "}";
          if (x.username) o << " username=" << quoted(*x.username);
          if (x.password) o << " password=" << quoted(*x.password);
          o << "}";
        } else if constexpr (std::is_same_v<T, connack_packet>) {
          o << "CONNACK{session_present=" << x.session_present << " rc=" << int(x.return_code)
            << "}";
        } else if constexpr (std::is_same_v<T, publish_packet>) {
          o << "PUBLISH{topic=" << quoted(x.topic) << " qos=" << int(x.qos) << " dup=" << x.dup
            << " retain=" << x.retain << " id=" << x.packet_id << " payload=" << quoted(x.payload)
            << "}";
        } else if constexpr (std::is_same_v<T, puback_packet>) {
          o << "PUBACK{id=" << x.packet_id << "}";
        } else if constexpr (std::is_same_v<T, pubrec_packet>) {
          o << "PUBREC{id=" << x.packet_id << "}";
        } else if constexpr (std::is_same_v<T, pubrel_packet>) {
          o << "PUBREL{id=" << x.packet_id << "}";
        } else if constexpr (std::is_same_v<T, pubcomp_packet>) {
          o << "PUBCOMP{id=" << x.packet_id << "}";
        } else if constexpr (std::is_same_v<T, subscribe_packet>) {
          o << "SUBSCRIBE{id=" << x.packet_id;
          for (const auto& e : x.entries) o << " " << quoted(e.filter) << ":" << int(e.max_qos);
          o << "}";
        } else if constexpr (std::is_same_v<T, suback_packet>) {
          o << "SUBACK{id=" << x.packet_id;
          for (auto c : x.return_codes) o << " " << int(c);
          o << "}";
        } else if constexpr (std::is_same_v<T, unsubscribe_packet>) {
          o << "UNSUBSCRIBE{id=" << x.packet_id;
          for (auto f : x.filters) o << " " << quoted(f);
          o << "}";
        } else if constexpr (std::is_same_v<T, unsuback_packet>) {
          o << "UNSUBACK{id=" << x.packet_id << "}";
        } else if constexpr (std::is_same_v<T, pingreq_packet>) {
          o << "PINGREQ{}";
        } else if constexpr (std::is_same_v<T, pingresp_packet>) {
          o << "PINGRESP{}";
        } else {
          static_assert(std::is_same_v<T, disconnect_packet>);
          o << "DISCONNECT{}";
        }
      },
      p);
  return o.str();
}

// ---- seeds -----------------------------------------------------------------------------------
// The seed of randomized tests: AMQTT_TEST_SEED from the environment, else `fallback`. Printed,
// so that a failure can be replayed with AMQTT_TEST_SEED=<seed>.
inline std::uint64_t test_seed(const char* what, std::uint64_t fallback) {
  std::uint64_t seed = fallback;
  if (const char* env = std::getenv("AMQTT_TEST_SEED"); env != nullptr && *env != '\0')
    seed = std::strtoull(env, nullptr, 0);
  static std::vector<std::string> printed;  // once per test program and `what`
  if (std::find(printed.begin(), printed.end(), what) == printed.end()) {
    printed.emplace_back(what);
    std::cout << what << ": seed " << seed << " (replay with AMQTT_TEST_SEED=" << seed << ")\n";
  }
  return seed;
}

// Small deterministic random helper: only std::mt19937_64's raw output is specified by the
// standard, so the same seed gives the same sequence with every standard library.
class rng {
 public:
  explicit rng(std::uint64_t seed) : engine_(seed) {}
  std::uint64_t next() { return engine_(); }
  // Uniform enough in [0, n).
  std::size_t below(std::size_t n) { return n == 0 ? 0 : static_cast<std::size_t>(next() % n); }
  std::size_t between(std::size_t lo, std::size_t hi) { return lo + below(hi - lo + 1); }
  bool chance(unsigned percent) { return below(100) < percent; }

 private:
  std::mt19937_64 engine_;
};

// ---- random valid packets --------------------------------------------------------------------
// Strings of generated packets live in the generator (std::deque keeps them in place).
class packet_generator {
 public:
  explicit packet_generator(std::uint64_t seed) : rng_(seed) {}

  rng& random() { return rng_; }
  void clear_storage() { store_.clear(); }

  amqtt::packet any() { return of_type(static_cast<amqtt::packet_type>(rng_.between(1, 14))); }

  amqtt::packet of_type(amqtt::packet_type t) {
    using namespace amqtt;
    switch (t) {
      case packet_type::connect: {
        connect_packet p;
        p.client_id = utf8(0, 23, "/");
        p.clean_session = p.client_id.empty() || rng_.chance(50);
        p.keep_alive = static_cast<std::uint16_t>(rng_.below(65536));
        if (rng_.chance(50)) {
          will_message w;
          w.topic = topic_name();
          w.payload = binary(rng_.chance(90) ? 40 : 3000);
          w.qos = static_cast<qos>(rng_.below(3));
          w.retain = rng_.chance(50);
          p.will = w;
        }
        if (rng_.chance(50)) p.username = utf8(0, 30, "");
        if (p.username && rng_.chance(50)) p.password = binary(30);
        return p;
      }
      case packet_type::connack:
        return connack_packet{rng_.chance(50), static_cast<connect_return_code>(rng_.below(6))};
      case packet_type::publish: {
        publish_packet p;
        p.topic = topic_name();
        p.payload = binary(rng_.chance(90) ? 64 : 5000);
        p.qos = static_cast<qos>(rng_.below(3));
        p.retain = rng_.chance(50);
        if (p.qos != qos::at_most_once) {
          p.packet_id = packet_id();
          p.dup = rng_.chance(30);
        }
        return p;
      }
      case packet_type::puback:
        return puback_packet{packet_id()};
      case packet_type::pubrec:
        return pubrec_packet{packet_id()};
      case packet_type::pubrel:
        return pubrel_packet{packet_id()};
      case packet_type::pubcomp:
        return pubcomp_packet{packet_id()};
      case packet_type::subscribe: {
        subscribe_packet p;
        p.packet_id = packet_id();
        const std::size_t n = rng_.between(1, 5);
        for (std::size_t i = 0; i < n; ++i)
          p.entries.push_back({topic_filter(), static_cast<qos>(rng_.below(3))});
        return p;
      }
      case packet_type::suback: {
        static constexpr std::uint8_t codes[] = {0, 1, 2, 0x80};
        suback_packet p;
        p.packet_id = packet_id();
        const std::size_t n = rng_.between(1, 8);
        for (std::size_t i = 0; i < n; ++i)
          p.return_codes.push_back(static_cast<suback_return_code>(codes[rng_.below(4)]));
        return p;
      }
      case packet_type::unsubscribe: {
        unsubscribe_packet p;
        p.packet_id = packet_id();
        const std::size_t n = rng_.between(1, 5);
        for (std::size_t i = 0; i < n; ++i) p.filters.push_back(topic_filter());
        return p;
      }
      case packet_type::unsuback:
        return unsuback_packet{packet_id()};
      case packet_type::pingreq:
        return pingreq_packet{};
      case packet_type::pingresp:
        return pingresp_packet{};
      case packet_type::disconnect:
        return disconnect_packet{};
      case packet_type::auth:
        break;
    }
    throw std::logic_error("packet_generator: no packet of this type");
  }

  std::uint16_t packet_id() {
    // Favour the edges: 1 and 65535 are where byte-order mistakes show.
    switch (rng_.below(8)) {
      case 0:
        return 1;
      case 1:
        return 65535;
      default:
        return static_cast<std::uint16_t>(rng_.between(1, 65535));
    }
  }

  // Well-formed UTF-8 without U+0000, `min`..`max` code points, none of `exclude` (ASCII only).
  std::string_view utf8(std::size_t min, std::size_t max, std::string_view exclude) {
    std::string s;
    const std::size_t n = rng_.between(min, max);
    for (std::size_t i = 0; i < n; ++i) append_char(s, exclude);
    return keep(std::move(s));
  }

  // A valid topic name: 1..5 levels (levels may be empty), no wildcards, sometimes '$' first.
  std::string_view topic_name() {
    for (;;) {
      std::string s;
      if (rng_.chance(5)) s = "$SYS/";
      const std::size_t levels = rng_.between(1, 5);
      for (std::size_t l = 0; l < levels; ++l) {
        if (l != 0) s += '/';
        const std::size_t n = rng_.chance(10) ? 0 : rng_.between(1, 8);
        for (std::size_t i = 0; i < n; ++i) append_char(s, "/+#");
      }
      if (rng_.chance(1)) s.append(rng_.between(100, 3000), 'x');
      if (!s.empty()) return keep(std::move(s));
    }
  }

  // A valid topic filter: levels of text or '+', sometimes ending in '#'.
  std::string_view topic_filter() {
    std::string s;
    const std::size_t levels = rng_.between(1, 5);
    for (std::size_t l = 0; l < levels; ++l) {
      if (l != 0) s += '/';
      if (l + 1 == levels && rng_.chance(20)) {
        s += '#';
      } else if (rng_.chance(20)) {
        s += '+';
      } else {
        const std::size_t n = rng_.chance(10) ? 0 : rng_.between(1, 8);
        for (std::size_t i = 0; i < n; ++i) append_char(s, "/+#");
      }
    }
    if (s.empty()) s = "+";
    return keep(std::move(s));
  }

  // Arbitrary bytes (NUL and invalid UTF-8 included): payloads and passwords are binary.
  std::string_view binary(std::size_t max) {
    std::string s(rng_.below(max + 1), '\0');
    for (auto& c : s) c = static_cast<char>(rng_.below(256));
    return keep(std::move(s));
  }

 private:
  std::string_view keep(std::string s) {
    store_.push_back(std::move(s));
    return store_.back();
  }

  void append_char(std::string& s, std::string_view exclude) {
    static const std::array<const char*, 9> multibyte = {
        "\xC3\xA9",          // U+00E9
        "\xE2\x82\xAC",      // U+20AC
        "\xF0\x9F\x98\x80",  // U+1F600
        "\xEF\xBB\xBF",      // U+FEFF, kept verbatim [MQTT-1.5.3-3]
        "\x01",              // U+0001: allowed (a receiver MAY reject it; the codec does not)
        "\xEF\xBF\xBF",      // U+FFFF
        "\xF4\x8F\xBF\xBF",  // U+10FFFF
        "\xED\x9F\xBF",      // U+D7FF, just below the surrogates
        "\xEE\x80\x80",      // U+E000, just above them
    };
    if (rng_.chance(15)) {
      s += multibyte[rng_.below(multibyte.size())];
      return;
    }
    for (;;) {
      const char c = static_cast<char>(rng_.between(0x20, 0x7E));
      if (exclude.find(c) == std::string_view::npos) {
        s += c;
        return;
      }
    }
  }

  rng rng_;
  std::deque<std::string> store_;
};

}  // namespace amqtt_test

namespace Catch {
template <>
struct StringMaker<amqtt::packet> {
  static std::string convert(const amqtt::packet& p) { return amqtt_test::describe(p); }
};
template <>
struct StringMaker<std::error_code> {
  static std::string convert(const std::error_code& ec) { return amqtt_test::describe(ec); }
};
template <>
struct StringMaker<amqtt::codec_errc> {
  static std::string convert(amqtt::codec_errc e) {
    return std::string("codec_errc::") + amqtt_test::errc_name(e);
  }
};
template <>
struct StringMaker<amqtt::decode_status> {
  static std::string convert(amqtt::decode_status s) {
    switch (s) {
      case amqtt::decode_status::complete:
        return "complete";
      case amqtt::decode_status::need_more:
        return "need_more";
      case amqtt::decode_status::error:
        return "error";
    }
    return "?";
  }
};
}  // namespace Catch
