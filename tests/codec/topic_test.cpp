// Topic matching (topic_matches) and the subscription index, which must agree with it.

#include <algorithm>
#include <chrono>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include <amqtt/codec/codec.hpp>

#include "codec/support/codec_util.hpp"

using namespace amqtt;

namespace {

struct match_case {
  const char* filter;
  const char* name;
  bool matches;
};

// Spec examples (4.7.1.2, 4.7.1.3, 4.7.2) and the edges around them.
const match_case match_table[] = {
    // Exact levels.
    {"a", "a", true},
    {"a", "b", false},
    {"A", "a", false},
    {"a/b", "a/b", true},
    {"a/b", "a", false},
    {"a", "a/b", false},
    {"a/b", "a/b/", false},
    {"a/b/", "a/b/", true},
    {"a//b", "a/b", false},
    {"a//b", "a//b", true},
    {"/finance", "/finance", true},
    {"/", "/", true},
    // '#': everything below, and the parent level itself.
    {"#", "a", true},
    {"#", "a/b/c", true},
    {"#", "/", true},
    {"#", "/a", true},
    {"a/#", "a", true},
    {"a/#", "a/", true},
    {"a/#", "a/b", true},
    {"a/#", "a/b/c", true},
    {"a/#", "ab", false},
    {"a/#", "b/a", false},
    {"a/#", "b", false},
    {"sport/tennis/player1/#", "sport/tennis/player1", true},
    {"sport/tennis/player1/#", "sport/tennis/player1/ranking", true},
    {"sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", true},
    {"sport/tennis/player1/#", "sport/tennis", false},
    {"sport/#", "sport", true},
    {"/#", "/", true},
    {"/#", "/a", true},
    {"/#", "a", false},
    // '+': exactly one level, which may be empty.
    {"+", "a", true},
    {"+", "a/b", false},
    {"+", "/", false},
    {"+/+", "/", true},
    {"/+", "/", true},
    {"+/", "a/", true},
    {"+/", "a", false},
    {"a/+", "a/", true},
    {"a/+", "a", false},
    {"a/+", "a/b/c", false},
    {"a/+/c", "a//c", true},
    {"+/+/+", "a//", true},
    {"+/+/+", "//", true},
    {"sport/tennis/+", "sport/tennis/player1", true},
    {"sport/tennis/+", "sport/tennis/player2", true},
    {"sport/tennis/+", "sport/tennis/player1/ranking", false},
    {"sport/+", "sport", false},
    {"sport/+", "sport/", true},
    {"+/+", "/finance", true},
    {"/+", "/finance", true},
    {"+", "/finance", false},
    {"+/tennis/#", "sport/tennis/player1/ranking", true},
    {"+/tennis/#", "sport/tennis", true},
    {"+/tennis/#", "sport/golf", false},
    // '+' then '#': the '+' level must exist, '#' may then match its parent.
    {"a/+/#", "a", false},
    {"a/+/#", "a/", true},
    {"a/+/#", "a/b", true},
    {"a/+/#", "a/b/c/d", true},
    {"+/#", "a", true},
    // '$' topics: wildcards at the first level do not match them [MQTT-4.7.2-1].
    {"#", "$SYS", false},
    {"#", "$SYS/broker/load", false},
    {"+", "$SYS", false},
    {"+/broker/load", "$SYS/broker/load", false},
    {"+/#", "$SYS/broker", false},
    {"$SYS/#", "$SYS/broker/load", true},
    {"$SYS/#", "$SYS", true},
    {"$SYS/+/load", "$SYS/broker/load", true},
    {"$SYS", "$SYS", true},
    {"$SYS/monitor/+", "$SYS/monitor/Clients", true},
    {"+/monitor/Clients", "$SYS/monitor/Clients", false},
    {"$", "$", true},
    {"a/+", "a/$x", true},  // only the first level is special
    {"#", "a/$x", true},
    {"/#", "/$x", true},
    {"+/x", "a$/x", true},
};

std::multiset<std::string> index_matches(const subscription_index<std::string>& index,
                                         std::string_view name) {
  std::multiset<std::string> got;
  index.match(name, [&got](const std::string& filter) { got.insert(filter); });
  return got;
}

}  // namespace

TEST_CASE("topic_matches: spec examples, '#' matches the parent, '+' matches empty levels",
          "[codec][topic][MQTT-4.7.1-2][MQTT-4.7.1-3][MQTT-4.7.2-1][MQTT-4.7.3-4]") {
  for (const auto& c : match_table) {
    INFO("filter \"" << c.filter << "\" name \"" << c.name << "\"");
    REQUIRE_FALSE(validate_topic_filter(c.filter));
    REQUIRE_FALSE(validate_topic_name(c.name));
    CHECK(topic_matches(c.filter, c.name) == c.matches);
  }
}

TEST_CASE("subscription_index answers the topic_matches table",
          "[codec][topic][subscription_index][MQTT-4.7.2-1]") {
  subscription_index<std::string> index;
  std::set<std::string> filters;
  for (const auto& c : match_table) {
    if (filters.insert(c.filter).second) CHECK(index.insert(c.filter, c.filter));
  }
  CHECK(index.size() == filters.size());
  for (const auto& c : match_table) {
    INFO("filter \"" << c.filter << "\" name \"" << c.name << "\"");
    CHECK(index_matches(index, c.name).count(c.filter) == (c.matches ? 1u : 0u));
  }
}

TEST_CASE("subscription_index: insert, replace, find, erase", "[codec][subscription_index]") {
  subscription_index<int> index;
  CHECK(index.empty());
  CHECK(index.insert("a/b", 1));
  CHECK(index.insert("a/+", 2));
  CHECK(index.insert("a/#", 3));
  CHECK(index.insert("a", 4));
  CHECK(index.insert("#", 5));
  CHECK(index.insert("+", 6));
  CHECK(index.size() == 6);
  CHECK_FALSE(index.insert("a/b", 10));  // replaces
  CHECK(index.size() == 6);

  REQUIRE(index.find("a/b") != nullptr);
  CHECK(*index.find("a/b") == 10);
  CHECK(*index.find("a/+") == 2);
  CHECK(*index.find("a/#") == 3);
  CHECK(*index.find("a") == 4);
  CHECK(*index.find("#") == 5);
  CHECK(*index.find("+") == 6);
  // Exact filters only: no wildcard expansion in find().
  CHECK(index.find("a/c") == nullptr);
  CHECK(index.find("b") == nullptr);
  CHECK(index.find("a/b/c") == nullptr);
  CHECK(index.find("+/#") == nullptr);
  *index.find("a") = 40;
  CHECK(*index.find("a") == 40);

  CHECK_FALSE(index.erase("a/c"));
  CHECK_FALSE(index.erase("a/b/c"));
  CHECK_FALSE(index.erase("+/+"));
  CHECK(index.size() == 6);
  // Erasing "a" leaves the filters below it.
  CHECK(index.erase("a"));
  CHECK(index.find("a") == nullptr);
  CHECK(*index.find("a/#") == 3);
  CHECK(*index.find("a/b") == 10);
  CHECK_FALSE(index.erase("a"));
  // Erasing "a/#" leaves "a/+" and "a/b".
  CHECK(index.erase("a/#"));
  CHECK(index.find("a/#") == nullptr);
  CHECK(*index.find("a/+") == 2);
  CHECK(index.size() == 4);
  for (const char* f : {"a/b", "a/+", "#", "+"}) CHECK(index.erase(f));
  CHECK(index.size() == 0);
  CHECK(index.empty());
  int calls = 0;
  index.match("a/b", [&calls](int) { ++calls; });
  CHECK(calls == 0);

  index.insert("x/y", 7);
  index.clear();
  CHECK(index.empty());
  CHECK(index.find("x/y") == nullptr);
}

TEST_CASE("subscription_index: overlapping filters are all reported, once each",
          "[codec][subscription_index]") {
  subscription_index<std::string> index;
  const std::vector<std::string> matching = {"#",   "a/#", "a/+",   "a/b",  "+/b",
                                             "+/+", "+/#", "a/b/#", "+/b/#"};
  const std::vector<std::string> not_matching = {"a",     "b/#",   "a/c",    "+",
                                                 "a/b/c", "+/+/+", "$SYS/#", "a/b/+"};
  for (const auto& f : matching) index.insert(f, f);
  for (const auto& f : not_matching) index.insert(f, f);
  const auto got = index_matches(index, "a/b");
  CHECK(got == std::multiset<std::string>(matching.begin(), matching.end()));
}

TEST_CASE("subscription_index: moved-from and moved-to indexes keep working",
          "[codec][subscription_index]") {
  subscription_index<std::unique_ptr<int>> index;  // move-only values
  index.insert("a/b", std::make_unique<int>(1));
  index.insert("a/+", std::make_unique<int>(2));
  index.insert("x/y/z", std::make_unique<int>(3));
  subscription_index<std::unique_ptr<int>> moved(std::move(index));
  int sum = 0;
  moved.match("a/b", [&sum](const std::unique_ptr<int>& v) { sum += *v; });
  CHECK(sum == 3);
  REQUIRE(moved.find("x/y/z") != nullptr);
  CHECK(**moved.find("x/y/z") == 3);
  subscription_index<std::unique_ptr<int>> assigned;
  assigned = std::move(moved);
  CHECK(assigned.size() == 3);
  CHECK(assigned.erase("x/y/z"));
  CHECK(assigned.find("x/y/z") == nullptr);
  sum = 0;
  assigned.match("a/q", [&sum](const std::unique_ptr<int>& v) { sum += *v; });
  CHECK(sum == 2);
}

TEST_CASE("subscription_index agrees with topic_matches on random filters and names",
          "[codec][subscription_index][topic][MQTT-4.7.2-1]") {
  const std::uint64_t seed = amqtt_test::test_seed("subscription_index cross-check", 4711);
  INFO("seed " << seed << " (AMQTT_TEST_SEED)");
  amqtt_test::rng rng(seed);
  static const char* levels[] = {"a", "b", "c", "ab", "", "$SYS", "$x", "x$", "\xC3\xA9"};
  const std::size_t n_levels = sizeof levels / sizeof levels[0];

  auto random_filter = [&] {
    std::string f;
    const std::size_t depth = rng.between(1, 4);
    for (std::size_t i = 0; i < depth; ++i) {
      if (i != 0) f += '/';
      if (i + 1 == depth && rng.chance(20))
        f += '#';
      else if (rng.chance(25))
        f += '+';
      else
        f += levels[rng.below(n_levels)];
    }
    return f.empty() ? std::string("+") : f;
  };
  auto random_name = [&] {
    for (;;) {
      std::string n;
      const std::size_t depth = rng.between(1, 5);
      for (std::size_t i = 0; i < depth; ++i) {
        if (i != 0) n += '/';
        n += levels[rng.below(n_levels)];
      }
      if (!n.empty()) return n;
    }
  };

  subscription_index<std::string> index;
  std::set<std::string> filters;
  for (int i = 0; i < 400; ++i) {
    const std::string f = random_filter();
    REQUIRE_FALSE(validate_topic_filter(f));
    CHECK(index.insert(f, f) == filters.insert(f).second);
  }
  REQUIRE(index.size() == filters.size());

  auto cross_check = [&](int names) {
    for (int i = 0; i < names; ++i) {
      const std::string name = random_name();
      std::multiset<std::string> expected;
      for (const auto& f : filters)
        if (topic_matches(f, name)) expected.insert(f);
      const auto got = index_matches(index, name);
      if (got != expected) {
        INFO("name \"" << name << "\"");
        CHECK(got == expected);
      }
    }
  };
  cross_check(2000);

  // Erase a random half, check again; then erase the rest: the index is empty again.
  std::vector<std::string> all(filters.begin(), filters.end());
  for (std::size_t i = 0; i < all.size(); ++i)
    std::swap(all[i], all[i + rng.below(all.size() - i)]);
  const std::size_t half = all.size() / 2;
  for (std::size_t i = 0; i < half; ++i) {
    CHECK(index.erase(all[i]));
    filters.erase(all[i]);
  }
  CHECK(index.size() == filters.size());
  cross_check(1000);
  for (std::size_t i = half; i < all.size(); ++i) CHECK(index.erase(all[i]));
  CHECK(index.size() == 0);
  CHECK(index.empty());
  for (const auto& f : all) CHECK(index.find(f) == nullptr);
  CHECK(index_matches(index, "a/b").empty());
}

TEST_CASE("subscription_index: erase prunes, size() returns to 0, reinsertion works",
          "[codec][subscription_index]") {
  subscription_index<int> index;
  std::vector<std::string> filters;
  for (int i = 0; i < 2000; ++i) {
    std::string f = "root/" + std::to_string(i % 37) + "/" + std::to_string(i);
    if (i % 3 == 0) f += "/#";
    if (i % 5 == 0) f = "+/" + f;
    filters.push_back(f);
    CHECK(index.insert(f, i));
  }
  CHECK(index.size() == filters.size());
  for (int round = 0; round < 2; ++round) {
    for (const auto& f : filters) REQUIRE(index.erase(f));
    CHECK(index.size() == 0);
    CHECK(index.empty());
    int calls = 0;
    index.match("root/1/1", [&calls](int) { ++calls; });
    CHECK(calls == 0);
    for (std::size_t i = 0; i < filters.size(); ++i)
      REQUIRE(index.insert(filters[i], static_cast<int>(i)));
    CHECK(index.size() == filters.size());
  }
  int found = -1;
  index.match("root/1/1", [&found](int v) { found = v; });
  CHECK(found == 1);
}

TEST_CASE("subscription_index: 100k filters still answer quickly",
          "[codec][subscription_index][performance]") {
  subscription_index<int> index;
  constexpr int n = 100'000;
  for (int i = 0; i < n; ++i) {
    std::string f = "site/" + std::to_string(i % 1000) + "/dev/" + std::to_string(i);
    if (i % 10 == 0)
      f += "/#";
    else if (i % 10 == 1)
      f += "/+";
    else
      f += "/t";
    index.insert(f, i);
  }
  index.insert("+/+/dev/#", -1);
  REQUIRE(index.size() == n + 1);

  // The trie must beat a linear scan (topic_matches against every filter) by far. Both are
  // timed on this machine, so the check holds under sanitizers and on slow CI runners.
  using clock = std::chrono::steady_clock;
  auto name_of = [](int q) {
    const int dev = (q * 7919) % n;
    return std::make_pair(
        dev, "site/" + std::to_string(dev % 1000) + "/dev/" + std::to_string(dev) + "/t");
  };
  constexpr int queries = 20'000;
  int wrong = 0;
  const auto start = clock::now();
  for (int q = 0; q < queries; ++q) {
    const auto [dev, name] = name_of(q);
    int count = 0;
    bool saw_dev = false;
    index.match(name, [&, d = dev](int v) {
      ++count;
      saw_dev = saw_dev || v == d;
    });
    if (count != 2 || !saw_dev) ++wrong;
  }
  const double trie_us =
      std::chrono::duration<double, std::micro>(clock::now() - start).count() / queries;

  std::vector<std::string> filters;  // the same filters, for the linear scan
  filters.reserve(n + 1);
  for (int i = 0; i < n; ++i)
    filters.push_back("site/" + std::to_string(i % 1000) + "/dev/" + std::to_string(i) +
                      (i % 10 == 0   ? "/#"
                       : i % 10 == 1 ? "/+"
                                     : "/t"));
  filters.push_back("+/+/dev/#");
  constexpr int scans = 10;
  int scan_hits = 0;
  const auto scan_start = clock::now();
  for (int q = 0; q < scans; ++q) {
    const std::string name = name_of(q).second;
    for (const auto& f : filters) scan_hits += topic_matches(f, name) ? 1 : 0;
  }
  const double scan_us =
      std::chrono::duration<double, std::micro>(clock::now() - scan_start).count() / scans;

  std::cout << "subscription_index: " << n << " filters, " << trie_us << " us per match (linear "
            << "scan: " << scan_us << " us)\n";
  CHECK(wrong == 0);
  CHECK(scan_hits == 2 * scans);
  CHECK(trie_us * 20 < scan_us);
}
