// Tests of the mosquitto broker fixture itself, using raw sockets and
// hand-encoded MQTT 3.1.1 packets (no dependency on the library under test).
#include <chrono>
#include <csignal>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>

#include <asio.hpp>
#include <catch2/catch.hpp>

#include "support/mosquitto_broker.hpp"
#include "support/raw_mqtt.hpp"

namespace {

using amqtt::test::mosquitto_broker;
using amqtt::test::mosquitto_options;
namespace raw = amqtt::test::raw;
using raw::bytes;
using namespace std::chrono_literals;

// CONNECT: clean session, keepalive 60, empty client id.
const bytes k_connect = {0x10, 0x0C, 0x00, 0x04, 'M',  'Q',  'T',
                         'T',  0x04, 0x02, 0x00, 0x3C, 0x00, 0x00};
const bytes k_connack_accepted = {0x20, 0x02, 0x00, 0x00};

struct raw_client {
  asio::io_context io;
  asio::ip::tcp::socket sock{io};

  std::error_code connect(const mosquitto_broker& b) {
    return raw::tcp_connect(io, sock, b.host(), b.port());
  }
  std::error_code send(const bytes& b) { return raw::write_all(io, sock, b); }
  std::error_code read(std::size_t n, bytes& out, std::chrono::milliseconds t = 2s) {
    return raw::read_exact(io, sock, n, out, t);
  }
  std::error_code read_packet(bytes& out, std::chrono::milliseconds t = 2s) {
    return raw::read_packet(io, sock, out, t);
  }

  /// TCP connect + CONNECT + read the 4-byte CONNACK.
  bytes mqtt_connect(const mosquitto_broker& b, const bytes& connect_packet = k_connect) {
    auto ec = connect(b);
    INFO("tcp connect: " << ec.message());
    REQUIRE_FALSE(ec);
    ec = send(connect_packet);
    REQUIRE_FALSE(ec);
    bytes ack;
    ec = read(4, ack);
    INFO("read CONNACK: " << ec.message() << "\nbroker log:\n" << b.log_tail());
    REQUIRE_FALSE(ec);
    return ack;
  }
};

bytes connack(std::uint8_t session_present, std::uint8_t rc) {
  return {0x20, 0x02, session_present, rc};
}

bool path_exists(const std::string& p) {
  std::error_code ec;
  return std::filesystem::exists(p, ec);
}

}  // namespace

TEST_CASE("fixture: broker starts and answers CONNECT with CONNACK accepted",
          "[integration][fixture]") {
  mosquitto_broker broker;

  CHECK(broker.host() == "127.0.0.1");
  CHECK(broker.port() != 0);
  CHECK(broker.tls_port() == 0);
  CHECK(broker.pid() > 0);
  CHECK(broker.running());
  CHECK(path_exists(broker.dir()));
  CHECK(path_exists(broker.config_path()));
  CHECK(path_exists(broker.log_path()));
  CHECK(broker.config().find("listener " + std::to_string(broker.port()) + " 127.0.0.1") !=
        std::string::npos);
  CHECK(broker.log_tail(5).find("running") != std::string::npos);
  CHECK_THROWS_AS(broker.ca_file(), std::logic_error);

  raw_client c;
  CHECK(c.mqtt_connect(broker) == k_connack_accepted);

  // PINGREQ round trip proves the session is really up.
  REQUIRE_FALSE(c.send(raw::pingreq_packet()));
  bytes pong;
  REQUIRE_FALSE(c.read(2, pong));
  CHECK(pong == bytes{0xD0, 0x00});
}

TEST_CASE("fixture: two brokers get distinct ports and directories", "[integration][fixture]") {
  mosquitto_broker a;
  mosquitto_broker b;
  CHECK(a.port() != b.port());
  CHECK(a.dir() != b.dir());
  CHECK(a.pid() != b.pid());
  raw_client ca, cb;
  CHECK(ca.mqtt_connect(a) == k_connack_accepted);
  CHECK(cb.mqtt_connect(b) == k_connack_accepted);
}

TEST_CASE("fixture: password file", "[integration][fixture]") {
  mosquitto_options o;
  o.password_file_user = "alice";
  o.password = "s3cret pass:word";
  mosquitto_broker broker(o);

  CHECK(path_exists(broker.password_file()));
  CHECK(broker.config().find("allow_anonymous false") != std::string::npos);
  CHECK(broker.config().find("password_file " + broker.password_file()) != std::string::npos);

  raw::connect_options co;
  co.client_id = "fixture-auth";

  SECTION("right password is accepted") {
    co.username = "alice";
    co.password = "s3cret pass:word";
    raw_client c;
    CHECK(c.mqtt_connect(broker, raw::connect_packet(co)) == connack(0, 0));
  }
  SECTION("wrong password is refused with return code 5") {
    co.username = "alice";
    co.password = "wrong";
    raw_client c;
    CHECK(c.mqtt_connect(broker, raw::connect_packet(co)) == connack(0, 5));
  }
  SECTION("unknown user is refused with return code 5") {
    co.username = "mallory";
    co.password = "s3cret pass:word";
    raw_client c;
    CHECK(c.mqtt_connect(broker, raw::connect_packet(co)) == connack(0, 5));
  }
  SECTION("anonymous is refused with return code 5") {
    raw_client c;
    CHECK(c.mqtt_connect(broker, k_connect) == connack(0, 5));
  }
}

TEST_CASE("fixture: stop() refuses connections, restart() serves the same port again",
          "[integration][fixture]") {
  mosquitto_broker broker;
  const auto port = broker.port();
  {
    raw_client c;
    REQUIRE(c.mqtt_connect(broker) == k_connack_accepted);

    broker.stop();
    CHECK_FALSE(broker.running());
    CHECK(broker.pid() == 0);
    CHECK(broker.log_tail(10).find("terminating") != std::string::npos);

    // The open connection was closed by the broker.
    bytes rest;
    CHECK(c.read(1, rest, 2s) == asio::error::eof);
  }
  {
    raw_client c;
    CHECK(c.connect(broker) == asio::error::connection_refused);
  }
  broker.stop();  // idempotent

  broker.restart();
  CHECK(broker.running());
  CHECK(broker.pid() > 0);
  CHECK(broker.port() == port);
  raw_client c;
  CHECK(c.mqtt_connect(broker) == k_connack_accepted);

  SECTION("restart() while running stops and starts again") {
    broker.restart();
    CHECK(broker.port() == port);
    raw_client c2;
    CHECK(c2.mqtt_connect(broker) == k_connack_accepted);
  }
}

TEST_CASE("fixture: kill() is a crash, restart() recovers", "[integration][fixture]") {
  mosquitto_broker broker;
  const auto port = broker.port();
  raw_client c;
  REQUIRE(c.mqtt_connect(broker) == k_connack_accepted);

  broker.kill();
  CHECK_FALSE(broker.running());
  CHECK(broker.log_tail(5).find("terminating") == std::string::npos);  // SIGKILL: no goodbye
  {
    raw_client c2;
    CHECK(c2.connect(broker) == asio::error::connection_refused);
  }

  broker.restart();
  CHECK(broker.port() == port);
  raw_client c3;
  CHECK(c3.mqtt_connect(broker) == k_connack_accepted);
}

TEST_CASE("fixture: a broker that dies on its own is noticed", "[integration][fixture]") {
  mosquitto_broker broker;
  REQUIRE(::kill(broker.pid(), SIGKILL) == 0);  // our own child, simulating a crash
  bool gone = false;
  for (int i = 0; i < 200 && !gone; ++i) {  // <= 2 s
    gone = !broker.running();
    if (!gone) {
      std::this_thread::sleep_for(10ms);
    }
  }
  CHECK(gone);
  CHECK(broker.pid() == 0);
  broker.restart();
  raw_client c;
  CHECK(c.mqtt_connect(broker) == k_connack_accepted);
}

TEST_CASE("fixture: restart() gives up (bounded) while somebody else holds the port",
          "[integration][fixture]") {
  mosquitto_options o;
  o.restart_timeout = 400ms;
  mosquitto_broker broker(o);
  broker.stop();

  asio::io_context io;
  auto squatter = std::make_unique<asio::ip::tcp::acceptor>(
      io, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), broker.port()));
  const auto t0 = std::chrono::steady_clock::now();
  try {
    broker.restart();
    FAIL("restart() should have thrown");
  } catch (const std::runtime_error& e) {
    const std::string what = e.what();
    INFO(what);
    CHECK(what.find("Address already in use") != std::string::npos);
  }
  const auto took = std::chrono::steady_clock::now() - t0;
  CHECK(took >= 400ms);
  CHECK(took < 5s);
  CHECK_FALSE(broker.running());

  squatter.reset();
  broker.restart();
  raw_client c;
  CHECK(c.mqtt_connect(broker) == k_connack_accepted);
}

TEST_CASE("fixture: freeze() stalls the broker, thaw() resumes it", "[integration][fixture]") {
  mosquitto_broker broker;
  broker.freeze();
  CHECK(broker.frozen());
  CHECK(broker.running());

  raw_client c;
  // The kernel still completes the TCP handshake (listen backlog) ...
  REQUIRE_FALSE(c.connect(broker));
  REQUIRE_FALSE(c.send(k_connect));
  // ... but nobody answers.
  bytes ack;
  const auto t0 = std::chrono::steady_clock::now();
  CHECK(c.read(4, ack, 300ms) == asio::error::timed_out);
  const auto waited = std::chrono::steady_clock::now() - t0;
  CHECK(ack.empty());
  CHECK(waited >= 290ms);
  CHECK(waited < 2s);

  broker.thaw();
  CHECK_FALSE(broker.frozen());
  // The same connection is answered once the broker runs again.
  const auto ec = c.read(4, ack, 3s);
  INFO(ec.message());
  CHECK_FALSE(ec);
  CHECK(ack == k_connack_accepted);

  SECTION("a frozen broker can still be stopped quickly") {
    broker.freeze();
    const auto t1 = std::chrono::steady_clock::now();
    broker.stop();
    CHECK(std::chrono::steady_clock::now() - t1 < 3s);
    CHECK_FALSE(broker.running());
  }
}

TEST_CASE("fixture: persistence keeps a persistent session across restarts",
          "[integration][fixture]") {
  mosquitto_options o;
  o.persistence = true;
  mosquitto_broker broker(o);
  CHECK(broker.config().find("persistence true") != std::string::npos);

  raw::connect_options sub_opts;
  sub_opts.client_id = "fixture-persistent-sub";
  sub_opts.clean_session = false;
  {
    raw_client sub;
    REQUIRE(sub.mqtt_connect(broker, raw::connect_packet(sub_opts)) == connack(0, 0));
    REQUIRE_FALSE(sub.send(raw::subscribe_packet(1, "fixture/persist", 1)));
    bytes suback;
    REQUIRE_FALSE(sub.read_packet(suback));
    REQUIRE(suback == bytes{0x90, 0x03, 0x00, 0x01, 0x01});
    REQUIRE_FALSE(sub.send(raw::disconnect_packet()));
  }
  {
    raw::connect_options pub_opts;
    pub_opts.client_id = "fixture-pub";
    raw_client pub;
    REQUIRE(pub.mqtt_connect(broker, raw::connect_packet(pub_opts)) == connack(0, 0));
    REQUIRE_FALSE(pub.send(raw::publish_packet("fixture/persist", "survives", 1, 7)));
    bytes puback;
    REQUIRE_FALSE(pub.read_packet(puback));
    REQUIRE(puback == bytes{0x40, 0x02, 0x00, 0x07});
    // One more round trip: the broker has finished a main-loop iteration
    // after queueing the message, so autosave_on_changes has run.
    REQUIRE_FALSE(pub.send(raw::pingreq_packet()));
    bytes pong;
    REQUIRE_FALSE(pub.read_packet(pong));
    REQUIRE(pong == bytes{0xD0, 0x00});
  }

  SECTION("graceful stop() saves the database") {
    broker.stop();
    CHECK(broker.log().find("Saving in-memory database") != std::string::npos);
  }
  SECTION("kill() (SIGKILL) keeps what autosave_on_changes wrote") { broker.kill(); }
  CHECK(path_exists(broker.persistence_file()));

  broker.restart();
  raw_client sub;
  INFO(broker.log_tail());
  REQUIRE(sub.mqtt_connect(broker, raw::connect_packet(sub_opts)) ==
          connack(1, 0));  // session present
  bytes p;
  REQUIRE_FALSE(sub.read_packet(p));
  const auto pub = raw::parse_publish(p);
  REQUIRE(pub.has_value());
  CHECK(pub->topic == "fixture/persist");
  CHECK(pub->payload == "survives");
  CHECK(pub->qos == 1);
  CHECK_FALSE(sub.send(raw::puback_packet(pub->packet_id)));
}

TEST_CASE("fixture: benchmark tuning and extra config end up in the config",
          "[integration][fixture]") {
  mosquitto_options o;
  o.benchmark_tuning = true;
  o.verbose_log = true;
  o.extra_config = "max_keepalive 120";
  mosquitto_broker broker(o);
  const auto cfg = broker.config();
  CHECK(cfg.find("set_tcp_nodelay true") != std::string::npos);
  CHECK(cfg.find("max_queued_messages 0") != std::string::npos);
  CHECK(cfg.find("max_inflight_messages 0") != std::string::npos);
  CHECK(cfg.find("log_type all") != std::string::npos);
  CHECK(cfg.find("max_keepalive 120") != std::string::npos);
  raw_client c;
  CHECK(c.mqtt_connect(broker) == k_connack_accepted);
}

TEST_CASE("fixture: a broken config fails fast with the log in the message",
          "[integration][fixture]") {
  mosquitto_options o;
  o.extra_config = "this_is_not_a_mosquitto_option 1";
  const auto t0 = std::chrono::steady_clock::now();
  try {
    mosquitto_broker broker(o);
    FAIL("constructor should have thrown");
  } catch (const std::runtime_error& e) {
    const std::string what = e.what();
    INFO(what);
    CHECK(what.find("this_is_not_a_mosquitto_option") != std::string::npos);
  }
  CHECK(std::chrono::steady_clock::now() - t0 < 3s);
}

TEST_CASE("fixture: the destructor stops the broker and removes its directory",
          "[integration][fixture]") {
  std::string dir;
  pid_t pid = 0;
  std::uint16_t port = 0;
  {
    mosquitto_options o;
    o.persistence = true;
    mosquitto_broker broker(o);
    dir = broker.dir();
    pid = broker.pid();
    port = broker.port();
    REQUIRE(path_exists(dir));
    REQUIRE(::kill(pid, 0) == 0);
  }
  CHECK_FALSE(path_exists(dir));
  CHECK(::kill(pid, 0) ==
        -1);  // reaped: no such process (pid reuse this fast is practically impossible)
  asio::io_context io;
  asio::ip::tcp::socket s(io);
  CHECK(raw::tcp_connect(io, s, "127.0.0.1", port) == asio::error::connection_refused);
}

TEST_CASE("fixture: AMQTT_MOSQUITTO pointing nowhere is a clear error", "[integration][fixture]") {
  const char* old = std::getenv("AMQTT_MOSQUITTO");
  const std::string saved = old ? old : "";
  ::setenv("AMQTT_MOSQUITTO", "/nonexistent/mosquitto", 1);
  CHECK_THROWS_WITH(mosquitto_broker(), Catch::Contains("AMQTT_MOSQUITTO"));
  if (old) {
    ::setenv("AMQTT_MOSQUITTO", saved.c_str(), 1);
  } else {
    ::unsetenv("AMQTT_MOSQUITTO");
  }
}
