// Steady-state allocation counts of the client's hot paths: QoS 0 publish from the strand and
// receive-into-a-reused-message. Counts every operator new and every aligned_alloc (Asio's
// recycling allocator gets its memory there). Not built under sanitizers, which own the
// allocator; glibc only (the aligned_alloc interposer forwards to __libc_memalign).
#include "client/fake_broker.hpp"

#include <catch2/catch.hpp>

#include <amqtt/client.hpp>

#include <atomic>
#include <cstdlib>
#include <new>
#include <string>

#include "support/alloc_count_guard.hpp"
#if !defined(__GLIBC__)
#define AMQTT_TEST_NO_ALLOC_COUNT 1
#endif

#if !defined(AMQTT_TEST_NO_ALLOC_COUNT)

namespace {
std::atomic<std::size_t> g_allocations{0};   // operator new: containers, strings, std::function...
std::atomic<std::size_t> g_aligned{0};       // aligned_alloc: Asio's handler memory
}

extern "C" void* __libc_memalign(std::size_t alignment, std::size_t size);

extern "C" void* aligned_alloc(std::size_t alignment, std::size_t size) noexcept {
  g_aligned.fetch_add(1, std::memory_order_relaxed);
  return __libc_memalign(alignment, size);
}

void* operator new(std::size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) { return ::operator new(n); }
void* operator new(std::size_t n, std::align_val_t a) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  void* p = nullptr;
  const std::size_t align = static_cast<std::size_t>(a) < sizeof(void*) ? sizeof(void*)
                                                                         : static_cast<std::size_t>(a);
  if (posix_memalign(&p, align, n ? n : 1) != 0) throw std::bad_alloc();
  return p;
}
void* operator new[](std::size_t n, std::align_val_t a) { return ::operator new(n, a); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }

namespace {

using namespace amqtt;
using namespace amqtt::test;
using namespace std::chrono_literals;

void connect(asio::io_context& io, client& c) { REQUIRE_FALSE(connect_and_wait(io, c)); }

}  // namespace

TEST_CASE("client: QoS 0 publish from the strand allocates nothing in steady state",
          "[client][alloc]") {
  fake_broker broker;  // outlives the io_context (transports refer to it)
  asio::io_context io;
  broker.record = false;
  broker.echo = false;
  client c(io, fake_options(broker));
  connect(io, c);

  const std::string payload(200, 'p');  // beyond any small-string buffer
  constexpr int warmup = 300, measured = 2000;
  int sent = 0;
  std::size_t before = 0, after = 0, aligned_before = 0, aligned_after = 0;
  std::function<void(std::error_code)> next = [&](std::error_code ec) {
    REQUIRE_FALSE(ec);
    ++sent;
    if (sent == warmup) {
      before = g_allocations.load();
      aligned_before = g_aligned.load();
    }
    if (sent == warmup + measured) {
      after = g_allocations.load();
      aligned_after = g_aligned.load();
      return;
    }
    c.async_publish("alloc/qos0/topic", payload, qos::at_most_once, std::ref(next));
  };
  c.async_publish("alloc/qos0/topic", payload, qos::at_most_once, std::ref(next));
  REQUIRE(run_until(io, [&] { return sent == warmup + measured; }, 10000ms));
  INFO("in " << measured << " QoS 0 publishes: operator new " << after - before
                << ", Asio handler memory " << aligned_after - aligned_before);
  CHECK(after - before == 0);
  CHECK(aligned_after - aligned_before == 0);
  REQUIRE(run_until(io, [&] { return broker.publishes == static_cast<std::size_t>(warmup + measured); }));
}

TEST_CASE("client: receiving into a reused message: no allocation by the client in steady state",
          "[client][alloc]") {
  fake_broker broker;  // outlives the io_context (transports refer to it)
  asio::io_context io;
  broker.record = false;
  client c(io, fake_options(broker));
  connect(io, c);

  const std::string payload(300, 'r');
  constexpr int warmup = 300, measured = 2000;
  int received = 0;
  std::size_t before = 0, after = 0, aligned_before = 0, aligned_after = 0;
  message m;
  std::function<void(std::error_code)> on_message = [&](std::error_code ec) {
    REQUIRE_FALSE(ec);
    REQUIRE(m.payload.size() == payload.size());
    ++received;
    if (received == warmup) {
      before = g_allocations.load();
      aligned_before = g_aligned.load();
    }
    if (received == warmup + measured) {
      after = g_allocations.load();
      aligned_after = g_aligned.load();
      return;
    }
    broker.publish("alloc/rx/topic/with/a/long/name", payload, qos::at_least_once);
    c.async_receive(m, std::ref(on_message));
  };
  c.async_receive(m, std::ref(on_message));
  broker.publish("alloc/rx/topic/with/a/long/name", payload, qos::at_least_once);
  REQUIRE(run_until(io, [&] { return received == warmup + measured; }, 10000ms));
  INFO("in " << measured << " QoS 1 receives: operator new " << after - before
                << ", Asio handler memory " << aligned_after - aligned_before);
  // The client's own data (message strings, queues, events, handler storage) allocates nothing.
  CHECK(after - before == 0);
  // Asio's handler memory: its per-thread recycling cache keeps 2 blocks per purpose, and this
  // path (fake read completion dispatched through the strand, PUBACK write, posted user
  // completion) has more in flight at once, so some blocks come from the heap. Bounded, as a
  // regression guard; see docs/client.md ("Allocation").
  CHECK(aligned_after - aligned_before <= static_cast<std::size_t>(6 * measured));
  WARN("Asio handler memory per received message: "
       << static_cast<double>(aligned_after - aligned_before) / measured);
}

#else

TEST_CASE("client: allocation counting (skipped under sanitizers)", "[client][alloc]") {
  SUCCEED("allocation counting needs the default allocator and glibc");
}

#endif
