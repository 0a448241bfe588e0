// libFuzzer target: topic validation, topic_matches() and subscription_index.
//
// The input is split at '\n' into up to 64 strings. Each is validated both as a topic filter
// and as a topic name. The valid filters go into a subscription_index<std::size_t>; for every
// valid name the set of filters index.match() reports must be exactly the set of filters for
// which topic_matches(filter, name) is true. Then every other filter is erased and the check is
// repeated. Also:
//   - validate_topic_name() (which has a word-at-a-time fast path) gives exactly the result of
//     the straightforward definition: empty_topic, else wildcard_in_topic_name, else
//     validate_mqtt_string();
//   - a valid topic name is a valid topic filter, and matches itself;
//   - a filter without wildcards matches exactly the equal name;
//   - "#" matches every name except those starting with '$' [MQTT-4.7.2-1];
//   - insert() reports new filters, find() returns the stored value, erase() reports removal
//     once, size() counts the filters.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <system_error>
#include <vector>

#include "amqtt/codec/codec.hpp"
#include "fuzz_common.hpp"

namespace {

std::error_code reference_topic_name(std::string_view name) {
  if (name.empty()) return amqtt::codec_errc::empty_topic;
  if (name.find_first_of("+#") != std::string_view::npos)
    return amqtt::codec_errc::wildcard_in_topic_name;
  return amqtt::validate_mqtt_string(name);
}

void check_matches(const amqtt::subscription_index<std::size_t>& index,
                   const std::vector<std::string_view>& filters, const std::vector<bool>& present,
                   const std::vector<std::string_view>& names) {
  std::vector<std::size_t> got, want;
  for (const auto name : names) {
    got.clear();
    want.clear();
    index.match(name, [&](const std::size_t& i) { got.push_back(i); });
    for (std::size_t i = 0; i < filters.size(); ++i)
      if (present[i] && amqtt::topic_matches(filters[i], name)) want.push_back(i);
    std::sort(got.begin(), got.end());
    // Each stored filter is reported at most once.
    AMQTT_FUZZ_CHECK(std::adjacent_find(got.begin(), got.end()) == got.end());
    AMQTT_FUZZ_CHECK(got == want);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  std::vector<std::string_view> tokens;
  for (std::size_t start = 0; start <= input.size() && tokens.size() < 64;) {
    std::size_t end = input.find('\n', start);
    if (end == std::string_view::npos) end = input.size();
    tokens.push_back(input.substr(start, end - start));
    start = end + 1;
  }

  std::vector<std::string_view> filters;  // unique valid filters, in order of appearance
  std::vector<std::string_view> names;    // valid names
  // The whole input as one name too: long names take the fast path's loop.
  AMQTT_FUZZ_CHECK(amqtt::validate_topic_name(input) == reference_topic_name(input));
  for (const auto t : tokens) {
    AMQTT_FUZZ_CHECK(amqtt::validate_topic_name(t) == reference_topic_name(t));
    const bool valid_filter = !amqtt::validate_topic_filter(t);
    const bool valid_name = !amqtt::validate_topic_name(t);
    if (valid_name) {
      AMQTT_FUZZ_CHECK(valid_filter);
      AMQTT_FUZZ_CHECK(t.find_first_of("+#") == std::string_view::npos);
      AMQTT_FUZZ_CHECK(amqtt::topic_matches(t, t));
      AMQTT_FUZZ_CHECK(amqtt::topic_matches("#", t) == (t.front() != '$'));
      names.push_back(t);
    }
    if (valid_filter && std::find(filters.begin(), filters.end(), t) == filters.end())
      filters.push_back(t);
  }

  for (const auto f : filters) {
    if (f.find_first_of("+#") != std::string_view::npos) continue;
    for (const auto n : names) AMQTT_FUZZ_CHECK(amqtt::topic_matches(f, n) == (f == n));
  }

  amqtt::subscription_index<std::size_t> index;
  AMQTT_FUZZ_CHECK(index.empty());
  for (std::size_t i = 0; i < filters.size(); ++i) {
    AMQTT_FUZZ_CHECK(index.insert(filters[i], i));
    AMQTT_FUZZ_CHECK(!index.insert(filters[i], i));  // replaces, not new
    AMQTT_FUZZ_CHECK(index.size() == i + 1);
  }
  for (std::size_t i = 0; i < filters.size(); ++i) {
    const std::size_t* v = index.find(filters[i]);
    AMQTT_FUZZ_CHECK(v != nullptr && *v == i);
  }
  std::vector<bool> present(filters.size(), true);
  check_matches(index, filters, present, names);

  // Erase every other filter (which ones depends on the input's length).
  std::size_t remaining = filters.size();
  for (std::size_t i = size % 2; i < filters.size(); i += 2) {
    AMQTT_FUZZ_CHECK(index.erase(filters[i]));
    AMQTT_FUZZ_CHECK(!index.erase(filters[i]));
    AMQTT_FUZZ_CHECK(index.find(filters[i]) == nullptr);
    present[i] = false;
    --remaining;
  }
  AMQTT_FUZZ_CHECK(index.size() == remaining);
  for (std::size_t i = 0; i < filters.size(); ++i) {
    const std::size_t* v = index.find(filters[i]);
    AMQTT_FUZZ_CHECK(present[i] ? (v != nullptr && *v == i) : v == nullptr);
  }
  check_matches(index, filters, present, names);

  // Erase the rest: the index is empty, and matches nothing.
  for (std::size_t i = 0; i < filters.size(); ++i)
    if (present[i]) AMQTT_FUZZ_CHECK(index.erase(filters[i]));
  AMQTT_FUZZ_CHECK(index.empty());
  std::fill(present.begin(), present.end(), false);
  check_matches(index, filters, present, names);
  return 0;
}
