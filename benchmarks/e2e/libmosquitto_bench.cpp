// libmosquitto_bench: Eclipse Mosquitto's C client library (libmosquitto 2.0), threaded mode
// (mosquitto_loop_start: one network thread per connection), MQTT 3.1.1, TCP_NODELAY, no
// in-flight limit (mosquitto_max_inflight_messages_set(0)). See bench_common.hpp for the
// measurement protocol.
//
// throughput: the main thread publishes (mosquitto_publish copies the payload), the window is
//   released from on_publish (QoS 0: written, QoS 1: PUBACK, QoS 2: PUBCOMP) on the publisher's
//   network thread; the subscriber counts in on_message on its own network thread.
// latency: the next publish is issued from inside on_message (no thread hop), which is how a
//   libmosquitto application answers fastest.

#include <mosquitto.h>

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
  // throughput publisher
  bench::window_gate* gate = nullptr;
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
  if (s->gate) s->gate->release();
}

void lat_publish(mosquitto* m, conn_state* s) {
  bench::put_seq(s->lat_payload->data(), s->lat_seq);
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
    s->tracker->on_message(seq);
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
  check(mosquitto_loop_start(m.get()), "loop_start");
  if (!st.connected.wait_until(bench::clock::now() + std::chrono::seconds(10)))
    throw std::runtime_error("no CONNACK within 10 s");
  if (st.connack_rc != 0) throw std::runtime_error("CONNACK refused");
  return m;
}

void subscribe(mosquitto* m, conn_state& st, const std::string& topic, int qos) {
  check(mosquitto_subscribe(m, nullptr, topic.c_str(), qos), "subscribe");
  if (!st.subscribed.wait_until(bench::clock::now() + std::chrono::seconds(10)))
    throw std::runtime_error("no SUBACK within 10 s");
}

void shutdown(mosquitto* m) {
  mosquitto_disconnect(m);
  mosquitto_loop_stop(m, false);
}

int run_throughput(const bench::options& o) {
  const std::string topic = bench::unique_topic(library);
  bench::seq_tracker tracker(o.count);
  bench::window_gate gate(o.window);
  conn_state sub_st, pub_st;
  sub_st.tracker = &tracker;
  pub_st.gate = &gate;
  mosq_ptr sub = make_client(o, "sub", sub_st);
  subscribe(sub.get(), sub_st, topic, o.qos);
  mosq_ptr pub = make_client(o, "pub", pub_st);

  std::string payload = bench::make_payload(o.payload);
  bench::throughput_result r;
  const bench::cpu_time cpu0 = bench::cpu_now();
  const auto t0 = bench::clock::now();
  const auto deadline = t0 + o.timeout();
  for (std::uint64_t seq = 0; seq < o.count; ++seq) {
    if (!gate.acquire(deadline)) break;
    bench::put_seq(payload.data(), seq);
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
  r.timed_out = !sub_st.all_received.wait_until(deadline);
  r.cpu = bench::cpu_now() - cpu0;
  shutdown(pub.get());
  shutdown(sub.get());  // the subscriber's thread is joined: its fields are safe to read
  r.elapsed_s = bench::seconds_between(t0, sub_st.last_receive);
  r.received = tracker.unique();
  r.duplicates = tracker.duplicates();
  r.unexpected = tracker.unexpected();
  bench::throughput_json(library, o, r).print();
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
  r.timed_out = !st.lat_done.wait_until(deadline);
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
