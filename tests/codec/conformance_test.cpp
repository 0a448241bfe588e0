// Conformance vectors from Eclipse Mosquitto's test data
// (shared/conformance/mosquitto-msg-sequence, the MQTT 3.1.1 groups): every packet a broker sends
// to the client in those cases goes through a client's stream_decoder
// (packet_direction::server_to_client).
//
//  - Cases expecting a disconnect must be rejected by the codec with the specific codec_errc
//    listed below, except the few whose violation is about session state, which no codec can
//    see (session_level below): those must decode fine, and the protocol session tests catch them.
//  - Cases expecting the client to stay connected must decode fine.
//  - The files named after client-to-server packets (CONNECT, SUBSCRIBE, ...) are rejected by a
//    client by direction alone; they are also decoded as a server would (client_to_server), with
//    the expected outcome of each case listed below.
//  - Bytes the client must send ("recv") decode as client_to_server and re-encode identically.
//
// Every table entry must match a loaded case and every loaded case must have an entry, so the
// tables cannot go stale; zero loaded cases is a failure (e.g. the shared directory is missing).

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <iterator>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include <amqtt/codec/codec.hpp>

#include "codec/support/codec_util.hpp"
#include "codec/support/json.hpp"

using namespace amqtt;
using amqtt_test::byte_vector;

namespace {

namespace fs = std::filesystem;

const char* const case_dir = AMQTT_SHARED_DIR "/conformance/mosquitto-msg-sequence";

struct loaded_case {
  std::string file;   // "CONNACK.json"
  std::string group;  // "v3.1.1 CONNACK"
  std::string name;   // "20 CAF=0x01"
  bool expect_disconnect = true;
  std::vector<byte_vector> sends;  // broker -> client
  std::vector<byte_vector> recvs;  // client -> broker
};

struct corpus {
  std::vector<std::string> files;
  std::vector<loaded_case> cases;  // MQTT 3.1.1 only
  std::size_t other_versions = 0;  // cases of MQTT 3.1 / 5.0 groups, skipped
  std::string error;               // why loading failed, if it did
};

bool flag(const amqtt_test::json::value* test, const amqtt_test::json::value& group,
          const char* key, bool fallback) {
  if (const auto* v = test->get(key); v != nullptr && v->is_bool()) return v->boolean;
  if (const auto* v = group.get(key); v != nullptr && v->is_bool()) return v->boolean;
  return fallback;
}

void add_messages(const amqtt_test::json::value* msgs, loaded_case& c) {
  if (msgs == nullptr) return;
  if (!msgs->is_array()) throw std::runtime_error(c.name + ": msgs is not an array");
  for (const auto& m : msgs->items) {
    const auto* type = m.get("type");
    const auto* payload = m.get("payload");
    if (type == nullptr || payload == nullptr || !type->is_string() || !payload->is_string())
      throw std::runtime_error(c.name + ": message without type/payload");
    if (type->string == "send")
      c.sends.push_back(amqtt_test::from_hex(payload->string));
    else if (type->string == "recv")
      c.recvs.push_back(amqtt_test::from_hex(payload->string));
    else
      throw std::runtime_error(c.name + ": unknown message type " + type->string);
  }
}

corpus load_corpus() {
  corpus out;
  try {
    std::vector<fs::path> paths;
    for (const auto& entry : fs::directory_iterator(case_dir))
      if (entry.path().extension() == ".json") paths.push_back(entry.path());
    std::sort(paths.begin(), paths.end());
    for (const auto& path : paths) {
      const std::string file = path.filename().string();
      out.files.push_back(file);
      const auto doc = amqtt_test::json::parse_file(path.string());
      if (!doc.is_array()) throw std::runtime_error(file + ": not an array of groups");
      for (const auto& group : doc.items) {
        const auto* tests = group.get("tests");
        const auto* group_name = group.get("group");
        if (tests == nullptr || !tests->is_array() || group_name == nullptr)
          throw std::runtime_error(file + ": group without name or tests");
        for (const auto& test : tests->items) {
          // The version: the test's own "ver", else the group's; none means 3.1.1.
          const auto* ver = test.get("ver");
          if (ver == nullptr) ver = group.get("ver");
          if (ver != nullptr && !(ver->is_number() && ver->number == 4)) {
            ++out.other_versions;
            continue;
          }
          loaded_case c;
          c.file = file;
          c.group = group_name->string;
          const auto* name = test.get("name");
          if (name == nullptr || !name->is_string())
            throw std::runtime_error(file + ": test without a name");
          c.name = name->string;
          c.expect_disconnect = flag(&test, group, "expect_disconnect", true);
          add_messages(group.get("group_msgs"), c);
          add_messages(test.get("msgs"), c);
          out.cases.push_back(std::move(c));
        }
      }
    }
  } catch (const std::exception& e) {
    out.error = e.what();
  }
  return out;
}

const corpus& cases() {
  static const corpus c = load_corpus();
  return c;
}

// ---- expectations: a client decoding what the broker sends (server_to_client) ---------------

// Files whose packets only a client may send: a client rejects all of them by direction.
const std::set<std::string> client_to_server_files = {
    "CONNECT.json", "SUBSCRIBE.json", "UNSUBSCRIBE.json", "PINGREQ.json", "DISCONNECT.json"};

struct rejection {
  const char* file;
  const char* name;
  codec_errc error;
};

// Server-to-client cases expecting a disconnect, and the codec_errc that causes it.
const rejection client_rejections[] = {
    {"AUTH.json", "F0 [MQTT-3.1.0-1]", codec_errc::auth_not_supported},
    {"AUTH.json", "F0 long", codec_errc::auth_not_supported},
    {"AUTH.json", "F1", codec_errc::auth_not_supported},
    {"AUTH.json", "F2", codec_errc::auth_not_supported},
    {"AUTH.json", "F4", codec_errc::auth_not_supported},
    {"AUTH.json", "F8", codec_errc::auth_not_supported},
    {"CONNACK.json", "20 long", codec_errc::trailing_bytes},
    {"CONNACK.json", "20 short 1", codec_errc::truncated_packet},
    {"CONNACK.json", "20 short 0", codec_errc::truncated_packet},
    {"CONNACK.json", "21", codec_errc::invalid_fixed_header_flags},
    {"CONNACK.json", "22", codec_errc::invalid_fixed_header_flags},
    {"CONNACK.json", "24", codec_errc::invalid_fixed_header_flags},
    {"CONNACK.json", "28", codec_errc::invalid_fixed_header_flags},
    {"CONNACK.json", "issue 2163 v4", codec_errc::invalid_fixed_header_flags},
    {"CONNACK.json", "20 CAF=0x02", codec_errc::connack_reserved_bits},
    {"CONNACK.json", "20 CAF=0x04", codec_errc::connack_reserved_bits},
    {"CONNACK.json", "20 CAF=0x08", codec_errc::connack_reserved_bits},
    {"CONNACK.json", "20 CAF=0x10", codec_errc::connack_reserved_bits},
    {"CONNACK.json", "20 CAF=0x20", codec_errc::connack_reserved_bits},
    {"CONNACK.json", "20 CAF=0x40", codec_errc::connack_reserved_bits},
    {"CONNACK.json", "20 CAF=0x80", codec_errc::connack_reserved_bits},
    {"FORBIDDEN.json", "00 first packet", codec_errc::reserved_packet_type},
    {"FORBIDDEN.json", "01 first packet", codec_errc::reserved_packet_type},
    {"FORBIDDEN.json", "02 first packet", codec_errc::reserved_packet_type},
    {"FORBIDDEN.json", "04 first packet", codec_errc::reserved_packet_type},
    {"FORBIDDEN.json", "08 first packet", codec_errc::reserved_packet_type},
    {"FORBIDDEN.json", "00 long", codec_errc::reserved_packet_type},
    {"FORBIDDEN.json", "00", codec_errc::reserved_packet_type},
    {"FORBIDDEN.json", "01", codec_errc::reserved_packet_type},
    {"FORBIDDEN.json", "02", codec_errc::reserved_packet_type},
    {"FORBIDDEN.json", "04", codec_errc::reserved_packet_type},
    {"FORBIDDEN.json", "08", codec_errc::reserved_packet_type},
    {"PINGRESP.json", "D0 long", codec_errc::trailing_bytes},
    {"PINGRESP.json", "D1", codec_errc::invalid_fixed_header_flags},
    {"PINGRESP.json", "D2", codec_errc::invalid_fixed_header_flags},
    {"PINGRESP.json", "D4", codec_errc::invalid_fixed_header_flags},
    {"PINGRESP.json", "D8", codec_errc::invalid_fixed_header_flags},
    {"PUBACK.json", "40 long", codec_errc::trailing_bytes},
    {"PUBACK.json", "40 mid 0", codec_errc::zero_packet_id},
    {"PUBACK.json", "40 short 0", codec_errc::truncated_packet},
    {"PUBACK.json", "40 short 1", codec_errc::truncated_packet},
    {"PUBACK.json", "41", codec_errc::invalid_fixed_header_flags},
    {"PUBACK.json", "42", codec_errc::invalid_fixed_header_flags},
    {"PUBACK.json", "44", codec_errc::invalid_fixed_header_flags},
    {"PUBACK.json", "48", codec_errc::invalid_fixed_header_flags},
    {"PUBREC.json", "50 long", codec_errc::trailing_bytes},
    {"PUBREC.json", "50 mid 0", codec_errc::zero_packet_id},
    {"PUBREC.json", "50 short 0", codec_errc::truncated_packet},
    {"PUBREC.json", "50 short 1", codec_errc::truncated_packet},
    {"PUBREC.json", "51", codec_errc::invalid_fixed_header_flags},
    {"PUBREC.json", "52", codec_errc::invalid_fixed_header_flags},
    {"PUBREC.json", "54", codec_errc::invalid_fixed_header_flags},
    {"PUBREC.json", "58", codec_errc::invalid_fixed_header_flags},
    {"UNSUBACK.json", "B0 short 0", codec_errc::truncated_packet},
    {"UNSUBACK.json", "B0 short 1", codec_errc::truncated_packet},
    {"UNSUBACK.json", "B1", codec_errc::invalid_fixed_header_flags},
    {"UNSUBACK.json", "B2", codec_errc::invalid_fixed_header_flags},
    {"UNSUBACK.json", "B4", codec_errc::invalid_fixed_header_flags},
    {"UNSUBACK.json", "B8", codec_errc::invalid_fixed_header_flags},
};

struct session_case {
  const char* file;
  const char* name;
  const char* rule;
};

// Server-to-client cases expecting a disconnect whose bytes are a well-formed packet: the
// violation is about session state, which the codec cannot see. Covered by the protocol session
// tests. This list may only hold cases that really decode fine (checked below).
const session_case session_level[] = {
    // The broker answers a clean-session CONNECT with session present = 1.
    {"CONNACK.json", "20 CAF=0x01",
     "[MQTT-3.2.2-1] a clean-session CONNECT is answered with session present 0 (client closes"
     " on a mismatch): covered by the protocol session tests"},
    // A valid packet arrives before CONNACK ("connack": false).
    {"PINGRESP.json", "D0 [MQTT-3.1.0-1]",
     "[MQTT-3.2.0-1] the first packet from the server must be CONNACK: covered by the protocol "
     "session tests"},
    {"PUBACK.json", "40 [MQTT-3.1.0-1]",
     "[MQTT-3.2.0-1] the first packet from the server must be CONNACK: covered by the protocol "
     "session tests"},
    {"PUBREC.json", "50 [MQTT-3.1.0-1]",
     "[MQTT-3.2.0-1] the first packet from the server must be CONNACK: covered by the protocol "
     "session tests"},
    {"UNSUBACK.json", "B0 [MQTT-3.1.0-1]",
     "[MQTT-3.2.0-1] the first packet from the server must be CONNACK: covered by the protocol "
     "session tests"},
};

// ---- expectations: the client-to-server files decoded as a server would --------------------

struct server_view {
  const char* file;
  const char* name;
  std::optional<codec_errc> error;  // nullopt: decodes fine
};

constexpr std::nullopt_t ok = std::nullopt;

// The codec allows control characters and non-characters (U+0001, U+001F, U+007F, U+009F,
// U+FFFF) in strings: [MQTT-1.5.3] lets a receiver close on them but does not require it, and
// real brokers deliver such topics. Mosquitto's broker rejects them; these are marked "allowed".
// The cases named "U+FFFF" actually hold the bytes ED BF BF, which encode U+DFFF, a surrogate:
// ill-formed UTF-8 [MQTT-1.5.3-1], rejected.
const server_view server_views[] = {
    {"CONNECT.json", "10 ok ", ok},
    {"CONNECT.json", "10 missing client ID", codec_errc::truncated_packet},
    {"CONNECT.json", "10 empty client ID", ok},
    {"CONNECT.json", "10 empty client ID clean false [MQTT-3.1.3-7]",
     codec_errc::empty_client_id_needs_clean_session},
    {"CONNECT.json", "10 proto ver 2 [MQTT-3.1.2-2]", codec_errc::unsupported_protocol_level},
    {"CONNECT.json", "10 proto ver 6 [MQTT-3.1.2-2]", codec_errc::unsupported_protocol_level},
    {"CONNECT.json", "10 remaining length 5 bytes", codec_errc::malformed_remaining_length},
    {"CONNECT.json", "11", codec_errc::invalid_fixed_header_flags},
    {"CONNECT.json", "12", codec_errc::invalid_fixed_header_flags},
    {"CONNECT.json", "14", codec_errc::invalid_fixed_header_flags},
    {"CONNECT.json", "18", codec_errc::invalid_fixed_header_flags},
    {"CONNECT.json", "10 short proto", codec_errc::invalid_protocol_name},
    {"CONNECT.json", "10 zero proto", codec_errc::invalid_protocol_name},
    {"CONNECT.json", "10 long proto", codec_errc::invalid_protocol_name},
    {"CONNECT.json", "10 [MQTT-3.1.2-1]", codec_errc::invalid_protocol_name},
    {"CONNECT.json", "10 [MQTT-3.1.2-3] ", codec_errc::connect_reserved_flag},
    {"CONNECT.json", "10 Will flag 0 Will QoS 1 [MQTT-3.1.2-11]",
     codec_errc::will_flags_without_will},
    {"CONNECT.json", "10 Will flag 0 Will retain 1 [MQTT-3.1.2-11]",
     codec_errc::will_flags_without_will},
    {"CONNECT.json", "10 Will flag 1 no Will topic no Will message [MQTT-3.1.2-9]",
     codec_errc::truncated_packet},
    {"CONNECT.json", "10 Will flag 1 no Will topic [MQTT-3.1.2-9]", codec_errc::truncated_packet},
    {"CONNECT.json", "10 Will flag 1 ok", ok},
    {"CONNECT.json", "10 Will flag 1 Will Qos 3 [MQTT-3.1.2-14]", codec_errc::invalid_will_qos},
    {"CONNECT.json", "10 Will topic with 0x0000", codec_errc::utf8_null_character},
    {"CONNECT.json", "10 Will topic with U+D800", codec_errc::ill_formed_utf8},
    {"CONNECT.json", "10 Will topic with U+0001", ok},                           // allowed
    {"CONNECT.json", "10 Will topic with U+001F", ok},                           // allowed
    {"CONNECT.json", "10 Will topic with U+007F", ok},                           // allowed
    {"CONNECT.json", "10 Will topic with U+009F", ok},                           // allowed
    {"CONNECT.json", "10 Will topic with U+FFFF", codec_errc::ill_formed_utf8},  // U+DFFF
    {"CONNECT.json", "10 Client ID with 0x0000", codec_errc::utf8_null_character},
    {"CONNECT.json", "10 Client ID with U+D800", codec_errc::ill_formed_utf8},
    {"CONNECT.json", "10 Client ID with U+0001", ok},                           // allowed
    {"CONNECT.json", "10 Client ID with U+001F", ok},                           // allowed
    {"CONNECT.json", "10 Client ID with U+007F", ok},                           // allowed
    {"CONNECT.json", "10 Client ID with U+009F", ok},                           // allowed
    {"CONNECT.json", "10 Client ID with U+FFFF", codec_errc::ill_formed_utf8},  // U+DFFF
    {"CONNECT.json", "10 [MQTT-3.1.2-18]", codec_errc::trailing_bytes},
    {"CONNECT.json", "10 [MQTT-3.1.2-19]", codec_errc::truncated_packet},
    {"CONNECT.json", "10 Username with 0x0000", codec_errc::utf8_null_character},
    {"CONNECT.json", "10 Username with 0xD800", codec_errc::ill_formed_utf8},
    {"CONNECT.json", "10 Username with 0x0001", ok},                           // allowed
    {"CONNECT.json", "10 Username with 0x001F", ok},                           // allowed
    {"CONNECT.json", "10 Username with 0x007F", ok},                           // allowed
    {"CONNECT.json", "10 Username with 0x009F", ok},                           // allowed
    {"CONNECT.json", "10 Username with 0xFFFF", codec_errc::ill_formed_utf8},  // U+DFFF
    {"CONNECT.json", "10 Username zero length ok", ok},
    {"CONNECT.json", "10 Username flag 1 Password flag 1 ok", ok},
    {"CONNECT.json", "10 [MQTT-3.1.2-20]", codec_errc::trailing_bytes},
    {"CONNECT.json", "10 [MQTT-3.1.2-21]", codec_errc::truncated_packet},
    {"CONNECT.json", "10 [MQTT-3.1.2-22]", codec_errc::password_without_username},
    {"CONNECT.json", "10 Password with 0x0000", ok},  // a password is binary data
    {"CONNECT.json", "NanoMQ CWE-119", codec_errc::truncated_packet},
    {"SUBSCRIBE.json", "82 [MQTT-3.1.0-1]", ok},
    {"SUBSCRIBE.json", "80", codec_errc::invalid_fixed_header_flags},
    {"SUBSCRIBE.json", "83 [MQTT-3.8.1-1]", codec_errc::invalid_fixed_header_flags},
    {"SUBSCRIBE.json", "84 [MQTT-3.8.1-1]", codec_errc::invalid_fixed_header_flags},
    {"SUBSCRIBE.json", "86 [MQTT-3.8.1-1]", codec_errc::invalid_fixed_header_flags},
    {"SUBSCRIBE.json", "8A [MQTT-3.8.1-1]", codec_errc::invalid_fixed_header_flags},
    {"SUBSCRIBE.json", "82 QoS 3 [MQTT-3-8.3-4]", codec_errc::invalid_requested_qos},
    {"SUBSCRIBE.json", "82 QoS 0x04 [MQTT-3-8.3-4]", codec_errc::invalid_requested_qos},
    {"SUBSCRIBE.json", "82 QoS 0x08 [MQTT-3-8.3-4]", codec_errc::invalid_requested_qos},
    {"SUBSCRIBE.json", "82 QoS 0x10 [MQTT-3-8.3-4]", codec_errc::invalid_requested_qos},
    {"SUBSCRIBE.json", "82 QoS 0x20 [MQTT-3-8.3-4]", codec_errc::invalid_requested_qos},
    {"SUBSCRIBE.json", "82 QoS 0x40 [MQTT-3-8.3-4]", codec_errc::invalid_requested_qos},
    {"SUBSCRIBE.json", "82 QoS 0x80 [MQTT-3-8.3-4]", codec_errc::invalid_requested_qos},
    {"SUBSCRIBE.json", "82 topic with 0x0000", codec_errc::utf8_null_character},
    {"SUBSCRIBE.json", "82 topic with U+D800", codec_errc::ill_formed_utf8},
    {"SUBSCRIBE.json", "82 topic with U+0001", ok},                           // allowed
    {"SUBSCRIBE.json", "82 topic with U+001F", ok},                           // allowed
    {"SUBSCRIBE.json", "82 topic with U+007F", ok},                           // allowed
    {"SUBSCRIBE.json", "82 topic with U+009F", ok},                           // allowed
    {"SUBSCRIBE.json", "82 topic with U+FFFF", codec_errc::ill_formed_utf8},  // U+DFFF
    {"SUBSCRIBE.json", "82 long", codec_errc::truncated_packet},              // a 1-byte next entry
    {"SUBSCRIBE.json", "82 short 5 [MQTT-3.8.3-3]", codec_errc::truncated_packet},
    {"SUBSCRIBE.json", "82 short 4", codec_errc::truncated_packet},
    {"SUBSCRIBE.json", "82 short 3", codec_errc::truncated_packet},
    {"SUBSCRIBE.json", "82 short 2", codec_errc::empty_subscribe},
    {"SUBSCRIBE.json", "82 short 1", codec_errc::truncated_packet},
    {"SUBSCRIBE.json", "82 short 0", codec_errc::truncated_packet},
    {"SUBSCRIBE.json", "82 single topic len 0", codec_errc::empty_topic},
    {"SUBSCRIBE.json", "82 multiple topic 1 len 0", codec_errc::empty_topic},
    {"SUBSCRIBE.json", "82 multiple topic 2 len 0", codec_errc::empty_topic},
    {"SUBSCRIBE.json", "82 multiple topic 1,2 len 0", codec_errc::empty_topic},
    {"SUBSCRIBE.json", "82 mid 0", codec_errc::zero_packet_id},
    {"SUBSCRIBE.json", "82 single ok QoS 0 [MQTT-3.8.4-1]", ok},
    {"SUBSCRIBE.json", "82 single ok QoS 1 [MQTT-3.8.4-1]", ok},
    {"SUBSCRIBE.json", "82 single ok QoS 2 [MQTT-3.8.4-1]", ok},
    {"SUBSCRIBE.json", "82 multiple ok [MQTT-3.8.4-4]", ok},
    {"UNSUBSCRIBE.json", "A2 [MQTT-3.1.0-1]", ok},
    {"UNSUBSCRIBE.json", "A2 (no subscribe) [MQTT-3.10.4-5]", ok},
    {"UNSUBSCRIBE.json", "A2 multiple [MQTT-3.10.4-6]", ok},
    {"UNSUBSCRIBE.json", "A2 multiple zero 1st", codec_errc::empty_topic},
    {"UNSUBSCRIBE.json", "A2 multiple zero 2nd", codec_errc::empty_topic},
    {"UNSUBSCRIBE.json", "A2 short 4", codec_errc::truncated_packet},
    {"UNSUBSCRIBE.json", "A2 short 3", codec_errc::truncated_packet},
    {"UNSUBSCRIBE.json", "A2 short 2 [MQTT-3.10.3-2]", codec_errc::empty_unsubscribe},
    {"UNSUBSCRIBE.json", "A2 short 1", codec_errc::truncated_packet},
    {"UNSUBSCRIBE.json", "A2 short 0", codec_errc::truncated_packet},
    {"UNSUBSCRIBE.json", "A0 [MQTT-3.10.1-1]", codec_errc::invalid_fixed_header_flags},
    {"UNSUBSCRIBE.json", "A3 [MQTT-3.10.1-1]", codec_errc::invalid_fixed_header_flags},
    {"UNSUBSCRIBE.json", "A4 [MQTT-3.10.1-1]", codec_errc::invalid_fixed_header_flags},
    {"UNSUBSCRIBE.json", "A6 [MQTT-3.10.1-1]", codec_errc::invalid_fixed_header_flags},
    {"UNSUBSCRIBE.json", "AA [MQTT-3.10.1-1]", codec_errc::invalid_fixed_header_flags},
    {"UNSUBSCRIBE.json", "A2 topic with 0x0000", codec_errc::utf8_null_character},
    {"UNSUBSCRIBE.json", "A2 topic with U+D800", codec_errc::ill_formed_utf8},
    {"UNSUBSCRIBE.json", "A2 topic with U+0001", ok},                           // allowed
    {"UNSUBSCRIBE.json", "A2 topic with U+001F", ok},                           // allowed
    {"UNSUBSCRIBE.json", "A2 topic with U+007F", ok},                           // allowed
    {"UNSUBSCRIBE.json", "A2 topic with U+009F", ok},                           // allowed
    {"UNSUBSCRIBE.json", "A2 topic with U+FFFF", codec_errc::ill_formed_utf8},  // U+DFFF
    {"UNSUBSCRIBE.json", "A2 zero mid", codec_errc::zero_packet_id},
    {"PINGREQ.json", "C0 [MQTT-3.1.0-1]", ok},
    {"PINGREQ.json", "C0 long", codec_errc::trailing_bytes},
    {"PINGREQ.json", "C0 valid", ok},
    {"PINGREQ.json", "C1", codec_errc::invalid_fixed_header_flags},
    {"PINGREQ.json", "C2", codec_errc::invalid_fixed_header_flags},
    {"PINGREQ.json", "C4", codec_errc::invalid_fixed_header_flags},
    {"PINGREQ.json", "C8", codec_errc::invalid_fixed_header_flags},
    {"DISCONNECT.json", "E0 [MQTT-3.1.0-1]", ok},
    {"DISCONNECT.json", "E0 long", codec_errc::trailing_bytes},
    {"DISCONNECT.json", "E0 valid", ok},
    {"DISCONNECT.json", "E1 [MQTT-3.14.1-1]", codec_errc::invalid_fixed_header_flags},
    {"DISCONNECT.json", "E2 [MQTT-3.14.1-1]", codec_errc::invalid_fixed_header_flags},
    {"DISCONNECT.json", "E4 [MQTT-3.14.1-1]", codec_errc::invalid_fixed_header_flags},
    {"DISCONNECT.json", "E8 [MQTT-3.14.1-1]", codec_errc::invalid_fixed_header_flags},
};

// Ids that appear in case names but are deliberately not tags of these tests: what the cases
// check for them is not codec behaviour.
const std::map<std::string, const char*> untagged_ids = {
    {"MQTT-3.1.0-1",
     "names a packet sent before CONNACK (really [MQTT-3.2.0-1]); session state: protocol tests"},
    {"MQTT-3.8.4-1", "the server's SUBACK reply; here the SUBSCRIBE only has to decode"},
    {"MQTT-3.8.4-4", "the server's handling of several filters; here they only have to decode"},
    {"MQTT-3.10.4-5", "the server's UNSUBACK reply; here the UNSUBSCRIBE only has to decode"},
    {"MQTT-3.10.4-6", "the server's handling of several filters; here they only have to decode"},
};

// ---- running cases -------------------------------------------------------------------------

struct outcome {
  std::size_t packets = 0;   // complete packets decoded
  std::error_code error;     // the codec's verdict, if it rejected the bytes
  std::size_t leftover = 0;  // bytes still buffered (an incomplete packet) at the end
  bool clean() const { return !error && leftover == 0; }
};

// Feeds every message to one stream_decoder, like bytes arriving on one connection.
outcome run(const std::vector<byte_vector>& messages, packet_direction direction) {
  decode_options options;
  options.direction = direction;
  stream_decoder d(options);
  outcome o;
  for (const auto& m : messages) {
    d.feed(m.data(), m.size());
    for (;;) {
      packet p;
      const decode_result r = d.next(p);
      if (r.status == decode_status::need_more) break;
      if (r.status == decode_status::error) {
        o.error = r.error;
        return o;
      }
      ++o.packets;
    }
  }
  o.leftover = d.buffered();
  return o;
}

std::string describe(const outcome& o) {
  std::ostringstream s;
  s << o.packets << " packet(s), " << amqtt_test::describe(o.error) << ", " << o.leftover
    << " byte(s) left over";
  return s.str();
}

template <class Entry>
const Entry* find_entry(const Entry* begin, const Entry* end, const loaded_case& c) {
  for (const Entry* e = begin; e != end; ++e)
    if (c.file == e->file && c.name == e->name) return e;
  return nullptr;
}
template <class Entry, std::size_t N>
const Entry* find_entry(const Entry (&table)[N], const loaded_case& c) {
  return find_entry(table, table + N, c);
}

struct summary {
  std::size_t cases = 0;
  std::size_t rejected = 0;        // expect_disconnect, rejected by the codec
  std::size_t session_level = 0;   // expect_disconnect, well-formed (allow-list)
  std::size_t stay_connected = 0;  // expect_disconnect false, decoded fine
  std::size_t server_view_ok = 0;  // client-to-server files decoded as a server: accepted
  std::size_t server_view_rejected = 0;
  std::size_t recv_roundtrips = 0;
  std::map<std::string, std::size_t> by_error;
};

// Runs every check on the cases of `file` ("" for all files).
summary check_cases(const std::string& file) {
  const corpus& all = cases();
  INFO("case directory: " << case_dir);
  INFO("loading failed: " << all.error);
  REQUIRE(all.error.empty());
  summary s;
  for (const loaded_case& c : all.cases) {
    if (!file.empty() && c.file != file) continue;
    ++s.cases;
    INFO(c.file << " / " << c.group << " / \"" << c.name << "\"");
    REQUIRE_FALSE(c.sends.empty());

    // 1. What a client makes of the broker's bytes.
    const outcome o = run(c.sends, packet_direction::server_to_client);
    INFO("client decoder: " << describe(o));
    if (!c.expect_disconnect) {
      CHECK(o.clean());
      CHECK(o.packets >= 1);
      ++s.stay_connected;
    } else if (client_to_server_files.count(c.file) != 0) {
      CHECK(o.error == codec_errc::unexpected_packet_direction);
      CHECK(o.packets == 0);
      ++s.rejected;
      ++s.by_error[amqtt_test::errc_name(codec_errc::unexpected_packet_direction)];
    } else if (const auto* r = find_entry(client_rejections, c)) {
      CHECK(o.error == r->error);  // a specific error, never "need more"
      ++s.rejected;
      ++s.by_error[amqtt_test::errc_name(r->error)];
    } else if (const auto* sl = find_entry(session_level, c)) {
      INFO("session-level: " << sl->rule);
      CHECK(o.clean());  // the allow-list may only hold cases that really decode fine
      CHECK(o.packets == c.sends.size());
      ++s.session_level;
    } else {
      FAIL_CHECK(
          "no expectation for this case: add it to client_rejections or, if the "
          "violation is about session state, to session_level");
    }

    // 2. The client-to-server files, decoded as a server would.
    if (client_to_server_files.count(c.file) != 0) {
      const outcome v = run(c.sends, packet_direction::client_to_server);
      INFO("server-side decoder: " << describe(v));
      if (const auto* e = find_entry(server_views, c)) {
        if (e->error) {
          CHECK(v.error == *e->error);
          ++s.server_view_rejected;
        } else {
          CHECK(v.clean());
          ++s.server_view_ok;
        }
      } else {
        FAIL_CHECK("no server_views entry for this case");
      }
    }

    // 3. What the client must send decodes and re-encodes to exactly those bytes.
    for (const byte_vector& recv : c.recvs) {
      INFO("client sends " << amqtt_test::to_hex(recv));
      decode_options options;
      options.direction = packet_direction::client_to_server;
      const auto d = amqtt_test::decode_bytes(recv, options);
      REQUIRE(d.result.status == decode_status::complete);
      CHECK(d.result.consumed == recv.size());
      CHECK(amqtt_test::encode_to_vector(d.packet) == recv);
      ++s.recv_roundtrips;
    }
  }
  return s;
}

// The [MQTT-...] ids in the names of the cases of `file`.
std::set<std::string> ids_in_names(const std::string& file) {
  static const std::regex id(R"(\[(MQTT-[0-9.\-]+)\])");
  std::set<std::string> out;
  for (const loaded_case& c : cases().cases) {
    if (c.file != file) continue;
    for (std::sregex_iterator it(c.name.begin(), c.name.end(), id), end; it != end; ++it)
      out.insert((*it)[1].str());
  }
  return out;
}

// Checks the running test case is tagged with every id its cases name (except untagged_ids).
void check_tags(const std::string& file) {
  const std::string test_name = Catch::getResultCapture().getCurrentTestName();
  std::set<std::string> tags;
  for (const auto& t : Catch::getRegistryHub().getTestCaseRegistry().getAllTests())
    if (t.name == test_name) tags.insert(t.tags.begin(), t.tags.end());
  REQUIRE_FALSE(tags.empty());
  for (const std::string& id : ids_in_names(file)) {
    INFO("case names in " << file << " cite [" << id << "]");
    CHECK((tags.count(id) == 1 || untagged_ids.count(id) == 1));
  }
}

void check_file(const std::string& file) {
  const summary s = check_cases(file);
  INFO(file);
  CHECK(s.cases > 0);
  check_tags(file);
  std::cout << "conformance " << file << ": " << s.cases << " cases, " << s.rejected
            << " rejected, " << s.session_level << " session-level, " << s.stay_connected
            << " stay connected\n";
}

}  // namespace

TEST_CASE("conformance: JSON reader", "[codec][conformance][json]") {
  namespace json = amqtt_test::json;
  const auto v = json::parse(
      R"( [{"a": 1, "b": [true, false, null], "c": "x\"\\\/\n\u00e9\ud83d\ude00"}, -2.5e1, []] )");
  REQUIRE(v.is_array());
  REQUIRE(v.items.size() == 3);
  const auto& o = v.items[0];
  REQUIRE(o.is_object());
  CHECK(o.get("a")->number == 1);
  CHECK(o.get("b")->items.size() == 3);
  CHECK(o.get("b")->items[0].boolean);
  CHECK(o.get("b")->items[2].is_null());
  CHECK(o.get("c")->string == "x\"\\/\n\xC3\xA9\xF0\x9F\x98\x80");
  CHECK(o.get("missing") == nullptr);
  CHECK(v.items[1].number == -25);
  CHECK(v.items[2].items.empty());
  for (const char* bad : {"", "[", "[1,]", "{\"a\" 1}", "[01]", "\"\\x\"", "[1] x", "{'a':1}",
                          "\"\\ud800\"", "[1.]", "tru", "\"a\nb\""}) {
    INFO(bad);
    CHECK_THROWS_AS(json::parse(bad), json::parse_error);
  }
}

TEST_CASE("conformance: mosquitto AUTH cases (reserved type 15)",
          "[codec][conformance][MQTT-4.8.0-1]") {
  check_file("AUTH.json");
}

TEST_CASE("conformance: mosquitto CONNACK cases",
          "[codec][conformance][MQTT-2.2.2-1][MQTT-2.2.2-2][MQTT-4.8.0-1]") {
  check_file("CONNACK.json");
}

TEST_CASE("conformance: mosquitto FORBIDDEN cases (reserved type 0)",
          "[codec][conformance][MQTT-4.8.0-1]") {
  check_file("FORBIDDEN.json");
}

TEST_CASE("conformance: mosquitto PINGRESP cases",
          "[codec][conformance][MQTT-2.2.2-1][MQTT-2.2.2-2]") {
  check_file("PINGRESP.json");
}

TEST_CASE("conformance: mosquitto PUBACK cases",
          "[codec][conformance][MQTT-2.2.2-1][MQTT-2.2.2-2]") {
  check_file("PUBACK.json");
}

TEST_CASE("conformance: mosquitto PUBREC cases",
          "[codec][conformance][MQTT-2.2.2-1][MQTT-2.2.2-2][MQTT-3.6.1-1]") {
  check_file("PUBREC.json");
}

TEST_CASE("conformance: mosquitto UNSUBACK cases",
          "[codec][conformance][MQTT-2.2.2-1][MQTT-2.2.2-2]") {
  check_file("UNSUBACK.json");
}

TEST_CASE("conformance: mosquitto CONNECT cases (client rejects, server view checked)",
          "[codec][conformance][MQTT-3.1.2-1][MQTT-3.1.2-2][MQTT-3.1.2-3][MQTT-3.1.2-9]"
          "[MQTT-3.1.2-11][MQTT-3.1.2-14][MQTT-3.1.2-18][MQTT-3.1.2-19][MQTT-3.1.2-20]"
          "[MQTT-3.1.2-21][MQTT-3.1.2-22][MQTT-3.1.3-7][MQTT-1.5.3-1][MQTT-1.5.3-2]") {
  check_file("CONNECT.json");
}

TEST_CASE("conformance: mosquitto SUBSCRIBE cases (client rejects, server view checked)",
          "[codec][conformance][MQTT-3.8.1-1][MQTT-3-8.3-4][MQTT-3.8.3-3][MQTT-3.8.3-1]"
          "[MQTT-4.7.3-1][MQTT-2.3.1-1]") {
  check_file("SUBSCRIBE.json");
}

TEST_CASE("conformance: mosquitto UNSUBSCRIBE cases (client rejects, server view checked)",
          "[codec][conformance][MQTT-3.10.1-1][MQTT-3.10.3-2][MQTT-3.10.3-1][MQTT-4.7.3-1]"
          "[MQTT-2.3.1-1]") {
  check_file("UNSUBSCRIBE.json");
}

TEST_CASE("conformance: mosquitto PINGREQ cases (client rejects, server view checked)",
          "[codec][conformance][MQTT-2.2.2-2]") {
  check_file("PINGREQ.json");
}

TEST_CASE("conformance: mosquitto DISCONNECT cases (client rejects, server view checked)",
          "[codec][conformance][MQTT-3.14.1-1][MQTT-2.2.2-2]") {
  check_file("DISCONNECT.json");
}

TEST_CASE("conformance: every file, table entry and case is accounted for",
          "[codec][conformance]") {
  const corpus& all = cases();
  INFO("case directory: " << case_dir);
  INFO("loading failed: " << all.error);
  REQUIRE(all.error.empty());
  REQUIRE_FALSE(all.cases.empty());  // e.g. the shared directory is missing

  // Each file has its own test case above; a new file needs one.
  const std::set<std::string> known = {"AUTH.json",       "CONNACK.json",   "CONNECT.json",
                                       "DISCONNECT.json", "FORBIDDEN.json", "PINGREQ.json",
                                       "PINGRESP.json",   "PUBACK.json",    "PUBREC.json",
                                       "SUBSCRIBE.json",  "UNSUBACK.json",  "UNSUBSCRIBE.json"};
  CHECK(std::set<std::string>(all.files.begin(), all.files.end()) == known);

  // Every table entry names a loaded case (so the tables cannot silently grow or go stale);
  // session-level entries only name cases that expect a disconnect.
  auto matches = [&all](const char* file, const char* name, bool need_disconnect) {
    std::size_t n = 0;
    for (const loaded_case& c : all.cases)
      if (c.file == file && c.name == name && (!need_disconnect || c.expect_disconnect)) ++n;
    return n;
  };
  for (const auto& r : client_rejections) {
    INFO("client_rejections: " << r.file << " \"" << r.name << "\"");
    CHECK(matches(r.file, r.name, true) > 0);
  }
  for (const auto& s : session_level) {
    INFO("session_level: " << s.file << " \"" << s.name << "\"");
    CHECK(matches(s.file, s.name, true) > 0);
    CHECK(find_entry(client_rejections, loaded_case{s.file, "", s.name, true, {}, {}}) == nullptr);
  }
  for (const auto& v : server_views) {
    INFO("server_views: " << v.file << " \"" << v.name << "\"");
    CHECK(matches(v.file, v.name, false) > 0);
  }

  const summary s = check_cases("");
  std::cout << "conformance summary: " << s.cases << " MQTT 3.1.1 cases run (" << all.other_versions
            << " cases of other protocol versions skipped): " << s.rejected
            << " rejected by the codec, " << s.session_level << " session-level (allow-list), "
            << s.stay_connected
            << " stay-connected cases decoded fine; client-to-server files as a server: "
            << s.server_view_rejected << " rejected, " << s.server_view_ok << " accepted; "
            << s.recv_roundtrips << " client-sent packets re-encoded "
            << "byte-exact\n  rejections by error:";
  for (const auto& [name, n] : s.by_error) std::cout << " " << name << "=" << n;
  std::cout << "\n";
  CHECK(s.cases == all.cases.size());
  CHECK(s.rejected + s.session_level + s.stay_connected == s.cases);
  CHECK(s.session_level >= std::size(session_level));
}
