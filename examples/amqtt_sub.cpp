// amqtt-sub: subscribe to MQTT topics and print the messages, one per line (mosquitto_sub
// compatible flags). Keeps running across broker restarts: the client reconnects, and with
// -c -i ID the broker-side session (subscriptions, queued QoS 1/2 messages) is resumed.
// See docs/cli.md.

#include "cli_common.hpp"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <exception>
#include <string>
#include <system_error>
#include <vector>

namespace {

using namespace amqtt_cli;

class subscriber {
 public:
  explicit subscriber(runner& r) : r_(r), cfg_(r.cfg()) {}

  // Everything below runs on the client's strand.
  void start() {
    receive();
    if (!cfg_.topics.empty()) {
      std::vector<amqtt::subscribe_entry> entries;
      for (const auto& t : cfg_.topics) entries.push_back(amqtt::subscribe_entry{t, to_qos(cfg_.qos)});
      r_.client().async_subscribe(entries, [this](std::error_code ec,
                                                  std::vector<amqtt::suback_return_code> rc) {
        on_suback(ec, rc);
      });
    }
    if (!cfg_.unsubscribe.empty()) {
      std::vector<std::string_view> filters(cfg_.unsubscribe.begin(), cfg_.unsubscribe.end());
      r_.client().async_unsubscribe(filters, [this](std::error_code ec) {
        if (ec) return r_.stop(exit_code_for(ec), "Unsubscribe failed: " + ec.message());
        r_.debug("unsubscribed");
        if (cfg_.topics.empty()) r_.stop(exit_ok, {});
      });
    }
  }

 private:
  void on_suback(std::error_code ec, const std::vector<amqtt::suback_return_code>& rc) {
    if (ec) {
      if (ec != asio::error::operation_aborted)
        r_.stop(exit_code_for(ec), "Subscribe failed: " + ec.message());
      return;
    }
    std::size_t refused = 0;
    for (std::size_t i = 0; i < rc.size() && i < cfg_.topics.size(); ++i) {
      if (rc[i] == amqtt::suback_return_code::failure) {
        ++refused;
        r_.warn("subscription to '" + cfg_.topics[i] + "' refused by the broker");
      } else {
        r_.debug("subscribed to '" + cfg_.topics[i] + "' (granted QoS " +
                 std::to_string(static_cast<int>(rc[i])) + ")");
      }
    }
    if (refused == cfg_.topics.size()) return r_.stop(exit_error, "All subscription requests were denied.");
    if (cfg_.exit_after_subscribe) r_.stop(exit_ok, {});
  }

  void receive() {
    r_.client().async_receive(msg_, [this](std::error_code ec) {
      if (ec) return;  // aborted: the program is ending (the runner reports why)
      on_message();
      if (!done_) receive();
    });
  }

  bool filtered_out(const std::string& topic) const {
    for (const auto& f : cfg_.filter_out)
      if (amqtt::topic_matches(f, topic)) return true;
    return false;
  }

  void on_message() {
    if (done_) return;
    if (cfg_.no_stale_retained && msg_.retain) return;
    if (filtered_out(msg_.topic)) return;
    if (cfg_.verbose) {
      std::fwrite(msg_.topic.data(), 1, msg_.topic.size(), stdout);
      std::fputc(' ', stdout);
    }
    std::fwrite(msg_.payload.data(), 1, msg_.payload.size(), stdout);
    if (!cfg_.no_newline) std::fputc('\n', stdout);
    std::fflush(stdout);
    if (cfg_.count > 0 && ++received_ >= cfg_.count) {
      done_ = true;
      r_.stop(exit_ok, {});
    }
  }

  runner& r_;
  const config& cfg_;
  amqtt::message msg_;
  long received_ = 0;
  bool done_ = false;
};

}  // namespace

int main(int argc, char** argv) {
  config cfg;
  if (int rc = parse_or_exit(argc, argv, tool::sub, cfg); rc >= 0) return rc;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(cfg.timeout);

  std::optional<runner> r;
  try {
    r.emplace(cfg);
  } catch (const std::exception& e) {
    if (!cfg.quiet) std::fprintf(stderr, "Error: %s\n", e.what());
    return exit_error;
  }
  subscriber s(*r);
  if (r->connect(cfg.timeout > 0 ? std::optional(deadline) : std::nullopt)) {
    asio::post(r->client().get_executor(), [&s] { s.start(); });
    if (cfg.timeout > 0 && !r->wait_stopped(deadline)) r->stop(exit_timeout, "Timed out", true);
    r->wait_stopped();
  }
  return r->shutdown();
}
