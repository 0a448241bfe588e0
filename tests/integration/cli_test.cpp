// amqtt-pub / amqtt-sub (examples/) run as processes against a real mosquitto: message flow,
// output format, exit codes, persistent sessions, and 10,000 QoS 1 lines across a broker
// restart. Every wait is bounded.
//
// The binaries are looked up in $AMQTT_BIN_DIR, else AMQTT_EXAMPLES_DIR (compile definition),
// else <build>/examples. When they are missing (a tree built with AMQTT_BUILD_EXAMPLES=OFF, e.g.
// the sanitizer trees) the tests are skipped with a warning -- unless AMQTT_EXAMPLES_DIR is
// defined, which says they were built, and then their absence fails.
#include "support/mosquitto_broker.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/prctl.h>
#endif

namespace {

using amqtt::test::mosquitto_broker;
using amqtt::test::mosquitto_options;
using amqtt::test::temp_dir;
using namespace std::chrono_literals;

using amqtt::test::fixture_detail::is_executable;  // tests/support/subprocess.hpp
using amqtt::test::fixture_detail::read_file;

void write_file(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
}

std::string tools_dir() {
  if (const char* e = std::getenv("AMQTT_BIN_DIR"); e != nullptr && *e != '\0') return e;
#ifdef AMQTT_EXAMPLES_DIR
  return AMQTT_EXAMPLES_DIR;
#else
  return std::string(AMQTT_BINARY_DIR) + "/examples";
#endif
}

// True when the tools exist; otherwise skips (warning) or fails (see the file comment).
bool tools_available() {
  const std::string d = tools_dir();
  const bool ok = is_executable(d + "/amqtt-pub") && is_executable(d + "/amqtt-sub");
  if (ok) return true;
#ifdef AMQTT_EXAMPLES_DIR
  FAIL("amqtt-pub / amqtt-sub not found in " << d);
#else
  WARN("skipped: amqtt-pub / amqtt-sub not found in " << d
                                                    << " (AMQTT_BUILD_EXAMPLES=OFF?); set AMQTT_BIN_DIR");
#endif
  return false;
}

// A tool process: stdin from a file descriptor (or /dev/null), stdout and stderr to files.
class tool_process {
 public:
  tool_process(const temp_dir& dir, const std::string& name, const std::vector<std::string>& args,
               int stdin_fd = -1) {
    static int serial = 0;
    const std::string tag = name + "-" + std::to_string(++serial);
    out_path_ = dir.file(tag + ".out");
    err_path_ = dir.file(tag + ".err");
    std::vector<std::string> argv{tools_dir() + "/" + name};
    argv.insert(argv.end(), args.begin(), args.end());
    for (const auto& a : argv) command_ += a + " ";

    std::vector<std::vector<char>> storage;
    std::vector<char*> cargv;
    for (const auto& a : argv) {
      storage.emplace_back(a.begin(), a.end());
      storage.back().push_back('\0');
    }
    for (auto& s : storage) cargv.push_back(s.data());
    cargv.push_back(nullptr);
    const int in = stdin_fd >= 0 ? stdin_fd : ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    const int out = ::open(out_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    const int err = ::open(err_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    REQUIRE(in >= 0);
    REQUIRE(out >= 0);
    REQUIRE(err >= 0);
    pid_ = ::fork();
    if (pid_ == 0) {
#if defined(__linux__)
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
#endif
      sigset_t none;
      sigemptyset(&none);
      ::sigprocmask(SIG_SETMASK, &none, nullptr);
      ::signal(SIGPIPE, SIG_DFL);
      ::dup2(in, 0);
      ::dup2(out, 1);
      ::dup2(err, 2);
      ::execv(cargv[0], cargv.data());
      ::_exit(127);
    }
    if (stdin_fd < 0) ::close(in);
    ::close(out);
    ::close(err);
    REQUIRE(pid_ > 0);
  }

  tool_process(const tool_process&) = delete;
  tool_process& operator=(const tool_process&) = delete;

  ~tool_process() {
    if (pid_ > 0 && !exited_) amqtt::test::kill_and_reap(pid_);
  }

  // Waits (bounded) for the exit; returns false on timeout (the process keeps running).
  bool wait(std::chrono::milliseconds timeout) {
    if (exited_) return true;
    int status = 0;
    if (!amqtt::test::wait_for_exit(pid_, timeout, &status)) return false;
    exited_ = true;
    code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    return true;
  }

  // Exit status after wait(); kills and fails the test when it does not exit in time.
  int exit_code(std::chrono::milliseconds timeout = 20s) {
    if (!wait(timeout)) {
      amqtt::test::kill_and_reap(pid_);
      exited_ = true;
      FAIL("did not exit within " << timeout.count() << " ms: " << command_ << "\nstderr: " << err());
    }
    return code_;
  }

  void signal(int sig) {
    if (pid_ > 0 && !exited_) ::kill(pid_, sig);
  }

  std::string out() const { return read_file(out_path_); }
  std::string err() const { return read_file(err_path_); }
  const std::string& command() const { return command_; }

  std::size_t out_lines() const {
    const std::string o = out();
    return static_cast<std::size_t>(std::count(o.begin(), o.end(), '\n'));
  }

  // Polls stderr for `text` (bounded). Needs -d for the tools' debug lines.
  bool wait_stderr(const std::string& text, std::chrono::milliseconds timeout = 15s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (err().find(text) != std::string::npos) return true;
      if (wait(0ms)) return err().find(text) != std::string::npos;
      std::this_thread::sleep_for(5ms);
    }
    return false;
  }

 private:
  pid_t pid_ = -1;
  bool exited_ = false;
  int code_ = -1;
  std::string out_path_;
  std::string err_path_;
  std::string command_;
};

std::vector<std::string> broker_args(const mosquitto_broker& b) {
  return {"-h", b.host(), "-p", std::to_string(b.port())};
}

std::vector<std::string> operator+(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

std::vector<std::string> split_lines(const std::string& s) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  for (std::size_t nl = s.find('\n'); nl != std::string::npos; nl = s.find('\n', start)) {
    lines.push_back(s.substr(start, nl - start));
    start = nl + 1;
  }
  return lines;
}

// Starts amqtt-sub with -d and waits until its subscriptions are acknowledged.
std::unique_ptr<tool_process> start_sub(const temp_dir& dir, const std::vector<std::string>& args) {
  auto p = std::make_unique<tool_process>(dir, "amqtt-sub", args + std::vector<std::string>{"-d"});
  INFO(p->command());
  REQUIRE(p->wait_stderr("subscribed to"));
  return p;
}

int run_pub(const temp_dir& dir, const std::vector<std::string>& args, std::string* err = nullptr) {
  tool_process p(dir, "amqtt-pub", args);
  const int rc = p.exit_code();
  if (err != nullptr) *err = p.err();
  INFO(p.command() << "\n" << p.err());
  return rc;
}

std::string line_payload(int i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "line-%05d", i);
  return buf;
}

}  // namespace

TEST_CASE("cli: --help and usage errors", "[integration][cli]") {
  if (!tools_available()) return;
  temp_dir dir("amqtt-cli");
  for (const char* tool : {"amqtt-pub", "amqtt-sub"}) {
    tool_process help(dir, tool, {"--help"});
    CHECK(help.exit_code() == 0);
    CHECK(help.out().find("Usage: ") != std::string::npos);
  }
  struct bad {
    const char* tool;
    std::vector<std::string> args;
    const char* message;
  };
  const std::vector<bad> cases = {
      {"amqtt-sub", {"-c", "-t", "a"}, "You must provide a client id if you are using the -c option."},
      {"amqtt-sub", {"-q", "3", "-t", "a"}, "Invalid QoS given: 3"},
      {"amqtt-sub", {}, "You must specify a topic to subscribe to."},
      {"amqtt-sub", {"-t", "a/#/b"}, "Invalid subscription topic"},
      {"amqtt-pub", {"-t", "a/+", "-m", "x"}, "Invalid publish topic 'a/+'"},
      {"amqtt-pub", {"-t", "a"}, "Both topic and message must be supplied."},
      {"amqtt-pub", {"-t", "a", "-m", "x", "-V", "5"}, "only MQTT v3.1.1"},
      {"amqtt-pub", {"-t", "a", "-m", "x", "--bogus"}, "Unknown option '--bogus'."},
      {"amqtt-pub", {"-L", "http://h/t", "-m", "x"}, "Unsupported URL scheme"},
  };
  for (const auto& c : cases) {
    tool_process p(dir, c.tool, c.args);
    INFO(p.command());
    CHECK(p.exit_code() == 1);
    CHECK(p.err().find(c.message) != std::string::npos);
    CHECK(p.err().rfind("Error: ", 0) == 0);
  }
}

TEST_CASE("cli: amqtt-sub -C 3 prints the 3 messages amqtt-pub sent, then exits 0",
          "[integration][cli]") {
  if (!tools_available()) return;
  mosquitto_broker broker;
  temp_dir dir("amqtt-cli");
  auto sub = start_sub(dir, broker_args(broker) + std::vector<std::string>{"-t", "cli/three", "-q", "1", "-C", "3"});
  for (const char* m : {"one", "two", "three"})
    REQUIRE(run_pub(dir, broker_args(broker) + std::vector<std::string>{"-t", "cli/three", "-q", "1", "-m", m}) == 0);
  INFO(sub->err());
  CHECK(sub->exit_code() == 0);
  CHECK(sub->out() == "one\ntwo\nthree\n");
}

TEST_CASE("cli: -v prints topic and payload, -T, -R and -N", "[integration][cli]") {
  if (!tools_available()) return;
  mosquitto_broker broker;
  temp_dir dir("amqtt-cli");
  const auto b = broker_args(broker);

  SECTION("-v with a wildcard") {
    auto sub = start_sub(dir, b + std::vector<std::string>{"-t", "cli/v/#", "-v", "-C", "2"});
    REQUIRE(run_pub(dir, b + std::vector<std::string>{"-t", "cli/v/a", "-m", "hello world"}) == 0);
    REQUIRE(run_pub(dir, b + std::vector<std::string>{"-t", "cli/v/b/c", "-q", "2", "-m", "x y"}) == 0);
    CHECK(sub->exit_code() == 0);
    CHECK(sub->out() == "cli/v/a hello world\ncli/v/b/c x y\n");
  }
  SECTION("-R skips stale retained messages, -T filters topics out") {
    REQUIRE(run_pub(dir, b + std::vector<std::string>{"-t", "cli/r/old", "-r", "-q", "1", "-m", "stale"}) == 0);
    auto sub = start_sub(dir, b + std::vector<std::string>{"-t", "cli/r/#", "-v", "-R", "-T", "cli/r/skip/#", "-C", "1"});
    REQUIRE(run_pub(dir, b + std::vector<std::string>{"-t", "cli/r/skip/x", "-q", "1", "-m", "filtered"}) == 0);
    REQUIRE(run_pub(dir, b + std::vector<std::string>{"-t", "cli/r/new", "-q", "1", "-m", "fresh"}) == 0);
    CHECK(sub->exit_code() == 0);
    CHECK(sub->out() == "cli/r/new fresh\n");
    REQUIRE(run_pub(dir, b + std::vector<std::string>{"-t", "cli/r/old", "-r", "-n"}) == 0);  // clear it
  }
  SECTION("-N: no newline; --repeat; a retained message arrives with the subscription") {
    REQUIRE(run_pub(dir, b + std::vector<std::string>{"-t", "cli/n", "-r", "-m", "R"}) == 0);
    auto sub = start_sub(dir, b + std::vector<std::string>{"-t", "cli/n", "-N", "-C", "4"});
    REQUIRE(run_pub(dir, b + std::vector<std::string>{"-t", "cli/n", "-m", "x", "-q", "1", "--repeat", "3",
                                                      "--repeat-delay", "0.01"}) == 0);
    CHECK(sub->exit_code() == 0);
    CHECK(sub->out() == "Rxxx");
    REQUIRE(run_pub(dir, b + std::vector<std::string>{"-t", "cli/n", "-r", "-n"}) == 0);
  }
  SECTION("-L URL and pub -f / -s") {
    auto sub = start_sub(dir, {"-L", "mqtt://" + broker.host() + ":" + std::to_string(broker.port()) + "/cli/url",
                               "-C", "2"});
    const std::string file = dir.file("payload.txt");
    write_file(file, "from a file");
    REQUIRE(run_pub(dir, b + std::vector<std::string>{"-t", "cli/url", "-f", file}) == 0);
    const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
    REQUIRE(fd >= 0);
    tool_process pub(dir, "amqtt-pub", {"-L", "mqtt://" + broker.host() + ":" + std::to_string(broker.port()) + "/cli/url", "-s"}, fd);
    ::close(fd);
    CHECK(pub.exit_code() == 0);
    CHECK(sub->exit_code() == 0);
    CHECK(sub->out() == "from a file\nfrom a file\n");
  }
}

TEST_CASE("cli: exit codes: -W timeout, refused credentials, no broker", "[integration][cli]") {
  if (!tools_available()) return;
  temp_dir dir("amqtt-cli");

  SECTION("-W expires: status 27, \"Timed out\"") {
    mosquitto_broker broker;
    const auto t0 = std::chrono::steady_clock::now();
    tool_process sub(dir, "amqtt-sub", broker_args(broker) + std::vector<std::string>{"-t", "cli/quiet", "-W", "1"});
    CHECK(sub.exit_code(15s) == 27);
    const auto took = std::chrono::steady_clock::now() - t0;
    CHECK(took >= 1s);
    CHECK(took < 8s);
    CHECK(sub.err() == "Timed out\n");
  }
  SECTION("password-protected broker") {
    mosquitto_options o;
    o.password_file_user = "alice";
    o.password = "secret";
    mosquitto_broker broker(o);
    const auto b = broker_args(broker);
    std::string err;
    CHECK(run_pub(dir, b + std::vector<std::string>{"-t", "cli/auth", "-m", "x", "-u", "alice", "-P", "wrong"}, &err) == 5);
    CHECK(err == "Error: Connection error: connection refused: not authorized\n");
    tool_process sub(dir, "amqtt-sub", b + std::vector<std::string>{"-t", "cli/auth", "-u", "alice", "-P", "wrong"});
    CHECK(sub.exit_code() == 5);
    CHECK(run_pub(dir, b + std::vector<std::string>{"-t", "cli/auth", "-m", "x"}) == 5);  // anonymous
    CHECK(run_pub(dir, b + std::vector<std::string>{"-t", "cli/auth", "-m", "x", "-u", "alice", "-P", "secret"}) == 0);
    CHECK(run_pub(dir, {"-L", "mqtt://alice:secret@" + broker.host() + ":" + std::to_string(broker.port()) +
                              "/cli/auth", "-m", "x"}) == 0);
    CHECK(run_pub(dir, b + std::vector<std::string>{"-t", "cli/auth", "-m", "x", "-u", "alice", "-P", "wrong", "--quiet"},
                  &err) == 5);
    CHECK(err.empty());
  }
  SECTION("nothing listening: status 1, one line on stderr") {
    std::uint16_t port = 0;
    {
      mosquitto_broker broker;  // find a free port, then free it
      port = broker.port();
    }
    std::string err;
    CHECK(run_pub(dir, {"-h", "127.0.0.1", "-p", std::to_string(port), "-t", "x", "-m", "y"}, &err) == 1);
    CHECK(err.rfind("Error: Connection error: ", 0) == 0);
    CHECK(std::count(err.begin(), err.end(), '\n') == 1);
  }
}

TEST_CASE("cli: -c -i resumes the session, -E and -U", "[integration][cli]") {
  if (!tools_available()) return;
  mosquitto_broker broker;
  temp_dir dir("amqtt-cli");
  const auto b = broker_args(broker);
  const std::vector<std::string> session{"-c", "-i", "cli-session", "-q", "1"};

  // Create the session and its subscription, then leave.
  tool_process create(dir, "amqtt-sub", b + session + std::vector<std::string>{"-t", "cli/sess", "-E"});
  REQUIRE(create.exit_code() == 0);
  // Published while we are away: queued by the broker for the session.
  REQUIRE(run_pub(dir, b + std::vector<std::string>{"-t", "cli/sess", "-q", "1", "-m", "while away"}) == 0);
  tool_process resume(dir, "amqtt-sub", b + session + std::vector<std::string>{"-t", "cli/sess", "-C", "1"});
  CHECK(resume.exit_code() == 0);
  CHECK(resume.out() == "while away\n");

  // -U alone: unsubscribe, then exit. Nothing is queued for the session afterwards.
  tool_process unsub(dir, "amqtt-sub", b + session + std::vector<std::string>{"-U", "cli/sess"});
  CHECK(unsub.exit_code() == 0);
  REQUIRE(run_pub(dir, b + std::vector<std::string>{"-t", "cli/sess", "-q", "1", "-m", "not for us"}) == 0);
  tool_process after(dir, "amqtt-sub", b + session + std::vector<std::string>{"-t", "cli/other", "-W", "1"});
  CHECK(after.exit_code() == 27);
  CHECK(after.out().empty());
}

TEST_CASE("cli: pub -l -q 2 publishes every line", "[integration][cli]") {
  if (!tools_available()) return;
  mosquitto_broker broker;
  temp_dir dir("amqtt-cli");
  const auto b = broker_args(broker);
  auto sub = start_sub(dir, b + std::vector<std::string>{"-t", "cli/lines", "-q", "2", "-C", "5"});
  const std::string file = dir.file("lines.txt");
  write_file(file, "a\nb b\n\nd\ne without newline");
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  tool_process pub(dir, "amqtt-pub", b + std::vector<std::string>{"-t", "cli/lines", "-q", "2", "-l"}, fd);
  ::close(fd);
  CHECK(pub.exit_code() == 0);
  CHECK(sub->exit_code() == 0);
  CHECK(sub->out() == "a\nb b\n\nd\ne without newline\n");
}

TEST_CASE("cli: 10,000 QoS 1 lines across a broker restart reach a persistent amqtt-sub",
          "[integration][cli][restart]") {
  if (!tools_available()) return;
  constexpr int total = 10000;
  mosquitto_options o;
  o.persistence = true;
  o.autosave_on_changes = false;  // saved on SIGTERM; no save after every message
  o.autosave_interval = 3600;
  o.extra_config = "max_queued_messages 0";  // never drop queued QoS 1 messages
  mosquitto_broker broker(o);
  temp_dir dir("amqtt-cli");
  const auto b = broker_args(broker);
  const auto t0 = std::chrono::steady_clock::now();

  // A: the command of the task: stops after 10,000 lines (duplicates count).
  // B: the same without -C, stopped once it has printed every payload: checks none is missing.
  auto sub_a = start_sub(dir, b + std::vector<std::string>{"-c", "-i", "cli-big-a", "-q", "1", "-t", "cli/big", "-C",
                                                           std::to_string(total)});
  auto sub_b = start_sub(dir, b + std::vector<std::string>{"-c", "-i", "cli-big-b", "-q", "1", "-t", "cli/big"});

  int pipe_fds[2];
  REQUIRE(::pipe2(pipe_fds, O_CLOEXEC) == 0);
  auto pub = std::make_unique<tool_process>(
      dir, "amqtt-pub", b + std::vector<std::string>{"-q", "1", "-l", "-t", "cli/big", "-i", "cli-big-pub"},
      pipe_fds[0]);
  ::close(pipe_fds[0]);
  const int wfd = pipe_fds[1];
  auto old_sigpipe = std::signal(SIGPIPE, SIG_IGN);
  auto write_lines = [wfd](int from, int to) {
    std::string chunk;
    for (int i = from; i < to; ++i) {
      chunk += line_payload(i);
      chunk += '\n';
      if (chunk.size() > 4000 || i + 1 == to) {
        std::size_t off = 0;
        while (off < chunk.size()) {
          const ssize_t n = ::write(wfd, chunk.data() + off, chunk.size() - off);
          if (n < 0) {
            if (errno == EINTR) continue;
            return;
          }
          off += static_cast<std::size_t>(n);
        }
        chunk.clear();
      }
    }
  };

  // First 4,000 lines; restart the broker while they flow, the other 6,000 are written meanwhile.
  write_lines(0, 4000);
  const auto flowing_deadline = std::chrono::steady_clock::now() + 60s;
  while (sub_a->out_lines() < 1500 && std::chrono::steady_clock::now() < flowing_deadline)
    std::this_thread::sleep_for(2ms);
  const std::size_t before_restart = sub_a->out_lines();
  REQUIRE(before_restart >= 1500);
  std::thread writer([&] { write_lines(4000, total); });
  broker.restart();  // SIGTERM (mosquitto saves its database), start again on the same ports
  writer.join();
  ::close(wfd);
  std::signal(SIGPIPE, old_sigpipe);

  INFO("pub: " << pub->err());
  CHECK(pub->exit_code(180s) == 0);
  INFO("sub A: " << sub_a->err());
  CHECK(sub_a->exit_code(180s) == 0);

  // B: wait until every payload is there, then stop it (SIGTERM: graceful, status 0).
  std::set<std::string> unique_b;
  const auto b_deadline = std::chrono::steady_clock::now() + 120s;
  for (;;) {
    const auto lines = split_lines(sub_b->out());
    unique_b = std::set<std::string>(lines.begin(), lines.end());
    if (unique_b.size() >= static_cast<std::size_t>(total) || std::chrono::steady_clock::now() > b_deadline) break;
    std::this_thread::sleep_for(20ms);
  }
  sub_b->signal(SIGTERM);
  CHECK(sub_b->exit_code() == 0);
  const auto took = std::chrono::steady_clock::now() - t0;

  const auto lines_a = split_lines(sub_a->out());
  const std::set<std::string> unique_a(lines_a.begin(), lines_a.end());
  const std::size_t dup_a = lines_a.size() - unique_a.size();
  const auto lines_b = split_lines(sub_b->out());
  const std::size_t dup_b = lines_b.size() - unique_b.size();
  WARN("10,000 lines across a restart (after " << before_restart << " lines) in "
       << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms; duplicates: A " << dup_a
       << ", B " << dup_b);

  // Every line is one of ours.
  std::set<std::string> expected;
  for (int i = 0; i < total; ++i) expected.insert(line_payload(i));
  const auto foreign = [&](const std::set<std::string>& got) {
    return std::count_if(got.begin(), got.end(), [&](const std::string& l) { return expected.count(l) == 0; });
  };
  CHECK(foreign(unique_a) == 0);
  CHECK(foreign(unique_b) == 0);
  // B: none missing.
  CHECK(unique_b.size() == expected.size());
  // A: exactly 10,000 lines. Duplicates (QoS 1 allows them) count towards -C, so with d
  // duplicates the last d payloads were never printed: all that is missing is that tail.
  CHECK(lines_a.size() == static_cast<std::size_t>(total));
  std::size_t missing_a = 0;
  std::size_t missing_a_before_tail = 0;
  for (int i = 0; i < total; ++i) {
    if (unique_a.count(line_payload(i)) == 0) {
      ++missing_a;
      if (i < total - static_cast<int>(dup_a)) ++missing_a_before_tail;
    }
  }
  CHECK(missing_a == dup_a);
  CHECK(missing_a_before_tail == 0);
}

TEST_CASE("cli: amqtt-sub without -c resubscribes after a broker restart", "[integration][cli]") {
  if (!tools_available()) return;
  mosquitto_broker broker;  // no persistence: the broker forgets the subscription
  temp_dir dir("amqtt-cli");
  const auto b = broker_args(broker);
  auto sub = start_sub(dir, b + std::vector<std::string>{"-t", "cli/restart", "-q", "1", "-C", "2"});
  REQUIRE(run_pub(dir, b + std::vector<std::string>{"-t", "cli/restart", "-q", "1", "-m", "before"}) == 0);
  broker.restart();
  INFO(sub->err());
  REQUIRE(sub->wait_stderr("Warning: reconnected", 20s));
  // The renewed SUBSCRIBE follows the CONNACK; publish until it is in place (bounded).
  for (int i = 0; i < 100 && sub->out_lines() < 2; ++i) {
    REQUIRE(run_pub(dir, b + std::vector<std::string>{"-t", "cli/restart", "-q", "1", "-m", "after"}) == 0);
    if (sub->wait(100ms)) break;
  }
  CHECK(sub->exit_code() == 0);
  CHECK(sub->out() == "before\nafter\n");
  CHECK(sub->err().find("Warning: connection lost") != std::string::npos);
}

#ifdef AMQTT_HAS_TLS
TEST_CASE("cli: TLS flags", "[integration][cli][tls]") {
  if (!tools_available()) return;
  mosquitto_options o;
  o.tls = true;
  mosquitto_broker broker(o);
  temp_dir dir("amqtt-cli");
  const std::vector<std::string> tls{"-h", "localhost", "-p", std::to_string(broker.tls_port())};

  SECTION("--cafile: verified round trip; mqtts:// URL") {
    auto sub = start_sub(dir, tls + std::vector<std::string>{"--cafile", broker.ca_file(), "-t", "cli/tls", "-C", "2"});
    REQUIRE(run_pub(dir, tls + std::vector<std::string>{"--cafile", broker.ca_file(), "-t", "cli/tls", "-q", "1",
                                                        "-m", "secure"}) == 0);
    REQUIRE(run_pub(dir, {"-L", "mqtts://localhost:" + std::to_string(broker.tls_port()) + "/cli/tls", "--cafile",
                          broker.ca_file(), "-m", "by url"}) == 0);
    CHECK(sub->exit_code() == 0);
    CHECK(sub->out() == "secure\nby url\n");
  }
  SECTION("the wrong CA: status 1, the verification error on stderr") {
    std::string err;
    CHECK(run_pub(dir, tls + std::vector<std::string>{"--cafile", broker.wrong_ca_file(), "-t", "x", "-m", "y"}, &err) ==
          1);
    CHECK(err.rfind("Error: Connection error: certificate verify failed: ", 0) == 0);
    // --insecure connects anyway.
    CHECK(run_pub(dir, tls + std::vector<std::string>{"--insecure", "-t", "x", "-m", "y"}) == 0);
  }
  SECTION("a CA file that does not exist: status 1") {
    std::string err;
    CHECK(run_pub(dir, tls + std::vector<std::string>{"--cafile", dir.file("nope.pem"), "-t", "x", "-m", "y"}, &err) == 1);
    CHECK(err.find("nope.pem") != std::string::npos);
  }
  SECTION("--cert without --key is a usage error") {
    std::string err;
    CHECK(run_pub(dir, tls + std::vector<std::string>{"--cafile", broker.ca_file(), "--cert", broker.client_cert(),
                                                      "-t", "x", "-m", "y"}, &err) == 1);
    CHECK(err.find("--cert given without --key.") != std::string::npos);
  }
}

TEST_CASE("cli: mutual TLS flags", "[integration][cli][tls]") {
  if (!tools_available()) return;
  mosquitto_options o;
  o.tls = true;
  o.require_certificate = true;
  mosquitto_broker broker(o);
  temp_dir dir("amqtt-cli");
  const std::vector<std::string> tls{"-h", "127.0.0.1", "-p", std::to_string(broker.tls_port()), "--cafile",
                                     broker.ca_file()};
  CHECK(run_pub(dir, tls + std::vector<std::string>{"--cert", broker.client_cert(), "--key", broker.client_key(), "-t",
                                                    "x", "-q", "1", "-m", "y"}) == 0);
  std::string err;
  CHECK(run_pub(dir, tls + std::vector<std::string>{"-t", "x", "-m", "y"}, &err) == 1);
  CHECK(err == "Error: Connection error: TLS: the server rejected the client certificate (missing, or not signed by "
               "a CA the server trusts)\n");
}
#endif
