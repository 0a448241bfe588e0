// Codec micro-benchmarks (Google Benchmark).
//
// Families, each with a memcpy baseline of exactly the same bytes, run in the same process:
//   publish/*   one PUBLISH (QoS 0, topic "sensors/room-42/temperature", 27 bytes) with a
//               16 B, 64 B, 1 KiB or 64 KiB payload:
//                 encode         encode() into a caller buffer
//                 encode_append  encode_append() into a reused std::vector (cleared each time)
//                 decode         decode_packet() of the packet's bytes
//                 stream_decode  stream_decoder: feed() ~64 KiB of back-to-back copies of the
//                                packet (one "socket read"), then next() until need_more
//                 memcpy         memcpy of the packet's bytes
//                 memcpy_batch   memcpy of the stream_decode batch
//   mixed/*     1,000 packets a client receives: PUBLISH QoS 0/1/2 (16 B..4 KiB payloads),
//               PUBACK, PUBREC, PUBREL, PUBCOMP, PINGRESP (see make_mixed()):
//                 encode_append (all 1,000 into one reused buffer), decode (decode_packet()
//                 loop), stream_decode (fed in 4 KiB reads), memcpy (the whole stream)
//   index/*     subscription_index<int>::match() with 10 / 1,000 / 100,000 filters
//               (80% exact, 20% with '+' or '#'), looking up 1,024 names in turn; linear/*
//               is topic_matches() over the same filters; memcpy copies the name.
//
// Counters: items_per_second = packets (or lookups) per second, bytes_per_second, t_per_packet
// (time per packet, s), allocs_per_packet (operator new calls per packet, measured by the
// replacement allocator in alloc_counter.cpp, after a warm-up so buffers are already grown).

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include <benchmark/benchmark.h>

#include "alloc_counter.hpp"
#include "amqtt/codec/codec.hpp"

namespace {

constexpr std::string_view kTopic = "sensors/room-42/temperature";

std::string random_bytes(std::size_t n, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng() & 0xFFu);
  return s;
}

std::vector<std::uint8_t> encode_or_die(const amqtt::packet& p) {
  std::vector<std::uint8_t> out;
  if (amqtt::encode_append(p, out)) std::abort();
  return out;
}

// Sets items/bytes processed and the per-packet counters. `allocs_before` is
// amqtt_bench::allocations() taken just before the timed loop.
void report(benchmark::State& state, std::size_t packets_per_iteration,
            std::size_t bytes_per_iteration, std::uint64_t allocs_before) {
  const std::uint64_t allocs = amqtt_bench::allocations() - allocs_before;
  const double iterations = static_cast<double>(state.iterations());
  const double packets = iterations * static_cast<double>(packets_per_iteration);
  state.SetItemsProcessed(static_cast<std::int64_t>(packets));
  state.SetBytesProcessed(
      static_cast<std::int64_t>(iterations * static_cast<double>(bytes_per_iteration)));
  state.counters["allocs_per_packet"] = packets > 0 ? static_cast<double>(allocs) / packets : 0;
  state.counters["t_per_packet"] =
      benchmark::Counter(static_cast<double>(packets_per_iteration),
                         benchmark::Counter::kIsIterationInvariantRate |
                             benchmark::Counter::kInvert);
}

// Decodes every packet of `bytes` with a fresh stream_decoder; returns the count (checks setup).
std::size_t count_packets(const std::vector<std::uint8_t>& bytes) {
  amqtt::stream_decoder dec;
  dec.feed(bytes.data(), bytes.size());
  amqtt::packet p;
  std::size_t n = 0;
  while (dec.next(p).status == amqtt::decode_status::complete) ++n;
  if (dec.buffered() != 0 || dec.error()) std::abort();
  return n;
}

// ---------------------------------------------------------------------------------------------
// PUBLISH
// ---------------------------------------------------------------------------------------------

struct publish_case {
  std::string payload;
  amqtt::publish_packet packet;
  std::vector<std::uint8_t> bytes;  // the encoded packet
  std::vector<std::uint8_t> batch;  // back-to-back copies, about 64 KiB (at least one packet)
  std::size_t batch_packets = 0;
};

const publish_case& publish_for(std::size_t payload_size) {
  static std::map<std::size_t, std::unique_ptr<publish_case>> cache;
  auto& slot = cache[payload_size];
  if (!slot) {
    slot = std::make_unique<publish_case>();
    publish_case& c = *slot;
    c.payload = random_bytes(payload_size, static_cast<std::uint32_t>(payload_size));
    c.packet.topic = kTopic;
    c.packet.payload = c.payload;
    c.bytes = encode_or_die(c.packet);
    c.batch_packets = std::max<std::size_t>(1, 65536 / c.bytes.size());
    for (std::size_t i = 0; i < c.batch_packets; ++i)
      c.batch.insert(c.batch.end(), c.bytes.begin(), c.bytes.end());
    if (count_packets(c.batch) != c.batch_packets) std::abort();
  }
  return *slot;
}

void publish_encode(benchmark::State& state) {
  const publish_case& c = publish_for(static_cast<std::size_t>(state.range(0)));
  std::vector<std::uint8_t> buf(c.bytes.size());
  const auto allocs = amqtt_bench::allocations();
  for (auto _ : state) {
    const amqtt::encode_result r = amqtt::encode(c.packet, buf.data(), buf.size());
    benchmark::DoNotOptimize(r);
    benchmark::ClobberMemory();
  }
  report(state, 1, c.bytes.size(), allocs);
  if (buf != c.bytes) state.SkipWithError("encode() wrote different bytes");
}

void publish_encode_append(benchmark::State& state) {
  const publish_case& c = publish_for(static_cast<std::size_t>(state.range(0)));
  std::vector<std::uint8_t> buf;
  (void)amqtt::encode_append(c.packet, buf);  // warm-up: grows the buffer once
  const auto allocs = amqtt_bench::allocations();
  for (auto _ : state) {
    buf.clear();
    const std::error_code ec = amqtt::encode_append(c.packet, buf);
    benchmark::DoNotOptimize(ec);
    benchmark::DoNotOptimize(buf.data());
    benchmark::ClobberMemory();
  }
  report(state, 1, c.bytes.size(), allocs);
  if (buf != c.bytes) state.SkipWithError("encode_append() wrote different bytes");
}

void publish_decode(benchmark::State& state) {
  const publish_case& c = publish_for(static_cast<std::size_t>(state.range(0)));
  amqtt::packet out;
  (void)amqtt::decode_packet(c.bytes.data(), c.bytes.size(), out);  // warm-up
  const auto allocs = amqtt_bench::allocations();
  for (auto _ : state) {
    const amqtt::decode_result r = amqtt::decode_packet(c.bytes.data(), c.bytes.size(), out);
    benchmark::DoNotOptimize(r);
    benchmark::DoNotOptimize(out);
  }
  report(state, 1, c.bytes.size(), allocs);
  const auto* p = std::get_if<amqtt::publish_packet>(&out);
  if (p == nullptr || p->payload.size() != c.payload.size()) state.SkipWithError("bad decode");
}

void publish_stream_decode(benchmark::State& state) {
  const publish_case& c = publish_for(static_cast<std::size_t>(state.range(0)));
  amqtt::stream_decoder dec;
  amqtt::packet out;
  // Warm-up: the decoder's buffer reaches its steady-state size.
  dec.feed(c.batch.data(), c.batch.size());
  while (dec.next(out).status == amqtt::decode_status::complete) {
  }
  std::size_t decoded = 0;
  const auto allocs = amqtt_bench::allocations();
  for (auto _ : state) {
    dec.feed(c.batch.data(), c.batch.size());
    while (dec.next(out).status == amqtt::decode_status::complete) {
      benchmark::DoNotOptimize(out);
      ++decoded;
    }
  }
  report(state, c.batch_packets, c.batch.size(), allocs);
  if (decoded != c.batch_packets * state.iterations() || dec.buffered() != 0)
    state.SkipWithError("stream decoder lost packets");
}

void publish_memcpy(benchmark::State& state) {
  const publish_case& c = publish_for(static_cast<std::size_t>(state.range(0)));
  std::vector<std::uint8_t> dst(c.bytes.size());
  const auto allocs = amqtt_bench::allocations();
  for (auto _ : state) {
    std::memcpy(dst.data(), c.bytes.data(), c.bytes.size());
    benchmark::DoNotOptimize(dst.data());
    benchmark::ClobberMemory();
  }
  report(state, 1, c.bytes.size(), allocs);
}

void publish_memcpy_batch(benchmark::State& state) {
  const publish_case& c = publish_for(static_cast<std::size_t>(state.range(0)));
  std::vector<std::uint8_t> dst(c.batch.size());
  const auto allocs = amqtt_bench::allocations();
  for (auto _ : state) {
    std::memcpy(dst.data(), c.batch.data(), c.batch.size());
    benchmark::DoNotOptimize(dst.data());
    benchmark::ClobberMemory();
  }
  report(state, c.batch_packets, c.batch.size(), allocs);
}

void publish_sizes(benchmark::internal::Benchmark* b) {
  b->ArgName("payload");
  for (int n : {16, 64, 1024, 65536}) b->Arg(n);
}

BENCHMARK(publish_encode)->Name("publish/encode")->Apply(publish_sizes);
BENCHMARK(publish_encode_append)->Name("publish/encode_append")->Apply(publish_sizes);
BENCHMARK(publish_decode)->Name("publish/decode")->Apply(publish_sizes);
BENCHMARK(publish_stream_decode)->Name("publish/stream_decode")->Apply(publish_sizes);
BENCHMARK(publish_memcpy)->Name("publish/memcpy")->Apply(publish_sizes);
BENCHMARK(publish_memcpy_batch)->Name("publish/memcpy_batch")->Apply(publish_sizes);

// ---------------------------------------------------------------------------------------------
// Mixed stream
// ---------------------------------------------------------------------------------------------

struct mixed_case {
  std::vector<std::unique_ptr<std::string>> storage;
  std::vector<amqtt::packet> packets;
  std::vector<std::uint8_t> bytes;
};

// What a client receives under a busy QoS 0/1/2 workload: inbound PUBLISH and the broker's
// acknowledgements of the client's own QoS 1/2 PUBLISHes.
const mixed_case& mixed() {
  static const mixed_case c = [] {
    mixed_case m;
    std::mt19937 rng(42);
    auto pick = [&rng](std::uint32_t n) { return static_cast<std::uint32_t>(rng() % n); };
    std::vector<std::string_view> topics;  // views of strings owned by m.storage
    for (int i = 0; i < 16; ++i) {
      m.storage.push_back(std::make_unique<std::string>(
          "plant-" + std::to_string(i % 4) + "/line-" + std::to_string(i) + "/sensor-" +
          std::to_string(i * 7 % 13) + "/temperature"));
      topics.push_back(*m.storage.back());
    }
    std::uint16_t next_id = 1;
    auto id = [&next_id] {
      const std::uint16_t v = next_id;
      next_id = static_cast<std::uint16_t>(next_id == 65535 ? 1 : next_id + 1);
      return v;
    };
    for (int i = 0; i < 1000; ++i) {
      const std::uint32_t r = pick(100);
      if (r < 55) {
        amqtt::publish_packet p;
        p.topic = topics[pick(16)];
        const std::uint32_t size_class = pick(100);
        const std::size_t size = size_class < 70   ? 16 + pick(113)     // 16..128 B
                                 : size_class < 95 ? 129 + pick(896)    // 129..1024 B
                                                   : 1025 + pick(3072);  // 1..4 KiB
        m.storage.push_back(std::make_unique<std::string>(random_bytes(size, rng())));
        p.payload = *m.storage.back();
        const std::uint32_t q = pick(10);
        p.qos = q < 6 ? amqtt::qos::at_most_once
                      : q < 9 ? amqtt::qos::at_least_once : amqtt::qos::exactly_once;
        if (p.qos != amqtt::qos::at_most_once) p.packet_id = id();
        p.retain = pick(50) == 0;
        m.packets.emplace_back(p);
      } else if (r < 75) {
        m.packets.emplace_back(amqtt::puback_packet{id()});
      } else if (r < 83) {
        m.packets.emplace_back(amqtt::pubrec_packet{id()});
      } else if (r < 91) {
        m.packets.emplace_back(amqtt::pubcomp_packet{id()});
      } else if (r < 99) {
        m.packets.emplace_back(amqtt::pubrel_packet{id()});
      } else {
        m.packets.emplace_back(amqtt::pingresp_packet{});
      }
    }
    for (const auto& p : m.packets)
      if (amqtt::encode_append(p, m.bytes)) std::abort();
    if (count_packets(m.bytes) != m.packets.size()) std::abort();
    return m;
  }();
  return c;
}

void mixed_encode_append(benchmark::State& state) {
  const mixed_case& m = mixed();
  std::vector<std::uint8_t> buf;
  buf.reserve(m.bytes.size());
  const auto allocs = amqtt_bench::allocations();
  for (auto _ : state) {
    buf.clear();
    for (const auto& p : m.packets) {
      const std::error_code ec = amqtt::encode_append(p, buf);
      benchmark::DoNotOptimize(ec);
    }
    benchmark::DoNotOptimize(buf.data());
    benchmark::ClobberMemory();
  }
  report(state, m.packets.size(), m.bytes.size(), allocs);
  if (buf != m.bytes) state.SkipWithError("encode_append() wrote different bytes");
}

void mixed_decode(benchmark::State& state) {
  const mixed_case& m = mixed();
  amqtt::packet out;
  std::size_t decoded = 0;
  const auto allocs = amqtt_bench::allocations();
  for (auto _ : state) {
    const std::uint8_t* p = m.bytes.data();
    std::size_t left = m.bytes.size();
    while (left != 0) {
      const amqtt::decode_result r = amqtt::decode_packet(p, left, out);
      if (r.status != amqtt::decode_status::complete) break;
      benchmark::DoNotOptimize(out);
      p += r.consumed;
      left -= r.consumed;
      ++decoded;
    }
  }
  report(state, m.packets.size(), m.bytes.size(), allocs);
  if (decoded != m.packets.size() * state.iterations()) state.SkipWithError("decode failed");
}

void mixed_stream_decode(benchmark::State& state) {
  const mixed_case& m = mixed();
  constexpr std::size_t kRead = 4096;  // bytes per "socket read"
  amqtt::stream_decoder dec;
  amqtt::packet out;
  auto run = [&] {
    std::size_t n = 0;
    for (std::size_t pos = 0; pos < m.bytes.size(); pos += kRead) {
      dec.feed(m.bytes.data() + pos, std::min(kRead, m.bytes.size() - pos));
      while (dec.next(out).status == amqtt::decode_status::complete) {
        benchmark::DoNotOptimize(out);
        ++n;
      }
    }
    return n;
  };
  run();  // warm-up
  std::size_t decoded = 0;
  const auto allocs = amqtt_bench::allocations();
  for (auto _ : state) decoded += run();
  report(state, m.packets.size(), m.bytes.size(), allocs);
  if (decoded != m.packets.size() * state.iterations()) state.SkipWithError("decode failed");
}

void mixed_memcpy(benchmark::State& state) {
  const mixed_case& m = mixed();
  std::vector<std::uint8_t> dst(m.bytes.size());
  const auto allocs = amqtt_bench::allocations();
  for (auto _ : state) {
    std::memcpy(dst.data(), m.bytes.data(), m.bytes.size());
    benchmark::DoNotOptimize(dst.data());
    benchmark::ClobberMemory();
  }
  report(state, m.packets.size(), m.bytes.size(), allocs);
}

BENCHMARK(mixed_encode_append)->Name("mixed/encode_append");
BENCHMARK(mixed_decode)->Name("mixed/decode");
BENCHMARK(mixed_stream_decode)->Name("mixed/stream_decode");
BENCHMARK(mixed_memcpy)->Name("mixed/memcpy");

// ---------------------------------------------------------------------------------------------
// Subscription matching
// ---------------------------------------------------------------------------------------------

constexpr const char* kMetrics[] = {"temperature", "humidity", "pressure", "co2",
                                    "status",      "battery",  "rssi",     "uptime"};

struct index_case {
  std::vector<std::string> filters;
  amqtt::subscription_index<int> index;
  std::vector<std::string> names;  // 1,024 topic names looked up in turn
  std::size_t name_bytes = 0;      // total bytes of `names`
};

// `count` distinct filters "site-S/dev-D/METRIC": 80% exact, 10% "site-S/+/METRIC",
// 5% "site-S/dev-D/#", 4% "+/dev-D/METRIC", 1% "site-S/#". Names: 3/4 are topics some
// filter was built from (so most lookups match), 1/4 random topics.
const index_case& index_for(std::size_t count) {
  static std::map<std::size_t, std::unique_ptr<index_case>> cache;
  auto& slot = cache[count];
  if (slot) return *slot;
  slot = std::make_unique<index_case>();
  index_case& c = *slot;
  std::mt19937 rng(static_cast<std::uint32_t>(count));
  const std::uint32_t sites = count < 1000 ? 4 : 1000;
  const std::uint32_t devices = 100;
  auto site = [&] { return "site-" + std::to_string(rng() % sites); };
  auto dev = [&] { return "dev-" + std::to_string(rng() % devices); };
  auto metric = [&] { return std::string(kMetrics[rng() % 8]); };
  std::vector<std::string> concrete;  // a concrete topic per filter, for the names
  while (c.filters.size() < count) {
    const std::string s = site(), d = dev(), m = metric();
    const std::uint32_t k = rng() % 100;
    std::string f = k < 80   ? s + "/" + d + "/" + m
                    : k < 90 ? s + "/+/" + m
                    : k < 95 ? s + "/" + d + "/#"
                    : k < 99 ? "+/" + d + "/" + m
                             : s + "/#";
    if (amqtt::validate_topic_filter(f)) std::abort();
    if (c.index.insert(f, static_cast<int>(c.filters.size()))) {
      c.filters.push_back(std::move(f));
      concrete.push_back(s + "/" + d + "/" + m);
    }
  }
  for (int i = 0; i < 1024; ++i) {
    if (i % 4 != 3)
      c.names.push_back(concrete[rng() % concrete.size()]);
    else
      c.names.push_back(site() + "/" + dev() + "/" + metric());
    c.name_bytes += c.names.back().size();
  }
  return *slot;
}

void index_match(benchmark::State& state) {
  const index_case& c = index_for(static_cast<std::size_t>(state.range(0)));
  std::size_t i = 0;
  std::uint64_t hits = 0;
  const auto allocs = amqtt_bench::allocations();
  for (auto _ : state) {
    c.index.match(c.names[i++ & 1023], [&hits](const int& v) {
      benchmark::DoNotOptimize(v);
      ++hits;
    });
  }
  report(state, 1, c.name_bytes / c.names.size(), allocs);
  state.counters["matches_per_lookup"] =
      static_cast<double>(hits) / static_cast<double>(state.iterations());
}

void linear_match(benchmark::State& state) {
  const index_case& c = index_for(static_cast<std::size_t>(state.range(0)));
  std::size_t i = 0;
  std::uint64_t hits = 0;
  const auto allocs = amqtt_bench::allocations();
  for (auto _ : state) {
    const std::string& name = c.names[i++ & 1023];
    for (const auto& f : c.filters)
      if (amqtt::topic_matches(f, name)) ++hits;
    benchmark::DoNotOptimize(hits);
  }
  report(state, 1, c.name_bytes / c.names.size(), allocs);
  state.counters["matches_per_lookup"] =
      static_cast<double>(hits) / static_cast<double>(state.iterations());
}

void index_memcpy(benchmark::State& state) {
  const index_case& c = index_for(static_cast<std::size_t>(state.range(0)));
  char dst[256];
  std::size_t i = 0;
  const auto allocs = amqtt_bench::allocations();
  for (auto _ : state) {
    const std::string& name = c.names[i++ & 1023];
    std::memcpy(dst, name.data(), name.size());
    benchmark::DoNotOptimize(dst);
    benchmark::ClobberMemory();
  }
  report(state, 1, c.name_bytes / c.names.size(), allocs);
}

void index_sizes(benchmark::internal::Benchmark* b) {
  b->ArgName("filters");
  for (int n : {10, 1000, 100000}) b->Arg(n);
}

BENCHMARK(index_match)->Name("index/match")->Apply(index_sizes);
BENCHMARK(linear_match)->Name("index/linear_topic_matches")->Apply(index_sizes);
BENCHMARK(index_memcpy)->Name("index/memcpy")->Apply(index_sizes);

}  // namespace

int main(int argc, char** argv) {
#if defined(__clang__)
  benchmark::AddCustomContext("compiler", "clang " __clang_version__);
#elif defined(__GNUC__)
  benchmark::AddCustomContext("compiler", "g++ " __VERSION__);
#endif
#ifdef AMQTT_BENCH_CXX_FLAGS
  benchmark::AddCustomContext("cxx_flags", AMQTT_BENCH_CXX_FLAGS);
  benchmark::AddCustomContext("build_type", AMQTT_BENCH_BUILD_TYPE);
#endif
#ifdef NDEBUG
  benchmark::AddCustomContext("amqtt_assertions", "off (NDEBUG)");
#else
  benchmark::AddCustomContext("amqtt_assertions", "on: not an optimized build");
#endif
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
