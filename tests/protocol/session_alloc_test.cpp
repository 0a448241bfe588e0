// Steady-state QoS 0 traffic does not allocate: outbound publishes are encoded straight into the
// output buffer (its capacity is kept across take_output swaps), completion events go through a
// ring buffer, and inbound messages are views into the input buffer.
//
// This file replaces the global operator new/delete of the test executable with counting
// versions (they forward to malloc/free; counting is only on inside the measured region).

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <new>

#include <catch2/catch.hpp>

#include "protocol/support/scripted_peer.hpp"

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
  CHECK(allocations.load() == 0);
  CHECK(delivered == 2 * 1050);
  CHECK(done == 10 * 1050);
  CHECK(bytes_out > 1050u * 10u * payload.size());
  CHECK_FALSE(p.closed());
}
