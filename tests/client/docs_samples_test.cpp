// The C++ samples of README.md and docs/{getting-started,user-guide,client,tls}.md, compiled here.
// Each sample is the region between "// [doc:NAME]" and "// [/doc]"; in the markdown it is the
// ```cpp block after "<!-- doc:NAME -->". scripts/check-doc-samples.py fails when they differ.
// Whole programs live in a namespace (their `main` is an ordinary function there) and are only
// compiled: they need a broker. Samples that need no network are run.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <future>
#include <iostream>
#include <sstream>
#include <string>
#include <system_error>
#include <thread>
#include <variant>
#include <vector>

#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/experimental/deferred.hpp>
#include <asio/io_context.hpp>
#include <asio/use_future.hpp>

#include <amqtt/client.hpp>
#if defined(AMQTT_HAS_TLS)
#include <amqtt/transport/tls.hpp>
#endif
#if defined(ASIO_HAS_CO_AWAIT) && defined(__cpp_impl_coroutine)
#define AMQTT_DOCS_COROUTINES 1
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/use_awaitable.hpp>
#endif

#include <catch2/catch.hpp>

// ---- README.md ---------------------------------------------------------------------------------

namespace docs_readme {
// [doc:quick-start]
#include <amqtt/client.hpp>
#include <cstdio>

int main() {
  asio::io_context io;
  amqtt::client_options options;
  options.brokers = {{"127.0.0.1", 1883}};
  amqtt::client client(io, options);

  client.async_subscribe("demo/#", amqtt::qos::at_least_once,
      [&](const amqtt::message_view& m) {  // called for each message on demo/#
        std::printf("%.*s: %.*s\n", int(m.topic.size()), m.topic.data(),
                    int(m.payload.size()), m.payload.data());
        client.async_disconnect([](std::error_code) {});
      },
      [](std::error_code, std::vector<amqtt::suback_return_code>) {});
  client.async_publish("demo/hello", "hi", amqtt::qos::at_least_once,
                       [](std::error_code ec) { if (ec) std::puts(ec.message().c_str()); });
  client.async_run([](std::error_code ec) { if (ec) std::puts(ec.message().c_str()); });
  io.run();
  return 0;
}
// [/doc]
}  // namespace docs_readme

// ---- docs/getting-started.md -------------------------------------------------------------------

namespace docs_first_program {
// [doc:first-program]
#include <amqtt/client.hpp>
#include <cstdio>
#include <string>
#include <vector>

int main() {
  asio::io_context io;
  amqtt::client_options options;
  options.brokers = {{"127.0.0.1", 1883}};
  options.reconnect.enabled = false;  // report the first failure instead of retrying
  amqtt::client client(io, options);

  auto fail = [&](const char* what, std::error_code ec) {
    std::fprintf(stderr, "%s: %s\n", what, ec.message().c_str());
    client.async_disconnect([](std::error_code) {});
  };

  // 1. connect (async_connect starts the connection loop and completes at the CONNACK)
  client.async_connect([&](std::error_code ec, bool /*session_present*/) {
    if (ec) return fail("connect", ec);
    // 2. subscribe
    client.async_subscribe("greetings/#", amqtt::qos::at_least_once,
        [&](std::error_code ec2, std::vector<amqtt::suback_return_code> results) {
          if (ec2) return fail("subscribe", ec2);
          if (results[0] == amqtt::suback_return_code::failure) {
            std::fprintf(stderr, "subscription refused by the broker\n");
            return client.async_disconnect([](std::error_code) {});
          }
          // 3. receive: the next message no per-subscription handler took
          client.async_receive([&](std::error_code ec3, amqtt::message m) {
            if (ec3) return fail("receive", ec3);
            std::printf("%s: %s\n", m.topic.c_str(), m.payload.c_str());
            // 5. disconnect: DISCONNECT is sent, then io.run() runs out of work
            client.async_disconnect([](std::error_code) {});
          });
          // 4. publish (completes at the PUBACK for QoS 1)
          client.async_publish("greetings/world", "hello", amqtt::qos::at_least_once,
                               [&](std::error_code ec4) { if (ec4) fail("publish", ec4); });
        });
  });

  io.run();
  return 0;
}
// [/doc]
}  // namespace docs_first_program

namespace docs_future {
// [doc:first-program-future]
#include <amqtt/client.hpp>
#include <asio/use_future.hpp>
#include <thread>

int main() {
  asio::io_context io;
  auto work = asio::make_work_guard(io);
  std::thread runner([&] { io.run(); });  // the client's work runs on this thread

  amqtt::client client(io);  // default broker: 127.0.0.1:1883
  try {
    client.async_connect(asio::use_future).get();  // errors throw std::system_error
    client.async_subscribe("greetings/#", amqtt::qos::at_least_once, asio::use_future).get();
    client.async_publish("greetings/world", "hello", amqtt::qos::at_least_once,
                         asio::use_future).get();
    amqtt::message m = client.async_receive(asio::use_future).get();
    std::printf("%s: %s\n", m.topic.c_str(), m.payload.c_str());
    client.async_disconnect(asio::use_future).get();
  } catch (const std::system_error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
  }
  work.reset();
  runner.join();
  return 0;
}
// [/doc]
}  // namespace docs_future

#if defined(AMQTT_DOCS_COROUTINES)
namespace docs_coroutine {
// [doc:first-program-coroutine]
#include <amqtt/client.hpp>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/use_awaitable.hpp>

asio::awaitable<void> session(amqtt::client& client) {
  try {
    co_await client.async_connect(asio::use_awaitable);  // errors throw std::system_error
    co_await client.async_subscribe("greetings/#", amqtt::qos::at_least_once,
                                    asio::use_awaitable);
    co_await client.async_publish("greetings/world", "hello", amqtt::qos::at_least_once,
                                  asio::use_awaitable);
    amqtt::message m = co_await client.async_receive(asio::use_awaitable);
    std::printf("%s: %s\n", m.topic.c_str(), m.payload.c_str());
  } catch (const std::system_error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
  }
  co_await client.async_disconnect(asio::use_awaitable);
}

int main() {  // C++20
  asio::io_context io;
  amqtt::client client(io);
  asio::co_spawn(io, session(client), asio::detached);
  io.run();
  return 0;
}
// [/doc]
}  // namespace docs_coroutine
#endif

TEST_CASE("docs: README and getting-started programs compile", "[client][docs]") {
  // They need a broker: compiled, not run.
  int (*programs[])() = {&docs_readme::main, &docs_first_program::main, &docs_future::main
#if defined(AMQTT_DOCS_COROUTINES)
                         , &docs_coroutine::main
#endif
  };
  for (auto* p : programs) CHECK(p != nullptr);
}

// ---- docs/user-guide.md ------------------------------------------------------------------------

TEST_CASE("docs/user-guide.md: connect options", "[client][docs]") {
  asio::io_context io;
  // [doc:options]
  amqtt::client_options o;
  o.brokers = {{"mqtt-1.example", 1883}, {"mqtt-2.example", 1883}};  // tried in turn
  o.connect_timeout = std::chrono::seconds(5);       // DNS + TCP (+ TLS) + CONNECT/CONNACK
  o.reconnect.min_delay = std::chrono::milliseconds(200);
  o.reconnect.max_delay = std::chrono::seconds(10);

  o.session.client_id = "";                          // empty: "amqtt-" + 16 random hex digits
  o.session.clean_session = true;
  o.session.keep_alive = std::chrono::seconds(30);   // 0 disables keepalive
  o.session.ping_timeout = std::chrono::seconds(5);  // 0: keep_alive / 2
  o.session.username = "sensor-17";
  o.session.password = "secret";
  o.session.will = amqtt::will_options{"sensors/17/status", "offline",
                                       amqtt::qos::at_least_once, /*retain=*/true};

  amqtt::client c(io, o);
  std::printf("client id: %s\n", c.client_id().c_str());  // e.g. amqtt-3f9c0a17b2d4e865
  // [/doc]
  CHECK(c.client_id().rfind("amqtt-", 0) == 0);
  CHECK(c.client_id().size() == 6 + 16);
  CHECK(c.options().session.client_id == c.client_id());
}

namespace docs_qos {
// [doc:publish-qos]
void publish_all(amqtt::client& c) {
  // QoS 0: completes once the session accepted it (sent or queued), not when delivered.
  c.async_publish("metrics/cpu", "0.42", amqtt::qos::at_most_once, [](std::error_code ec) {
    if (ec) std::fprintf(stderr, "refused: %s\n", ec.message().c_str());
  });
  // QoS 1: completes at the PUBACK. QoS 2: at the PUBCOMP.
  c.async_publish("orders/new", "{\"id\":7}", amqtt::qos::exactly_once, [](std::error_code ec) {
    if (!ec) std::puts("the broker has the order, exactly once");
  });
  // Retained: the broker keeps the last one per topic and hands it to every new subscriber.
  c.async_publish("sensors/17/status", "online", amqtt::qos::at_least_once, /*retain=*/true,
                  [](std::error_code) {});
  // An empty retained message clears the retained message of the topic.
  c.async_publish("sensors/17/status", "", amqtt::qos::at_least_once, /*retain=*/true,
                  [](std::error_code) {});
}
// [/doc]
}  // namespace docs_qos

TEST_CASE("docs/user-guide.md: offline queue and queue_full", "[client][docs]") {
  // No async_run: the client never connects, requests wait in the session queue.
  asio::io_context io;
  std::vector<std::error_code> results;
  // [doc:queue-full]
  amqtt::client_options o;
  o.session.max_queued = 2;  // requests waiting to be sent (while offline, or window full)
  amqtt::client c(io, o);
  for (int i = 0; i < 3; ++i) {
    c.async_publish("t", "x", amqtt::qos::at_least_once, [&](std::error_code ec) {
      if (ec == amqtt::protocol_errc::queue_full) {
        // refused at once, never silently dropped: retry later, drop, or slow down
      }
      results.push_back(ec);
    });
  }
  // [/doc]
  c.async_disconnect([](std::error_code) {});  // not running: aborts the queued requests
  io.run();
  REQUIRE(results.size() == 3);
  CHECK(results[0] == amqtt::protocol_errc::queue_full);  // completed at once
  CHECK(results[1] == asio::error::operation_aborted);
  CHECK(results[2] == asio::error::operation_aborted);
  docs_qos::publish_all(c);  // compiled here; the client is stopped, nothing goes out
}

namespace docs_receive {
// [doc:handlers]
void subscribe_both_ways(amqtt::client& c) {
  // A per-subscription handler: called on the client's strand for every matching message.
  // The view points into the input buffer: copy what you keep.
  c.async_subscribe("alarms/#", amqtt::qos::exactly_once,
      [](const amqtt::message_view& m) {
        amqtt::message copy = m.to_message();  // owns its topic and payload
        std::printf("ALARM %s: %s\n", copy.topic.c_str(), copy.payload.c_str());
      },
      [](std::error_code ec, std::vector<amqtt::suback_return_code> results) {
        if (ec || results[0] == amqtt::suback_return_code::failure) std::puts("not subscribed");
      });
  // Without a handler, messages go to async_receive.
  c.async_subscribe("metrics/#", amqtt::qos::at_most_once,
                    [](std::error_code, std::vector<amqtt::suback_return_code>) {});
}

// A receive loop reusing one message object: the message allocates nothing in steady state.
struct receiver {
  amqtt::client& c;
  amqtt::message m;
  void next() {
    c.async_receive(m, [this](std::error_code ec) {
      if (ec) return;  // operation_aborted after async_disconnect, or the error that stopped
      std::printf("%s = %s\n", m.topic.c_str(), m.payload.c_str());
      next();          // until we ask again, messages wait (up to receive_queue_limit)
    });
  }
};
// [/doc]
}  // namespace docs_receive

TEST_CASE("docs/user-guide.md: cancelling a receive", "[client][docs]") {
  asio::io_context io;
  amqtt::client c(io);
  std::error_code result;
  // [doc:cancel]
  asio::cancellation_signal cancel;
  c.async_receive(asio::bind_cancellation_slot(cancel.slot(),
                                               [&](std::error_code ec, amqtt::message) {
                                                 result = ec;  // operation_aborted
                                               }));
  // later, from the thread that runs the client's handlers (e.g. a timer's handler):
  asio::post(c.get_executor(), [&] { cancel.emit(asio::cancellation_type::terminal); });
  // [/doc]
  io.run();
  CHECK(result == asio::error::operation_aborted);

  docs_receive::receiver r{c, {}};
  (void)r;
  auto* f = &docs_receive::subscribe_both_ways;
  CHECK(f != nullptr);
}

namespace docs_threads {
// [doc:threads]
int main() {
  asio::io_context io;
  amqtt::client c(io);  // its work and handlers are serialized on its own strand
  c.async_run([](std::error_code) {});

  std::vector<std::thread> pool;
  for (int i = 0; i < 4; ++i) pool.emplace_back([&] { io.run(); });

  // Any thread may call the client; arguments are copied before the call returns.
  c.async_publish("from/main", "x", amqtt::qos::at_least_once, [](std::error_code) {});
  c.async_disconnect([](std::error_code) {});
  for (auto& t : pool) t.join();
  return 0;
}
// [/doc]
}  // namespace docs_threads

namespace docs_events {
// [doc:events]
void log_events(amqtt::client& c) {
  c.set_event_handler([](const amqtt::client_event& e) {
    if (auto* x = std::get_if<amqtt::event::connecting>(&e)) {
      std::printf("connecting to %s:%u\n", x->broker.host.c_str(), unsigned(x->broker.port));
    } else if (auto* x = std::get_if<amqtt::event::connect_failed>(&e)) {
      std::printf("connect failed: %s\n", x->error.message().c_str());
    } else if (auto* x = std::get_if<amqtt::event::connected>(&e)) {
      std::printf("connected, session present: %d\n", int(x->session_present));
    } else if (auto* x = std::get_if<amqtt::event::disconnected>(&e)) {
      std::printf("connection lost: %s\n", x->reason.message().c_str());
    } else if (auto* x = std::get_if<amqtt::event::reconnect_scheduled>(&e)) {
      std::printf("retry in %lld ms\n", static_cast<long long>(x->delay.count()));
    } else if (auto* x = std::get_if<amqtt::event::resubscribed>(&e)) {
      std::printf("resubscribed %s\n", x->filter.c_str());
    } else if (auto* x = std::get_if<amqtt::event::stopped>(&e)) {
      std::printf("stopped: %s\n", x->reason.message().c_str());
    }
  });
}
// [/doc]
}  // namespace docs_events

TEST_CASE("docs/user-guide.md: threads and events compile", "[client][docs]") {
  int (*p)() = &docs_threads::main;
  void (*q)(amqtt::client&) = &docs_events::log_events;
  CHECK(p != nullptr);
  CHECK(q != nullptr);
}

TEST_CASE("docs/user-guide.md: error codes", "[client][docs]") {
  // [doc:errors]
  auto report = [](std::error_code ec) {
    if (ec == asio::error::operation_aborted) return;  // cancelled, or disconnect/destruction
    if (amqtt::is_permanent_refusal(ec)) std::puts("fix the configuration");
    std::printf("%s: %s\n", ec.category().name(), ec.message().c_str());
  };
  report(amqtt::protocol_errc::bad_username_or_password);
  // amqtt.protocol: connection refused: bad user name or password
  // [/doc]
  report(amqtt::client_errc::connect_timeout);
  std::error_code ec = amqtt::codec_errc::empty_topic;
  CHECK(ec.category().name() == std::string("amqtt.codec"));
}

#if defined(AMQTT_HAS_TLS)
TEST_CASE("docs/user-guide.md: TLS", "[client][docs]") {
  asio::io_context io;
  // [doc:tls]
  amqtt::tls_options tls;       // #include <amqtt/transport/tls.hpp>, link asio-mqtt::tls
  // tls.ca_file = "/etc/ssl/my-ca.pem";   // default: the system trust store
  amqtt::client_options o;
  o.brokers = {{"broker.example", 8883}};
  o.transport = amqtt::make_tls_transport_factory(tls);  // throws on unusable files
  amqtt::client c(io, o);
  // [/doc]
  CHECK(static_cast<bool>(c.options().transport));
}
#endif

// Every enumerator's message must appear verbatim in the error table of docs/user-guide.md.
TEST_CASE("docs/user-guide.md: the error table has every message", "[client][docs]") {
  std::ifstream in(std::string(AMQTT_SOURCE_DIR) + "/docs/user-guide.md");
  REQUIRE(in);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string doc = ss.str();
  auto check = [&](const std::error_category& cat, int count) {
    for (int v = 1; v <= count; ++v) {
      std::string msg = cat.message(v);
      // Markdown tables escape '|' (none of the messages has one).
      INFO(cat.name() << " " << v << ": " << msg);
      CHECK(doc.find("| " + msg + " |") != std::string::npos);
    }
    CHECK(cat.message(count + 1).rfind("unknown", 0) == 0);  // no enumerator left out
  };
  check(amqtt::codec_category(), static_cast<int>(amqtt::codec_errc::remaining_length_overflow));
  check(amqtt::protocol_category(), static_cast<int>(amqtt::protocol_errc::not_authorized));
  check(amqtt::client_category(), static_cast<int>(amqtt::client_errc::transport_failed));
#if defined(AMQTT_HAS_TLS)
  check(amqtt::tls_category(), static_cast<int>(amqtt::tls_errc::protocol_version));
#endif
}

// ---- docs/client.md ----------------------------------------------------------------------------

namespace client_md {

inline void overview() {
  // [doc:client-overview]
  asio::io_context io;
  amqtt::client_options o;
  o.brokers = {{"test.mosquitto.org", 1883}};
  o.session.keep_alive = std::chrono::seconds(30);
  amqtt::client c(io, o);

  c.set_event_handler([](const amqtt::client_event& e) {
    if (auto* d = std::get_if<amqtt::event::disconnected>(&e))
      std::printf("lost: %s\n", d->reason.message().c_str());
  });
  c.async_run([](std::error_code ec) { std::printf("loop ended: %s\n", ec.message().c_str()); });
  c.async_subscribe("sensors/#", amqtt::qos::at_least_once,
                    [](std::error_code, std::vector<amqtt::suback_return_code>) {});
  c.async_publish("sensors/1", "21.5", amqtt::qos::at_least_once, [](std::error_code) {});
  io.run();
  // [/doc]
}

inline void tokens(amqtt::client& c) {
  // [doc:client-tokens]
  c.async_publish("t", "x", amqtt::qos::at_least_once, [](std::error_code) {});  // callback
  std::future<void> f = c.async_publish("t", "x", amqtt::qos::exactly_once, asio::use_future);
  auto op = c.async_receive(asio::experimental::deferred);  // runs when launched:
  std::move(op)([](std::error_code, amqtt::message) {});
  // C++20: amqtt::message m = co_await c.async_receive(asio::use_awaitable);
  // cancellation:
  asio::cancellation_signal sig;
  c.async_receive(asio::bind_cancellation_slot(
      sig.slot(), [](std::error_code, amqtt::message) {}));  // -> operation_aborted
  sig.emit(asio::cancellation_type::terminal);
  // [/doc]
}

}  // namespace client_md

TEST_CASE("docs/client.md: samples compile", "[client][docs]") {
  void (*overview)() = &client_md::overview;
  void (*tokens)(amqtt::client&) = &client_md::tokens;
  CHECK(overview != nullptr);
  CHECK(tokens != nullptr);
}

// ---- docs/tls.md -------------------------------------------------------------------------------

#if defined(AMQTT_HAS_TLS)
namespace tls_md {

inline void setup(asio::io_context& io) {
  // [doc:tls-setup]
  amqtt::tls_options tls;
  tls.ca_file = "/etc/mosquitto/ca.crt";  // omit to use the system trust store

  amqtt::client_options o;
  o.brokers = {{"broker.example.com", 8883}};
  o.transport = amqtt::make_tls_transport_factory(tls);  // throws if a file cannot be loaded
  amqtt::client c(io, o);
  // [/doc]
}

inline void errors(amqtt::client& c) {
  // [doc:tls-errors]
  c.async_connect([](std::error_code ec, bool) {
    if (amqtt::is_certificate_error(ec)) {  // any verification failure
      std::cerr << ec.message() << "\n";    // certificate verify failed: ...
      if (ec.category() == amqtt::tls_verify_category())
        std::cerr << "X509 result " << ec.value() << "\n";  // X509_V_ERR_...
    } else if (ec == amqtt::tls_errc::client_certificate_rejected) {
      std::cerr << "the broker refused our client certificate\n";
    }
  });
  // [/doc]
}

inline amqtt::tls_options mutual() {
  // [doc:tls-mutual]
  amqtt::tls_options tls;
  tls.ca_file = "ca.crt";
  tls.cert_file = "client.crt";  // signed by a CA the broker trusts
  tls.key_file = "client.key";
  // [/doc]
  return tls;
}

}  // namespace tls_md

TEST_CASE("docs/tls.md: samples compile", "[client][docs]") {
  void (*setup)(asio::io_context&) = &tls_md::setup;
  void (*errors)(amqtt::client&) = &tls_md::errors;
  CHECK(setup != nullptr);
  CHECK(errors != nullptr);
  CHECK(tls_md::mutual().cert_file == "client.crt");
}
#endif
