// TLS tests of the mosquitto broker fixture and the generated test PKI.
// Needs OpenSSL: only built into the suite when AMQTT_HAS_TLS is defined.
#ifdef AMQTT_HAS_TLS

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>

#include <asio.hpp>
#include <asio/ssl.hpp>
#include <catch2/catch.hpp>

#include "support/certs.hpp"
#include "support/mosquitto_broker.hpp"
#include "support/raw_mqtt.hpp"

namespace {

using amqtt::test::mosquitto_broker;
using amqtt::test::mosquitto_options;
using amqtt::test::test_certs;
namespace raw = amqtt::test::raw;
using raw::bytes;
using namespace std::chrono_literals;

const bytes k_connect = {0x10, 0x0C, 0x00, 0x04, 'M',  'Q',  'T',
                         'T',  0x04, 0x02, 0x00, 0x3C, 0x00, 0x00};
const bytes k_connack_accepted = {0x20, 0x02, 0x00, 0x00};

struct tls_client_options {
  std::string ca_file;
  std::optional<std::string> verify_host = "localhost";  // nullopt: chain only
  std::string cert_file;
  std::string key_file;
};

tls_client_options trusting(const std::string& ca_file) {
  tls_client_options o;
  o.ca_file = ca_file;
  return o;
}

struct tls_client {
  asio::io_context io;
  asio::ssl::context ctx{asio::ssl::context::tls_client};
  std::optional<asio::ssl::stream<asio::ip::tcp::socket>> stream;

  explicit tls_client(const tls_client_options& o) {
    ctx.set_verify_mode(asio::ssl::verify_peer);
    ctx.load_verify_file(o.ca_file);
    if (!o.cert_file.empty()) {
      ctx.use_certificate_chain_file(o.cert_file);
      ctx.use_private_key_file(o.key_file, asio::ssl::context::pem);
    }
    stream.emplace(io, ctx);
    if (o.verify_host) {
      stream->set_verify_callback(asio::ssl::host_name_verification(*o.verify_host));
      // SNI, like a real client would send.
      // (SSL_set_tlsext_host_name is a macro with a C-style cast.)
      SSL_ctrl(stream->native_handle(), SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
               const_cast<char*>(o.verify_host->c_str()));
    }
  }

  std::error_code connect(const mosquitto_broker& b) {
    return raw::tcp_connect(io, stream->next_layer(), b.host(), b.tls_port());
  }

  std::error_code handshake(std::chrono::milliseconds t = 3s) {
    return raw::run_timed(
        io, t,
        [&](auto h) {
          stream->async_handshake(asio::ssl::stream_base::client,
                                  [h](std::error_code ec) mutable { h(ec); });
        },
        [&] {
          std::error_code ignored;
          stream->lowest_layer().close(ignored);
        });
  }

  /// connect + handshake + CONNECT; returns the first error or {} and the CONNACK.
  std::error_code mqtt_connect(const mosquitto_broker& b, bytes& ack) {
    if (auto ec = connect(b)) {
      return ec;
    }
    if (auto ec = handshake()) {
      return ec;
    }
    if (auto ec = raw::write_all(io, *stream, k_connect)) {
      return ec;
    }
    return raw::read_exact(io, *stream, 4, ack, 3s);
  }
};

bool exists(const std::string& p) {
  std::error_code ec;
  return std::filesystem::exists(p, ec);
}

}  // namespace

TEST_CASE("certs: generate_test_certs creates the full PKI quickly",
          "[integration][fixture][tls]") {
  amqtt::test::temp_dir dir("amqtt-certs-test");
  const auto t0 = std::chrono::steady_clock::now();
  const test_certs c = amqtt::test::generate_test_certs(dir.path());
  const auto took = std::chrono::steady_clock::now() - t0;
  CHECK(took < 2s);
  for (const auto* f : {&c.ca_cert, &c.ca_key, &c.server_cert, &c.server_key, &c.wrong_host_cert,
                        &c.wrong_host_key, &c.wrong_ca_cert, &c.wrong_ca_key, &c.client_cert,
                        &c.client_key, &c.untrusted_client_cert, &c.untrusted_client_key}) {
    INFO(*f);
    CHECK(exists(*f));
    CHECK(f->rfind(dir.path(), 0) == 0);
  }
  // Loadable by OpenSSL through Asio.
  asio::ssl::context ctx(asio::ssl::context::tls_server);
  CHECK_NOTHROW(ctx.use_certificate_chain_file(c.server_cert));
  CHECK_NOTHROW(ctx.use_private_key_file(c.server_key, asio::ssl::context::pem));
  CHECK_NOTHROW(ctx.load_verify_file(c.ca_cert));
}

TEST_CASE("fixture: TLS listener next to the plain one", "[integration][fixture][tls]") {
  mosquitto_options o;
  o.tls = true;
  mosquitto_broker broker(o);

  REQUIRE(broker.tls_port() != 0);
  CHECK(broker.tls_port() != broker.port());
  CHECK(broker.ca_file() == amqtt::test::shared_test_certs().ca_cert);
  CHECK(broker.server_cert() == amqtt::test::shared_test_certs().server_cert);

  SECTION("plain listener still works") {
    asio::io_context io;
    asio::ip::tcp::socket s(io);
    REQUIRE_FALSE(raw::tcp_connect(io, s, broker.host(), broker.port()));
    REQUIRE_FALSE(raw::write_all(io, s, k_connect));
    bytes ack;
    REQUIRE_FALSE(raw::read_exact(io, s, 4, ack));
    CHECK(ack == k_connack_accepted);
  }
  SECTION("handshake verifying CA and host name 'localhost', then MQTT CONNECT") {
    tls_client c(trusting(broker.ca_file()));
    bytes ack;
    const auto ec = c.mqtt_connect(broker, ack);
    INFO(ec.message() << "\n" << broker.log_tail());
    REQUIRE_FALSE(ec);
    CHECK(ack == k_connack_accepted);
  }
  SECTION("the certificate also carries IP SAN 127.0.0.1") {
    auto co = trusting(broker.ca_file());
    co.verify_host = "127.0.0.1";
    tls_client c(co);
    REQUIRE_FALSE(c.connect(broker));
    CHECK_FALSE(c.handshake());
  }
  SECTION("trusting the wrong CA fails the handshake") {
    tls_client c(trusting(broker.wrong_ca_file()));
    REQUIRE_FALSE(c.connect(broker));
    const auto ec = c.handshake();
    INFO(ec.message());
    CHECK(ec);
    CHECK(ec != asio::error::timed_out);
  }
  SECTION("a different host name fails verification") {
    auto co = trusting(broker.ca_file());
    co.verify_host = "not-localhost.example";
    tls_client c(co);
    REQUIRE_FALSE(c.connect(broker));
    const auto ec = c.handshake();
    CHECK(ec);
    CHECK(ec != asio::error::timed_out);
  }
  SECTION("restart keeps both ports") {
    const auto p = broker.port();
    const auto tp = broker.tls_port();
    broker.restart();
    CHECK(broker.port() == p);
    CHECK(broker.tls_port() == tp);
    tls_client c(trusting(broker.ca_file()));
    bytes ack;
    REQUIRE_FALSE(c.mqtt_connect(broker, ack));
    CHECK(ack == k_connack_accepted);
  }
}

TEST_CASE("fixture: TLS listener serving the wrong host name", "[integration][fixture][tls]") {
  mosquitto_options o;
  o.tls = true;
  o.tls_wrong_host_cert = true;
  mosquitto_broker broker(o);
  CHECK(broker.server_cert() == amqtt::test::shared_test_certs().wrong_host_cert);

  SECTION("host name verification for localhost fails") {
    tls_client c(trusting(broker.ca_file()));
    REQUIRE_FALSE(c.connect(broker));
    const auto ec = c.handshake();
    INFO(ec.message());
    CHECK(ec);
    CHECK(ec != asio::error::timed_out);
  }
  SECTION("the chain itself is valid (only the name is wrong)") {
    auto co = trusting(broker.ca_file());
    co.verify_host = std::nullopt;
    tls_client c(co);
    bytes ack;
    REQUIRE_FALSE(c.mqtt_connect(broker, ack));
    CHECK(ack == k_connack_accepted);
  }
  SECTION("verifying the name it does carry succeeds") {
    auto co = trusting(broker.ca_file());
    co.verify_host = "wrong.example";
    tls_client c(co);
    REQUIRE_FALSE(c.connect(broker));
    CHECK_FALSE(c.handshake());
  }
}

TEST_CASE("fixture: mutual TLS (require_certificate)", "[integration][fixture][tls]") {
  mosquitto_options o;
  o.tls = true;
  o.require_certificate = true;
  mosquitto_broker broker(o);
  CHECK(broker.config().find("require_certificate true") != std::string::npos);

  SECTION("client certificate signed by the CA is accepted") {
    auto co = trusting(broker.ca_file());
    co.cert_file = broker.client_cert();
    co.key_file = broker.client_key();
    tls_client c(co);
    bytes ack;
    const auto ec = c.mqtt_connect(broker, ack);
    INFO(ec.message() << "\n" << broker.log_tail());
    REQUIRE_FALSE(ec);
    CHECK(ack == k_connack_accepted);
  }
  // With TLS 1.3 the client finishes its handshake before the server has
  // checked the client certificate, so the rejection may only show up on
  // the first read: assert that the MQTT exchange as a whole fails.
  SECTION("no client certificate is rejected") {
    tls_client c(trusting(broker.ca_file()));
    bytes ack;
    const auto ec = c.mqtt_connect(broker, ack);
    INFO(ec.message());
    CHECK(ec);
    CHECK(ec != asio::error::timed_out);
    CHECK(ack != k_connack_accepted);
  }
  SECTION("client certificate from an unrelated CA is rejected") {
    auto co = trusting(broker.ca_file());
    co.cert_file = broker.untrusted_client_cert();
    co.key_file = broker.untrusted_client_key();
    tls_client c(co);
    bytes ack;
    const auto ec = c.mqtt_connect(broker, ack);
    INFO(ec.message());
    CHECK(ec);
    CHECK(ec != asio::error::timed_out);
    CHECK(ack != k_connack_accepted);
  }
}

TEST_CASE("fixture: TLS with explicitly supplied certificates", "[integration][fixture][tls]") {
  amqtt::test::temp_dir dir("amqtt-certs-explicit");
  mosquitto_options o;
  o.tls = true;
  o.certs = amqtt::test::generate_test_certs(dir.path());
  mosquitto_broker broker(o);
  CHECK(broker.ca_file() == o.certs->ca_cert);

  // The process-wide CA is a different CA: it must not be trusted here.
  tls_client bad(trusting(amqtt::test::shared_test_certs().ca_cert));
  REQUIRE_FALSE(bad.connect(broker));
  CHECK(bad.handshake());

  tls_client good(trusting(broker.ca_file()));
  bytes ack;
  REQUIRE_FALSE(good.mqtt_connect(broker, ack));
  CHECK(ack == k_connack_accepted);
}

#endif  // AMQTT_HAS_TLS
