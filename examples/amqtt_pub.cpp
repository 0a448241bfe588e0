// amqtt-pub: publish MQTT messages (mosquitto_pub compatible flags). With -l every line of
// stdin is a message; the program exits once every QoS 1/2 message has been acknowledged, and
// keeps going across broker restarts (unacknowledged messages are sent again after the
// reconnect). See docs/cli.md.

#include "cli_common.hpp"

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <exception>
#include <fstream>
#include <iostream>
#include <iterator>
#include <optional>
#include <sstream>
#include <string>
#include <system_error>

#include <poll.h>
#include <unistd.h>

namespace {

using namespace amqtt_cli;

// At most this many publishes wait for completion at once (flow control for -l and --repeat;
// well below the session's queue limit, so nothing is refused while the broker is away).
constexpr std::size_t window = 1000;

// Reads lines from a file descriptor, polling so that a stop request is noticed.
class line_reader {
 public:
  explicit line_reader(int fd) : fd_(fd) {}

  // false at end of input or when `r` stopped. A last line without '\n' is returned too.
  bool next(std::string& line, runner& r) {
    for (;;) {
      if (const auto nl = buf_.find('\n', scan_); nl != std::string::npos) {
        line.assign(buf_, 0, nl);
        buf_.erase(0, nl + 1);
        scan_ = 0;
        return true;
      }
      scan_ = buf_.size();
      if (eof_) {
        if (buf_.empty()) return false;
        line.swap(buf_);
        buf_.clear();
        scan_ = 0;
        return true;
      }
      if (r.stopped()) return false;
      pollfd p{fd_, POLLIN, 0};
      const int pr = ::poll(&p, 1, 200);
      if (pr == 0 || (pr < 0 && errno == EINTR)) continue;
      char chunk[65536];
      const ssize_t n = ::read(fd_, chunk, sizeof chunk);
      if (n < 0) {
        if (errno == EINTR || errno == EAGAIN) continue;
        eof_ = true;
        continue;
      }
      if (n == 0) eof_ = true;
      buf_.append(chunk, static_cast<std::size_t>(n));
    }
  }

 private:
  int fd_;
  std::string buf_;
  std::size_t scan_ = 0;
  bool eof_ = false;
};

class publisher {
 public:
  explicit publisher(runner& r) : r_(r), cfg_(r.cfg()) {}

  // Blocks while `window` publishes are outstanding. false when the program is stopping.
  bool publish(const std::string& payload) {
    {
      std::unique_lock<std::mutex> lock(r_.mutex());
      r_.cv().wait(lock, [this] { return outstanding_ < window || r_.stopped_locked(); });
      if (r_.stopped_locked()) return false;
      ++outstanding_;
    }
    if (cfg_.debug)
      r_.debug("sending PUBLISH (q" + std::to_string(cfg_.qos) + ", r" + (cfg_.retain ? "1" : "0") +
               ", '" + cfg_.topics[0] + "', ... (" + std::to_string(payload.size()) + " bytes))");
    r_.client().async_publish(cfg_.topics[0], payload, to_qos(cfg_.qos), cfg_.retain,
                              [this](std::error_code ec) { on_done(ec); });
    return true;
  }

  // Waits until every publish completed (or the program is stopping).
  void drain() {
    std::unique_lock<std::mutex> lock(r_.mutex());
    r_.cv().wait(lock, [this] { return outstanding_ == 0 || r_.stopped_locked(); });
  }

  std::size_t completed() {
    std::lock_guard<std::mutex> lock(r_.mutex());
    return completed_;
  }

 private:
  void on_done(std::error_code ec) {
    {
      std::lock_guard<std::mutex> lock(r_.mutex());
      --outstanding_;
      ++completed_;
      r_.cv().notify_all();
    }
    if (ec && ec != asio::error::operation_aborted)
      r_.stop(exit_code_for(ec), "Publish failed: " + ec.message());
  }

  runner& r_;
  const config& cfg_;
  std::size_t outstanding_ = 0;  // guarded by r_.mutex()
  std::size_t completed_ = 0;
};

bool read_all(std::istream& in, std::string& out) {
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return false;
  out = ss.str();
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  config cfg;
  if (int rc = parse_or_exit(argc, argv, tool::pub, cfg); rc >= 0) return rc;

  // The message, read before connecting (as mosquitto_pub does).
  std::string payload;
  if (cfg.mode == pub_mode::message) {
    payload = cfg.message;
  } else if (cfg.mode == pub_mode::file) {
    std::ifstream f(cfg.file, std::ios::binary);
    if (!f || !read_all(f, payload)) {
      if (!cfg.quiet) std::fprintf(stderr, "Error: Unable to read file '%s'.\n", cfg.file.c_str());
      return exit_error;
    }
  } else if (cfg.mode == pub_mode::stdin_whole) {
    std::ios::sync_with_stdio(false);
    if (!read_all(std::cin, payload)) {
      if (!cfg.quiet) std::fprintf(stderr, "Error: Unable to read stdin.\n");
      return exit_error;
    }
  }

  std::optional<runner> r;
  try {
    r.emplace(cfg);
  } catch (const std::exception& e) {
    if (!cfg.quiet) std::fprintf(stderr, "Error: %s\n", e.what());
    return exit_error;
  }
  if (!r->connect()) return r->shutdown();

  publisher p(*r);
  if (cfg.mode == pub_mode::stdin_lines) {
    line_reader lines(STDIN_FILENO);
    std::string line;
    while (lines.next(line, *r))
      if (!p.publish(line)) break;
  } else {
    for (long i = 0; i < cfg.repeat; ++i) {
      if (!p.publish(payload)) break;
      if (i + 1 < cfg.repeat && cfg.repeat_delay > 0) {
        const auto until = std::chrono::steady_clock::now() +
                           std::chrono::microseconds(static_cast<long long>(cfg.repeat_delay * 1e6));
        if (r->wait_stopped(until)) break;
      }
    }
  }
  p.drain();
  r->debug(std::to_string(p.completed()) + " message(s) completed");
  r->stop(exit_ok, {});
  return r->shutdown();
}
