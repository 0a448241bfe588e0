#pragma once
// Shared by amqtt-pub and amqtt-sub: one command-line parser (mosquitto_pub/sub-compatible
// flags), building client_options from it, and a runner that owns the io_context thread, the
// client, the first connection, signals and the exit status. See docs/cli.md.
//
// Exit status (like mosquitto's tools): 0 success; 1..5 the CONNACK return code when the broker
// refuses the connection; 27 when -W expires; 1 for every other error (one line on stderr).

#include <amqtt/client.hpp>
#ifdef AMQTT_HAS_TLS
#include <amqtt/transport/tls.hpp>
#endif

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/signal_set.hpp>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <variant>
#include <vector>

#include <unistd.h>

namespace amqtt_cli {

enum class tool { pub, sub };

inline const char* tool_name(tool t) { return t == tool::pub ? "amqtt-pub" : "amqtt-sub"; }

constexpr int exit_ok = 0;
constexpr int exit_error = 1;     // usage and runtime errors (as mosquitto's tools)
constexpr int exit_timeout = 27;  // -W expired (mosquitto's MOSQ_ERR_TIMEOUT)

enum class pub_mode { none, message, file, stdin_whole, stdin_lines, null_message };

struct config {
  tool which = tool::pub;
  bool help = false;

  // connection
  std::string host = "test.mosquitto.org";
  int port = -1;  // -1: 1883, or 8883 with TLS
  std::string id;
  std::string id_prefix;
  int keepalive = 60;
  int qos = 0;
  std::optional<std::string> username;
  std::optional<std::string> password;
  bool clean_session = true;
  bool debug = false;
  bool quiet = false;

  // will
  std::string will_topic;
  std::optional<std::string> will_payload;
  int will_qos = 0;
  bool will_retain = false;
  bool will_option_set = false;  // any --will-* other than --will-topic

  // TLS
  bool tls = false;
  std::string cafile;
  std::string capath;
  std::string cert;
  std::string key;
  std::string tls_version;
  bool insecure = false;

  // both: -t (pub: exactly one)
  std::vector<std::string> topics;

  // pub
  pub_mode mode = pub_mode::none;
  std::string message;  // -m
  std::string file;     // -f
  bool retain = false;
  long repeat = 1;
  double repeat_delay = 0.0;  // seconds

  // sub
  std::vector<std::string> filter_out;  // -T
  std::vector<std::string> unsubscribe;  // -U
  bool verbose = false;                  // -v
  bool no_newline = false;               // -N
  long count = 0;                        // -C (0: unlimited)
  long timeout = 0;                      // -W seconds (0: none)
  bool no_stale_retained = false;        // -R
  bool exit_after_subscribe = false;     // -E

  int effective_port() const { return port > 0 ? port : (tls ? 8883 : 1883); }
};

// ---- parsing ---------------------------------------------------------------------------------

inline bool parse_long(const std::string& s, long lo, long hi, long& out) {
  if (s.empty()) return false;
  errno = 0;
  char* end = nullptr;
  const long v = std::strtol(s.c_str(), &end, 10);
  if (errno != 0 || end == nullptr || *end != '\0' || v < lo || v > hi) return false;
  out = v;
  return true;
}

inline bool parse_double(const std::string& s, double lo, double hi, double& out) {
  if (s.empty()) return false;
  errno = 0;
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (errno != 0 || end == nullptr || *end != '\0' || !(v >= lo && v <= hi)) return false;
  out = v;
  return true;
}

// mqtt[s]://[user[:pass]@]host[:port]/topic ; host may be [IPv6].
inline std::string parse_url(const std::string& url, config& c) {
  std::string rest;
  if (url.rfind("mqtt://", 0) == 0) {
    rest = url.substr(7);
  } else if (url.rfind("mqtts://", 0) == 0) {
    rest = url.substr(8);
    c.tls = true;
  } else {
    return "Unsupported URL scheme in '" + url + "' (use mqtt:// or mqtts://).";
  }
  const auto slash = rest.find('/');
  if (slash == std::string::npos) return "Invalid URL '" + url + "': no topic (mqtt://host/topic).";
  std::string authority = rest.substr(0, slash);
  const std::string topic = rest.substr(slash + 1);
  if (topic.empty()) return "Invalid URL '" + url + "': empty topic.";
  if (const auto at = authority.rfind('@'); at != std::string::npos) {
    const std::string userinfo = authority.substr(0, at);
    authority = authority.substr(at + 1);
    if (const auto colon = userinfo.find(':'); colon != std::string::npos) {
      c.username = userinfo.substr(0, colon);
      c.password = userinfo.substr(colon + 1);
    } else {
      c.username = userinfo;
    }
  }
  std::string host = authority;
  std::string port;
  if (!authority.empty() && authority[0] == '[') {
    const auto close = authority.find(']');
    if (close == std::string::npos) return "Invalid URL '" + url + "': unterminated '['.";
    host = authority.substr(1, close - 1);
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') return "Invalid URL '" + url + "'.";
      port = authority.substr(close + 2);
    }
  } else if (const auto colon = authority.rfind(':'); colon != std::string::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  if (host.empty()) return "Invalid URL '" + url + "': no host.";
  c.host = host;
  if (!port.empty()) {
    long p = 0;
    if (!parse_long(port, 1, 65535, p)) return "Invalid port in URL '" + url + "'.";
    c.port = static_cast<int>(p);
  }
  c.topics.push_back(topic);
  return {};
}

// Parses argv into `c`. Returns an empty string, or the error message (without "Error: ").
inline std::string parse_args(int argc, char** argv, tool which, config& c) {
  c = config{};
  c.which = which;
  const bool pub = which == tool::pub;
  const bool sub = which == tool::sub;
  bool id_given = false;

  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&](std::string& out) -> bool {
      if (i + 1 >= argc) return false;
      out = argv[++i];
      return true;
    };
    std::string v;
    auto need = [&]() -> std::string { return a + " argument given but no value specified."; };
    long n = 0;

    if (a == "--help") {
      c.help = true;
      return {};
    } else if (a == "-h" || a == "--host") {
      if (!value(c.host)) return need();
    } else if (a == "-p" || a == "--port") {
      if (!value(v)) return need();
      if (!parse_long(v, 1, 65535, n)) return "Invalid port given: " + v;
      c.port = static_cast<int>(n);
    } else if (a == "-i" || a == "--id") {
      if (!value(c.id)) return need();
      if (c.id.empty()) return "Empty client id given.";
      id_given = true;
    } else if (a == "-I" || a == "--id-prefix") {
      if (!value(c.id_prefix)) return need();
    } else if (a == "-k" || a == "--keepalive") {
      if (!value(v)) return need();
      if (!parse_long(v, 0, 65535, n)) return "Invalid keepalive given, it must be between 0 and 65535 inclusive.";
      c.keepalive = static_cast<int>(n);
    } else if (a == "-q" || a == "--qos") {
      if (!value(v)) return need();
      if (!parse_long(v, 0, 2, n)) return "Invalid QoS given: " + v;
      c.qos = static_cast<int>(n);
    } else if (a == "-u" || a == "--username") {
      if (!value(v)) return need();
      c.username = v;
    } else if (a == "-P" || a == "--pw") {
      if (!value(v)) return need();
      c.password = v;
    } else if (a == "-c" || a == "--disable-clean-session") {
      c.clean_session = false;
    } else if (a == "-d" || a == "--debug") {
      c.debug = true;
    } else if (a == "--quiet") {
      c.quiet = true;
    } else if (a == "-V" || a == "--protocol-version") {
      if (!value(v)) return need();
      if (v != "311" && v != "mqttv311")
        return "Unsupported protocol version '" + v + "': only MQTT v3.1.1 (311) is supported.";
    } else if (a == "-L" || a == "--url") {
      if (!value(v)) return need();
      if (auto err = parse_url(v, c); !err.empty()) return err;
    } else if (a == "--will-topic") {
      if (!value(c.will_topic)) return need();
    } else if (a == "--will-payload") {
      if (!value(v)) return need();
      c.will_payload = v;
      c.will_option_set = true;
    } else if (a == "--will-qos") {
      if (!value(v)) return need();
      if (!parse_long(v, 0, 2, n)) return "Invalid will QoS " + v + ".";
      c.will_qos = static_cast<int>(n);
      c.will_option_set = true;
    } else if (a == "--will-retain") {
      c.will_retain = true;
      c.will_option_set = true;
    } else if (a == "--cafile") {
      if (!value(c.cafile)) return need();
      c.tls = true;
    } else if (a == "--capath") {
      if (!value(c.capath)) return need();
      c.tls = true;
    } else if (a == "--tls-use-os-certs") {
      c.tls = true;
    } else if (a == "--cert") {
      if (!value(c.cert)) return need();
      c.tls = true;
    } else if (a == "--key") {
      if (!value(c.key)) return need();
      c.tls = true;
    } else if (a == "--insecure") {
      c.insecure = true;
      c.tls = true;
    } else if (a == "--tls-version") {
      if (!value(v)) return need();
      if (v == "tlsv1.2" || v == "1.2") c.tls_version = "1.2";
      else if (v == "tlsv1.3" || v == "1.3") c.tls_version = "1.3";
      else return "Unsupported --tls-version '" + v + "' (tlsv1.2 or tlsv1.3).";
      c.tls = true;
    } else if (a == "-t" || a == "--topic") {
      if (!value(v)) return need();
      c.topics.push_back(v);
    } else if (pub && (a == "-m" || a == "--message")) {
      if (!value(c.message)) return need();
      if (c.mode != pub_mode::none) return "Only one type of message can be sent at once.";
      c.mode = pub_mode::message;
    } else if (pub && (a == "-f" || a == "--file")) {
      if (!value(c.file)) return need();
      if (c.mode != pub_mode::none) return "Only one type of message can be sent at once.";
      c.mode = pub_mode::file;
    } else if (pub && (a == "-l" || a == "--stdin-line")) {
      if (c.mode != pub_mode::none) return "Only one type of message can be sent at once.";
      c.mode = pub_mode::stdin_lines;
    } else if (pub && (a == "-s" || a == "--stdin-file")) {
      if (c.mode != pub_mode::none) return "Only one type of message can be sent at once.";
      c.mode = pub_mode::stdin_whole;
    } else if (pub && (a == "-n" || a == "--null-message")) {
      if (c.mode != pub_mode::none) return "Only one type of message can be sent at once.";
      c.mode = pub_mode::null_message;
    } else if (pub && (a == "-r" || a == "--retain")) {
      c.retain = true;
    } else if (pub && a == "--repeat") {
      if (!value(v)) return need();
      if (!parse_long(v, 1, 1000000000L, n)) return "--repeat argument must be a positive integer.";
      c.repeat = n;
    } else if (pub && a == "--repeat-delay") {
      if (!value(v)) return need();
      if (!parse_double(v, 0.0, 86400.0, c.repeat_delay))
        return "--repeat-delay argument must be a number of seconds (0 or more).";
    } else if (sub && (a == "-T" || a == "--filter-out")) {
      if (!value(v)) return need();
      if (amqtt::validate_topic_filter(v)) return "Invalid filter topic '" + v + "', are all '+' and '#' wildcards correct?";
      c.filter_out.push_back(v);
    } else if (sub && (a == "-U" || a == "--unsubscribe")) {
      if (!value(v)) return need();
      if (amqtt::validate_topic_filter(v)) return "Invalid unsubscribe topic '" + v + "', are all '+' and '#' wildcards correct?";
      c.unsubscribe.push_back(v);
    } else if (sub && (a == "-v" || a == "--verbose")) {
      c.verbose = true;
    } else if (sub && a == "-N") {
      c.no_newline = true;
    } else if (sub && a == "-C") {
      if (!value(v)) return need();
      if (!parse_long(v, 1, 2147483647L, n)) return "-C argument must be a positive integer.";
      c.count = n;
    } else if (sub && a == "-W") {
      if (!value(v)) return need();
      if (!parse_long(v, 1, 2147483L, n)) return "-W argument must be a positive number of seconds.";
      c.timeout = n;
    } else if (sub && a == "-R") {
      c.no_stale_retained = true;
    } else if (sub && a == "-E") {
      c.exit_after_subscribe = true;
    } else {
      return "Unknown option '" + a + "'.";
    }
  }

  // ---- consistency, with mosquitto's wording where it has one ----
  if (id_given && !c.id_prefix.empty()) return "-i and -I cannot be used together.";
  if (!c.clean_session && !id_given)
    return "You must provide a client id if you are using the -c option.";
  if (!c.id_prefix.empty()) c.id = c.id_prefix + std::to_string(::getpid());
  if (c.password && !c.username) return "A password (-P) needs a username (-u).";
  if (c.will_option_set && c.will_topic.empty()) return "Will payload, QoS or retain given, but no will topic given.";
  if (!c.will_topic.empty() && amqtt::validate_topic_name(c.will_topic))
    return "Invalid will topic '" + c.will_topic + "', does it contain '+' or '#'?";
  if (!c.key.empty() && c.cert.empty()) return "--key given without --cert.";
  if (!c.cert.empty() && c.key.empty()) return "--cert given without --key.";
#ifndef AMQTT_HAS_TLS
  if (c.tls) return "TLS options given, but this program was built without TLS support.";
#endif

  if (pub) {
    if (c.topics.size() != 1 || c.mode == pub_mode::none) {
      if (c.topics.size() > 1) return "Only one topic may be given (-t).";
      return "Both topic and message must be supplied.";
    }
    if (amqtt::validate_topic_name(c.topics[0]))
      return "Invalid publish topic '" + c.topics[0] + "', does it contain '+' or '#'?";
    if (c.mode == pub_mode::stdin_lines && c.repeat > 1) return "--repeat cannot be used with -l.";
  } else {
    if (c.topics.empty() && c.unsubscribe.empty()) return "You must specify a topic to subscribe to.";
    for (const auto& t : c.topics)
      if (amqtt::validate_topic_filter(t))
        return "Invalid subscription topic '" + t + "', are all '+' and '#' wildcards correct?";
  }
  return {};
}

inline void print_usage(tool which, std::FILE* out) {
  const bool pub = which == tool::pub;
  std::fprintf(out, "%s", pub ? "amqtt-pub: publish MQTT 3.1.1 messages (asio-mqtt)\n\n"
                                "Usage: amqtt-pub {[-h host] [-p port] | -L URL} -t topic\n"
                                "                 {-m message | -f file | -l | -s | -n} [-q qos] [-r]\n"
                                "                 [--repeat N] [--repeat-delay seconds] [options]\n"
                              : "amqtt-sub: subscribe to MQTT 3.1.1 topics and print messages (asio-mqtt)\n\n"
                                "Usage: amqtt-sub {[-h host] [-p port] | -L URL} {-t filter}... [-T filter]...\n"
                                "                 [-q qos] [-v] [-N] [-C count] [-W seconds] [-R] [-E]\n"
                                "                 [-U filter]... [options]\n");
  std::fprintf(out,
               "\nConnection:\n"
               " -h host            broker host (default test.mosquitto.org)\n"
               " -p port            broker port (default 1883, 8883 with TLS)\n"
               " -L URL             mqtt[s]://[user[:pass]@]host[:port]/topic\n"
               " -i id              client id (default: random)\n"
               " -I prefix          client id = prefix + process id\n"
               " -k seconds         keepalive (default 60, 0 disables)\n"
               " -q 0|1|2           QoS (default 0)\n"
               " -u user, -P pass   credentials\n"
               " -c                 persistent session (clean session off; needs -i)\n"
               " -V 311             protocol version (only MQTT 3.1.1)\n"
               " -d                 debug output on stderr\n"
               " --quiet            no error or warning output\n"
               " --will-topic t --will-payload p --will-qos q --will-retain\n"
               "\nTLS (enabled by any of these, or by mqtts://):\n"
               " --cafile file      trusted CA certificates (PEM)\n"
               " --capath dir       directory of trusted CA certificates\n"
               " --tls-use-os-certs use the system trust store (the default without --cafile/--capath)\n"
               " --cert file --key file   client certificate and key (mutual TLS)\n"
               " --tls-version v    minimum version: tlsv1.2 (default) or tlsv1.3\n"
               " --insecure         DO NOT verify the server certificate (testing only)\n");
  if (pub) {
    std::fprintf(out,
                 "\nPublishing:\n"
                 " -t topic           topic to publish to\n"
                 " -m message         the message\n"
                 " -f file            the contents of a file as the message\n"
                 " -l                 each line of stdin as a message (exits once all are acknowledged)\n"
                 " -s                 all of stdin as one message\n"
                 " -n                 an empty (null) message\n"
                 " -r                 retain\n"
                 " --repeat N         publish the message N times\n"
                 " --repeat-delay s   seconds between repeats\n");
  } else {
    std::fprintf(out,
                 "\nSubscribing:\n"
                 " -t filter          subscribe (repeatable)\n"
                 " -T filter          do not print topics matching this filter (repeatable)\n"
                 " -v                 print \"topic payload\"\n"
                 " -N                 no newline after each message\n"
                 " -C count           exit after count messages\n"
                 " -W seconds         exit (status 27) after this long\n"
                 " -R                 do not print stale retained messages\n"
                 " -E                 exit once the subscriptions are acknowledged\n"
                 " -U filter          unsubscribe (repeatable); alone: unsubscribe, then exit\n");
  }
  std::fprintf(out,
               "\n --help             this text\n"
               "\nExit status: 0 ok; 1-5 the broker refused the connection (CONNACK code);\n"
               "27 -W expired; 1 other errors. See docs/cli.md.\n");
}

// ---- options ---------------------------------------------------------------------------------

inline amqtt::qos to_qos(int q) { return static_cast<amqtt::qos>(q); }

// Throws (std::exception) when TLS files cannot be loaded.
inline amqtt::client_options make_client_options(const config& c) {
  amqtt::client_options o;
  o.brokers = {{c.host, static_cast<std::uint16_t>(c.effective_port())}};
  o.session.client_id = c.id;
  o.session.clean_session = c.clean_session;
  o.session.keep_alive = std::chrono::seconds(c.keepalive);
  o.session.username = c.username;
  o.session.password = c.password;
  if (!c.will_topic.empty()) {
    amqtt::will_options w;
    w.topic = c.will_topic;
    w.payload = c.will_payload.value_or(std::string());
    w.qos = to_qos(c.will_qos);
    w.retain = c.will_retain;
    o.session.will = std::move(w);
  }
  o.connect_timeout = std::chrono::seconds(10);
  o.reconnect.enabled = true;
  o.reconnect.min_delay = std::chrono::milliseconds(100);
  o.reconnect.max_delay = std::chrono::milliseconds(5000);
  // With -C, decode (and acknowledge) as few messages beyond the count as possible: with a
  // persistent session (-c) the rest stays queued at the broker for the next run.
  if (c.which == tool::sub && c.count > 0) o.receive_queue_limit = 1;
#ifdef AMQTT_HAS_TLS
  if (c.tls) {
    amqtt::tls_options t;
    t.ca_file = c.cafile;
    t.ca_path = c.capath;
    t.cert_file = c.cert;
    t.key_file = c.key;
    if (!c.tls_version.empty()) t.min_version = c.tls_version;
    t.insecure_skip_verify = c.insecure;
    o.transport = amqtt::make_tls_transport_factory(std::move(t));
  }
#endif
  return o;
}

// Exit status for an error that ended the program.
inline int exit_code_for(const std::error_code& ec) {
  if (!ec) return exit_ok;
  if (ec.category() == amqtt::protocol_category()) {
    switch (static_cast<amqtt::protocol_errc>(ec.value())) {
      case amqtt::protocol_errc::unacceptable_protocol_version: return 1;
      case amqtt::protocol_errc::identifier_rejected: return 2;
      case amqtt::protocol_errc::server_unavailable: return 3;
      case amqtt::protocol_errc::bad_username_or_password: return 4;
      case amqtt::protocol_errc::not_authorized: return 5;
      default: break;
    }
  }
  return exit_error;
}

// ---- runner ----------------------------------------------------------------------------------

// Owns the io_context thread and the client. The first connection attempt decides: if it fails,
// the program exits with that error (like mosquitto's tools); once connected, the client
// reconnects (and resends unacknowledged messages) until the program is done.
class runner {
 public:
  explicit runner(const config& cfg) : cfg_(cfg), signals_(io_, SIGINT, SIGTERM) {
    client_.emplace(io_, make_client_options(cfg_));  // may throw (TLS files)
    client_->set_event_handler([this](const amqtt::client_event& e) { on_event(e); });
    signals_.async_wait([this](std::error_code ec, int) {
      if (!ec) stop(exit_ok, {});
    });
    thread_ = std::thread([this] { io_.run(); });
  }

  runner(const runner&) = delete;
  runner& operator=(const runner&) = delete;

  ~runner() {
    if (thread_.joinable()) shutdown();
  }

  amqtt::client& client() { return *client_; }
  const config& cfg() const { return cfg_; }

  // Blocks until the first CONNACK (true) or the first failure (false, stop() called). With a
  // deadline (-W), gives up then: stop(exit_timeout, "Timed out").
  bool connect(std::optional<std::chrono::steady_clock::time_point> deadline = std::nullopt) {
    auto done = std::make_shared<std::promise<std::pair<std::error_code, bool>>>();
    auto result = done->get_future();
    client_->async_connect([done](std::error_code e, bool sp) { done->set_value({e, sp}); });
    if (deadline && result.wait_until(*deadline) != std::future_status::ready) {
      stop(exit_timeout, "Timed out", true);
      return false;
    }
    auto [ec, session_present] = result.get();
    if (ec) {
      std::lock_guard<std::mutex> lock(mu_);
      if (first_error_) ec = first_error_;  // not the operation_aborted of our own stop
    }
    if (ec) {
      stop(exit_code_for(ec), "Connection error: " + ec.message());
      return false;
    }
    debug("connected to " + cfg_.host + ":" + std::to_string(cfg_.effective_port()) +
          " (session present: " + (session_present ? "1" : "0") + ")");
    return true;
  }

  // Ends the program with `code`; the first call wins. A non-empty `message` goes to stderr
  // (unless --quiet) as "Error: message", or as is when `verbatim` ("Timed out").
  void stop(int code, const std::string& message, bool verbatim = false) {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopped_) return;
    stopped_ = true;
    code_ = code;
    message_ = message;
    verbatim_ = verbatim;
    cv_.notify_all();
  }

  bool stopped() {
    std::lock_guard<std::mutex> lock(mu_);
    return stopped_;
  }

  // Waits for stop() (or the deadline: returns false).
  bool wait_stopped(std::optional<std::chrono::steady_clock::time_point> deadline = std::nullopt) {
    std::unique_lock<std::mutex> lock(mu_);
    if (deadline) return cv_.wait_until(lock, *deadline, [this] { return stopped_; });
    cv_.wait(lock, [this] { return stopped_; });
    return true;
  }

  // Lock/condition shared with the tool's own bookkeeping (pub's window).
  std::mutex& mutex() { return mu_; }
  std::condition_variable& cv() { return cv_; }
  bool stopped_locked() const { return stopped_; }

  // Graceful disconnect (bounded), stop the thread; prints the message; returns the exit status.
  int shutdown() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopped_ = true;
    }
    if (client_) {
      auto done = std::make_shared<std::promise<void>>();
      std::future<void> f = done->get_future();
      client_->async_disconnect([done](std::error_code) { done->set_value(); });
      if (f.wait_for(std::chrono::seconds(5)) != std::future_status::ready)
        debug("disconnect did not finish in time");
    }
    std::error_code ignored;
    signals_.cancel(ignored);
    work_.reset();
    io_.stop();
    if (thread_.joinable()) thread_.join();
    client_.reset();  // no handler can run any more; whatever is left is dropped
    std::fflush(stdout);
    if (!message_.empty() && !cfg_.quiet)
      std::fprintf(stderr, verbatim_ ? "%s\n" : "Error: %s\n", message_.c_str());
    return code_;
  }

  void debug(const std::string& line) const {
    if (cfg_.debug) std::fprintf(stderr, "%s: %s\n", tool_name(cfg_.which), line.c_str());
  }
  void warn(const std::string& line) const {
    if (!cfg_.quiet) std::fprintf(stderr, "Warning: %s\n", line.c_str());
  }

 private:
  void on_event(const amqtt::client_event& e) {
    namespace ev = amqtt::event;
    if (const auto* c = std::get_if<ev::connecting>(&e)) {
      debug("connecting to " + c->broker.host + ":" + std::to_string(c->broker.port) +
            " as '" + client_->client_id() + "'");
    } else if (const auto* f = std::get_if<ev::connect_failed>(&e)) {
      if (!ever_connected_) {
        // The first attempt decides (connect() reports it): stop the loop.
        {
          std::lock_guard<std::mutex> lock(mu_);
          if (!first_error_) first_error_ = f->error;
        }
        client_->async_disconnect([](std::error_code) {});
      } else {
        debug("reconnect failed: " + f->error.message());
      }
    } else if (const auto* c2 = std::get_if<ev::connected>(&e)) {
      if (ever_connected_) {
        if (!cfg_.quiet) warn("reconnected (session present: " + std::string(c2->session_present ? "1" : "0") + ")");
      }
      ever_connected_ = true;
    } else if (const auto* d = std::get_if<ev::disconnected>(&e)) {
      if (d->reason && !stopped()) warn("connection lost (" + d->reason.message() + "), reconnecting");
    } else if (const auto* r = std::get_if<ev::reconnect_scheduled>(&e)) {
      debug("reconnecting in " + std::to_string(r->delay.count()) + " ms");
    } else if (const auto* s = std::get_if<ev::stopped>(&e)) {
      if (s->reason && ever_connected_) stop(exit_code_for(s->reason), "Connection error: " + s->reason.message());
    }
  }

  config cfg_;
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_{io_.get_executor()};
  asio::signal_set signals_;
  std::optional<amqtt::client> client_;
  std::thread thread_;
  bool ever_connected_ = false;  // strand only

  std::mutex mu_;
  std::condition_variable cv_;
  bool stopped_ = false;
  int code_ = exit_ok;
  std::string message_;
  bool verbatim_ = false;
  std::error_code first_error_;
};

// Parses, handles --help and usage errors. Returns -1 to go on, else the exit status.
inline int parse_or_exit(int argc, char** argv, tool which, config& c) {
  const std::string err = parse_args(argc, argv, which, c);
  if (c.help) {
    print_usage(which, stdout);
    return exit_ok;
  }
  if (!err.empty()) {
    std::fprintf(stderr, "Error: %s\nUse '%s --help' to see usage.\n", err.c_str(), tool_name(which));
    return exit_error;
  }
  return -1;
}

}  // namespace amqtt_cli
