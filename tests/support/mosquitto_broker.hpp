// A real mosquitto broker for integration tests, benchmarks and the demo.
// Header-only, POSIX only (fork/execv, signals). Not thread-safe: drive one
// mosquitto_broker object from one thread.
//
//   amqtt::test::mosquitto_broker broker;                 // anonymous, plain TCP
//   connect_to(broker.host(), broker.port());
//
//   amqtt::test::mosquitto_options o;
//   o.tls = true; o.require_certificate = true;            // + mutual TLS listener
//   amqtt::test::mosquitto_broker tls_broker(o);
//   tls_broker.tls_port(); tls_broker.ca_file(); tls_broker.client_cert(); ...
//
// Every broker gets a private temp dir (mkdtemp under $TMPDIR or /tmp) holding
// mosquitto.conf, mosquitto.log, mosquitto.out (stdout/stderr), the password
// file and the persistence database. The destructor stops the broker (only our
// own pid is ever signalled) and removes the dir; set AMQTT_KEEP_TEST_DIRS=1 to
// keep it for post-mortem debugging.
//
// Binary lookup: $AMQTT_MOSQUITTO, /usr/sbin/mosquitto, $PATH.
//                $AMQTT_MOSQUITTO_PASSWD, <dir of mosquitto>/mosquitto_passwd,
//                /usr/bin/mosquitto_passwd, $PATH.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <chrono>
#include <cstdint>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "certs.hpp"
#include "subprocess.hpp"

namespace amqtt::test {

struct mosquitto_options {
  // --- persistence -------------------------------------------------------
  bool persistence = false;
  /// With autosave_on_changes (default) the database is written after every
  /// `autosave_interval` changes (1 = after each subscription change/queued
  /// or retained message), so even kill() (SIGKILL) keeps the state.
  /// With autosave_on_changes=false it is written every N seconds.
  int autosave_interval = 1;
  bool autosave_on_changes = true;

  // --- authentication ------------------------------------------------------
  bool allow_anonymous = true;
  /// If both set: a password file is generated with `mosquitto_passwd -b -c`
  /// and allow_anonymous is forced to false.
  std::string password_file_user;
  std::string password;

  // --- performance -----------------------------------------------------------
  /// set_tcp_nodelay true, max_queued_messages 0, max_inflight_messages 0.
  bool benchmark_tuning = false;

  // --- TLS -------------------------------------------------------------------
  /// Adds a second (TLS) listener on tls_port(); the plain listener stays.
  bool tls = false;
  /// Mutual TLS: clients must present a certificate signed by the test CA.
  bool require_certificate = false;
  /// Serve the certificate for "wrong.example" (signed by the real CA).
  bool tls_wrong_host_cert = false;
  /// Certificates to use; default: shared_test_certs() (one set per process).
  std::optional<test_certs> certs;

  // --- misc --------------------------------------------------------------------
  /// log_type all (includes debug, subscribe, unsubscribe).
  bool verbose_log = false;
  /// Appended verbatim at the END of the generated config, i.e. after the
  /// listener lines: listener-specific options apply to the last listener
  /// (the TLS one if tls=true). Global options are fine anywhere.
  std::string extra_config;

  /// Whole-start retries with fresh ports when mosquitto loses the port race.
  int start_attempts = 5;
  /// Per attempt: how long to wait for "running" in the log + accepting ports.
  std::chrono::milliseconds start_timeout{5000};
  /// restart(): how long to keep retrying while the old ports are still busy.
  std::chrono::milliseconds restart_timeout{10000};
  /// stop(): SIGTERM grace period before SIGKILL.
  std::chrono::milliseconds stop_timeout{5000};
  /// Linux: PR_SET_PDEATHSIG=SIGKILL, so a crashed test binary does not leak
  /// the broker. Fires when the *thread* that started (or restarted) the
  /// broker exits - disable if you start brokers from short-lived threads.
  bool kill_with_parent = true;
};

class mosquitto_broker {
 public:
  using options = mosquitto_options;

  explicit mosquitto_broker(options opts = {}) : opts_(std::move(opts)), dir_("amqtt-mosquitto") {
    binary_ =
        fixture_detail::find_executable("AMQTT_MOSQUITTO", {"/usr/sbin/mosquitto"}, "mosquitto");
    log_path_ = dir_.file("mosquitto.log");
    out_path_ = dir_.file("mosquitto.out");
    config_path_ = dir_.file("mosquitto.conf");

    if (!opts_.password_file_user.empty() || !opts_.password.empty()) {
      if (opts_.password_file_user.empty()) {
        throw std::invalid_argument("mosquitto_broker: password set without password_file_user");
      }
      opts_.allow_anonymous = false;
      password_file_ = dir_.file("passwd");
      create_password_file();
    }
    if (opts_.tls) {
      certs_ = opts_.certs ? *opts_.certs : shared_test_certs();
    }
    try {
      start_on_fresh_ports();
    } catch (...) {
      kill_quietly();
      throw;
    }
  }

  mosquitto_broker(const mosquitto_broker&) = delete;
  mosquitto_broker& operator=(const mosquitto_broker&) = delete;
  mosquitto_broker(mosquitto_broker&&) = delete;
  mosquitto_broker& operator=(mosquitto_broker&&) = delete;

  ~mosquitto_broker() {
    try {
      stop();
    } catch (...) {
      kill_quietly();
    }
    // dir_ (member) removes the temp dir afterwards.
  }

  // --- addresses -------------------------------------------------------------
  std::string host() const { return "127.0.0.1"; }
  std::uint16_t port() const noexcept { return port_; }
  /// 0 when tls is off.
  std::uint16_t tls_port() const noexcept { return tls_port_; }

  // --- process control -------------------------------------------------------------
  /// pid of the running broker, 0 when stopped.
  pid_t pid() const noexcept { return pid_; }

  /// True while the process exists (reaps it if it has exited on its own).
  bool running() {
    if (pid_ <= 0) {
      return false;
    }
    int status = 0;
    pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_ || (r < 0 && errno == ECHILD)) {
      forget_process();
      return false;
    }
    return true;
  }

  /// Graceful: SIGTERM (+SIGCONT if frozen), bounded wait, then SIGKILL.
  /// mosquitto writes its persistence database on SIGTERM. No-op if stopped.
  void stop() {
    if (pid_ <= 0) {
      return;
    }
    ::kill(pid_, SIGTERM);
    if (frozen_) {
      ::kill(pid_, SIGCONT);
    }
    // mosquitto 2.0 blocks its signals while it sits in epoll_wait (100 ms
    // timeout), so SIGTERM alone takes up to 100 ms to be noticed. Poking
    // the listener wakes the loop and the pending signal is handled at once.
    if (port_ != 0) {
      (void)port_accepts(port_, std::chrono::milliseconds(20));
    }
    if (!wait_for_exit(pid_, opts_.stop_timeout)) {
      kill_and_reap(pid_);
    }
    forget_process();
  }

  /// Crash: SIGKILL + reap. Nothing is saved beyond what autosave wrote.
  void kill() {
    if (pid_ <= 0) {
      return;
    }
    kill_and_reap(pid_);
    forget_process();
  }

  /// SIGSTOP; returns once the process is actually stopped. The kernel keeps
  /// completing TCP handshakes (backlog), but nothing is answered.
  void freeze() {
    require_running("freeze");
    if (frozen_) {
      return;
    }
    ::kill(pid_, SIGSTOP);
    wait_state_change(WUNTRACED, "freeze");
    frozen_ = true;
  }

  /// SIGCONT; returns once the process runs again.
  void thaw() {
    require_running("thaw");
    if (!frozen_) {
      return;
    }
    ::kill(pid_, SIGCONT);
    wait_state_change(WCONTINUED, "thaw");
    frozen_ = false;
  }

  bool frozen() const noexcept { return frozen_; }

  /// (Stops gracefully if running, then) starts again on the SAME ports with
  /// the same config, persistence dir and certificates. Retries (bounded by
  /// restart_timeout) while a port is still busy.
  void restart() {
    stop();
    const auto deadline = std::chrono::steady_clock::now() + opts_.restart_timeout;
    std::string last;
    for (int attempt = 1;; ++attempt) {
      const auto r = launch_and_wait();
      if (r.outcome == launch_outcome::ok) {
        return;
      }
      last = r.message;
      if (r.outcome != launch_outcome::port_busy || std::chrono::steady_clock::now() >= deadline) {
        throw std::runtime_error("mosquitto_broker: restart on port " + std::to_string(port_) +
                                 " failed after " + std::to_string(attempt) +
                                 " attempt(s): " + last);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }

  // --- files -------------------------------------------------------------------
  const std::string& dir() const noexcept { return dir_.path(); }
  const std::string& log_path() const noexcept { return log_path_; }
  /// stdout/stderr of the mosquitto process (early errors, root warning).
  const std::string& output_path() const noexcept { return out_path_; }
  const std::string& config_path() const noexcept { return config_path_; }
  std::string config() const { return fixture_detail::read_file(config_path_); }
  /// Empty when no password was configured.
  const std::string& password_file() const noexcept { return password_file_; }
  /// Where the persistence database lives (exists once mosquitto saved it).
  std::string persistence_file() const { return dir_.file("mosquitto.db"); }
  const std::string& binary() const noexcept { return binary_; }

  /// Last `n` lines of the broker log.
  std::string log_tail(std::size_t n = 40) const {
    return fixture_detail::tail_lines(read_log_from(log_size() > 262144 ? log_size() - 262144 : 0),
                                      n);
  }
  std::string log() const { return fixture_detail::read_file(log_path_); }
  /// True if `text` occurs in the log written since the last (re)start.
  bool log_contains(const std::string& text) const {
    return read_log_from(log_offset_).find(text) != std::string::npos;
  }

  // --- TLS material (throw if tls is off) -----------------------------------------
  const test_certs& certs() const {
    if (!certs_) {
      throw std::logic_error("mosquitto_broker: tls is not enabled");
    }
    return *certs_;
  }
  const std::string& ca_file() const { return certs().ca_cert; }
  const std::string& wrong_ca_file() const { return certs().wrong_ca_cert; }
  const std::string& client_cert() const { return certs().client_cert; }
  const std::string& client_key() const { return certs().client_key; }
  const std::string& untrusted_client_cert() const { return certs().untrusted_client_cert; }
  const std::string& untrusted_client_key() const { return certs().untrusted_client_key; }
  /// The certificate the TLS listener actually serves.
  const std::string& server_cert() const {
    return opts_.tls_wrong_host_cert ? certs().wrong_host_cert : certs().server_cert;
  }
  const std::string& server_key() const {
    return opts_.tls_wrong_host_cert ? certs().wrong_host_key : certs().server_key;
  }

  const options& opts() const noexcept { return opts_; }

 private:
  enum class launch_outcome { ok, port_busy, failed };
  struct launch_result {
    launch_outcome outcome;
    std::string message;
  };

  void create_password_file() {
    std::string mosquitto_dir = binary_.substr(0, binary_.find_last_of('/'));
    const std::string passwd = fixture_detail::find_executable(
        "AMQTT_MOSQUITTO_PASSWD",
        {mosquitto_dir + "/mosquitto_passwd", "/usr/bin/mosquitto_passwd"}, "mosquitto_passwd");
    const std::string out = dir_.file("mosquitto_passwd.out");
    const int rc =
        run_process({passwd, "-b", "-c", password_file_, opts_.password_file_user, opts_.password},
                    out, std::chrono::seconds(10));
    if (rc != 0) {
      throw std::runtime_error("mosquitto_passwd failed (rc=" + std::to_string(rc) +
                               "): " + fixture_detail::read_file(out));
    }
  }

  static std::vector<std::uint16_t> pick_free_ports(std::size_t n) {
    std::vector<int> fds;
    std::vector<std::uint16_t> ports;
    auto cleanup = [&] {
      for (int fd : fds) {
        ::close(fd);
      }
    };
    for (std::size_t i = 0; i < n; ++i) {
      int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (fd < 0) {
        cleanup();
        throw std::runtime_error(std::string("socket() failed: ") + std::strerror(errno));
      }
      fds.push_back(fd);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      a.sin_port = 0;
      socklen_t len = sizeof a;
      if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
          ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
        int e = errno;
        cleanup();
        throw std::runtime_error(std::string("cannot bind an ephemeral port: ") + std::strerror(e));
      }
      ports.push_back(ntohs(a.sin_port));
    }
    cleanup();  // all held open together, so they are distinct
    return ports;
  }

  /// Non-blocking connect to 127.0.0.1:port with a deadline.
  static bool port_accepts(std::uint16_t port, std::chrono::milliseconds timeout) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
      return false;
    }
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    bool ok = false;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
      ok = true;
    } else if (errno == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      if (::poll(&p, 1, static_cast<int>(timeout.count())) == 1) {
        int err = 0;
        socklen_t len = sizeof err;
        ok = ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0;
      }
    }
    ::close(fd);
    return ok;
  }

  std::string build_config() const {
    std::string c;
    auto line = [&c](const std::string& s) {
      c += s + "\n";
    };
    line("# generated by amqtt::test::mosquitto_broker");
    if (::geteuid() == 0) {
      // As root mosquitto 2.x drops to user "mosquitto", which cannot
      // write into our 0700 temp dir (log file, persistence db).
      line("user root");
    }
    line("per_listener_settings false");
    line(std::string("allow_anonymous ") + (opts_.allow_anonymous ? "true" : "false"));
    if (!password_file_.empty()) {
      line("password_file " + password_file_);
    }
    if (opts_.persistence) {
      line("persistence true");
      line("persistence_location " + dir_.path() + "/");
      line("persistence_file mosquitto.db");
      line("autosave_interval " + std::to_string(opts_.autosave_interval));
      line(std::string("autosave_on_changes ") + (opts_.autosave_on_changes ? "true" : "false"));
    } else {
      line("persistence false");
    }
    line("log_dest file " + log_path_);
    line("log_timestamp_format %Y-%m-%dT%H:%M:%S");
    if (opts_.verbose_log) {
      line("log_type all");
    } else {
      line("log_type error");
      line("log_type warning");
      line("log_type notice");
      line("log_type information");
    }
    line("connection_messages true");
    if (opts_.benchmark_tuning) {
      line("set_tcp_nodelay true");
      line("max_queued_messages 0");
      line("max_inflight_messages 0");
    }
    line("");
    line("listener " + std::to_string(port_) + " 127.0.0.1");
    if (opts_.tls) {
      line("");
      line("listener " + std::to_string(tls_port_) + " 127.0.0.1");
      line("cafile " + certs_->ca_cert);
      line("certfile " + server_cert());
      line("keyfile " + server_key());
      line(std::string("require_certificate ") + (opts_.require_certificate ? "true" : "false"));
    }
    if (!opts_.extra_config.empty()) {
      line("");
      line("# extra_config");
      line(opts_.extra_config);
    }
    return c;
  }

  void start_on_fresh_ports() {
    std::string last;
    const int attempts = opts_.start_attempts > 0 ? opts_.start_attempts : 1;
    for (int attempt = 1; attempt <= attempts; ++attempt) {
      const auto ports = pick_free_ports(opts_.tls ? 2 : 1);
      port_ = ports[0];
      tls_port_ = opts_.tls ? ports[1] : 0;
      fixture_detail::write_file(config_path_, build_config());
      const auto r = launch_and_wait();
      if (r.outcome == launch_outcome::ok) {
        return;
      }
      last = r.message;
      if (r.outcome != launch_outcome::port_busy) {
        break;
      }
    }
    throw std::runtime_error("mosquitto_broker: cannot start " + binary_ + ": " + last);
  }

  std::size_t log_size() const {
    struct stat st {};
    return ::stat(log_path_.c_str(), &st) == 0 ? static_cast<std::size_t>(st.st_size) : 0;
  }

  /// Log contents from byte `offset` on (everything if the file shrank).
  std::string read_log_from(std::size_t offset) const {
    std::ifstream in(log_path_, std::ios::binary);
    if (!in) {
      return {};
    }
    in.seekg(0, std::ios::end);
    const auto size = static_cast<std::size_t>(in.tellg());
    in.seekg(static_cast<std::streamoff>(offset <= size ? offset : 0));
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  std::string failure_details() const {
    return "\n--- mosquitto output (" + out_path_ + ") ---\n" +
           fixture_detail::tail_lines(fixture_detail::read_file(out_path_), 20) +
           "\n--- log tail (" + log_path_ + ") ---\n" +
           fixture_detail::tail_lines(read_log_from(log_offset_), 30);
  }

  /// mosquitto logs "mosquitto version X running" once all listeners are open.
  bool startup_logged() const {
    const std::string log = read_log_from(log_offset_);
    for (std::size_t pos = log.find("mosquitto version "); pos != std::string::npos;
         pos = log.find("mosquitto version ", pos + 1)) {
      const std::size_t eol = log.find('\n', pos);
      if (eol == std::string::npos) {
        break;  // line not complete yet
      }
      const std::string l = log.substr(pos, eol - pos);
      if (l.size() >= 8 && l.compare(l.size() - 8, 8, " running") == 0) {
        return true;
      }
    }
    return false;
  }

  bool port_busy_reported() const {
    const std::string needle = "Address already in use";
    return read_log_from(log_offset_).find(needle) != std::string::npos ||
           fixture_detail::read_file(out_path_).find(needle) != std::string::npos;
  }

  launch_result launch_and_wait() {
    log_offset_ = log_size();
    (void)!::truncate(out_path_.c_str(), 0);
    spawn_options so;
    so.output_file = out_path_;
    so.kill_with_parent = opts_.kill_with_parent;
    pid_ = spawn_process({binary_, "-c", config_path_}, so);
    frozen_ = false;

    const auto poll_interval = std::chrono::milliseconds(2);
    const long max_polls = static_cast<long>(opts_.start_timeout / poll_interval) + 1;
    for (long i = 0; i < max_polls; ++i) {
      if (!running()) {
        const bool busy = port_busy_reported();
        return {busy ? launch_outcome::port_busy : launch_outcome::failed,
                std::string(busy ? "port busy" : "mosquitto exited during startup") +
                    failure_details()};
      }
      // "running" is logged once all listeners are open; checking it first
      // avoids connecting to a port that nobody (or somebody else) owns.
      if (startup_logged() && port_accepts(port_, std::chrono::milliseconds(200)) &&
          (tls_port_ == 0 || port_accepts(tls_port_, std::chrono::milliseconds(200)))) {
        if (running()) {
          return {launch_outcome::ok, {}};
        }
        continue;
      }
      std::this_thread::sleep_for(poll_interval);
    }
    std::string details = failure_details();
    kill();
    return {launch_outcome::failed,
            "not ready within " + std::to_string(opts_.start_timeout.count()) + " ms" + details};
  }

  void forget_process() noexcept {
    pid_ = 0;
    frozen_ = false;
  }

  void kill_quietly() noexcept {
    if (pid_ > 0) {
      kill_and_reap(pid_);
      pid_ = 0;
    }
  }

  void require_running(const char* what) const {
    if (pid_ <= 0) {
      throw std::logic_error(std::string("mosquitto_broker::") + what + ": broker is not running");
    }
  }

  /// Waits (bounded) for a stop/continue notification of our child.
  void wait_state_change(int flag, const char* what) {
    for (int i = 0; i < 1000; ++i) {  // <= ~5 s
      int status = 0;
      pid_t r = ::waitpid(pid_, &status, flag | WNOHANG);
      if (r == pid_) {
        if (WIFEXITED(status) || WIFSIGNALED(status)) {
          forget_process();
          throw std::runtime_error(std::string("mosquitto_broker::") + what + ": broker died");
        }
        if ((flag == WUNTRACED && WIFSTOPPED(status)) ||
            (flag == WCONTINUED && WIFCONTINUED(status))) {
          return;
        }
      } else if (r < 0 && errno != EINTR) {
        throw std::runtime_error(std::string("mosquitto_broker::") + what +
                                 ": waitpid: " + std::strerror(errno));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    throw std::runtime_error(std::string("mosquitto_broker::") + what +
                             ": no state change within 5 s");
  }

  options opts_;
  temp_dir dir_;
  std::string binary_;
  std::string log_path_;
  std::string out_path_;
  std::string config_path_;
  std::string password_file_;
  std::optional<test_certs> certs_;
  std::uint16_t port_ = 0;
  std::uint16_t tls_port_ = 0;
  pid_t pid_ = 0;
  bool frozen_ = false;
  std::size_t log_offset_ = 0;
};

}  // namespace amqtt::test
