// libmosquitto_bench: Eclipse Mosquitto's C client library (libmosquitto 2.0), MQTT 3.1.1,
// TCP_NODELAY, no in-flight limit (mosquitto_max_inflight_messages_set(0)). See bench_common.hpp
// for the measurement protocol.
//
// throughput, --threads 2 (default): threaded mode (mosquitto_loop_start: one network thread per
//   connection); the main thread publishes (mosquitto_publish copies the payload), the window is
//   released from on_publish (QoS 1: PUBACK, QoS 2: PUBCOMP; QoS 0 with --qos0-pacing written:
//   written) on the publisher's network thread; the subscriber counts in on_message on its own
//   network thread (and releases the window at QoS 0 paced end to end, the default).
// throughput, --threads 1: both connections driven by the main thread through libmosquitto's
//   external-loop interface (poll() on mosquitto_socket(), then mosquitto_loop_read /
//   mosquitto_loop_write / mosquitto_loop_misc), publishing between polls while the window allows;
//   the like-for-like comparison with the raw reference and asio-mqtt --threads 1.
// latency: the next publish is issued from inside on_message (no thread hop), which is how a
//   libmosquitto application answers fastest.

#include <mosquitto.h>
#include <poll.h>

#include <cerrno>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>

#include "bench_common.hpp"

namespace {

constexpr const char* library = "libmosquitto";

void check(int rc, const char* what) {
  if (rc != MOSQ_ERR_SUCCESS)
    throw std::runtime_error(std::string(what) + ": " + mosquitto_strerror(rc));
}

// Per-connection state shared with libmosquitto's callbacks (userdata).
struct conn_state {
  bench::done_signal connected;
  bench::done_signal subscribed;
  int connack_rc = -1;
  // throughput subscriber
  bench::seq_tracker* tracker = nullptr;
  bench::done_signal all_received;
  bench::clock::time_point last_receive{};
  bench::window_gate* receive_gate = nullptr;  // QoS 0 paced end to end, --threads 2
  // throughput publisher
  bench::window_gate* gate = nullptr;  // --threads 2 (nullptr: QoS 0 paced end to end)
  std::uint64_t completed = 0;         // --threads 1 (on_publish runs on the only thread)
  // latency
  bench::latency_result* lat = nullptr;
  std::uint64_t lat_seq = 0;    // sequence number in flight
  std::uint64_t lat_total = 0;  // warmup + count
  std::uint64_t warmup = 0;
  bench::clock::time_point lat_t0{};
  std::string* lat_payload = nullptr;
  const std::string* topic = nullptr;
  int qos = 0;
  int publish_error = MOSQ_ERR_SUCCESS;
  bench::done_signal lat_done;
  bench::clock::time_point lat_measure_start{};
  bench::cpu_time lat_cpu0;
};

struct mosq_deleter {
  void operator()(mosquitto* m) const { mosquitto_destroy(m); }
};
using mosq_ptr = std::unique_ptr<mosquitto, mosq_deleter>;

void on_connect(mosquitto*, void* ud, int rc) {
  auto* s = static_cast<conn_state*>(ud);
  s->connack_rc = rc;
  s->connected.set();
}
void on_subscribe(mosquitto*, void* ud, int, int, const int*) {
  static_cast<conn_state*>(ud)->subscribed.set();
}
void on_publish(mosquitto*, void* ud, int) {
  auto* s = static_cast<conn_state*>(ud);
  if (s->gate)
    s->gate->release();
  else
    ++s->completed;
}

void lat_publish(mosquitto* m, conn_state* s) {
  bench::put_seq(s->lat_payload->data(), s->lat_payload->size(), s->lat_seq);
  s->lat_t0 = bench::clock::now();
  const int rc =
      mosquitto_publish(m, nullptr, s->topic->c_str(), static_cast<int>(s->lat_payload->size()),
                        s->lat_payload->data(), s->qos, false);
  if (rc != MOSQ_ERR_SUCCESS) {
    s->publish_error = rc;
    s->lat_done.set();
  }
}

void on_message(mosquitto* m, void* ud, const mosquitto_message* msg) {
  auto* s = static_cast<conn_state*>(ud);
  const auto now = bench::clock::now();
  const std::uint64_t seq = bench::get_seq(msg->payload, static_cast<std::size_t>(msg->payloadlen));
  if (s->tracker) {  // throughput subscriber
    if (s->tracker->on_payload(msg->payload, static_cast<std::size_t>(msg->payloadlen)) &&
        s->receive_gate)
      s->receive_gate->release();
    s->last_receive = now;
    if (s->tracker->complete()) s->all_received.set();
    return;
  }
  if (s->lat && seq == s->lat_seq) {  // latency: our message came back
    if (seq >= s->warmup) s->lat->samples_ns.push_back(bench::ns_between(s->lat_t0, now));
    ++s->lat_seq;
    if (s->lat_seq == s->warmup) {
      s->lat_measure_start = bench::clock::now();
      s->lat_cpu0 = bench::cpu_now();
    }
    if (s->lat_seq >= s->lat_total) {
      s->lat_done.set();
      return;
    }
    lat_publish(m, s);
  } else if (s->lat) {
    ++s->lat->duplicates;
  }
}

int loop_threads = 2;  // --threads 1|2 (throughput)

// One turn of an external event loop over `clients` (--threads 1): waits up to timeout_ms for any
// socket to be ready, then lets libmosquitto read, write and do its housekeeping (keepalive).
void pump(std::initializer_list<mosquitto*> clients, int timeout_ms) {
  pollfd fds[2];
  if (clients.size() > 2) throw std::logic_error("pump: at most 2 clients");
  nfds_t n = 0;
  for (mosquitto* m : clients) {
    const short want_out = mosquitto_want_write(m) ? POLLOUT : 0;
    fds[n++] = pollfd{mosquitto_socket(m), static_cast<short>(POLLIN | want_out), 0};
  }
  if (::poll(fds, n, timeout_ms) < 0 && errno != EINTR)
    throw std::runtime_error(std::string("poll: ") + std::strerror(errno));
  n = 0;
  for (mosquitto* m : clients) {
    const short ev = fds[n++].revents;
    if (ev & (POLLIN | POLLERR | POLLHUP)) check(mosquitto_loop_read(m, 1), "loop_read");
    // Also write what the read's callbacks queued (a publish from on_message), as
    // mosquitto_loop() does through its socketpair wake-up, instead of waiting one more poll.
    if ((ev & POLLOUT) || mosquitto_want_write(m)) check(mosquitto_loop_write(m, 1), "loop_write");
    check(mosquitto_loop_misc(m), "loop_misc");
  }
}

// Waits for `sig` (set by a callback): blocking with --threads 2, pumping m with --threads 1.
bool wait_for(mosquitto* m, bench::done_signal& sig, bench::clock::time_point deadline) {
  if (loop_threads == 2) return sig.wait_until(deadline);
  while (!sig.is_set()) {
    if (bench::clock::now() >= deadline) return false;
    pump({m}, 100);
  }
  return true;
}

mosq_ptr make_client(const bench::options& o, const char* role, conn_state& st) {
  const std::string id = bench::client_id(library, role);
  mosq_ptr m(mosquitto_new(id.c_str(), true, &st));
  if (!m) throw std::runtime_error("mosquitto_new failed");
  check(mosquitto_int_option(m.get(), MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311),
        "protocol version");
  check(mosquitto_int_option(m.get(), MOSQ_OPT_TCP_NODELAY, 1), "tcp nodelay");
  check(mosquitto_max_inflight_messages_set(m.get(), 0), "max inflight");
  mosquitto_connect_callback_set(m.get(), on_connect);
  mosquitto_subscribe_callback_set(m.get(), on_subscribe);
  mosquitto_publish_callback_set(m.get(), on_publish);
  mosquitto_message_callback_set(m.get(), on_message);
  check(mosquitto_connect(m.get(), o.host.c_str(), o.port, 60), "connect");
  if (loop_threads == 2) check(mosquitto_loop_start(m.get()), "loop_start");
  if (!wait_for(m.get(), st.connected, bench::clock::now() + std::chrono::seconds(10)))
    throw std::runtime_error("no CONNACK within 10 s");
  if (st.connack_rc != 0) throw std::runtime_error("CONNACK refused");
  return m;
}

void subscribe(mosquitto* m, conn_state& st, const std::string& topic, int qos) {
  check(mosquitto_subscribe(m, nullptr, topic.c_str(), qos), "subscribe");
  if (!wait_for(m, st.subscribed, bench::clock::now() + std::chrono::seconds(10)))
    throw std::runtime_error("no SUBACK within 10 s");
}

void shutdown(mosquitto* m) {
  mosquitto_disconnect(m);
  if (loop_threads == 2) mosquitto_loop_stop(m, false);
}

int run_throughput(const bench::options& o) {
  const std::string topic = bench::unique_topic(library);
  bench::seq_tracker tracker(o.count, o.payload >= 16);
  bench::window_gate gate(o.window);
  conn_state sub_st, pub_st;
  sub_st.tracker = &tracker;
  if (loop_threads == 2) (o.window_on_receive() ? sub_st.receive_gate : pub_st.gate) = &gate;
  mosq_ptr sub = make_client(o, "sub", sub_st);
  subscribe(sub.get(), sub_st, topic, o.qos);
  mosq_ptr pub = make_client(o, "pub", pub_st);

  std::string payload = bench::make_payload(o.payload);
  bench::throughput_result r;
  const bench::cpu_time cpu0 = bench::cpu_now();
  const auto t0 = bench::clock::now();
  const auto deadline = t0 + o.timeout();
  if (loop_threads == 1) {
    std::uint64_t seq = 0;
    while (!tracker.complete() && bench::clock::now() < deadline) {
      const auto done = [&] {
        return o.window_on_receive() ? tracker.unique() : pub_st.completed;
      };
      for (; seq < o.count && seq - done() < o.window; ++seq) {
        bench::put_seq(payload.data(), payload.size(), seq);
        const int rc =
            mosquitto_publish(pub.get(), nullptr, topic.c_str(), static_cast<int>(payload.size()),
                              payload.data(), o.qos, false);
        if (rc != MOSQ_ERR_SUCCESS) {
          shutdown(pub.get());
          shutdown(sub.get());
          return bench::report_error(library, o, std::string("publish: ") + mosquitto_strerror(rc));
        }
      }
      pump({pub.get(), sub.get()}, 100);
    }
    r.timed_out = !tracker.complete();
  }
  for (std::uint64_t seq = 0; loop_threads == 2 && seq < o.count; ++seq) {
    if (!gate.acquire(deadline)) break;
    bench::put_seq(payload.data(), payload.size(), seq);
    const int rc =
        mosquitto_publish(pub.get(), nullptr, topic.c_str(), static_cast<int>(payload.size()),
                          payload.data(), o.qos, false);
    if (rc != MOSQ_ERR_SUCCESS) {
      gate.cancel();
      shutdown(pub.get());
      shutdown(sub.get());
      return bench::report_error(library, o, std::string("publish: ") + mosquitto_strerror(rc));
    }
  }
  if (loop_threads == 2) r.timed_out = !sub_st.all_received.wait_until(deadline);
  r.cpu = bench::cpu_now() - cpu0;
  shutdown(pub.get());
  shutdown(sub.get());  // the subscriber's thread is joined: its fields are safe to read
  r.elapsed_s = bench::seconds_between(t0, sub_st.last_receive);
  r.received = tracker.unique();
  r.delivery_ns = tracker.take_delivery_ns();
  r.duplicates = tracker.duplicates();
  r.unexpected = tracker.unexpected();
  bench::throughput_json(library, o, r).field("threads", loop_threads).print();
  return 0;
}

int run_latency(const bench::options& o) {
  const std::string topic = bench::unique_topic(library);
  bench::latency_result r;
  r.samples_ns.reserve(o.count);
  std::string payload = bench::make_payload(o.payload);
  conn_state st;
  mosq_ptr m = make_client(o, "lat", st);
  subscribe(m.get(), st, topic, o.qos);

  st.lat = &r;
  st.lat_total = o.warmup + o.count;
  st.warmup = o.warmup;
  st.lat_payload = &payload;
  st.topic = &topic;
  st.qos = o.qos;
  st.lat_measure_start = bench::clock::now();
  st.lat_cpu0 = bench::cpu_now();
  const auto deadline = bench::clock::now() + o.timeout();
  {
    // The first publish comes from this thread; every later one from on_message. Hold no lock:
    // on_message cannot run before this publish's message comes back.
    lat_publish(m.get(), &st);
  }
  r.timed_out = !wait_for(m.get(), st.lat_done, deadline);
  const bench::cpu_time cpu1 = bench::cpu_now();
  const auto t1 = bench::clock::now();
  shutdown(m.get());  // joins the network thread
  if (st.publish_error != MOSQ_ERR_SUCCESS)
    return bench::report_error(library, o,
                               std::string("publish: ") + mosquitto_strerror(st.publish_error));
  r.cpu = cpu1 - st.lat_cpu0;
  r.elapsed_s = bench::seconds_between(st.lat_measure_start, t1);
  bench::latency_json(library, o, r).print();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  int kept = 1;
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--threads" && i + 1 < argc) {
      const std::string v = argv[++i];
      if (v != "1" && v != "2") {
        std::fprintf(stderr, "--threads must be 1 or 2\n");
        return 2;
      }
      loop_threads = v == "1" ? 1 : 2;
    } else {
      argv[kept++] = argv[i];
    }
  }
  argc = kept;
  const bench::options o = bench::parse_args(argc, argv);
  mosquitto_lib_init();
  int rc = 0;
  try {
    rc = o.mode == bench::run_mode::throughput ? run_throughput(o) : run_latency(o);
  } catch (const std::exception& e) {
    rc = bench::report_error(library, o, e.what());
  }
  mosquitto_lib_cleanup();
  return rc;
}
