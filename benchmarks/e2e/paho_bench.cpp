// paho_bench: Eclipse Paho MQTT C++ (mqtt::async_client 1.2, on Paho C's MQTTAsync), MQTT 3.1.1,
// no persistence, max in-flight 65535 (and up to 65535 publishes queued inside Paho: its default of
// 100 would fail publish() with MQTTASYNC_MAX_BUFFERED_MESSAGES long before the window is full).
// See bench_common.hpp for the measurement protocol.
//
// throughput: the main thread publishes with an action listener whose on_success/on_failure
//   (Paho's threads: QoS 1 PUBACK, QoS 2 PUBCOMP; QoS 0 with --qos0-pacing written: written)
//   releases the window; the subscriber counts in message_arrived on Paho's receive thread (and
//   releases the window at QoS 0 paced end to end, the default).
// latency: the next publish is issued from inside message_arrived (no thread hop).
//
// TCP_NODELAY: Paho C has no option for it and leaves Nagle's algorithm on. Every other program
// here (and the broker: set_tcp_nodelay true) disables Nagle, so after each connect this program
// sets TCP_NODELAY on the process's TCP sockets connected to the broker's port (found with
// getpeername). Without it a QoS 1/2 round trip costs ~40 ms (Nagle holding the PUBLISH behind
// the un-acked PUBACK, the broker delaying its ACK). --paho-nagle keeps Paho's default.

#include <mqtt/async_client.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <chrono>
#include <stdexcept>
#include <string>

#include "bench_common.hpp"

namespace {

constexpr const char* library = "paho";
constexpr auto setup_timeout = std::chrono::seconds(10);

// Releases the publisher's window when a publish completes (either way).
class release_listener : public mqtt::iaction_listener {
 public:
  explicit release_listener(bench::window_gate& g) : gate_(g) {}
  void on_success(const mqtt::token&) override { gate_.release(); }
  void on_failure(const mqtt::token&) override {
    failures.fetch_add(1);
    gate_.release();
  }
  std::atomic<std::uint64_t> failures{0};

 private:
  bench::window_gate& gate_;
};

class ignore_listener : public mqtt::iaction_listener {
 public:
  void on_success(const mqtt::token&) override {}
  void on_failure(const mqtt::token&) override { failures.fetch_add(1); }
  std::atomic<std::uint64_t> failures{0};
};

struct subscriber_callback : mqtt::callback {
  bench::seq_tracker* tracker = nullptr;
  bench::window_gate* receive_gate = nullptr;  // QoS 0 paced end to end
  bench::done_signal all_received;
  bench::clock::time_point last_receive{};

  void message_arrived(mqtt::const_message_ptr msg) override {
    const auto now = bench::clock::now();
    const auto& p = msg->get_payload_ref();
    if (tracker->on_payload(p.data(), p.size()) && receive_gate) receive_gate->release();
    last_receive = now;
    if (tracker->complete()) all_received.set();
  }
};

struct latency_callback : mqtt::callback {
  mqtt::async_client* cli = nullptr;
  mqtt::string_ref topic;
  std::string payload;
  int qos = 0;
  bench::latency_result* r = nullptr;
  std::uint64_t seq = 0, warmup = 0, total = 0;
  bench::clock::time_point t0{}, measure_start{};
  bench::cpu_time cpu0;
  bench::done_signal done;
  std::string error;
  ignore_listener listener;

  void publish_next() {
    bench::put_seq(payload.data(), payload.size(), seq);
    t0 = bench::clock::now();
    try {
      cli->publish(topic, payload.data(), payload.size(), qos, false, nullptr, listener);
    } catch (const mqtt::exception& e) {
      error = e.what();
      done.set();
    }
  }

  void message_arrived(mqtt::const_message_ptr msg) override {
    const auto now = bench::clock::now();
    const auto& p = msg->get_payload_ref();
    const std::uint64_t s = bench::get_seq(p.data(), p.size());
    if (s != seq) {
      ++r->duplicates;
      return;
    }
    if (s >= warmup) r->samples_ns.push_back(bench::ns_between(t0, now));
    ++seq;
    if (seq == warmup) {
      measure_start = bench::clock::now();
      cpu0 = bench::cpu_now();
    }
    if (seq >= total) {
      done.set();
      return;
    }
    publish_next();
  }
};

bool keep_nagle = false;

// Sets TCP_NODELAY on every TCP socket of this process whose peer port is the broker's.
int set_nodelay_on_broker_sockets(int broker_port) {
  int n = 0;
  for (int fd = 0; fd < 4096; ++fd) {
    sockaddr_storage peer{};
    socklen_t len = sizeof peer;
    if (::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &len) != 0) continue;
    int port = -1;
    if (peer.ss_family == AF_INET) port = ntohs(reinterpret_cast<sockaddr_in*>(&peer)->sin_port);
    if (peer.ss_family == AF_INET6) port = ntohs(reinterpret_cast<sockaddr_in6*>(&peer)->sin6_port);
    if (port != broker_port) continue;
    int one = 1;
    if (::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) == 0) ++n;
  }
  return n;
}

std::unique_ptr<mqtt::async_client> make_client(const bench::options& o, const char* role,
                                                mqtt::callback& cb) {
  const std::string uri = "tcp://" + o.host + ":" + std::to_string(o.port);
  auto cli = std::make_unique<mqtt::async_client>(uri, bench::client_id(library, role),
                                                  mqtt::create_options(MQTTVERSION_3_1_1, 65535),
                                                  static_cast<mqtt::iclient_persistence*>(nullptr));
  cli->set_callback(cb);
  mqtt::connect_options opts;
  opts.set_mqtt_version(MQTTVERSION_3_1_1);
  opts.set_clean_session(true);
  opts.set_keep_alive_interval(60);
  opts.set_max_inflight(65535);
  opts.set_automatic_reconnect(false);
  if (!cli->connect(opts)->wait_for(setup_timeout)) throw std::runtime_error("connect timed out");
  if (!keep_nagle && set_nodelay_on_broker_sockets(o.port) == 0)
    throw std::runtime_error("could not find Paho's socket to set TCP_NODELAY");
  return cli;
}

void subscribe(mqtt::async_client& cli, const std::string& topic, int qos) {
  if (!cli.subscribe(topic, qos)->wait_for(setup_timeout))
    throw std::runtime_error("subscribe timed out");
}

void disconnect(mqtt::async_client& cli) {
  try {
    cli.disconnect()->wait_for(std::chrono::seconds(5));
  } catch (const mqtt::exception&) {
  }
}

int run_throughput(const bench::options& o) {
  const std::string topic_s = bench::unique_topic(library);
  const mqtt::string_ref topic(topic_s);
  bench::seq_tracker tracker(o.count, o.payload >= 16);
  bench::window_gate gate(o.window);
  release_listener listener(gate);
  ignore_listener no_release;  // QoS 0 paced end to end: the subscriber releases the window
  subscriber_callback sub_cb;
  sub_cb.tracker = &tracker;
  if (o.window_on_receive()) sub_cb.receive_gate = &gate;
  mqtt::callback pub_cb;
  auto sub = make_client(o, "sub", sub_cb);
  subscribe(*sub, topic_s, o.qos);
  auto pub = make_client(o, "pub", pub_cb);

  std::string payload = bench::make_payload(o.payload);
  bench::throughput_result r;
  const bench::cpu_time cpu0 = bench::cpu_now();
  const auto t0 = bench::clock::now();
  const auto deadline = t0 + o.timeout();
  std::string error;
  for (std::uint64_t seq = 0; seq < o.count; ++seq) {
    if (!gate.acquire(deadline)) break;
    bench::put_seq(payload.data(), payload.size(), seq);
    try {
      pub->publish(
          topic, payload.data(), payload.size(), o.qos, false, nullptr,
          o.window_on_receive() ? static_cast<mqtt::iaction_listener&>(no_release) : listener);
    } catch (const mqtt::exception& e) {
      gate.cancel();
      error = e.what();
      break;
    }
  }
  r.timed_out = !sub_cb.all_received.wait_until(deadline);
  r.cpu = bench::cpu_now() - cpu0;
  disconnect(*pub);
  disconnect(*sub);
  pub.reset();
  sub.reset();  // Paho's threads are gone: the callback's fields are safe to read
  if (!error.empty()) return bench::report_error(library, o, "publish: " + error);
  r.elapsed_s = bench::seconds_between(t0, sub_cb.last_receive);
  r.received = tracker.unique();
  r.delivery_ns = tracker.take_delivery_ns();
  r.duplicates = tracker.duplicates();
  r.unexpected = tracker.unexpected();
  bench::throughput_json(library, o, r)
      .field("publish_failures", listener.failures.load() + no_release.failures.load())
      .print();
  return 0;
}

int run_latency(const bench::options& o) {
  const std::string topic_s = bench::unique_topic(library);
  bench::latency_result r;
  r.samples_ns.reserve(o.count);
  latency_callback cb;
  auto cli = make_client(o, "lat", cb);
  subscribe(*cli, topic_s, o.qos);
  cb.cli = cli.get();
  cb.topic = mqtt::string_ref(topic_s);
  cb.payload = bench::make_payload(o.payload);
  cb.qos = o.qos;
  cb.r = &r;
  cb.warmup = o.warmup;
  cb.total = o.warmup + o.count;
  cb.measure_start = bench::clock::now();
  cb.cpu0 = bench::cpu_now();
  const auto deadline = bench::clock::now() + o.timeout();
  cb.publish_next();  // every later publish comes from message_arrived
  r.timed_out = !cb.done.wait_until(deadline);
  const bench::cpu_time cpu1 = bench::cpu_now();
  const auto t1 = bench::clock::now();
  disconnect(*cli);
  cli.reset();
  if (!cb.error.empty()) return bench::report_error(library, o, "publish: " + cb.error);
  r.cpu = cpu1 - cb.cpu0;
  r.elapsed_s = bench::seconds_between(cb.measure_start, t1);
  bench::latency_json(library, o, r).print();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // Program-specific flag, removed before the common parser sees the arguments.
  int kept = 1;
  for (int i = 1; i < argc; ++i) {
    if (std::string_view(argv[i]) == "--paho-nagle")
      keep_nagle = true;
    else
      argv[kept++] = argv[i];
  }
  argc = kept;
  const bench::options o = bench::parse_args(argc, argv);
  try {
    return o.mode == bench::run_mode::throughput ? run_throughput(o) : run_latency(o);
  } catch (const std::exception& e) {
    return bench::report_error(library, o, e.what());
  }
}
