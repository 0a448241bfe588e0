// amqtt::client over the TLS transport against mosquitto's TLS listener with the generated test
// PKI: verified round trips, verification failures as clear error codes, port mix-ups, mutual
// TLS, reconnects (a fresh TLS stream per attempt). Every failure case runs with reconnect
// disabled and a short connect timeout, so the error comes back to the caller, quickly.
#ifdef AMQTT_HAS_TLS

#include "client/test_util.hpp"
#include "support/mosquitto_broker.hpp"

#include <catch2/catch.hpp>

#include <amqtt/client.hpp>
#include <amqtt/transport/tls.hpp>

#include <chrono>
#include <mutex>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

namespace {

using namespace amqtt;
using namespace amqtt::test;
using namespace std::chrono_literals;

mosquitto_options tls_broker_options() {
  mosquitto_options o;
  o.tls = true;
  return o;
}

tls_options trusting(const std::string& ca_file) {
  tls_options t;
  t.ca_file = ca_file;
  return t;
}

client_options tls_client_options(const std::string& host, std::uint16_t port, const tls_options& t,
                                  bool reconnect = false) {
  client_options o;
  o.brokers = {{host, port}};
  o.connect_timeout = 3s;
  o.reconnect.enabled = reconnect;
  o.reconnect.min_delay = 10ms;
  o.reconnect.max_delay = 200ms;
  o.transport = make_tls_transport_factory(t);
  return o;
}

// Connects; returns the error (empty on success) and how long it took.
std::error_code try_connect(client& c, std::chrono::milliseconds* took = nullptr) {
  const auto t0 = std::chrono::steady_clock::now();
  auto [ec, sp] = wait_get(c.async_connect(tuple_future), 15s);
  (void)sp;
  if (took != nullptr)
    *took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
  return ec;
}

// Subscribe, publish at QoS 1, receive it back.
void round_trip(client& c, const std::string& topic, const std::string& payload) {
  auto [sec, rc] = wait_get(c.async_subscribe(topic, qos::at_least_once, tuple_future));
  INFO(sec.message());
  REQUIRE_FALSE(sec);
  REQUIRE(rc.size() == 1);
  CHECK(rc[0] == suback_return_code::granted_qos1);
  auto [pec] = wait_get(c.async_publish(topic, payload, qos::at_least_once, tuple_future));
  INFO(pec.message());
  REQUIRE_FALSE(pec);
  auto [rec, m] = wait_get(c.async_receive(tuple_future));
  INFO(rec.message());
  REQUIRE_FALSE(rec);
  CHECK(m.topic == topic);
  CHECK(m.payload == payload);
}

void disconnect(client& c) {
  auto [ec] = wait_get(c.async_disconnect(tuple_future));
  CHECK_FALSE(ec);
}

}  // namespace

TEST_CASE("tls: publish/subscribe round trip over a verified TLS connection", "[integration][tls]") {
  mosquitto_broker broker(tls_broker_options());
  io_thread io;

  SECTION("by IP address (matched against the certificate's IP SAN)") {
    client c(io.io, tls_client_options(broker.host(), broker.tls_port(), trusting(broker.ca_file())));
    const auto ec = try_connect(c);
    INFO(ec.message() << "\n" << broker.log_tail());
    REQUIRE_FALSE(ec);
    round_trip(c, "amqtt/tls/ip", "over TLS");
    disconnect(c);
  }
  SECTION("by host name 'localhost' (SNI + DNS SAN)") {
    client c(io.io, tls_client_options("localhost", broker.tls_port(), trusting(broker.ca_file())));
    const auto ec = try_connect(c);
    INFO(ec.message() << "\n" << broker.log_tail());
    REQUIRE_FALSE(ec);
    round_trip(c, "amqtt/tls/name", "by name");
    disconnect(c);
  }
  SECTION("server_name overrides the name that is checked") {
    auto t = trusting(broker.ca_file());
    t.server_name = "localhost";
    client c(io.io, tls_client_options(broker.host(), broker.tls_port(), t));
    REQUIRE_FALSE(try_connect(c));
    disconnect(c);
  }
  SECTION("minimum version TLS 1.3") {
    auto t = trusting(broker.ca_file());
    t.min_version = "1.3";
    client c(io.io, tls_client_options(broker.host(), broker.tls_port(), t));
    const auto ec = try_connect(c);
    INFO(ec.message());
    REQUIRE_FALSE(ec);
    round_trip(c, "amqtt/tls/v13", "1.3");
    disconnect(c);
  }
}

TEST_CASE("tls: a certificate from an untrusted CA fails with the X509 reason",
          "[integration][tls]") {
  mosquitto_broker broker(tls_broker_options());
  io_thread io;
  client c(io.io, tls_client_options(broker.host(), broker.tls_port(), trusting(broker.wrong_ca_file())));

  std::mutex mu;
  std::vector<std::error_code> failures;
  c.set_event_handler([&](const client_event& e) {
    if (const auto* f = std::get_if<event::connect_failed>(&e)) {
      std::lock_guard<std::mutex> lock(mu);
      failures.push_back(f->error);
    }
  });

  std::chrono::milliseconds took{};
  const auto ec = try_connect(c, &took);
  INFO(ec.category().name() << ":" << ec.value() << " " << ec.message());
  REQUIRE(ec);
  CHECK(ec.category() == tls_verify_category());
  // 20 "unable to get local issuer certificate" when the server sends only its own certificate,
  // 19 "self-signed certificate in certificate chain" when it sends its CA too (mosquitto does).
  CHECK((ec.value() == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY ||
         ec.value() == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN));
  CHECK(ec.message() == std::string("certificate verify failed: ") +
                            X509_verify_cert_error_string(ec.value()));
  CHECK(is_certificate_error(ec));
  CHECK(took < 3s);  // fails at the handshake, not at the connect timeout
  std::lock_guard<std::mutex> lock(mu);
  REQUIRE(failures.size() == 1);
  CHECK(failures[0] == ec);
}

TEST_CASE("tls: a certificate for another host name fails with host_name_mismatch",
          "[integration][tls]") {
  mosquitto_options o = tls_broker_options();
  o.tls_wrong_host_cert = true;  // CN/SAN wrong.example, signed by the trusted CA
  mosquitto_broker broker(o);
  io_thread io;

  SECTION("by IP address") {
    client c(io.io, tls_client_options(broker.host(), broker.tls_port(), trusting(broker.ca_file())));
    const auto ec = try_connect(c);
    INFO(ec.message());
    CHECK(ec == tls_errc::host_name_mismatch);
    CHECK(is_certificate_error(ec));
    CHECK(ec.message().find("host name mismatch") != std::string::npos);
  }
  SECTION("by host name") {
    client c(io.io, tls_client_options("localhost", broker.tls_port(), trusting(broker.ca_file())));
    const auto ec = try_connect(c);
    INFO(ec.message());
    CHECK(ec == tls_errc::host_name_mismatch);
  }
  SECTION("server_name set to the certificate's name connects") {
    auto t = trusting(broker.ca_file());
    t.server_name = "wrong.example";
    client c(io.io, tls_client_options(broker.host(), broker.tls_port(), t));
    const auto ec = try_connect(c);
    INFO(ec.message());
    REQUIRE_FALSE(ec);
    disconnect(c);
  }
  SECTION("insecure_skip_verify connects anyway (the documented opt-out)") {
    tls_options t;
    t.insecure_skip_verify = true;
    t.use_system_trust_store = false;
    client c(io.io, tls_client_options(broker.host(), broker.tls_port(), t));
    const auto ec = try_connect(c);
    INFO(ec.message());
    REQUIRE_FALSE(ec);
    round_trip(c, "amqtt/tls/insecure", "unverified");
    disconnect(c);
  }
}

TEST_CASE("tls: port mix-ups fail quickly and clearly", "[integration][tls]") {
  mosquitto_broker broker(tls_broker_options());
  io_thread io;

  SECTION("plain TCP client on the TLS port: fails within connect_timeout") {
    client_options o;
    o.brokers = {{broker.host(), broker.tls_port()}};
    o.connect_timeout = 2s;
    o.reconnect.enabled = false;
    client c(io.io, o);
    std::chrono::milliseconds took{};
    const auto ec = try_connect(c, &took);
    INFO(ec.category().name() << ":" << ec.value() << " " << ec.message() << " after " << took.count()
                              << " ms");
    REQUIRE(ec);
    CHECK(took < 2500ms);
    CHECK_FALSE(ec.message().empty());
  }
  SECTION("TLS client on the plain port: the handshake fails with a TLS error") {
    client c(io.io, tls_client_options(broker.host(), broker.port(), trusting(broker.ca_file())));
    std::chrono::milliseconds took{};
    const auto ec = try_connect(c, &took);
    INFO(ec.category().name() << ":" << ec.value() << " " << ec.message() << " after " << took.count()
                              << " ms");
    REQUIRE(ec);
    CHECK((ec == tls_errc::handshake_closed || ec == tls_errc::not_tls));
    CHECK(took < 3s);
  }
}

TEST_CASE("tls: a handshake that never completes ends at connect_timeout", "[integration][tls]") {
  mosquitto_broker broker(tls_broker_options());
  io_thread io;
  client_options o = tls_client_options(broker.host(), broker.tls_port(), trusting(broker.ca_file()));
  o.connect_timeout = 1s;
  client c(io.io, o);
  broker.freeze();  // SIGSTOP: the kernel still accepts the TCP connection, nobody answers TLS
  std::chrono::milliseconds took{};
  const auto ec = try_connect(c, &took);
  broker.thaw();
  INFO(ec.message() << " after " << took.count() << " ms");
  CHECK(ec == client_errc::connect_timeout);
  CHECK(took >= 900ms);
  CHECK(took < 3s);
}

TEST_CASE("tls: mutual TLS", "[integration][tls]") {
  mosquitto_options o = tls_broker_options();
  o.require_certificate = true;
  mosquitto_broker broker(o);
  io_thread io;

  SECTION("with the client certificate: connects, round trip") {
    auto t = trusting(broker.ca_file());
    t.cert_file = broker.client_cert();
    t.key_file = broker.client_key();
    client c(io.io, tls_client_options(broker.host(), broker.tls_port(), t));
    const auto ec = try_connect(c);
    INFO(ec.message() << "\n" << broker.log_tail());
    REQUIRE_FALSE(ec);
    round_trip(c, "amqtt/tls/mutual", "with cert");
    disconnect(c);
  }
  SECTION("without a client certificate: client_certificate_rejected") {
    client c(io.io, tls_client_options(broker.host(), broker.tls_port(), trusting(broker.ca_file())));
    std::chrono::milliseconds took{};
    const auto ec = try_connect(c, &took);
    INFO(ec.category().name() << ":" << ec.value() << " " << ec.message());
    CHECK(ec == tls_errc::client_certificate_rejected);
    CHECK(took < 3s);
  }
  SECTION("TLS 1.2 without a client certificate: also rejected") {
    auto t = trusting(broker.ca_file());
    // Force 1.2 through the context (min_version only sets a floor): the server then rejects
    // the missing certificate inside the handshake instead of after it.
    client_options co = tls_client_options(broker.host(), broker.tls_port(), t);
    co.transport = [inner = co.transport](const asio::any_io_executor& ex) {
      auto tr = inner(ex);
      SSL_set_max_proto_version(static_cast<tls_transport&>(*tr).stream().native_handle(),
                                TLS1_2_VERSION);
      return tr;
    };
    client c(io.io, co);
    const auto ec = try_connect(c);
    INFO(ec.category().name() << ":" << ec.value() << " " << ec.message());
    CHECK(ec == tls_errc::client_certificate_rejected);
  }
  SECTION("a client certificate from an unrelated CA: client_certificate_rejected") {
    auto t = trusting(broker.ca_file());
    t.cert_file = broker.untrusted_client_cert();
    t.key_file = broker.untrusted_client_key();
    client c(io.io, tls_client_options(broker.host(), broker.tls_port(), t));
    const auto ec = try_connect(c);
    INFO(ec.category().name() << ":" << ec.value() << " " << ec.message());
    CHECK(ec == tls_errc::client_certificate_rejected);
  }
}

TEST_CASE("tls: reconnects after a broker restart with a fresh TLS stream", "[integration][tls]") {
  mosquitto_broker broker(tls_broker_options());
  io_thread io;
  client c(io.io, tls_client_options(broker.host(), broker.tls_port(), trusting(broker.ca_file()),
                                     /*reconnect=*/true));
  std::mutex mu;
  int connected = 0;
  c.set_event_handler([&](const client_event& e) {
    if (std::holds_alternative<event::connected>(e)) {
      std::lock_guard<std::mutex> lock(mu);
      ++connected;
    }
  });
  REQUIRE_FALSE(try_connect(c));
  round_trip(c, "amqtt/tls/before", "before restart");

  broker.restart();
  REQUIRE(eventually([&] {
    std::lock_guard<std::mutex> lock(mu);
    return connected >= 2;
  }, 15s));
  round_trip(c, "amqtt/tls/after", "after restart");
  disconnect(c);
}

TEST_CASE("tls: unusable options are reported when the factory is made", "[integration][tls]") {
  const auto& certs = shared_test_certs();
  SECTION("missing CA file") {
    tls_options t;
    t.ca_file = "/nonexistent/ca.pem";
    try {
      (void)make_tls_transport_factory(t);
      FAIL("no exception");
    } catch (const std::system_error& e) {
      CHECK(std::string(e.what()).find("/nonexistent/ca.pem") != std::string::npos);
    }
  }
  SECTION("bad min_version") {
    tls_options t;
    t.min_version = "1.1";
    CHECK_THROWS_AS(make_tls_transport_factory(t), std::invalid_argument);
  }
  SECTION("key without certificate") {
    tls_options t;
    t.key_file = certs.client_key;
    CHECK_THROWS_AS(make_tls_transport_factory(t), std::invalid_argument);
  }
  SECTION("key that does not match the certificate") {
    tls_options t;
    t.cert_file = certs.client_cert;
    t.key_file = certs.untrusted_client_key;
    try {
      (void)make_tls_transport_factory(t);
      FAIL("no exception");
    } catch (const std::exception& e) {
      CHECK(std::string(e.what()).find(certs.untrusted_client_key) != std::string::npos);
    }
  }
  SECTION("a valid configuration") {
    tls_options t;
    t.ca_file = certs.ca_cert;
    t.cert_file = certs.client_cert;
    t.key_file = certs.client_key;
    CHECK(make_tls_transport_factory(t));
  }
}

TEST_CASE("tls: error codes and messages", "[tls]") {
  CHECK(std::string(tls_category().name()) == "amqtt.tls");
  CHECK(std::string(tls_verify_category().name()) == "amqtt.tls.verify");
  const std::error_code v = make_verify_error_code(X509_V_ERR_CERT_HAS_EXPIRED);
  CHECK(v.category() == tls_verify_category());
  CHECK(v.message() == "certificate verify failed: certificate has expired");
  CHECK(make_verify_error_code(X509_V_ERR_HOSTNAME_MISMATCH) == tls_errc::host_name_mismatch);
  CHECK(make_verify_error_code(X509_V_ERR_IP_ADDRESS_MISMATCH) == tls_errc::host_name_mismatch);
  CHECK(make_verify_error_code(X509_V_OK) == tls_errc::certificate_verify_failed);
  for (int e = 1; e <= static_cast<int>(tls_errc::protocol_version); ++e)
    CHECK(std::error_code(e, tls_category()).message().find("unknown") == std::string::npos);
  CHECK_FALSE(is_certificate_error(make_error_code(tls_errc::not_tls)));
}

#endif  // AMQTT_HAS_TLS
