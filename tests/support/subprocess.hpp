// Small POSIX process helpers shared by the test-support headers
// (mosquitto_broker.hpp, certs.hpp). Header-only, POSIX only.
//
// Everything here is bounded: no call waits for a child without a deadline.
#pragma once

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#if defined(__linux__)
#include <sys/prctl.h>
#include <sys/syscall.h>
#endif

namespace amqtt::test {

namespace fixture_detail {

inline bool is_executable(const std::string& path) {
  struct stat st {};
  return !path.empty() && ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
         ::access(path.c_str(), X_OK) == 0;
}

/// Finds an executable: `$env_var` if set (must be executable, else throws),
/// then each of `candidates`, then `name` in $PATH. Throws if not found.
inline std::string find_executable(const char* env_var, const std::vector<std::string>& candidates,
                                   const std::string& name) {
  if (env_var != nullptr) {
    if (const char* v = std::getenv(env_var); v != nullptr && *v != '\0') {
      if (!is_executable(v)) {
        throw std::runtime_error(std::string(env_var) + "=" + v + " is not an executable file");
      }
      return v;
    }
  }
  for (const auto& c : candidates) {
    if (is_executable(c)) {
      return c;
    }
  }
  if (const char* path = std::getenv("PATH"); path != nullptr) {
    std::stringstream ss(path);
    std::string dir;
    while (std::getline(ss, dir, ':')) {
      if (dir.empty()) {
        continue;
      }
      std::string full = dir + "/" + name;
      if (is_executable(full)) {
        return full;
      }
    }
  }
  throw std::runtime_error("cannot find executable '" + name + "'" +
                           (env_var ? std::string(" (set ") + env_var + ")" : std::string()));
}

/// Reads a whole (small) file; returns empty string when it cannot be read.
inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return {};
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// Last `n` lines of `text`.
inline std::string tail_lines(const std::string& text, std::size_t n) {
  if (n == 0 || text.empty()) {
    return {};
  }
  std::size_t end = text.size();
  if (text[end - 1] == '\n') {
    --end;
  }
  std::size_t pos = end;
  std::size_t lines = 0;
  while (pos > 0) {
    if (text[pos - 1] == '\n') {
      if (++lines == n) {
        break;
      }
    }
    --pos;
  }
  return text.substr(pos);
}

inline void write_file(const std::string& path, const std::string& content, mode_t mode = 0600) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) {
    throw std::runtime_error("cannot create " + path + ": " + std::strerror(errno));
  }
  std::size_t off = 0;
  while (off < content.size()) {
    ssize_t n = ::write(fd, content.data() + off, content.size() - off);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      int e = errno;
      ::close(fd);
      throw std::runtime_error("cannot write " + path + ": " + std::strerror(e));
    }
    off += static_cast<std::size_t>(n);
  }
  ::close(fd);
}

}  // namespace fixture_detail

/// A private temporary directory (mkdtemp under $TMPDIR or /tmp), removed
/// recursively on destruction unless AMQTT_KEEP_TEST_DIRS=1 is set.
class temp_dir {
 public:
  explicit temp_dir(const std::string& prefix = "amqtt-test") {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl =
        std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/" + prefix + "-XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    if (::mkdtemp(buf.data()) == nullptr) {
      throw std::runtime_error("mkdtemp(" + tmpl + ") failed: " + std::strerror(errno));
    }
    path_ = buf.data();
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  temp_dir(temp_dir&& o) noexcept : path_(std::move(o.path_)) { o.path_.clear(); }
  temp_dir& operator=(temp_dir&&) = delete;
  ~temp_dir() {
    if (path_.empty()) {
      return;
    }
    if (const char* keep = std::getenv("AMQTT_KEEP_TEST_DIRS");
        keep != nullptr && std::string(keep) == "1") {
      std::fprintf(stderr, "amqtt test: keeping %s\n", path_.c_str());
      return;
    }
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const noexcept { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

/// A child process started with fork/execv.
/// stdin is /dev/null, stdout+stderr are appended to `output_file` (or /dev/null),
/// all other inherited descriptors are closed in the child and its signal mask
/// and dispositions are reset. On Linux the child gets PR_SET_PDEATHSIG=SIGKILL
/// when `kill_with_parent` is set, so a crashed test run does not leave it behind
/// (note: the signal fires when the *thread* that spawned it exits).
struct spawn_options {
  std::string output_file;
  bool kill_with_parent = true;
};

inline pid_t spawn_process(const std::vector<std::string>& argv, const spawn_options& opts = {}) {
  if (argv.empty()) {
    throw std::invalid_argument("spawn_process: empty argv");
  }
  // Everything the child needs is prepared before fork(): after fork only
  // async-signal-safe calls are made.
  std::vector<std::vector<char>> storage;
  storage.reserve(argv.size());
  std::vector<char*> cargv;
  for (const auto& a : argv) {
    storage.emplace_back(a.begin(), a.end());
    storage.back().push_back('\0');
    cargv.push_back(storage.back().data());
  }
  cargv.push_back(nullptr);
  const std::string out = opts.output_file.empty() ? std::string("/dev/null") : opts.output_file;

  int max_fd = 1024;
  struct rlimit rl {};
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
    max_fd = static_cast<int>(rl.rlim_cur < 65536 ? rl.rlim_cur : 65536);
  }

  int err_pipe[2];
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    throw std::runtime_error(std::string("pipe2 failed: ") + std::strerror(errno));
  }
  const pid_t parent = ::getpid();
  const bool pdeath = opts.kill_with_parent;

  const pid_t pid = ::fork();
  if (pid < 0) {
    int e = errno;
    ::close(err_pipe[0]);
    ::close(err_pipe[1]);
    throw std::runtime_error(std::string("fork failed: ") + std::strerror(e));
  }
  if (pid == 0) {
    // --- child ---
#if defined(__linux__)
    if (pdeath) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) {
        ::_exit(126);
      }
    }
#else
    (void)pdeath;
    (void)parent;
#endif
    sigset_t all;
    sigemptyset(&all);
    ::sigprocmask(SIG_SETMASK, &all, nullptr);
    for (int s = 1; s < NSIG; ++s) {
      if (s != SIGKILL && s != SIGSTOP) {
        ::signal(s, SIG_DFL);
      }
    }
    int in = ::open("/dev/null", O_RDONLY);
    int of = ::open(out.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (in < 0 || of < 0) {
      int e = errno;
      (void)!::write(err_pipe[1], &e, sizeof e);
      ::_exit(127);
    }
    ::dup2(in, 0);
    ::dup2(of, 1);
    ::dup2(of, 2);
    // Close every other inherited descriptor (test sockets, listeners...).
    const int keep = err_pipe[1];
#if defined(__linux__) && defined(SYS_close_range)
    // One syscall instead of thousands (Linux >= 5.9; falls back below).
    auto close_from_to = [](int lo, unsigned hi) {
      return ::syscall(SYS_close_range, static_cast<unsigned>(lo), hi, 0u) == 0;
    };
    const bool closed = keep < 3
                            ? close_from_to(3, ~0u)
                            : (keep == 3 || close_from_to(3, static_cast<unsigned>(keep - 1))) &&
                                  close_from_to(keep + 1, ~0u);
#else
    const bool closed = false;
#endif
    if (!closed) {
      for (int fd = 3; fd < max_fd; ++fd) {
        if (fd != keep) {
          ::close(fd);
        }
      }
    }
    ::execv(cargv[0], cargv.data());
    int e = errno;
    (void)!::write(err_pipe[1], &e, sizeof e);
    ::_exit(127);
  }
  // --- parent ---
  ::close(err_pipe[1]);
  int child_errno = 0;
  ssize_t n;
  do {
    n = ::read(err_pipe[0], &child_errno, sizeof child_errno);
  } while (n < 0 && errno == EINTR);
  ::close(err_pipe[0]);
  if (n > 0) {
    int status = 0;
    ::waitpid(pid, &status, 0);  // the child has already _exit()ed or is about to
    throw std::runtime_error("cannot execute " + argv[0] + ": " + std::strerror(child_errno));
  }
  return pid;
}

/// Polls waitpid(WNOHANG) until the child exits or `timeout` passes.
/// Returns true (and the raw status) when reaped.
inline bool wait_for_exit(pid_t pid, std::chrono::milliseconds timeout, int* status_out = nullptr) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (int polls = 0;; ++polls) {
    int status = 0;
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) {
      if (status_out) {
        *status_out = status;
      }
      return true;
    }
    if (r < 0 && errno != EINTR) {
      // ECHILD: not our child (already reaped) - treat as gone.
      if (status_out) {
        *status_out = 0;
      }
      return true;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return false;
    }
    // fine-grained first (most children are quick), then back off
    std::this_thread::sleep_for(std::chrono::milliseconds(polls < 50 ? 1 : 5));
  }
}

/// SIGKILL + reap (bounded; SIGKILL cannot be blocked so this is quick).
inline void kill_and_reap(pid_t pid) {
  if (pid <= 0) {
    return;
  }
  ::kill(pid, SIGKILL);
  if (!wait_for_exit(pid, std::chrono::seconds(10))) {
    std::fprintf(stderr, "amqtt test: pid %d did not die after SIGKILL\n", static_cast<int>(pid));
  }
}

/// Runs a command to completion with a deadline. Returns the exit code
/// (128+signal when killed by a signal). Throws on timeout (after killing it).
inline int run_process(const std::vector<std::string>& argv, const std::string& output_file,
                       std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
  spawn_options o;
  o.output_file = output_file;
  const pid_t pid = spawn_process(argv, o);
  int status = 0;
  if (!wait_for_exit(pid, timeout, &status)) {
    kill_and_reap(pid);
    throw std::runtime_error("timeout running " + argv[0]);
  }
  if (WIFEXITED(status)) {
    return WEXITSTATUS(status);
  }
  if (WIFSIGNALED(status)) {
    return 128 + WTERMSIG(status);
  }
  return -1;
}

}  // namespace amqtt::test
