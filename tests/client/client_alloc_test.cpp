// Steady-state allocation counts of the client's hot paths: QoS 0 publish from the strand (one
// at a time and in bursts) and receive-into-a-reused-message. Counts every operator new and every
// aligned_alloc (Asio's recycling allocator gets its memory there). Not built under sanitizers,
// which own the allocator; glibc only (the aligned_alloc interposer forwards to __libc_memalign).
#include <atomic>
#include <cstdlib>
#include <functional>
#include <memory>
#include <new>
#include <string>

#include <asio/steady_timer.hpp>
#include <catch2/catch.hpp>

#include <amqtt/client.hpp>

#include "client/fake_broker.hpp"
#include "support/alloc_count_guard.hpp"
#if !defined(__GLIBC__)
#define AMQTT_TEST_NO_ALLOC_COUNT 1
#endif

#if !defined(AMQTT_TEST_NO_ALLOC_COUNT)

namespace {
std::atomic<std::size_t> g_allocations{0};  // operator new: containers, strings, std::function...
std::atomic<std::size_t> g_aligned{0};      // aligned_alloc: Asio's handler memory
}  // namespace

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
  const std::size_t align =
      static_cast<std::size_t>(a) < sizeof(void*) ? sizeof(void*) : static_cast<std::size_t>(a);
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

// Runs `io` in ONE run() call until a handler calls io.stop(), or `timeout` (false then). Asio's
// per-thread handler memory cache lives for one run() call: run_until's loop of run_one_for
// calls would start every handler with an empty cache and count Asio's misses, not the client.
bool run_once_until_stopped(asio::io_context& io, std::chrono::milliseconds timeout) {
  auto timed_out = std::make_shared<bool>(false);
  asio::steady_timer deadline(io, timeout);
  deadline.async_wait([&io, timed_out](std::error_code ec) {
    if (!ec) {
      *timed_out = true;
      io.stop();
    }
  });
  io.restart();
  io.run();
  deadline.cancel();
  io.restart();
  io.poll();  // the cancelled wait
  return !*timed_out;
}

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
  REQUIRE(run_until(
      io, [&] { return sent == warmup + measured; }, 10000ms));
  INFO("in " << measured << " QoS 0 publishes: operator new " << after - before
             << ", Asio handler memory " << aligned_after - aligned_before);
  CHECK(after - before == 0);
  CHECK(aligned_after - aligned_before == 0);
  REQUIRE(run_until(
      io, [&] { return broker.publishes == static_cast<std::size_t>(warmup + measured); }));
}

TEST_CASE("client: bursts of QoS 0 publishes allocate nothing in steady state", "[client][alloc]") {
  // An application publishing a batch at once: 500 completions queued on the strand before the
  // first runs. Asio's per-thread handler memory cache keeps 2 blocks, so without the client's
  // completion pool each completion of a burst allocated.
  fake_broker broker;  // outlives the io_context (transports refer to it)
  asio::io_context io;
  broker.record = false;
  broker.echo = false;
  client c(io, fake_options(broker));
  connect(io, c);

  const std::string payload(64, 'b');
  constexpr int burst = 500, warmup_rounds = 2, rounds = 22;
  int completed = 0, round = 0;
  std::size_t before = 0, after = 0, aligned_before = 0, aligned_after = 0;
  // Each round: one handler issues `burst` publishes; the last completion starts the next round.
  std::function<void()> start_round = [&] {
    if (round == warmup_rounds) {
      before = g_allocations.load();
      aligned_before = g_aligned.load();
    }
    if (round == rounds) {
      after = g_allocations.load();
      aligned_after = g_aligned.load();
      io.stop();
      return;
    }
    ++round;
    for (int i = 0; i < burst; ++i)
      c.async_publish("alloc/qos0/burst", payload, qos::at_most_once, [&](std::error_code ec) {
        CHECK_FALSE(ec);
        if (++completed == round * burst) start_round();
      });
  };
  asio::post(c.get_executor(), [&] { start_round(); });
  REQUIRE(run_once_until_stopped(io, 20000ms));
  REQUIRE(completed == rounds * burst);
  const int measured = (rounds - warmup_rounds) * burst;
  INFO("in " << measured << " QoS 0 publishes in bursts of " << burst << ": operator new "
             << after - before << ", Asio handler memory " << aligned_after - aligned_before);
  CHECK(after - before == 0);
  CHECK(aligned_after - aligned_before == 0);
  REQUIRE(
      run_until(io, [&] { return broker.publishes == static_cast<std::size_t>(rounds * burst); }));
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
      io.stop();
      return;
    }
    broker.publish("alloc/rx/topic/with/a/long/name", payload, qos::at_least_once);
    c.async_receive(m, std::ref(on_message));
  };
  c.async_receive(m, std::ref(on_message));
  broker.publish("alloc/rx/topic/with/a/long/name", payload, qos::at_least_once);
  REQUIRE(run_once_until_stopped(io, 10000ms));
  REQUIRE(received == warmup + measured);
  INFO("in " << measured << " QoS 1 receives: operator new " << after - before
             << ", Asio handler memory " << aligned_after - aligned_before);
  // The client's own data (message strings, queues, events, handler storage) allocates nothing.
  CHECK(after - before == 0);
  // Asio's handler memory too: the pending receive and its completion come from the client's
  // completion pool, the rest (fake read completion, PUBACK write) from Asio's per-thread cache.
  CHECK(aligned_after - aligned_before == 0);
}

#else

TEST_CASE("client: allocation counting (skipped under sanitizers)", "[client][alloc]") {
  SUCCEED("allocation counting needs the default allocator and glibc");
}

#endif
