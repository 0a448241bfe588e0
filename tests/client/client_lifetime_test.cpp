// amqtt::client: calling the client from its own handlers, destruction with pending operations,
// destruction while the io_context runs on other threads.
#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <asio/bind_allocator.hpp>
#include <asio/bind_cancellation_slot.hpp>
#include <asio/bind_executor.hpp>
#include <asio/strand.hpp>
#include <catch2/catch.hpp>

#include <amqtt/client.hpp>

#include "client/fake_broker.hpp"
#include "client/test_util.hpp"

namespace {

using namespace amqtt;
using namespace amqtt::test;
using namespace std::chrono_literals;

void connect(asio::io_context& io, client& c) { REQUIRE_FALSE(connect_and_wait(io, c)); }

// Counts the allocations made through it.
template <class T>
struct counting_allocator {
  using value_type = T;
  std::size_t* count;
  explicit counting_allocator(std::size_t* c) noexcept : count(c) {}
  template <class U>
  counting_allocator(const counting_allocator<U>& o) noexcept : count(o.count) {}
  T* allocate(std::size_t n) {
    ++*count;
    return std::allocator<T>().allocate(n);
  }
  void deallocate(T* p, std::size_t n) noexcept { std::allocator<T>().deallocate(p, n); }
  template <class U>
  bool operator==(const counting_allocator<U>& o) const noexcept {
    return count == o.count;
  }
  template <class U>
  bool operator!=(const counting_allocator<U>& o) const noexcept {
    return count != o.count;
  }
};

}  // namespace

TEST_CASE("client: handlers may call the client", "[client][reentrancy]") {
  fake_broker broker;  // outlives the io_context (transports refer to it)
  asio::io_context io;
  client c(io, fake_options(broker));

  SECTION("publish from inside a receive handler") {
    connect(io, c);
    bool subscribed = false;
    c.async_subscribe("ping/#", qos::at_least_once,
                      [&](std::error_code, std::vector<suback_return_code>) { subscribed = true; });
    REQUIRE(run_until(io, [&] { return subscribed; }));
    int hops = 0;
    std::function<void(std::error_code, message)> on_message = [&](std::error_code ec, message m) {
      REQUIRE_FALSE(ec);
      if (++hops == 10) return;
      // Echo the message to the next topic and wait for it.
      c.async_publish("ping/" + std::to_string(hops), m.payload, qos::at_least_once,
                      [](std::error_code e) { CHECK_FALSE(e); });
      c.async_receive(on_message);
    };
    c.async_receive(on_message);
    c.async_publish("ping/0", "ball", qos::at_least_once, [](std::error_code) {});
    REQUIRE(run_until(io, [&] { return hops == 10; }));
  }

  SECTION("disconnect from inside the connect handler") {
    std::optional<std::error_code> disc;
    c.async_connect([&](std::error_code ec, bool) {
      REQUIRE_FALSE(ec);
      c.async_disconnect([&](std::error_code e) { disc = e; });
    });
    REQUIRE(run_until(io, [&] { return disc.has_value(); }));
    CHECK_FALSE(*disc);
    CHECK(broker.disconnects == 1);
  }

  SECTION("requests from inside the event handler") {
    std::optional<std::vector<suback_return_code>> rc;
    c.set_event_handler([&](const client_event& e) {
      if (std::holds_alternative<event::connected>(e))
        c.async_subscribe("ev/#", qos::exactly_once,
                          [&](std::error_code, std::vector<suback_return_code> r) { rc = r; });
      // Replacing the handler from inside it is fine too.
      if (std::holds_alternative<event::connecting>(e)) c.set_event_handler(nullptr);
    });
    connect(io, c);
    run_for(io, 20ms);
    CHECK_FALSE(rc.has_value());  // the handler was replaced at "connecting"
    c.set_event_handler([&](const client_event& e) {
      if (std::holds_alternative<event::disconnected>(e))
        c.async_publish("ev/x", "while reconnecting", qos::at_least_once, [](std::error_code) {});
      if (std::holds_alternative<event::connected>(e))
        c.async_subscribe("ev/#", qos::exactly_once,
                          [&](std::error_code, std::vector<suback_return_code> r) { rc = r; });
    });
    broker.drop();
    REQUIRE(run_until(io, [&] { return rc.has_value(); }));
    CHECK(rc->at(0) == suback_return_code::granted_qos2);
    REQUIRE(run_until(io, [&] { return broker.publishes == 1; }));
  }

  SECTION("requests and unsubscribe from inside a per-subscription handler") {
    connect(io, c);
    std::vector<std::string> seen;
    bool unsubscribed = false;
    int subacks = 0;
    c.async_subscribe(
        "sub/#", qos::at_least_once,
        [&](const message_view& m) {
          seen.emplace_back(m.payload);
          if (m.payload == "stop")
            c.async_unsubscribe("sub/#", [&](std::error_code ec) { unsubscribed = !ec; });
          else
            c.async_publish("sub/next", "stop", qos::at_most_once, [](std::error_code) {});
        },
        [&](std::error_code, std::vector<suback_return_code>) { ++subacks; });
    REQUIRE(run_until(io, [&] { return subacks == 1; }));
    broker.publish("sub/first", "go");
    REQUIRE(run_until(io, [&] { return unsubscribed; }));
    CHECK(seen == std::vector<std::string>{"go", "stop"});
  }

  SECTION("destroying the client from inside its own handler") {
    auto owned = std::make_unique<client>(io, fake_options(broker));
    bool done = false;
    owned->async_connect([&](std::error_code ec, bool) {
      CHECK_FALSE(ec);
      owned.reset();
      done = true;
    });
    REQUIRE(run_until(io, [&] { return done; }));
    run_for(io, 20ms);
    CHECK(broker.transports_alive == 0);
  }
}

TEST_CASE("client: destruction completes pending operations with operation_aborted",
          "[client][lifetime]") {
  fake_broker broker;  // outlives the io_context (transports refer to it)
  asio::io_context io;
  std::vector<std::error_code> results;
  {
    client c(io, fake_options(broker));
    connect(io, c);
    broker.ack_publishes = false;
    broker.send_connack = false;
    c.async_run([&](std::error_code ec) { results.push_back(ec); });
    c.async_publish("x", "1", qos::at_least_once,
                    [&](std::error_code ec) { results.push_back(ec); });
    c.async_publish("x", "2", qos::exactly_once,
                    [&](std::error_code ec) { results.push_back(ec); });
    c.async_receive([&](std::error_code ec, message) { results.push_back(ec); });
    run_for(io, 20ms);
    c.async_subscribe(
        "never", qos::at_least_once,
        [&](std::error_code ec, std::vector<suback_return_code>) { results.push_back(ec); });
    c.async_unsubscribe("never", [&](std::error_code ec) { results.push_back(ec); });
    REQUIRE(results.empty());
  }
  REQUIRE(run_until(io, [&] { return results.size() == 6; }));
  for (auto& ec : results) CHECK(ec == asio::error::operation_aborted);
  // The connection was closed abruptly: no DISCONNECT (the will is published).
  CHECK(broker.disconnects == 0);
  run_for(io, 20ms);
  CHECK(broker.transports_alive == 0);
  CHECK(io.stopped());  // nothing left: every reference was released
}

TEST_CASE("client: destroyed while connecting with a pending async_connect", "[client][lifetime]") {
  fake_broker broker;  // outlives the io_context (transports refer to it)
  asio::io_context io;
  broker.hang_connect = true;
  std::optional<std::error_code> ec;
  {
    client c(io, fake_options(broker));
    c.async_connect([&](std::error_code e, bool) { ec = e; });
    REQUIRE(run_until(io, [&] { return broker.connect_attempts == 1; }));
  }
  REQUIRE(run_until(io, [&] { return ec.has_value(); }));
  CHECK(*ec == asio::error::operation_aborted);
  run_for(io, 20ms);
  CHECK(broker.transports_alive == 0);
}

TEST_CASE("client: destroyed while the io_context runs on other threads", "[client][lifetime]") {
  for (int round = 0; round < 20; ++round) {
    fake_broker broker;  // touched only on the client's strand (and after the threads joined)
    std::atomic<int> completions{0};
    {
      io_thread io(2);
      {
        client c(io.io, fake_options(broker));
        c.async_connect([&](std::error_code, bool) { ++completions; });
        for (int i = 0; i < 20; ++i)
          c.async_publish("t", "x", i % 2 ? qos::at_least_once : qos::at_most_once,
                          [&](std::error_code) { ++completions; });
        c.async_receive([&](std::error_code, message) { ++completions; });
        if (round % 2) std::this_thread::sleep_for(std::chrono::milliseconds(round % 5));
      }  // destroyed with work in progress
      REQUIRE(eventually([&] { return completions.load() == 22; }, 5000ms));
    }  // threads joined
    CHECK(broker.transports_alive == 0);
  }
}

TEST_CASE("client: a pending operation is work on its handler's executor until it completes",
          "[client][lifetime]") {
  // io_context::run() must not return while an operation waits (here a receive on a client that
  // is not running, so nothing else is outstanding). A plain callback completes on the client's
  // strand through the completion pool, which counts the work on the strand's io_context; a
  // handler with an executor of its own keeps that executor busy instead.
  using clock = std::chrono::steady_clock;
  fake_broker broker;
  asio::io_context io;
  client c(io, fake_options(broker));
  io.run_for(5ms);
  REQUIRE(io.stopped());  // an idle client is no work
  io.restart();
  asio::cancellation_signal signal;
  std::optional<std::error_code> result;

  SECTION("a plain callback: work on the client's io_context") {
    c.async_receive(asio::bind_cancellation_slot(
        signal.slot(), [&](std::error_code ec, message) { result = ec; }));
    io.run_for(20ms);
    CHECK_FALSE(io.stopped());
    CHECK_FALSE(result.has_value());
    signal.emit(asio::cancellation_type::terminal);
    const auto t0 = clock::now();
    io.run_for(5s);  // returns as soon as the receive has completed: no work left
    CHECK(io.stopped());
    CHECK(clock::now() - t0 < 2s);
    REQUIRE(result.has_value());
    CHECK(*result == asio::error::operation_aborted);
  }

  SECTION("a handler bound to another io_context: work there") {
    asio::io_context other;
    c.async_receive(asio::bind_cancellation_slot(
        signal.slot(),
        asio::bind_executor(other, [&](std::error_code ec, message) { result = ec; })));
    io.run_for(20ms);
    other.run_for(20ms);
    CHECK_FALSE(other.stopped());
    CHECK_FALSE(result.has_value());
    signal.emit(asio::cancellation_type::terminal);
    io.restart();
    io.run_for(20ms);  // the cancellation runs on the client's strand and posts the completion
    const auto t0 = clock::now();
    other.run_for(5s);
    CHECK(other.stopped());
    CHECK(clock::now() - t0 < 2s);
    REQUIRE(result.has_value());
    CHECK(*result == asio::error::operation_aborted);
  }
}

TEST_CASE("client: the io_context destroyed with operations outstanding leaks nothing",
          "[client][lifetime]") {
  fake_broker broker;
  {
    asio::io_context io;
    client c(io, fake_options(broker));
    connect(io, c);
    c.async_receive([](std::error_code, message) {});
    c.async_publish("x", "y", qos::at_least_once, [](std::error_code) {});
    broker.ack_publishes = false;
    run_for(io, 10ms);
    io.stop();
    // Client destroyed (its shutdown is posted but never runs), then the io_context with the
    // outstanding read and timer: their handlers release the last references.
  }
  CHECK(broker.transports_alive == 0);
}

namespace {
// Counts its live copies, to see when a handler holding one is destroyed.
struct live_counter {
  static inline int alive = 0;
  live_counter() { ++alive; }
  live_counter(const live_counter&) { ++alive; }
  live_counter(live_counter&&) noexcept { ++alive; }
  live_counter& operator=(const live_counter&) = default;
  ~live_counter() { --alive; }
};

// An application object that owns its client and passes shared_from_this() to its handlers (a
// common Asio idiom, and what a coroutine frame holding the client amounts to).
struct owning_app : std::enable_shared_from_this<owning_app> {
  static inline int alive = 0;
  client c;
  owning_app(asio::io_context& io, client_options o) : c(io, std::move(o)) { ++alive; }
  ~owning_app() { --alive; }
  void start() {
    c.async_receive([self = shared_from_this()](std::error_code, message) {});
    c.set_event_handler([self = shared_from_this()](const client_event&) {});
  }
};
}  // namespace

TEST_CASE("client: the io_context destroyed with a cancellable operation pending frees it",
          "[client][lifetime]") {
  // The canceller in the operation's slot held a reference to the client: nothing freed the
  // operation, and the signal destroyed after the io_context then destroyed the client too late.
  // (As with Asio's own operations, the signal must outlive the operation.)
  fake_broker broker;
  live_counter::alive = 0;
  auto signal = std::make_unique<asio::cancellation_signal>();
  {
    asio::io_context io;
    {
      client c(io, fake_options(broker));
      connect(io, c);
      c.async_receive(asio::bind_cancellation_slot(
          signal->slot(), [t = live_counter()](std::error_code, message) {}));
      run_for(io, 10ms);
      CHECK(live_counter::alive == 1);
      io.stop();
    }
  }
  CHECK(live_counter::alive == 0);  // the handler was destroyed with the io_context
  CHECK(broker.transports_alive == 0);
  signal.reset();  // after the io_context: must not touch the client (ASan)
}

TEST_CASE("client: the io_context destroyed frees handlers that own the client",
          "[client][lifetime]") {
  fake_broker broker;
  owning_app::alive = 0;
  {
    asio::io_context io;
    auto app = std::make_shared<owning_app>(io, fake_options(broker));
    connect(io, app->c);
    app->start();
    app.reset();  // only the handlers hold the application now
    run_for(io, 10ms);
    CHECK(owning_app::alive == 1);
    // Destroying the io_context drops the client's pending handlers like Asio drops its own.
  }
  CHECK(owning_app::alive == 0);
  CHECK(broker.transports_alive == 0);
}

TEST_CASE("client: completions still queued when the client goes away run normally",
          "[client][lifetime]") {
  // Their memory comes from the client's completion pool, which they keep alive.
  fake_broker broker;
  asio::io_context io;
  int done = 0;
  {
    client c(io, fake_options(broker));
    connect(io, c);
    bool posted = false;
    asio::post(c.get_executor(), [&] {
      for (int i = 0; i < 200; ++i)
        c.async_publish("q", "x", qos::at_most_once, [&](std::error_code ec) {
          CHECK_FALSE(ec);
          ++done;
        });
      posted = true;
    });
    for (int i = 0; i < 100 && !posted; ++i) io.run_one_for(10ms);
    REQUIRE(posted);  // 200 completions queued on the strand, none run yet
    REQUIRE(done == 0);
  }
  REQUIRE(run_until(io, [&] { return done == 200; }));
  run_for(io, 20ms);
  CHECK(broker.transports_alive == 0);
}

TEST_CASE("client: the io_context destroyed with completions queued frees them",
          "[client][lifetime]") {
  fake_broker broker;
  int done = 0;
  {
    asio::io_context io;
    client c(io, fake_options(broker));
    connect(io, c);
    bool posted = false;
    asio::post(c.get_executor(), [&] {
      for (int i = 0; i < 50; ++i)
        c.async_publish("q", "x", qos::at_most_once, [&](std::error_code) { ++done; });
      posted = true;
    });
    for (int i = 0; i < 100 && !posted; ++i) io.run_one_for(10ms);
    REQUIRE(posted);
    io.stop();
  }  // client, then io_context (destroying the queued completions: ASan checks the memory)
  CHECK(done == 0);
  CHECK(broker.transports_alive == 0);
}

TEST_CASE("client: a handler's own executor and allocator are used", "[client][lifetime]") {
  fake_broker broker;
  asio::io_context io;
  client c(io, fake_options(broker));
  connect(io, c);
  SECTION("executor: a strand of its own") {
    // The same strand type as the client's, so only the run-time check keeps it off the
    // client's strand.
    auto other = asio::make_strand(io);
    const asio::any_io_executor client_ex = c.get_executor();  // target() points into it
    const auto* client_strand = client_ex.target<asio::strand<asio::io_context::executor_type>>();
    REQUIRE(client_strand != nullptr);
    int done = 0, on_other = 0, on_client = 0;
    auto handler = [&](std::error_code ec) {
      CHECK_FALSE(ec);
      ++done;
      if (other.running_in_this_thread()) ++on_other;
      if (client_strand->running_in_this_thread()) ++on_client;
    };
    c.async_publish("q", "x", qos::at_most_once, asio::bind_executor(other, handler));
    c.async_publish("q", "x", qos::at_least_once, asio::bind_executor(other, handler));
    REQUIRE(run_until(io, [&] { return done == 2; }));
    CHECK(on_other == 2);
    CHECK(on_client == 0);
  }
  SECTION("allocator: the operation's memory comes from it") {
    std::size_t allocations = 0;
    counting_allocator<void> alloc(&allocations);
    bool subscribed = false;
    c.async_subscribe("q", qos::at_most_once,
                      [&](std::error_code, std::vector<suback_return_code>) { subscribed = true; });
    REQUIRE(run_until(io, [&] { return subscribed; }));
    int done = 0;
    message m;
    c.async_receive(m, asio::bind_allocator(alloc, [&](std::error_code ec) {
                      CHECK_FALSE(ec);
                      ++done;
                    }));
    c.async_publish("q", "x", qos::at_least_once,
                    asio::bind_allocator(alloc, [&](std::error_code ec) {
                      CHECK_FALSE(ec);
                      ++done;
                    }));
    REQUIRE(run_until(io, [&] { return done == 2; }));
    CHECK(allocations >= 2);  // at least each pending operation
  }
}

TEST_CASE("client: moving a client keeps it working", "[client][lifetime]") {
  fake_broker broker;  // outlives the io_context (transports refer to it)
  asio::io_context io;
  client a(io, fake_options(broker));
  connect(io, a);
  client b(std::move(a));
  std::optional<std::error_code> done;
  b.async_publish("m", "x", qos::at_least_once, [&](std::error_code ec) { done = ec; });
  REQUIRE(run_until(io, [&] { return done.has_value(); }));
  CHECK_FALSE(*done);
  client c(io, fake_options(broker));
  c = std::move(b);  // the previous c is shut down
  done.reset();
  c.async_publish("m", "y", qos::at_least_once, [&](std::error_code ec) { done = ec; });
  REQUIRE(run_until(io, [&] { return done.has_value(); }));
  CHECK_FALSE(*done);
}
