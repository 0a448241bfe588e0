#pragma once
// The measurement protocol shared by every end-to-end benchmark program (one program per client
// library, so each links only its own dependencies).
//
// Flags (all programs):
//   --host H --port P          broker address (default 127.0.0.1:1883)
//   --qos 0|1|2                QoS of the publishes and of the subscription
//   --payload BYTES            payload size (>= 8: the first 8 bytes carry a sequence number;
//                              >= 16: bytes 8..15 the publisher's steady-clock time, in ns, when
//                              the message was handed to the library)
//   --count N                  throughput: messages; latency: round trips
//   --mode throughput|latency
//   --timeout S                wall-clock bound of the measured run (default 120 s)
//   --window W                 throughput: at most W publishes handed to the library whose
//                              completion (QoS 0 written, QoS 1 PUBACK, QoS 2 PUBCOMP) has not
//                              been reported yet (default 1000). Keeps packet ids unique
//                              (< 65535 in flight) and memory bounded for every library.
//   --warmup N                 latency: round trips done first and not measured (default 200)
//   --qos0-pacing received|written
//                              throughput at QoS 0, where no acknowledgement bounds the
//                              pipeline: `received` (default) counts a message as outstanding
//                              in the window until the subscriber got it (end to end, the same
//                              bound for every program); `written` until the library reports
//                              it done (libmosquitto: written to the socket; Paho: its token;
//                              raw: no bound but the socket's). asio-mqtt always paces end to end
//                              (its QoS 0 completion comes before the write).
//
// throughput: one publisher connection and one subscriber connection in the same process. The
//   subscriber counts messages until N distinct sequence numbers arrived or the timeout. Time is
//   measured from the first publish to the last receive.
// latency: one connection subscribed to its own topic; publish one message, wait until it comes
//   back, repeat (one at a time). Per round trip: publish call -> message delivered to the app.
//
// Every program prints exactly ONE JSON line on stdout (diagnostics go to stderr):
//   common  library, mode, qos, payload, count, received, lost, duplicates, timed_out,
//           elapsed_s, cpu_s, cpu_us_per_msg (getrusage user+sys of the whole process over the
//           measured interval, divided by count), cpu_user_s, cpu_sys_s, cpu_sys_us_per_msg (the
//           kernel's share of it)
//   throughput  msgs_per_s, mib_per_s, window; with payloads >= 16 B delivery_p50_us,
//               delivery_p99_us, delivery_max_us: publish call -> message delivered to the
//               subscriber, over all messages of the run (how long messages queue under load)
//   latency     p50_us, p99_us, max_us, mean_us, min_us, warmup
//   error       present (string) when the run could not be done; exit code 1.

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace bench {

using clock = std::chrono::steady_clock;

enum class run_mode { throughput, latency };

struct options {
  std::string host = "127.0.0.1";
  int port = 1883;
  int qos = 0;
  std::size_t payload = 64;
  std::uint64_t count = 100000;
  run_mode mode = run_mode::throughput;
  double timeout_s = 120.0;
  std::uint64_t window = 1000;
  std::uint64_t warmup = 200;
  bool qos0_paced_on_receive = true;  // --qos0-pacing received (default) | written

  // True when the window of this throughput run is released by received messages.
  bool window_on_receive() const { return qos == 0 && qos0_paced_on_receive; }

  std::chrono::nanoseconds timeout() const {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
        std::chrono::duration<double>(timeout_s));
  }
  const char* mode_name() const { return mode == run_mode::throughput ? "throughput" : "latency"; }
};

[[noreturn]] inline void usage(const char* prog, const char* error) {
  if (error) std::fprintf(stderr, "%s: %s\n", prog, error);
  std::fprintf(stderr,
               "usage: %s [--host H] [--port P] [--qos 0|1|2] [--payload BYTES] [--count N]\n"
               "          [--mode throughput|latency] [--timeout S] [--window W] [--warmup N]\n"
               "          [--qos0-pacing received|written]\n",
               prog);
  std::exit(error ? 2 : 0);
}

inline std::uint64_t parse_u64(const char* prog, const char* flag, const char* v) {
  char* end = nullptr;
  errno = 0;
  const unsigned long long x = std::strtoull(v, &end, 10);
  if (errno != 0 || end == v || *end != '\0' || v[0] == '-') {
    std::string msg = std::string("bad value for ") + flag + ": " + v;
    usage(prog, msg.c_str());
  }
  return x;
}

inline options parse_args(int argc, char** argv) {
  options o;
  const char* prog = argc > 0 ? argv[0] : "bench";
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "-h" || a == "--help") usage(prog, nullptr);
    if (i + 1 >= argc) usage(prog, ("missing value for " + std::string(a)).c_str());
    const char* v = argv[++i];
    if (a == "--host") {
      o.host = v;
    } else if (a == "--port") {
      const auto p = parse_u64(prog, argv[i - 1], v);
      if (p == 0 || p > 65535) usage(prog, "--port must be 1..65535");
      o.port = static_cast<int>(p);
    } else if (a == "--qos") {
      const auto q = parse_u64(prog, argv[i - 1], v);
      if (q > 2) usage(prog, "--qos must be 0, 1 or 2");
      o.qos = static_cast<int>(q);
    } else if (a == "--payload") {
      o.payload = parse_u64(prog, argv[i - 1], v);
      if (o.payload < 8 || o.payload > 16u * 1024u * 1024u)
        usage(prog, "--payload must be 8..16777216");
    } else if (a == "--count") {
      o.count = parse_u64(prog, argv[i - 1], v);
      if (o.count == 0 || o.count > 100'000'000) usage(prog, "--count must be 1..100000000");
    } else if (a == "--mode") {
      const std::string_view m = v;
      if (m == "throughput")
        o.mode = run_mode::throughput;
      else if (m == "latency")
        o.mode = run_mode::latency;
      else
        usage(prog, "--mode must be throughput or latency");
    } else if (a == "--timeout") {
      o.timeout_s = std::atof(v);
      if (!(o.timeout_s > 0.0) || o.timeout_s > 86400.0) usage(prog, "--timeout must be > 0");
    } else if (a == "--window") {
      o.window = parse_u64(prog, argv[i - 1], v);
      if (o.window == 0 || o.window > 60000) usage(prog, "--window must be 1..60000");
    } else if (a == "--warmup") {
      o.warmup = parse_u64(prog, argv[i - 1], v);
      if (o.warmup > 1'000'000) usage(prog, "--warmup must be <= 1000000");
    } else if (a == "--qos0-pacing") {
      const std::string_view m = v;
      if (m == "received")
        o.qos0_paced_on_receive = true;
      else if (m == "written")
        o.qos0_paced_on_receive = false;
      else
        usage(prog, "--qos0-pacing must be received or written");
    } else {
      usage(prog, ("unknown flag " + std::string(a)).c_str());
    }
  }
  return o;
}

// ---- process CPU time --------------------------------------------------------------------------

// User and system time of the whole process; the split shows how much of a client's cost is the
// kernel's (socket calls, wake-ups), which no client library avoids.
struct cpu_time {
  double user_s = 0;
  double sys_s = 0;
  double total_s() const { return user_s + sys_s; }
};

inline cpu_time operator-(const cpu_time& a, const cpu_time& b) {
  return {a.user_s - b.user_s, a.sys_s - b.sys_s};
}

inline cpu_time cpu_now() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  const auto tv = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) * 1e-6;
  };
  return {tv(ru.ru_utime), tv(ru.ru_stime)};
}

inline double seconds_between(clock::time_point a, clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// ---- payloads ----------------------------------------------------------------------------------

// A payload of `size` bytes; bytes [0, 8) are overwritten with the sequence number (and
// [8, 16) with the time, see put_seq).
inline std::string make_payload(std::size_t size) {
  std::string p(size, '\0');
  for (std::size_t i = 0; i < size; ++i) p[i] = static_cast<char>('a' + i % 26);
  return p;
}

inline std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(clock::now().time_since_epoch())
      .count();
}

// Stamps a payload of `size` (>= 8) bytes: the sequence number, and the time when the payload
// is >= 16 bytes. Call it right before handing the message to the library.
inline void put_seq(void* payload, std::size_t size, std::uint64_t seq) {
  std::memcpy(payload, &seq, 8);
  if (size >= 16) {
    const std::int64_t t = now_ns();
    std::memcpy(static_cast<char*>(payload) + 8, &t, 8);
  }
}

inline std::uint64_t get_seq(const void* payload, std::size_t size) {
  if (size < 8) return ~std::uint64_t{0};
  std::uint64_t seq;
  std::memcpy(&seq, payload, 8);
  return seq;
}

// The time put_seq wrote, or -1 for a payload shorter than 16 bytes.
inline std::int64_t get_stamp(const void* payload, std::size_t size) {
  if (size < 16) return -1;
  std::int64_t t;
  std::memcpy(&t, static_cast<const char*>(payload) + 8, 8);
  return t;
}

// A topic no other run shares: bench/<library>/<pid>/<nanoseconds>.
inline std::string unique_topic(const char* library) {
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
  return std::string("bench/") + library + "/" + std::to_string(getpid()) + "/" +
         std::to_string(ns);
}

inline std::string client_id(const char* library, const char* role) {
  return std::string(library) + "-" + role + "-" + std::to_string(getpid());
}

// ---- which sequence numbers arrived ------------------------------------------------------------

// Counts distinct sequence numbers in [0, expected), duplicates, and out-of-range ones.
// Not thread-safe: feed it from one thread (the receiving one).
class seq_tracker {
 public:
  // record_delivery: keep on_payload's delivery delays (throughput runs with payloads >= 16 B);
  // their memory is reserved here, so none is allocated while messages arrive.
  explicit seq_tracker(std::uint64_t expected, bool record_delivery = false)
      : seen_(expected, 0), expected_(expected) {
    if (record_delivery) delivery_ns_.reserve(expected);
  }

  // on_message for a stamped payload; also records how long a new message took to arrive
  // (when the tracker was made with record_delivery).
  bool on_payload(const void* payload, std::size_t size) {
    if (!on_message(get_seq(payload, size))) return false;
    const std::int64_t sent = get_stamp(payload, size);
    const std::int64_t now = sent >= 0 ? now_ns() : 0;
    if (sent >= 0 && now >= sent && delivery_ns_.size() < delivery_ns_.capacity())
      delivery_ns_.push_back(static_cast<std::uint64_t>(now - sent));
    return true;
  }

  // The delivery delays recorded by on_payload (moved out).
  std::vector<std::uint64_t> take_delivery_ns() { return std::move(delivery_ns_); }

  // Returns true when `seq` was new.
  bool on_message(std::uint64_t seq) {
    ++total_;
    if (seq >= expected_) {
      ++unexpected_;
      return false;
    }
    if (seen_[seq]) {
      ++duplicates_;
      return false;
    }
    seen_[seq] = 1;
    unique_.store(unique_.load(std::memory_order_relaxed) + 1, std::memory_order_release);
    return true;
  }

  std::uint64_t unique() const { return unique_.load(std::memory_order_acquire); }
  std::uint64_t duplicates() const { return duplicates_; }
  std::uint64_t unexpected() const { return unexpected_; }
  std::uint64_t total() const { return total_; }
  std::uint64_t expected() const { return expected_; }
  bool complete() const { return unique() >= expected_; }
  bool was_seen(std::uint64_t seq) const { return seq < expected_ && seen_[seq] != 0; }

 private:
  std::vector<std::uint8_t> seen_;
  std::vector<std::uint64_t> delivery_ns_;
  std::uint64_t expected_;
  std::atomic<std::uint64_t> unique_{0};
  std::uint64_t duplicates_ = 0;
  std::uint64_t unexpected_ = 0;
  std::uint64_t total_ = 0;
};

// ---- cross-thread helpers for libraries with their own threads ----------------------------------

// The publisher's window for libraries that complete publishes on their own threads: the
// publishing thread calls acquire() before each publish (blocks while `limit` are outstanding,
// until at most limit/2 are), the library's completion callback calls release().
class window_gate {
 public:
  explicit window_gate(std::uint64_t limit) : limit_(limit), low_(limit / 2) {}

  // false on timeout (deadline passed while the window stayed full).
  bool acquire(clock::time_point deadline) {
    const std::uint64_t issued = issued_.load(std::memory_order_relaxed);
    if (issued - done_.load(std::memory_order_acquire) < limit_) {
      issued_.store(issued + 1, std::memory_order_release);
      return true;
    }
    std::unique_lock<std::mutex> lock(m_);
    waiting_.store(true, std::memory_order_seq_cst);
    while (issued - done_.load(std::memory_order_seq_cst) > low_) {
      if (clock::now() >= deadline) {
        waiting_.store(false);
        return false;
      }
      cv_.wait_for(lock, std::chrono::milliseconds(5));
    }
    waiting_.store(false);
    issued_.store(issued + 1, std::memory_order_release);
    return true;
  }
  // Undo an acquire() whose publish call failed.
  void cancel() { issued_.store(issued_.load(std::memory_order_relaxed) - 1); }

  void release() {
    const std::uint64_t done = done_.fetch_add(1, std::memory_order_seq_cst) + 1;
    if (waiting_.load(std::memory_order_seq_cst) &&
        issued_.load(std::memory_order_acquire) - done <= low_) {
      std::lock_guard<std::mutex> lock(m_);
      cv_.notify_one();
    }
  }
  std::uint64_t completed() const { return done_.load(std::memory_order_acquire); }

 private:
  std::uint64_t limit_;
  std::uint64_t low_;
  std::atomic<std::uint64_t> issued_{0};  // written by the publishing thread only
  std::atomic<std::uint64_t> done_{0};
  std::atomic<bool> waiting_{false};
  std::mutex m_;
  std::condition_variable cv_;
};

// A one-shot "done" signal from a library thread to the main thread.
class done_signal {
 public:
  void set() {
    std::lock_guard<std::mutex> lock(m_);
    done_ = true;
    cv_.notify_all();
  }
  // true when set before the deadline.
  bool wait_until(clock::time_point deadline) {
    std::unique_lock<std::mutex> lock(m_);
    return cv_.wait_until(lock, deadline, [this] { return done_; });
  }
  bool is_set() {
    std::lock_guard<std::mutex> lock(m_);
    return done_;
  }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  bool done_ = false;
};

// ---- JSON output -------------------------------------------------------------------------------

class json_line {
 public:
  json_line& field(const char* key, const std::string& v) {
    sep();
    key_(key);
    out_ += '"';
    for (char c : v) {
      if (c == '"' || c == '\\') {
        out_ += '\\';
        out_ += c;
      } else if (static_cast<unsigned char>(c) < 0x20) {
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
        out_ += buf;
      } else {
        out_ += c;
      }
    }
    out_ += '"';
    return *this;
  }
  json_line& field(const char* key, const char* v) { return field(key, std::string(v)); }
  json_line& field(const char* key, double v) {
    sep();
    key_(key);
    char buf[64];
    if (!std::isfinite(v))
      std::snprintf(buf, sizeof buf, "null");
    else
      std::snprintf(buf, sizeof buf, "%.6g", v);
    out_ += buf;
    return *this;
  }
  json_line& field(const char* key, std::uint64_t v) {
    sep();
    key_(key);
    out_ += std::to_string(v);
    return *this;
  }
  json_line& field(const char* key, int v) {
    sep();
    key_(key);
    out_ += std::to_string(v);
    return *this;
  }
  json_line& field(const char* key, bool v) {
    sep();
    key_(key);
    out_ += v ? "true" : "false";
    return *this;
  }
  void print() {
    out_ += '}';
    std::printf("%s\n", out_.c_str());
    std::fflush(stdout);
  }

 private:
  void sep() { out_ += out_.size() == 1 ? "" : ","; }
  void key_(const char* k) {
    out_ += '"';
    out_ += k;
    out_ += "\":";
  }
  std::string out_ = "{";
};

inline json_line header(const char* library, const options& o) {
  json_line j;
  j.field("library", library)
      .field("mode", o.mode_name())
      .field("qos", o.qos)
      .field("payload", static_cast<std::uint64_t>(o.payload))
      .field("count", o.count);
  if (o.mode == run_mode::throughput && o.qos == 0)
    j.field("qos0_pacing", o.qos0_paced_on_receive ? "received" : "written");
  return j;
}

// Prints {"library":..., "error": "..."} and returns the exit code to use.
inline int report_error(const char* library, const options& o, const std::string& what) {
  std::fprintf(stderr, "%s: %s\n", library, what.c_str());
  header(library, o).field("error", what).print();
  return 1;
}

// ---- throughput result -------------------------------------------------------------------------

struct throughput_result {
  std::uint64_t received = 0;  // distinct sequence numbers
  std::uint64_t duplicates = 0;
  std::uint64_t unexpected = 0;
  bool timed_out = false;
  double elapsed_s = 0;                    // first publish -> last receive
  cpu_time cpu;                            // process user and sys time over the same interval
  std::vector<std::uint64_t> delivery_ns;  // seq_tracker::take_delivery_ns()
};

inline double percentile_us(std::vector<std::uint64_t>& sorted, double p);

inline json_line throughput_json(const char* library, const options& o,
                                 const throughput_result& r) {
  json_line j = header(library, o);
  const double n = static_cast<double>(r.received);
  const double rate = r.elapsed_s > 0 ? n / r.elapsed_s : 0.0;
  j.field("received", r.received)
      .field("lost", o.count - std::min(o.count, r.received))
      .field("duplicates", r.duplicates)
      .field("unexpected", r.unexpected)
      .field("timed_out", r.timed_out)
      .field("window", o.window)
      .field("elapsed_s", r.elapsed_s)
      .field("msgs_per_s", rate)
      .field("mib_per_s", rate * static_cast<double>(o.payload) / (1024.0 * 1024.0))
      .field("cpu_s", r.cpu.total_s())
      .field("cpu_user_s", r.cpu.user_s)
      .field("cpu_sys_s", r.cpu.sys_s)
      .field("cpu_us_per_msg", r.received ? r.cpu.total_s() * 1e6 / n : 0.0)
      .field("cpu_sys_us_per_msg", r.received ? r.cpu.sys_s * 1e6 / n : 0.0);
  if (!r.delivery_ns.empty()) {
    std::vector<std::uint64_t> d = r.delivery_ns;
    std::sort(d.begin(), d.end());
    j.field("delivery_p50_us", percentile_us(d, 50))
        .field("delivery_p99_us", percentile_us(d, 99))
        .field("delivery_max_us", static_cast<double>(d.back()) / 1000.0);
  }
  return j;
}

// ---- latency result ----------------------------------------------------------------------------

struct latency_result {
  std::vector<std::uint64_t> samples_ns;  // one per measured round trip
  std::uint64_t duplicates = 0;
  bool timed_out = false;
  double elapsed_s = 0;
  cpu_time cpu;
};

inline double percentile_us(std::vector<std::uint64_t>& sorted, double p) {
  if (sorted.empty()) return 0.0;
  // Nearest-rank percentile.
  std::size_t rank =
      static_cast<std::size_t>(p / 100.0 * static_cast<double>(sorted.size()) + 0.999999);
  rank = std::clamp<std::size_t>(rank, 1, sorted.size());
  return static_cast<double>(sorted[rank - 1]) / 1000.0;
}

inline json_line latency_json(const char* library, const options& o, latency_result& r) {
  json_line j = header(library, o);
  std::sort(r.samples_ns.begin(), r.samples_ns.end());
  const std::uint64_t n = r.samples_ns.size();
  double sum = 0;
  for (auto s : r.samples_ns) sum += static_cast<double>(s);
  j.field("received", n)
      .field("lost", o.count - std::min<std::uint64_t>(o.count, n))
      .field("duplicates", r.duplicates)
      .field("timed_out", r.timed_out)
      .field("warmup", o.warmup)
      .field("elapsed_s", r.elapsed_s)
      .field("p50_us", percentile_us(r.samples_ns, 50))
      .field("p99_us", percentile_us(r.samples_ns, 99))
      .field("max_us", n ? static_cast<double>(r.samples_ns.back()) / 1000.0 : 0.0)
      .field("min_us", n ? static_cast<double>(r.samples_ns.front()) / 1000.0 : 0.0)
      .field("mean_us", n ? sum / static_cast<double>(n) / 1000.0 : 0.0)
      .field("cpu_s", r.cpu.total_s())
      .field("cpu_user_s", r.cpu.user_s)
      .field("cpu_sys_s", r.cpu.sys_s)
      .field("cpu_us_per_msg", n ? r.cpu.total_s() * 1e6 / static_cast<double>(n) : 0.0)
      .field("cpu_sys_us_per_msg", n ? r.cpu.sys_s * 1e6 / static_cast<double>(n) : 0.0);
  return j;
}

inline std::uint64_t ns_between(clock::time_point a, clock::time_point b) {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(b - a).count());
}

}  // namespace bench
