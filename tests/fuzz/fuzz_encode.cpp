// libFuzzer target: encode arbitrary packet structs, then decode.
//
// The input drives a FuzzedDataProvider that builds one packet of any type with arbitrary
// field values (strings are arbitrary bytes, or picked from a list of typical topics, or made
// 65,533..65,537 bytes long to probe the string length limit). Then:
//   - encode(), encode_append() and validate_packet() agree: all succeed or all fail with the
//     same error, and a failed encode_append() leaves the buffer untouched;
//   - if the packet is encodable, encoded_size() is the size written and decode_packet() of
//     the bytes returns `complete` with an equal packet (the decoder's rules are no stricter
//     than the encoder's), consuming every byte.
// Together with fuzz_roundtrip (decodable => encodable), this keeps the two rule sets equal.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include <fuzzer/FuzzedDataProvider.h>

#include "amqtt/codec/codec.hpp"
#include "fuzz_common.hpp"

namespace {

// Owns the strings the packet views (each string in its own allocation: views stay valid).
struct arena {
  std::vector<std::unique_ptr<std::string>> strings;
  std::string_view keep(std::string s) {
    strings.push_back(std::make_unique<std::string>(std::move(s)));
    return *strings.back();
  }
};

const char* const kTopics[] = {"a",           "a/b",     "sport/tennis/player1", "$SYS/broker",
                               "/",           "a//b",    "+",                    "#",
                               "sport/+/x",   "sport/#", "a/b#",                 "a+/b",
                               "\xC3\xA9t\xC3\xA9", "\xED\xA0\x80", "x\0y"};

std::string_view some_string(FuzzedDataProvider& in, arena& a) {
  const int kind = in.ConsumeIntegralInRange<int>(0, 31);
  switch (kind < 10 ? 0 : kind < 12 ? 1 : kind == 12 ? 2 : 3) {
    case 0: {
      const std::size_t i = in.ConsumeIntegralInRange<std::size_t>(0, std::size(kTopics) - 1);
      // "x\0y" must keep its NUL: use the array length, not strlen, for that one.
      return i == std::size(kTopics) - 1 ? std::string_view("x\0y", 3)
                                         : std::string_view(kTopics[i]);
    }
    case 1:
      return {};
    case 2: {  // around the 65,535-byte limit
      const std::size_t n = 65533 + in.ConsumeIntegralInRange<std::size_t>(0, 4);
      return a.keep(std::string(n, in.ConsumeBool() ? 'a' : '/'));
    }
    default:
      return a.keep(in.ConsumeRandomLengthString(300));
  }
}

amqtt::qos some_qos(FuzzedDataProvider& in) {
  // Mostly valid, sometimes 3 or worse.
  const std::uint8_t q = in.ConsumeIntegral<std::uint8_t>();
  return static_cast<amqtt::qos>(q < 200 ? q % 3 : q);
}

std::uint16_t some_id(FuzzedDataProvider& in) {
  return in.ConsumeBool() ? std::uint16_t{0} : in.ConsumeIntegral<std::uint16_t>();
}

amqtt::packet make_packet(FuzzedDataProvider& in, arena& a) {
  switch (in.ConsumeIntegralInRange<int>(1, 14)) {
    case 1: {
      amqtt::connect_packet p;
      p.client_id = some_string(in, a);
      p.clean_session = in.ConsumeBool();
      p.keep_alive = in.ConsumeIntegral<std::uint16_t>();
      if (in.ConsumeBool()) {
        amqtt::will_message w;
        w.topic = some_string(in, a);
        w.payload = some_string(in, a);
        w.qos = some_qos(in);
        w.retain = in.ConsumeBool();
        p.will = w;
      }
      if (in.ConsumeBool()) p.username = some_string(in, a);
      if (in.ConsumeBool()) p.password = some_string(in, a);
      return p;
    }
    case 2: {
      amqtt::connack_packet p;
      p.session_present = in.ConsumeBool();
      p.return_code = static_cast<amqtt::connect_return_code>(in.ConsumeIntegralInRange(0, 7));
      return p;
    }
    case 3: {
      amqtt::publish_packet p;
      p.topic = some_string(in, a);
      p.qos = some_qos(in);
      p.retain = in.ConsumeBool();
      p.dup = in.ConsumeBool();
      p.packet_id = some_id(in);
      p.payload = some_string(in, a);
      return p;
    }
    case 4: return amqtt::puback_packet{some_id(in)};
    case 5: return amqtt::pubrec_packet{some_id(in)};
    case 6: return amqtt::pubrel_packet{some_id(in)};
    case 7: return amqtt::pubcomp_packet{some_id(in)};
    case 8: {
      amqtt::subscribe_packet p;
      p.packet_id = some_id(in);
      const int n = in.ConsumeIntegralInRange(0, 8);
      for (int i = 0; i < n; ++i) p.entries.push_back({some_string(in, a), some_qos(in)});
      return p;
    }
    case 9: {
      amqtt::suback_packet p;
      p.packet_id = some_id(in);
      const int n = in.ConsumeIntegralInRange(0, 8);
      for (int i = 0; i < n; ++i) {
        const std::uint8_t c = in.ConsumeIntegral<std::uint8_t>();
        p.return_codes.push_back(static_cast<amqtt::suback_return_code>(c < 128 ? c % 3 : c));
      }
      return p;
    }
    case 10: {
      amqtt::unsubscribe_packet p;
      p.packet_id = some_id(in);
      const int n = in.ConsumeIntegralInRange(0, 8);
      for (int i = 0; i < n; ++i) p.filters.push_back(some_string(in, a));
      return p;
    }
    case 11: return amqtt::unsuback_packet{some_id(in)};
    case 12: return amqtt::pingreq_packet{};
    case 13: return amqtt::pingresp_packet{};
    default: return amqtt::disconnect_packet{};
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  arena a;
  const amqtt::packet p = make_packet(in, a);

  const std::error_code valid = amqtt::validate_packet(p);
  std::vector<std::uint8_t> enc{0xAA};  // appended to: must stay as it is on failure
  const std::error_code appended = amqtt::encode_append(p, enc);
  AMQTT_FUZZ_CHECK(appended == valid);
  const std::size_t cap = appended ? 16 : enc.size() - 1;
  std::vector<std::uint8_t> buf(cap);
  const amqtt::encode_result r = amqtt::encode(p, buf.data(), buf.size());
  AMQTT_FUZZ_CHECK(r.error == valid);
  if (valid) {
    AMQTT_FUZZ_CHECK(&valid.category() == &amqtt::codec_category());
    AMQTT_FUZZ_CHECK(enc.size() == 1 && enc[0] == 0xAA && r.size == 0);
    return 0;
  }
  AMQTT_FUZZ_CHECK(r.size == enc.size() - 1 && r.size == amqtt::encoded_size(p));
  AMQTT_FUZZ_CHECK(std::equal(buf.begin(), buf.end(), enc.begin() + 1));

  amqtt::packet q;
  const auto d = amqtt::decode_packet(enc.data() + 1, enc.size() - 1, q);
  AMQTT_FUZZ_CHECK(d.status == amqtt::decode_status::complete && d.consumed == enc.size() - 1);
  AMQTT_FUZZ_CHECK(q == p);
  amqtt_fuzz::sink(amqtt_fuzz::hash_packet(q));
  return 0;
}
