// raw_reference: the ceiling the broker and loopback allow. No MQTT client library: packets are
// pre-encoded once (with the amqtt codec), then copied into big batched writes on non-blocking
// POSIX sockets, and incoming bytes get just enough parsing to count PUBLISHes, answer
// PUBACK/PUBREC/PUBREL/PUBCOMP and track the publisher's acks within a packet-id window.
// One thread drives both connections. See bench_common.hpp for the measurement protocol.
//
// --subscriber-lag-us N (throughput only; default 0): after each read that brought the
// subscriber data, the thread sleeps at least N microseconds (Linux's default timer slack adds
// up to 50 us). The one thread also drives the publisher, so it lags too. A reader that lags
// can let the broker's small writes to it coalesce into fewer TCP segments; docs/benchmarks.md
// uses it to look at that effect ("raw-lag" in scripts/bench-e2e.sh).

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <stdexcept>
#include <string>
#include <vector>

#include "amqtt/codec/encoder.hpp"
#include "bench_common.hpp"

namespace {

const char* library = "raw";  // "raw-lag" with --subscriber-lag-us
long subscriber_lag_us = 0;
using bytes = std::vector<std::uint8_t>;

[[noreturn]] void fail(const std::string& what) {
  throw std::runtime_error(what + (errno ? std::string(": ") + std::strerror(errno) : ""));
}

template <class P>
bytes encode_one(const P& p) {
  bytes b;
  if (auto ec = amqtt::encode_append(p, b)) throw std::runtime_error("encode: " + ec.message());
  return b;
}

void put_u16(std::uint8_t* p, std::uint16_t v) {
  p[0] = static_cast<std::uint8_t>(v >> 8);
  p[1] = static_cast<std::uint8_t>(v & 0xFF);
}
std::uint16_t get_u16(const std::uint8_t* p) {
  return static_cast<std::uint16_t>((p[0] << 8) | p[1]);
}

// One TCP connection with an output buffer (bytes not yet written) and an input buffer.
struct connection {
  int fd = -1;
  bytes out;
  std::size_t out_pos = 0;  // out[out_pos, out.size()) still to write
  bytes in;
  std::size_t in_len = 0;

  ~connection() {
    if (fd >= 0) ::close(fd);
  }
  std::size_t pending() const { return out.size() - out_pos; }

  void append(const std::uint8_t* p, std::size_t n) { out.insert(out.end(), p, p + n); }
  void append_ack(std::uint8_t first, std::uint16_t id) {
    const std::uint8_t a[4] = {first, 2, static_cast<std::uint8_t>(id >> 8),
                               static_cast<std::uint8_t>(id & 0xFF)};
    append(a, 4);
  }

  // Writes as much as the socket takes without blocking. Returns bytes written.
  std::size_t flush() {
    std::size_t total = 0;
    while (pending() > 0) {
      const ssize_t n = ::send(fd, out.data() + out_pos, pending(), MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        fail("send");
      }
      out_pos += static_cast<std::size_t>(n);
      total += static_cast<std::size_t>(n);
    }
    if (out_pos == out.size()) {
      out.clear();
      out_pos = 0;
    } else if (out_pos > (1u << 20) && out_pos * 2 > out.size()) {
      out.erase(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(out_pos));
      out_pos = 0;
    }
    return total;
  }

  // Blocking write of everything pending, bounded by the deadline.
  void flush_all(bench::clock::time_point deadline) {
    while (pending() > 0) {
      flush();
      if (pending() == 0) break;
      wait(POLLOUT, deadline);
    }
  }

  void wait(short events, bench::clock::time_point deadline) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - bench::clock::now());
    if (left.count() <= 0) throw std::runtime_error("timeout");
    pollfd p{fd, events, 0};
    const int r = ::poll(&p, 1, static_cast<int>(std::min<long long>(left.count() + 1, 1000)));
    if (r < 0 && errno != EINTR) fail("poll");
  }

  // Reads what is available (non-blocking). Returns bytes read; throws on EOF/error.
  std::size_t read_some() {
    if (in.size() - in_len < 65536)
      in.resize(std::max<std::size_t>(in.size() * 2, in_len + (1u << 20)));
    for (;;) {
      const ssize_t n = ::recv(fd, in.data() + in_len, in.size() - in_len, 0);
      if (n > 0) {
        in_len += static_cast<std::size_t>(n);
        return static_cast<std::size_t>(n);
      }
      if (n == 0) {
        errno = 0;
        fail("connection closed by the broker");
      }
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
      fail("recv");
    }
  }

  // Calls f(first_byte, body, body_len) for each complete packet in the input; keeps the rest.
  template <class F>
  void parse(F&& f) {
    std::size_t pos = 0;
    while (in_len - pos >= 2) {
      std::uint32_t len = 0;
      std::size_t i = 1, shift = 0;
      bool complete = false;
      while (i < 5 && pos + i < in_len) {
        const std::uint8_t b = in[pos + i];
        len |= static_cast<std::uint32_t>(b & 0x7F) << shift;
        shift += 7;
        ++i;
        if ((b & 0x80) == 0) {
          complete = true;
          break;
        }
      }
      if (!complete) {
        if (i == 5) throw std::runtime_error("malformed remaining length");
        break;
      }
      if (pos + i + len > in_len) break;
      f(in[pos], in.data() + pos + i, static_cast<std::size_t>(len));
      pos += i + len;
    }
    if (pos > 0) {
      std::memmove(in.data(), in.data() + pos, in_len - pos);
      in_len -= pos;
    }
  }
};

void connect_tcp(connection& c, const bench::options& o) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  const std::string port = std::to_string(o.port);
  if (int rc = ::getaddrinfo(o.host.c_str(), port.c_str(), &hints, &res); rc != 0)
    throw std::runtime_error(std::string("getaddrinfo: ") + gai_strerror(rc));
  int fd = -1;
  for (addrinfo* a = res; a; a = a->ai_next) {
    fd = ::socket(a->ai_family, a->ai_socktype, a->ai_protocol);
    if (fd < 0) continue;
    if (::connect(fd, a->ai_addr, a->ai_addrlen) == 0) break;
    ::close(fd);
    fd = -1;
  }
  ::freeaddrinfo(res);
  if (fd < 0) fail("connect to " + o.host + ":" + port);
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  c.fd = fd;
}

// Waits for one packet of type `type` (high nibble), dropping others. Returns its body.
bytes expect_packet(connection& c, std::uint8_t type, bench::clock::time_point deadline) {
  bytes body;
  bool got = false;
  while (!got) {
    c.parse([&](std::uint8_t first, const std::uint8_t* b, std::size_t n) {
      if (!got && (first >> 4) == type) {
        body.assign(b, b + n);
        got = true;
      }
    });
    if (got) break;
    if (c.read_some() == 0) c.wait(POLLIN, deadline);
  }
  return body;
}

void mqtt_connect(connection& c, const bench::options& o, const std::string& id,
                  bench::clock::time_point deadline) {
  connect_tcp(c, o);
  amqtt::connect_packet p;
  p.client_id = id;
  p.clean_session = true;
  p.keep_alive = 0;
  const bytes b = encode_one(p);
  c.append(b.data(), b.size());
  c.flush_all(deadline);
  const bytes ack = expect_packet(c, 2, deadline);
  if (ack.size() != 2 || ack[1] != 0) throw std::runtime_error("CONNACK refused");
}

void mqtt_subscribe(connection& c, const std::string& topic, int qos,
                    bench::clock::time_point deadline) {
  amqtt::subscribe_packet p;
  p.packet_id = 1;
  p.entries.push_back({topic, static_cast<amqtt::qos>(qos)});
  const bytes b = encode_one(p);
  c.append(b.data(), b.size());
  c.flush_all(deadline);
  const bytes ack = expect_packet(c, 9, deadline);
  if (ack.size() != 3 || ack[2] > 2) throw std::runtime_error("SUBACK failure");
}

void mqtt_disconnect(connection& c) {
  const std::uint8_t d[2] = {0xE0, 0};
  c.append(d, 2);
  c.flush_all(bench::clock::now() + std::chrono::seconds(2));
}

// A pre-encoded PUBLISH whose packet id and sequence number are patched per copy.
struct publish_template {
  bytes b;
  std::size_t id_off = 0;   // 0 for QoS 0
  std::size_t seq_off = 0;  // first payload byte
  std::size_t payload_size = 0;

  publish_template(const std::string& topic, const std::string& payload, int qos) {
    amqtt::publish_packet p;
    p.topic = topic;
    p.payload = payload;
    p.qos = static_cast<amqtt::qos>(qos);
    p.packet_id = qos ? 1 : 0;
    b = encode_one(p);
    const std::size_t header = b.size() - (2 + topic.size() + (qos ? 2 : 0) + payload.size());
    id_off = qos ? header + 2 + topic.size() : 0;
    seq_off = header + 2 + topic.size() + (qos ? 2 : 0);
    payload_size = payload.size();
  }
  void append_to(connection& c, std::uint16_t id, std::uint64_t seq) const {
    const std::size_t at = c.out.size();
    c.out.insert(c.out.end(), b.begin(), b.end());
    if (id_off) put_u16(c.out.data() + at + id_off, id);
    bench::put_seq(c.out.data() + at + seq_off, payload_size, seq);
  }
};

// Handles a PUBLISH/PUBREL arriving at a subscriber: queues the acknowledgement. Returns the
// sequence number of a PUBLISH (and its payload through `payload`/`payload_size`), or ~0.
std::uint64_t on_subscriber_packet(connection& c, std::uint8_t first, const std::uint8_t* b,
                                   std::size_t n, const std::uint8_t** payload = nullptr,
                                   std::size_t* payload_size = nullptr) {
  const unsigned type = first >> 4;
  if (type == 3) {
    const unsigned q = (first >> 1) & 3;
    if (n < 2) throw std::runtime_error("short PUBLISH");
    std::size_t off = 2 + get_u16(b);
    if (n < off + (q ? 2 : 0)) throw std::runtime_error("short PUBLISH");
    std::uint16_t id = 0;
    if (q) {
      id = get_u16(b + off);
      off += 2;
    }
    if (q == 1) c.append_ack(0x40, id);
    if (q == 2) c.append_ack(0x50, id);
    if (payload) *payload = b + off;
    if (payload_size) *payload_size = n - off;
    return bench::get_seq(b + off, n - off);
  }
  if (type == 6 && n >= 2) c.append_ack(0x70, get_u16(b));  // PUBREL -> PUBCOMP
  return ~std::uint64_t{0};
}

int run_throughput(const bench::options& o) {
  const auto setup_deadline = bench::clock::now() + std::chrono::seconds(10);
  const std::string topic = bench::unique_topic(library);
  connection sub, pub;
  mqtt_connect(sub, o, bench::client_id(library, "sub"), setup_deadline);
  mqtt_subscribe(sub, topic, o.qos, setup_deadline);
  mqtt_connect(pub, o, bench::client_id(library, "pub"), setup_deadline);

  const std::string payload = bench::make_payload(o.payload);
  const publish_template tpl(topic, payload, o.qos);
  const std::size_t batch_bytes = std::max<std::size_t>(256 * 1024, tpl.b.size());

  std::vector<std::uint16_t> free_ids;
  for (std::uint64_t i = o.window; i >= 1; --i) free_ids.push_back(static_cast<std::uint16_t>(i));

  bench::seq_tracker tracker(o.count, o.payload >= 16);
  std::uint64_t next_seq = 0;
  bench::throughput_result r;

  const bench::cpu_time cpu0 = bench::cpu_now();
  const auto t0 = bench::clock::now();
  const auto deadline = t0 + o.timeout();
  auto last_receive = t0;

  while (!tracker.complete()) {
    // Fill the publisher's batch.
    if (pub.pending() < batch_bytes) {
      // QoS 1/2: a free packet id; QoS 0 paced end to end: fewer than `window` not yet received.
      while (next_seq < o.count && pub.pending() < batch_bytes &&
             (o.qos ? !free_ids.empty()
                    : !o.window_on_receive() || next_seq - tracker.unique() < o.window)) {
        std::uint16_t id = 0;
        if (o.qos) {
          id = free_ids.back();
          free_ids.pop_back();
        }
        tpl.append_to(pub, id, next_seq++);
      }
    }
    bool progress = pub.flush() > 0;
    // Publisher acks.
    if (o.qos && pub.read_some() > 0) {
      progress = true;
      pub.parse([&](std::uint8_t first, const std::uint8_t* b, std::size_t n) {
        if (n < 2) return;
        const std::uint16_t id = get_u16(b);
        switch (first >> 4) {
          case 4:  // PUBACK
          case 7:  // PUBCOMP
            free_ids.push_back(id);
            break;
          case 5:  // PUBREC
            pub.append_ack(0x62, id);
            break;
          default:
            break;
        }
      });
      pub.flush();
    }
    // Subscriber.
    if (sub.read_some() > 0) {
      progress = true;
      if (subscriber_lag_us > 0) {
        const timespec lag{0, subscriber_lag_us * 1000};
        ::nanosleep(&lag, nullptr);
      }
      bool got = false;
      sub.parse([&](std::uint8_t first, const std::uint8_t* b, std::size_t n) {
        const std::uint8_t* payload = nullptr;
        std::size_t payload_size = 0;
        const std::uint64_t seq = on_subscriber_packet(sub, first, b, n, &payload, &payload_size);
        if (seq != ~std::uint64_t{0}) {
          tracker.on_payload(payload, payload_size);
          got = true;
        }
      });
      if (got) last_receive = bench::clock::now();
    }
    if (sub.flush() > 0) progress = true;

    if (!progress) {
      const auto now = bench::clock::now();
      if (now >= deadline) {
        r.timed_out = true;
        break;
      }
      pollfd fds[2] = {
          {pub.fd, static_cast<short>((o.qos ? POLLIN : 0) | (pub.pending() ? POLLOUT : 0)), 0},
          {sub.fd, static_cast<short>(POLLIN | (sub.pending() ? POLLOUT : 0)), 0}};
      const int r2 = ::poll(fds, 2, 50);
      if (r2 < 0 && errno != EINTR) fail("poll");
    }
  }
  r.cpu = bench::cpu_now() - cpu0;
  r.elapsed_s = bench::seconds_between(t0, last_receive);
  r.received = tracker.unique();
  r.delivery_ns = tracker.take_delivery_ns();
  r.duplicates = tracker.duplicates();
  r.unexpected = tracker.unexpected();
  try {
    mqtt_disconnect(pub);
    mqtt_disconnect(sub);
  } catch (const std::exception&) {
  }
  bench::throughput_json(library, o, r).print();
  return 0;
}

int run_latency(const bench::options& o) {
  const auto setup_deadline = bench::clock::now() + std::chrono::seconds(10);
  const std::string topic = bench::unique_topic(library);
  connection c;
  mqtt_connect(c, o, bench::client_id(library, "lat"), setup_deadline);
  mqtt_subscribe(c, topic, o.qos, setup_deadline);
  const std::string payload = bench::make_payload(o.payload);
  const publish_template tpl(topic, payload, o.qos);

  bench::latency_result r;
  r.samples_ns.reserve(o.count);
  std::uint16_t next_id = 0;
  const std::uint64_t total = o.warmup + o.count;
  bench::seq_tracker tracker(total);

  bench::cpu_time cpu0 = bench::cpu_now();
  auto t_start = bench::clock::now();
  const auto deadline = t_start + o.timeout();
  for (std::uint64_t seq = 0; seq < total; ++seq) {
    if (seq == o.warmup) {
      cpu0 = bench::cpu_now();
      t_start = bench::clock::now();
    }
    next_id = static_cast<std::uint16_t>(next_id % 65535 + 1);
    const auto t0 = bench::clock::now();
    tpl.append_to(c, o.qos ? next_id : 0, seq);
    c.flush();
    bool got = false;
    while (!got) {
      if (c.read_some() > 0) {
        c.parse([&](std::uint8_t first, const std::uint8_t* b, std::size_t n) {
          const unsigned type = first >> 4;
          if (type == 5 && n >= 2) c.append_ack(0x62, get_u16(b));  // PUBREC -> PUBREL
          const std::uint64_t s = on_subscriber_packet(c, first, b, n);
          if (s == ~std::uint64_t{0}) return;
          if (!tracker.on_message(s)) return;
          if (s == seq) got = true;
        });
        if (got && seq >= o.warmup)
          r.samples_ns.push_back(bench::ns_between(t0, bench::clock::now()));
        c.flush();
        continue;
      }
      c.flush();
      if (bench::clock::now() >= deadline) {
        r.timed_out = true;
        break;
      }
      pollfd p{c.fd, static_cast<short>(POLLIN | (c.pending() ? POLLOUT : 0)), 0};
      if (::poll(&p, 1, 50) < 0 && errno != EINTR) fail("poll");
    }
    if (r.timed_out) break;
  }
  r.cpu = bench::cpu_now() - cpu0;
  r.elapsed_s = bench::seconds_between(t_start, bench::clock::now());
  r.duplicates = tracker.duplicates();
  try {
    mqtt_disconnect(c);
  } catch (const std::exception&) {
  }
  bench::latency_json(library, o, r).print();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  int kept = 1;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--subscriber-lag-us") == 0 && i + 1 < argc) {
      char* end = nullptr;
      subscriber_lag_us = std::strtol(argv[++i], &end, 10);
      if (*end != '\0' || subscriber_lag_us < 0 || subscriber_lag_us > 100'000) {
        std::fprintf(stderr, "--subscriber-lag-us must be 0..100000\n");
        return 2;
      }
      if (subscriber_lag_us > 0) library = "raw-lag";
    } else {
      argv[kept++] = argv[i];
    }
  }
  argc = kept;
  const bench::options o = bench::parse_args(argc, argv);
  ::signal(SIGPIPE, SIG_IGN);
  try {
    return o.mode == bench::run_mode::throughput ? run_throughput(o) : run_latency(o);
  } catch (const std::exception& e) {
    return bench::report_error(library, o, e.what());
  }
}
