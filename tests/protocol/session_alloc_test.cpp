// Steady-state QoS 0 traffic does not allocate: outbound publishes are encoded straight into the
// output buffer (its capacity is kept across take_output swaps), completion events go through a
// ring buffer, and inbound messages are views into the input buffer.
// Steady-state outbound QoS 1/2 traffic does not allocate either: in-flight flows and queued
// requests live in recycled slots whose topic/payload buffers keep their capacity.
//
// This file replaces the global operator new/delete of the test executable with counting
// versions (they forward to malloc/free; counting is only on inside the measured region).

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <new>

#include <catch2/catch.hpp>

#include "protocol/support/scripted_peer.hpp"
#include "support/alloc_count_guard.hpp"

// GCC (-O2) pairs the malloc inside the replaced operator new with the free inside the replaced
// operator delete at inlined call sites and reports -Wmismatched-new-delete: a false positive for
// a replacement pair that is consistent by construction.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace {
std::atomic<bool> counting{false};
std::atomic<std::size_t> allocations{0};
}  // namespace

#if defined(AMQTT_TEST_NO_ALLOC_COUNT)
#define AMQTT_CHECK_NO_ALLOCATIONS(n)                       \
  do {                                                      \
    (void)(n);                                              \
    WARN("allocation count not checked under a sanitizer"); \
  } while (0)
#else
#define AMQTT_CHECK_NO_ALLOCATIONS(n) CHECK((n) == 0)

void* operator new(std::size_t n) {
  if (counting.load(std::memory_order_relaxed)) allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) {
  if (counting.load(std::memory_order_relaxed)) allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
// The nothrow forms too (std::get_temporary_buffer uses them): every plain new/delete of the
// program must come from one pair, or sanitizers report alloc-dealloc mismatches.
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  if (counting.load(std::memory_order_relaxed)) allocations.fetch_add(1, std::memory_order_relaxed);
  return std::malloc(n ? n : 1);
}
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept {
  if (counting.load(std::memory_order_relaxed)) allocations.fetch_add(1, std::memory_order_relaxed);
  return std::malloc(n ? n : 1);
}
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
#endif

using namespace amqtt;
using namespace amqtt_test;

TEST_CASE("steady-state QoS 0 publish/receive does not allocate", "[protocol][alloc]") {
  scripted_peer p;
  p.establish();
  // One inbound QoS 0 and one QoS 1 message per round (the QoS 1 one is acknowledged).
  const byte_vector inbound =
      hex_bytes(publish_hex("in/t", "payload-0123456789", qos::at_most_once) +
                publish_hex("in/t", "payload", qos::at_least_once, 7));
  const std::string payload(200, 'x');
  byte_vector out;
  std::size_t delivered = 0, done = 0, bytes_out = 0;
  auto round = [&] {
    std::error_code ec;
    for (int i = 0; i < 10; ++i) {
      if (p.s.publish("out/t", payload, qos::at_most_once, false, ec) == 0) FAIL("publish failed");
    }
    std::memcpy(p.s.prepare_input(inbound.size()), inbound.data(), inbound.size());
    p.s.commit_input(inbound.size(), p.now);
    for (;;) {
      session_event e = p.s.poll(p.now);
      if (std::holds_alternative<std::monostate>(e)) break;
      if (std::holds_alternative<message_event>(e)) ++delivered;
      if (std::holds_alternative<publish_done_event>(e)) ++done;
    }
    p.s.take_output(out, p.now);
    bytes_out += out.size();
    p.now += std::chrono::milliseconds(10);
    if (auto dl = p.s.next_deadline(); dl && *dl <= p.now) p.s.on_timer(p.now);
  };
  for (int i = 0; i < 50; ++i) round();  // warm-up: buffers reach their working size
  allocations = 0;
  counting = true;
  for (int i = 0; i < 1000; ++i) round();
  counting = false;
  AMQTT_CHECK_NO_ALLOCATIONS(allocations.load());
  CHECK(delivered == 2 * 1050);
  CHECK(done == 10 * 1050);
  CHECK(bytes_out > 1050u * 10u * payload.size());
  CHECK_FALSE(p.closed());
}

namespace {

// Outbound QoS 1 or 2 publishes with a window of 16: each round publishes 4 messages (queued
// behind a full window) and acknowledges the 4 oldest, which sends the 4 queued ones. For QoS 2
// the PUBRECs of this round and the PUBCOMPs of the previous round are fed together, so flows
// also wait in the PUBREL phase. Runs past packet id 65535 (ids wrap).
std::size_t steady_state_publish_allocations(qos q) {
  session_options o = test_options();
  o.max_inflight = 16;
  scripted_peer p(o);
  p.establish();
  const std::string payload(100, 'x');
  constexpr int per_round = 4;
  byte_vector out;
  std::size_t done = 0, bytes_out = 0, published = 0;
  std::uint16_t next_ack = 1;  // ids are handed out in order: 1, 2, ... 65535, 1, ...
  std::uint16_t next_comp = 1;
  auto next_id = [](std::uint16_t id) {
    return static_cast<std::uint16_t>(id == 65535 ? 1 : id + 1);
  };
  auto put_ack = [&](std::uint8_t*& w, std::uint8_t type, std::uint16_t id) {
    *w++ = type;
    *w++ = 2;
    *w++ = static_cast<std::uint8_t>(id >> 8);
    *w++ = static_cast<std::uint8_t>(id & 0xFF);
  };
  auto pump = [&] {
    for (;;) {
      session_event e = p.s.poll(p.now);
      if (std::holds_alternative<std::monostate>(e)) break;
      if (const auto* d = std::get_if<publish_done_event>(&e)) {
        if (d->error) FAIL("publish failed: " << d->error.message());
        ++done;
      }
    }
    p.s.take_output(out, p.now);
    bytes_out += out.size();
  };
  auto publish = [&](int n) {
    std::error_code ec;
    for (int i = 0; i < n; ++i) {
      if (p.s.publish("out/t", payload, q, false, ec) == 0) FAIL("publish: " << ec.message());
      ++published;
    }
    pump();
  };
  auto round = [&] {
    publish(per_round);
    std::uint8_t* w = p.s.prepare_input(2 * 4 * per_round);
    std::uint8_t* const begin = w;
    for (int i = 0; i < per_round; ++i, next_ack = next_id(next_ack))
      put_ack(w, q == qos::at_least_once ? 0x40 : 0x50, next_ack);
    if (q == qos::exactly_once && published > 16 + 2 * per_round) {
      for (int i = 0; i < per_round; ++i, next_comp = next_id(next_comp))
        put_ack(w, 0x70, next_comp);
    }
    p.s.commit_input(static_cast<std::size_t>(w - begin), p.now);
    pump();
    p.now += std::chrono::milliseconds(1);
    if (auto dl = p.s.next_deadline(); dl && *dl <= p.now) p.s.on_timer(p.now);
  };
  publish(16);                            // fill the window
  for (int i = 0; i < 100; ++i) round();  // warm-up: slots and buffers reach their working size
  allocations = 0;
  counting = true;
  for (int i = 0; i < 20000; ++i) round();  // 80,000 messages: the ids wrap
  counting = false;
  CHECK_FALSE(p.closed());
  CHECK(p.s.inflight_count() == 16);
  // QoS 2: the window also holds the flows awaiting PUBCOMP, so 8 publishes stay queued.
  CHECK(p.s.queued_count() == (q == qos::at_least_once ? 0u : 8u));
  CHECK(done == published - (q == qos::at_least_once ? 16u : 24u));
  CHECK(bytes_out > published * payload.size());
  return allocations.load();
}

}  // namespace

TEST_CASE("steady-state QoS 1 publish/ack does not allocate", "[protocol][alloc]") {
  const std::size_t n = steady_state_publish_allocations(qos::at_least_once);
  AMQTT_CHECK_NO_ALLOCATIONS(n);
}

TEST_CASE("steady-state QoS 2 publish/ack does not allocate", "[protocol][alloc]") {
  const std::size_t n = steady_state_publish_allocations(qos::exactly_once);
  AMQTT_CHECK_NO_ALLOCATIONS(n);
}

TEST_CASE("steady-state QoS 0 publish past the output budget does not allocate",
          "[protocol][alloc]") {
  // Requests beyond max_output_bytes wait in the request queue, whose slots are recycled.
  session_options o = test_options();
  o.max_output_bytes = 1000;
  scripted_peer p(o);
  p.establish();
  const std::string payload(200, 'x');
  byte_vector out;
  std::size_t done = 0, bytes_out = 0, max_queued = 0;
  auto round = [&] {
    std::error_code ec;
    for (int i = 0; i < 20; ++i) {
      if (p.s.publish("out/t", payload, qos::at_most_once, false, ec) == 0) FAIL("publish failed");
    }
    max_queued = std::max(max_queued, p.s.queued_count());
    for (;;) {
      for (;;) {
        session_event e = p.s.poll(p.now);
        if (std::holds_alternative<std::monostate>(e)) break;
        if (std::holds_alternative<publish_done_event>(e)) ++done;
      }
      if (!p.s.has_output()) break;
      p.s.take_output(out, p.now);
      bytes_out += out.size();
    }
  };
  for (int i = 0; i < 50; ++i) round();  // warm-up
  allocations = 0;
  counting = true;
  for (int i = 0; i < 1000; ++i) round();
  counting = false;
  AMQTT_CHECK_NO_ALLOCATIONS(allocations.load());
  CHECK(max_queued > 0);
  CHECK(p.s.queued_count() == 0);
  CHECK(done == 20 * 1050);
  CHECK(bytes_out > 1050u * 20u * payload.size());
  CHECK_FALSE(p.closed());
}
