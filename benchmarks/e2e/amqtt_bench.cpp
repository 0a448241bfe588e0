// amqtt_bench: asio-mqtt's amqtt::client. Throughput mode: publisher and subscriber each on its
// own io_context run by its own thread (--threads 2, the default, as libmosquitto and Paho run
// one network thread per connection), or both on one io_context and thread (--threads 1).
// Latency mode: one client on one thread. See bench_common.hpp for the measurement protocol.
// Session options: max_inflight 65535 (as Paho's), the rest default.
//
// throughput: the publisher keeps `window` async_publish operations outstanding; each completion
//   handler (on the publisher's strand, so async_publish runs inline) issues the next one.
//   QoS 0 completes as soon as the session accepted the message (before it is written), which
//   gives the publisher no back-pressure, so QoS 0 is paced end to end instead: at most `window`
//   messages published but not yet received; the subscriber wakes the publisher (one post to its
//   strand) once that drops to window/2. Should the session still refuse with
//   protocol_errc::queue_full, that message is retried after 200 us, alone, and the window
//   refills once it is accepted (queue_full_retries counts the refusals). The subscriber loops on
//   async_receive(message&, handler) reusing one message (the allocation-free form).
// latency: the receive handler records the round trip and issues the next publish.
//
// Heap allocations: this program replaces the global operator new/delete with counting ones,
// and (glibc) interposes aligned_alloc, where Asio's recycling allocator gets handler memory.
//   allocs_per_msg      throughput runs: allocations per message between the 10% and the 90%
//                       received marks (publish + receive + everything else in the process).
//   allocs_per_publish  QoS 0 throughput runs only, after the measured run: a second pair of
//   allocs_per_receive  clients, each on its own io_context and thread, with per-thread counters
//                       (steady state: 20%..80% of the messages). The publisher paces itself on
//                       the receive count: at most min(500 messages, 512 KiB) ahead, i.e. within
//                       the session's 1 MiB output budget (allocs_ahead in the JSON); when blocked
//                       the subscriber thread wakes it with one post once it is half that ahead
//                       (that post is charged to the receive side).
//                       AMQTT_BENCH_NO_ALLOC_PHASE=1 skips it (e.g. when profiling).
//   --receive handler   use a per-subscription message_handler instead of async_receive.
//   --read-buffer BYTES client_options::read_buffer_size (default: the client's, 16 KiB).
//   AMQTT_BENCH_TRACE_ALLOCS=K  (diagnostics) print the call stacks of the first K allocations
//                       made in the steady-state window of a throughput run to stderr
//                       (execinfo backtrace_symbols_fd; benchmarks/e2e/alloc_traces.py groups and
//                       symbolizes them). AMQTT_BENCH_TRACE_STRIDE=S samples every S-th one.
//                       AMQTT_BENCH_TRACE_PHASE=publish|receive traces that thread of the
//                       allocation phase's steady state instead.

#include <execinfo.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <string>
#include <thread>

#include <asio/bind_allocator.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>

#include "amqtt/client.hpp"
#include "bench_common.hpp"

// ---- counting global operator new/delete --------------------------------------------------------

namespace alloc_count {
// Slot 0: any thread; 1: the publisher thread; 2: the subscriber thread (allocation phase).
inline std::atomic<std::uint64_t> counts[3];
inline thread_local int slot = 0;
inline std::uint64_t mine() { return counts[slot].load(std::memory_order_relaxed); }
inline std::uint64_t total() {
  return counts[0].load(std::memory_order_relaxed) + counts[1].load(std::memory_order_relaxed) +
         counts[2].load(std::memory_order_relaxed);
}
// Diagnostics: stacks of the first trace_limit allocations while `tracing`.
constexpr int trace_depth = 24;
constexpr int trace_max = 256;
inline std::atomic<bool> tracing{false};
inline int trace_slot = 0;  // 0: the main run's window; 1 or 2: that thread of the allocation phase
inline int trace_limit = 0;
inline int trace_count = 0;
inline std::uint64_t trace_stride = 1;
inline std::uint64_t trace_seen = 0;
inline thread_local bool in_trace = false;
inline void* trace_frames[trace_max][trace_depth];
inline int trace_sizes[trace_max];
inline std::size_t trace_bytes[trace_max];
inline void record(std::size_t n) {
  if (!tracing.load(std::memory_order_relaxed) || in_trace || trace_count >= trace_limit ||
      (trace_slot != 0 && slot != trace_slot))
    return;
  if (trace_seen++ % trace_stride != 0) return;
  in_trace = true;
  trace_bytes[trace_count] = n;
  trace_sizes[trace_count] = backtrace(trace_frames[trace_count], trace_depth);
  ++trace_count;
  in_trace = false;
}
inline void print_traces() {
  for (int i = 0; i < trace_count; ++i) {
    std::fprintf(stderr, "--- allocation %d: %zu bytes\n", i, trace_bytes[i]);
    std::fflush(stderr);
    backtrace_symbols_fd(trace_frames[i], trace_sizes[i], STDERR_FILENO);
  }
}
inline void* allocate(std::size_t n) {
  counts[slot].fetch_add(1, std::memory_order_relaxed);
  record(n);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
inline void* allocate_aligned(std::size_t n, std::size_t align) {
  counts[slot].fetch_add(1, std::memory_order_relaxed);
  if (align < sizeof(void*)) align = sizeof(void*);
  void* p = nullptr;
  if (posix_memalign(&p, align, n ? n : 1) != 0) throw std::bad_alloc();
  return p;
}
}  // namespace alloc_count

#if defined(__GLIBC__)
// Asio's recycling allocator (handler memory of posts, timers and socket operations) takes its
// blocks from std::aligned_alloc, not operator new: count those too. glibc's own aligned
// allocation entry point does the work.
extern "C" void* __libc_memalign(std::size_t alignment, std::size_t size);
extern "C" void* aligned_alloc(std::size_t alignment, std::size_t size) noexcept {
  alloc_count::counts[alloc_count::slot].fetch_add(1, std::memory_order_relaxed);
  alloc_count::record(size);
  return __libc_memalign(alignment, size);
}
#endif

void* operator new(std::size_t n) { return alloc_count::allocate(n); }
void* operator new[](std::size_t n) { return alloc_count::allocate(n); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  try {
    return alloc_count::allocate(n);
  } catch (...) {
    return nullptr;
  }
}
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept {
  try {
    return alloc_count::allocate(n);
  } catch (...) {
    return nullptr;
  }
}
void* operator new(std::size_t n, std::align_val_t a) {
  return alloc_count::allocate_aligned(n, static_cast<std::size_t>(a));
}
void* operator new[](std::size_t n, std::align_val_t a) {
  return alloc_count::allocate_aligned(n, static_cast<std::size_t>(a));
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }

namespace {

constexpr const char* library = "amqtt";
bool use_handler = false;          // --receive handler
std::size_t read_buffer_size = 0;  // --read-buffer BYTES (0: the client's default)
int throughput_threads = 2;        // --threads 1|2

using namespace std::chrono_literals;

amqtt::qos to_qos(int q) { return static_cast<amqtt::qos>(q); }

bool is_queue_full(const std::error_code& ec) {
  return ec == make_error_code(amqtt::protocol_errc::queue_full);
}

amqtt::client_options make_options(const bench::options& o, const char* role) {
  amqtt::client_options c;
  c.brokers = {amqtt::broker_address{o.host, static_cast<std::uint16_t>(o.port)}};
  c.session.client_id = bench::client_id(library, role);
  c.session.clean_session = true;
  c.session.keep_alive = std::chrono::seconds(60);
  c.session.max_inflight = 65535;
  c.reconnect.enabled = false;
  if (read_buffer_size) c.read_buffer_size = read_buffer_size;
  return c;
}

// Runs `io` until pred() or the deadline. Returns pred().
template <class Pred>
bool run_until(asio::io_context& io, Pred pred, bench::clock::duration limit) {
  const auto deadline = bench::clock::now() + limit;
  while (!pred() && bench::clock::now() < deadline) {
    if (io.stopped()) io.restart();
    io.run_one_for(10ms);
  }
  return pred();
}

void connect(asio::io_context& io, amqtt::client& c) {
  bool done = false;
  std::error_code err;
  c.async_connect([&](std::error_code ec, bool) {
    err = ec;
    done = true;
  });
  if (!run_until(
          io, [&] { return done; }, 15s))
    throw std::runtime_error("connect timed out");
  if (err) throw std::runtime_error("connect: " + err.message());
}

void subscribe(asio::io_context& io, amqtt::client& c, const std::string& topic, int qos,
               amqtt::message_handler handler = {}) {
  bool done = false;
  std::error_code err;
  std::vector<amqtt::suback_return_code> codes;
  auto h = [&](std::error_code ec, std::vector<amqtt::suback_return_code> rc) {
    err = ec;
    codes = std::move(rc);
    done = true;
  };
  if (handler)
    c.async_subscribe(topic, to_qos(qos), std::move(handler), h);
  else
    c.async_subscribe(topic, to_qos(qos), h);
  if (!run_until(
          io, [&] { return done; }, 10s))
    throw std::runtime_error("subscribe timed out");
  if (err) throw std::runtime_error("subscribe: " + err.message());
  if (codes.size() != 1 || codes[0] == amqtt::suback_return_code::failure)
    throw std::runtime_error("subscribe refused");
}

void disconnect(asio::io_context& io, amqtt::client& c) {
  bool done = false;
  c.async_disconnect([&](std::error_code) { done = true; });
  run_until(
      io, [&] { return done; }, 5s);
}

// ---- cross-thread wake-ups ---------------------------------------------------------------------

// Memory for the subscriber's wake-up posts to the publisher's strand: taken on one thread, freed
// on the other, which Asio's per-thread cache handles badly (each post would take blocks from the
// subscriber thread's cache and leave them in the publisher's, so the subscriber's own I/O then
// misses its cache). A few fixed blocks behind a mutex: the benchmark's cost, not the client's.
class wake_memory {
 public:
  void* allocate(std::size_t n) {
    if (n <= block_size) {
      std::lock_guard<std::mutex> lock(mutex_);
      for (auto& b : blocks_)
        if (!b.used) {
          b.used = true;
          return b.storage;
        }
    }
    return ::operator new(n);
  }
  void deallocate(void* p) noexcept {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      for (auto& b : blocks_)
        if (p == static_cast<void*>(b.storage)) {
          b.used = false;
          return;
        }
    }
    ::operator delete(p);
  }

 private:
  static constexpr std::size_t block_size = 256;
  struct block {
    alignas(std::max_align_t) unsigned char storage[block_size];
    bool used = false;
  };
  std::mutex mutex_;
  block blocks_[4];
};

template <class T>
struct wake_allocator {
  using value_type = T;
  wake_memory* memory;
  explicit wake_allocator(wake_memory* m) noexcept : memory(m) {}
  template <class U>
  wake_allocator(const wake_allocator<U>& o) noexcept : memory(o.memory) {}
  T* allocate(std::size_t n) { return static_cast<T*>(memory->allocate(n * sizeof(T))); }
  void deallocate(T* p, std::size_t) noexcept { memory->deallocate(p); }
  template <class U>
  bool operator==(const wake_allocator<U>& o) const noexcept {
    return memory == o.memory;
  }
  template <class U>
  bool operator!=(const wake_allocator<U>& o) const noexcept {
    return memory != o.memory;
  }
};

// Runs f on c's strand, posted from another thread: through the concrete strand (any_io_executor
// would wrap f in a type-erased function from Asio's cache) with wake_memory.
template <class F>
void post_to_client(amqtt::client& c, wake_memory& memory, F f) {
  const asio::any_io_executor ex = c.get_executor();
  if (const auto* strand = amqtt::executor_target<amqtt::io_strand_executor>(ex))
    asio::post(*strand, asio::bind_allocator(wake_allocator<void>(&memory), std::move(f)));
  else
    asio::post(ex, std::move(f));
}

// ---- throughput -----------------------------------------------------------------------------

// Shared by the publisher's and the subscriber's strands, which run on different threads with
// --threads 2: what both touch is atomic (or written before the threads start / read after).
struct throughput_run {
  const bench::options& o;
  asio::io_context& io_pub;
  asio::io_context& io_sub;
  amqtt::client& pub;
  amqtt::client& sub;
  std::string topic;
  std::string payload;
  bench::seq_tracker tracker;  // subscriber; unique() is atomic
  amqtt::message rx;
  asio::steady_timer retry_timer;     // publisher's strand
  asio::steady_timer deadline_timer;  // subscriber's io_context

  // publisher only
  std::uint64_t next_seq = 0;
  std::uint64_t outstanding = 0;
  std::vector<std::uint64_t> retry;  // sequence numbers refused with queue_full
  bool parked = false;
  bool probing = false;
  std::uint64_t queue_full_retries = 0;
  // both
  std::atomic<std::uint64_t> accepted{0};  // QoS 0 pacing: publishes the session accepted
  std::atomic<bool> pace_blocked{false};
  std::atomic<bool> finished{false};
  std::atomic<bool> timed_out{false};
  std::mutex error_mutex;
  std::string error;
  wake_memory wake_mem;  // the subscriber's wake-up posts to the publisher

  bench::clock::time_point t0{}, last_receive{};
  std::uint64_t mark_lo = 0, mark_hi = 0;  // unique-received marks for the allocation count
  std::uint64_t allocs_lo = 0, allocs_hi = 0;

  throughput_run(const bench::options& opts, asio::io_context& pub_ctx, asio::io_context& sub_ctx,
                 amqtt::client& p, amqtt::client& s, std::string t)
      : o(opts),
        io_pub(pub_ctx),
        io_sub(sub_ctx),
        pub(p),
        sub(s),
        topic(std::move(t)),
        payload(bench::make_payload(opts.payload)),
        tracker(opts.count, opts.payload >= 16),
        retry_timer(p.get_executor()),
        deadline_timer(sub_ctx) {
    rx.topic.reserve(topic.size());
    rx.payload.reserve(o.payload);
    mark_lo = o.count / 10;
    mark_hi = o.count - o.count / 10;
    retry.reserve(o.window);
  }

  // On the publisher's strand. After a queue_full the first publish is a lone probe: the
  // window refills only once the session accepts again.
  void pump() {
    while (!finished.load(std::memory_order_relaxed) && !parked &&
           outstanding < (probing ? 1 : o.window)) {
      if (o.qos == 0 && ahead() >= o.window) {
        pace_blocked.store(true, std::memory_order_seq_cst);  // on_message wakes us
        if (ahead() >= o.window) return;
        pace_blocked.store(false, std::memory_order_seq_cst);  // it caught up meanwhile
      }
      std::uint64_t seq;
      if (!retry.empty()) {
        seq = retry.back();
        retry.pop_back();
      } else if (next_seq < o.count) {
        seq = next_seq++;
      } else {
        return;
      }
      bench::put_seq(payload.data(), payload.size(), seq);
      ++outstanding;
      accepted.fetch_add(1, std::memory_order_seq_cst);
      pub.async_publish(topic, payload, to_qos(o.qos), [this, seq](std::error_code ec) {
        --outstanding;
        if (ec) {
          if (finished.load()) return;
          if (is_queue_full(ec)) {
            accepted.fetch_sub(1, std::memory_order_seq_cst);
            ++queue_full_retries;
            retry.push_back(seq);
            if (!parked) {
              parked = true;
              retry_timer.expires_after(200us);
              retry_timer.async_wait([this](std::error_code) {
                parked = false;
                probing = true;
                pump();
              });
            }
            return;
          }
          fail("publish: " + ec.message());
          return;
        }
        probing = false;
        pump();
      });
    }
  }

  // QoS 0: messages published (accepted by the session, or about to be) but not received yet.
  std::uint64_t ahead() const {
    return accepted.load(std::memory_order_seq_cst) - tracker.unique();
  }

  // On the subscriber's strand.
  void on_message(std::string_view payload_view) {
    tracker.on_payload(payload_view.data(), payload_view.size());
    if (pace_blocked.load(std::memory_order_seq_cst) && ahead() <= o.window / 2 &&
        pace_blocked.exchange(false))
      post_to_client(pub, wake_mem, [this] { pump(); });
    last_receive = bench::clock::now();
    const std::uint64_t u = tracker.unique();
    if (u == mark_lo && allocs_lo == 0) {
      allocs_lo = alloc_count::total();
      alloc_count::tracing = alloc_count::trace_limit > 0 && alloc_count::trace_slot == 0;
    }
    if (u == mark_hi && allocs_hi == 0) {
      allocs_hi = alloc_count::total();
      alloc_count::tracing = false;
    }
    if (tracker.complete()) finish();
  }

  // On the subscriber's strand.
  void receive() {
    sub.async_receive(rx, [this](std::error_code ec) {
      if (ec) {
        if (!finished.load()) fail("receive: " + ec.message());
        return;
      }
      on_message(rx.payload);
      if (!finished.load()) receive();
    });
  }

  void fail(std::string what) {
    {
      std::lock_guard<std::mutex> lock(error_mutex);
      if (error.empty()) error = std::move(what);
    }
    finish();
  }

  // Any thread: stops both io_contexts (the timers go when the run object does).
  void finish() {
    if (finished.exchange(true)) return;
    io_sub.stop();
    io_pub.stop();
  }

  void start() {
    deadline_timer.expires_after(o.timeout());
    deadline_timer.async_wait([this](std::error_code ec) {
      if (ec) return;
      timed_out = true;
      finish();
    });
    if (!use_handler) asio::post(sub.get_executor(), [this] { receive(); });
    t0 = bench::clock::now();
    asio::post(pub.get_executor(), [this] { pump(); });
  }
};

struct alloc_phase_result {
  double per_publish = -1;
  double per_receive = -1;
  std::uint64_t ahead = 0;
  std::uint64_t published = 0;  // messages the phase sent through the broker
};

// QoS 0 only: publisher and subscriber on separate io_contexts/threads, counted per thread.
alloc_phase_result measure_qos0_allocations(const bench::options& o) {
  const std::uint64_t m = std::max<std::uint64_t>(1000, std::min<std::uint64_t>(o.count, 50000));
  const std::uint64_t lo = m / 5, hi = m - m / 5;
  asio::io_context io_pub(1), io_sub(1);
  amqtt::client pub(io_pub, make_options(o, "apub"));
  amqtt::client sub(io_sub, make_options(o, "asub"));
  const std::string topic = bench::unique_topic("amqtt-allocs");
  connect(io_sub, sub);
  std::atomic<std::uint64_t> received{0};
  std::uint64_t sub_lo = 0, sub_hi = 0;
  amqtt::message rx;
  rx.payload.reserve(o.payload);
  rx.topic.reserve(topic.size());
  std::function<void()> receive_loop;  // built before the thread starts
  bool stop_sub = false;
  std::function<void(std::uint64_t)> wake;  // set below, before any message can arrive
  std::function<void()> finished;           // likewise
  auto count_one = [&] {
    const std::uint64_t n = received.load(std::memory_order_relaxed) + 1;
    if (n == lo) {
      sub_lo = alloc_count::mine();
      alloc_count::tracing = alloc_count::trace_limit > 0 && alloc_count::trace_slot != 0;
    }
    if (n == hi) {
      sub_hi = alloc_count::mine();
      alloc_count::tracing = false;
    }
    received.store(n, std::memory_order_seq_cst);
    if (n == m) finished();
    wake(n);
  };
  if (use_handler) {
    subscribe(io_sub, sub, topic, 0, [&](const amqtt::message_view&) { count_one(); });
  } else {
    subscribe(io_sub, sub, topic, 0);
    receive_loop = [&] {
      sub.async_receive(rx, [&](std::error_code ec) {
        if (ec || stop_sub) return;
        count_one();
        receive_loop();
      });
    };
  }
  connect(io_pub, pub);

  std::string payload = bench::make_payload(o.payload);
  std::atomic<std::uint64_t> sent{0};
  std::atomic<bool> blocked{false};
  std::uint64_t pub_lo = 0, pub_hi = 0;
  bool pub_failed = false;
  // At most 500 messages and 512 KiB ahead of the subscriber: below the session's 1 MiB output
  // budget, so QoS 0 publishes take the session's direct path (encoded straight into the output
  // buffer). Further ahead they would wait in its request queue as owned copies, which the main
  // run's allocs_per_msg shows.
  const std::uint64_t ahead_max = std::max<std::uint64_t>(
      4, std::min<std::uint64_t>(500, (512u * 1024u) / (o.payload + topic.size() + 8)));
  std::function<void()> pump = [&] {
    std::uint64_t s = sent.load(std::memory_order_relaxed);
    while (s < m) {
      if (s - received.load(std::memory_order_seq_cst) >= ahead_max) {
        blocked.store(true, std::memory_order_seq_cst);
        if (s - received.load(std::memory_order_seq_cst) >= ahead_max) return;  // woken by wake()
        blocked.store(false, std::memory_order_seq_cst);
      }
      if (s == lo) pub_lo = alloc_count::mine();
      if (s == hi) pub_hi = alloc_count::mine();
      bench::put_seq(payload.data(), payload.size(), s);
      sent.store(++s, std::memory_order_seq_cst);
      pub.async_publish(topic, payload, amqtt::qos::at_most_once,
                        [&pub_failed](std::error_code ec) {
                          if (ec) pub_failed = true;
                        });
    }
  };
  // Subscriber side: once the publisher is at most ahead_max/2 ahead, one post wakes it.
  wake_memory wake_mem;
  wake = [&](std::uint64_t n) {
    if (blocked.load(std::memory_order_seq_cst) &&
        sent.load(std::memory_order_seq_cst) - n <= ahead_max / 2 && blocked.exchange(false))
      post_to_client(pub, wake_mem, [&] { pump(); });
  };

  // Each thread runs its io_context with run() (not run_one_for in a loop: Asio's per-thread
  // handler-memory cache lives for one run call, so a loop of run_one calls starts every handler
  // with an empty cache and measures that instead of the client). Stopped when the last message
  // arrives, a publish fails, or after 60 s.
  auto stop_all = [&] {
    io_sub.stop();
    io_pub.stop();
  };
  asio::steady_timer deadline(io_sub, std::chrono::seconds(60));
  deadline.async_wait([&](std::error_code ec) {
    if (!ec) stop_all();
  });
  finished = [&] {
    stop_all();
  };
  std::thread sub_thread([&] {
    alloc_count::slot = 2;
    if (receive_loop) asio::post(sub.get_executor(), [&] { receive_loop(); });
    auto work = asio::make_work_guard(io_sub);
    io_sub.run();
  });
  std::thread pub_thread([&] {
    alloc_count::slot = 1;
    asio::post(pub.get_executor(), [&] { pump(); });
    auto work = asio::make_work_guard(io_pub);
    io_pub.run();
  });
  pub_thread.join();
  sub_thread.join();
  deadline.cancel();
  io_pub.restart();
  io_sub.restart();
  stop_sub = true;
  alloc_phase_result r;
  r.ahead = ahead_max;
  r.published = m;
  if (received.load() >= m && !pub_failed) {
    r.per_publish = static_cast<double>(pub_hi - pub_lo) / static_cast<double>(hi - lo);
    r.per_receive = static_cast<double>(sub_hi - sub_lo) / static_cast<double>(hi - lo);
  }
  disconnect(io_pub, pub);
  disconnect(io_sub, sub);
  return r;
}

int run_throughput(const bench::options& o) {
  // --threads 2 (default): publisher and subscriber each on its own io_context and thread, as
  // libmosquitto (one network thread per connection) and Paho run them. --threads 1: both on one
  // io_context run by one thread.
  asio::io_context io_a(1);
  std::optional<asio::io_context> io_b;
  if (throughput_threads == 2) io_b.emplace(1);
  asio::io_context& io_sub = io_a;
  asio::io_context& io_pub = io_b ? *io_b : io_a;
  amqtt::client sub(io_sub, make_options(o, "sub"));
  amqtt::client pub(io_pub, make_options(o, "pub"));
  const std::string topic = bench::unique_topic(library);
  connect(io_sub, sub);
  throughput_run run(o, io_pub, io_sub, pub, sub, topic);
  if (use_handler)
    subscribe(io_sub, sub, topic, o.qos,
              [&run](const amqtt::message_view& m) { run.on_message(m.payload); });
  else
    subscribe(io_sub, sub, topic, o.qos);
  connect(io_pub, pub);

  io_sub.restart();
  io_pub.restart();
  const bench::cpu_time cpu0 = bench::cpu_now();
  run.start();
  std::thread pub_thread;
  if (io_b)
    pub_thread = std::thread([&] {
      auto work = asio::make_work_guard(io_pub);
      io_pub.run();  // until finish() stops it
    });
  {
    auto work = asio::make_work_guard(io_sub);
    io_sub.run();  // until finish() stops it
  }
  if (pub_thread.joinable()) pub_thread.join();
  const bench::cpu_time cpu1 = bench::cpu_now();

  bench::throughput_result r;
  r.cpu = cpu1 - cpu0;
  r.elapsed_s = bench::seconds_between(run.t0, run.last_receive);
  r.received = run.tracker.unique();
  r.delivery_ns = run.tracker.take_delivery_ns();
  r.duplicates = run.tracker.duplicates();
  r.unexpected = run.tracker.unexpected();
  r.timed_out = run.timed_out;
  run.deadline_timer.cancel();
  io_sub.restart();
  io_pub.restart();
  disconnect(io_pub, pub);
  disconnect(io_sub, sub);
  if (!run.error.empty()) return bench::report_error(library, o, run.error);

  auto j = bench::throughput_json(library, o, r);
  j.field("receive_api", use_handler ? "handler" : "async_receive");
  j.field("queue_full_retries", run.queue_full_retries);
  j.field("threads", throughput_threads);
  if (run.allocs_hi != 0 && run.mark_hi > run.mark_lo)
    j.field("allocs_per_msg", static_cast<double>(run.allocs_hi - run.allocs_lo) /
                                  static_cast<double>(run.mark_hi - run.mark_lo));
  if (o.qos == 0 && !std::getenv("AMQTT_BENCH_NO_ALLOC_PHASE")) {
    const alloc_phase_result a = measure_qos0_allocations(o);
    if (a.per_publish >= 0) {
      j.field("allocs_per_publish", a.per_publish);
      j.field("allocs_per_receive", a.per_receive);
      j.field("allocs_ahead", a.ahead);
    }
    // bench-e2e.sh measures the broker over the whole process: it divides by count + these.
    j.field("extra_messages", a.published);
  }
  j.print();
  alloc_count::print_traces();
  return 0;
}

// ---- latency --------------------------------------------------------------------------------

struct latency_run {
  const bench::options& o;
  asio::io_context& io;
  amqtt::client& c;
  std::string topic;
  std::string payload;
  amqtt::message rx;
  asio::steady_timer deadline_timer;
  bench::latency_result& r;
  std::uint64_t seq = 0, total = 0;
  bench::clock::time_point t0{}, measure_start{};
  bench::cpu_time cpu0;
  bool finished = false;
  std::string error;

  latency_run(const bench::options& opts, asio::io_context& ctx, amqtt::client& cl, std::string t,
              bench::latency_result& res)
      : o(opts),
        io(ctx),
        c(cl),
        topic(std::move(t)),
        payload(bench::make_payload(opts.payload)),
        deadline_timer(ctx),
        r(res),
        total(opts.warmup + opts.count) {
    rx.topic.reserve(topic.size());
    rx.payload.reserve(o.payload);
  }

  void publish() {
    bench::put_seq(payload.data(), payload.size(), seq);
    t0 = bench::clock::now();
    c.async_publish(topic, payload, to_qos(o.qos), [this](std::error_code ec) {
      if (ec && !finished) fail("publish: " + ec.message());
    });
  }

  void on_message(std::string_view p) {
    const auto now = bench::clock::now();
    const std::uint64_t s = bench::get_seq(p.data(), p.size());
    if (s != seq) {
      ++r.duplicates;
      return;
    }
    if (s >= o.warmup) r.samples_ns.push_back(bench::ns_between(t0, now));
    ++seq;
    if (seq == o.warmup) {
      measure_start = bench::clock::now();
      cpu0 = bench::cpu_now();
    }
    if (seq >= total) return finish();
    publish();
  }

  void receive() {
    c.async_receive(rx, [this](std::error_code ec) {
      if (ec) {
        if (!finished) fail("receive: " + ec.message());
        return;
      }
      on_message(rx.payload);
      if (!finished) receive();
    });
  }

  void fail(std::string what) {
    if (error.empty()) error = std::move(what);
    finish();
  }
  void finish() {
    if (finished) return;
    finished = true;
    deadline_timer.cancel();
    io.stop();
  }

  void start() {
    deadline_timer.expires_after(o.timeout());
    deadline_timer.async_wait([this](std::error_code ec) {
      if (ec) return;
      r.timed_out = true;
      finish();
    });
    measure_start = bench::clock::now();
    cpu0 = bench::cpu_now();
    asio::post(c.get_executor(), [this] {
      if (!use_handler) receive();
      publish();
    });
  }
};

int run_latency(const bench::options& o) {
  asio::io_context io(1);
  amqtt::client c(io, make_options(o, "lat"));
  const std::string topic = bench::unique_topic(library);
  bench::latency_result r;
  r.samples_ns.reserve(o.count);
  connect(io, c);
  latency_run run(o, io, c, topic, r);
  if (use_handler)
    subscribe(io, c, topic, o.qos,
              [&run](const amqtt::message_view& m) { run.on_message(m.payload); });
  else
    subscribe(io, c, topic, o.qos);
  io.restart();
  run.start();
  io.run();
  const bench::cpu_time cpu1 = bench::cpu_now();
  const auto t1 = bench::clock::now();
  io.restart();
  disconnect(io, c);
  if (!run.error.empty()) return bench::report_error(library, o, run.error);
  r.cpu = cpu1 - run.cpu0;
  r.elapsed_s = bench::seconds_between(run.measure_start, t1);
  bench::latency_json(library, o, r)
      .field("receive_api", use_handler ? "handler" : "async_receive")
      .print();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  int kept = 1;
  for (int i = 1; i < argc; ++i) {
    if (std::string_view(argv[i]) == "--receive" && i + 1 < argc) {
      const std::string_view v = argv[++i];
      if (v == "handler") {
        use_handler = true;
      } else if (v != "queue") {
        std::fprintf(stderr, "--receive must be queue or handler\n");
        return 2;
      }
    } else if (std::string_view(argv[i]) == "--threads" && i + 1 < argc) {
      const std::string_view v = argv[++i];
      if (v != "1" && v != "2") {
        std::fprintf(stderr, "--threads must be 1 or 2\n");
        return 2;
      }
      throughput_threads = v == "1" ? 1 : 2;
    } else if (std::string_view(argv[i]) == "--read-buffer" && i + 1 < argc) {
      read_buffer_size = std::strtoull(argv[++i], nullptr, 10);
    } else {
      argv[kept++] = argv[i];
    }
  }
  argc = kept;
  bench::options o = bench::parse_args(argc, argv);
  if (!o.qos0_paced_on_receive) {
    // A QoS 0 completion here means "accepted by the session", not "written": pacing on it
    // would only fill the session's output budget. The JSON says which pacing ran.
    std::fprintf(stderr, "%s: --qos0-pacing written is not supported; pacing end to end\n",
                 library);
    o.qos0_paced_on_receive = true;
  }
  if (const char* t = std::getenv("AMQTT_BENCH_TRACE_ALLOCS")) {
    alloc_count::trace_limit = std::min(alloc_count::trace_max, std::atoi(t));
    if (const char* ph = std::getenv("AMQTT_BENCH_TRACE_PHASE"))
      alloc_count::trace_slot = std::string_view(ph) == "publish"   ? 1
                                : std::string_view(ph) == "receive" ? 2
                                                                    : 0;
    if (const char* st = std::getenv("AMQTT_BENCH_TRACE_STRIDE"))
      alloc_count::trace_stride = std::max<std::uint64_t>(1, std::strtoull(st, nullptr, 10));
    void* warm[2];
    backtrace(warm, 2);  // loads the unwinder now, not while tracing
  }
  try {
    return o.mode == bench::run_mode::throughput ? run_throughput(o) : run_latency(o);
  } catch (const std::exception& e) {
    return bench::report_error(library, o, e.what());
  }
}
