#pragma once
// TLS transport (MQTT over TLS, usually port 8883). Needs OpenSSL: link asio-mqtt::tls.
// The rest of the library does not include this header and builds without OpenSSL.
//
//   amqtt::tls_options tls;
//   tls.ca_file = "/etc/ssl/my-ca.pem";          // or nothing: the system trust store
//   amqtt::client_options o;
//   o.brokers = {{"broker.example", 8883}};
//   o.transport = amqtt::make_tls_transport_factory(tls);   // throws on unusable options
//
// Safe by default: the server certificate chain is verified (system trust store unless ca_file /
// ca_path is given), the certificate must match the broker's host name (or IP address), SNI is
// sent, TLS 1.2 is the minimum. Every connection attempt gets a fresh TLS stream (one SSL_CTX is
// shared by all of them); the handshake is part of async_connect, so the client's
// connect_timeout bounds it. Failures are reported with the codes of tls_error.hpp, e.g.
// "certificate verify failed: unable to get local issuer certificate". See docs/tls.md.

#if !__has_include(<openssl/ssl.h>)
#error "amqtt/transport/tls.hpp needs OpenSSL: link asio-mqtt::tls (or OpenSSL::SSL)"
#endif

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>

#include <asio/bind_allocator.hpp>
#include <asio/bind_executor.hpp>
#include <asio/connect.hpp>
#include <asio/error.hpp>
#include <asio/ip/address.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ssl/context.hpp>
#include <asio/ssl/error.hpp>
#include <asio/ssl/stream.hpp>
#include <asio/write.hpp>

#include "amqtt/transport/tls_error.hpp"
#include "amqtt/transport/transport.hpp"

namespace amqtt {

struct tls_options {
  // Trust: PEM file with CA certificates and/or a directory of hashed CA certificates
  // (c_rehash). When both are empty and use_system_trust_store is true, the system's default
  // trust store is used (OpenSSL's default paths).
  std::string ca_file;
  std::string ca_path;
  bool use_system_trust_store = true;

  // Mutual TLS: client certificate (PEM, may hold the chain) and its private key (PEM,
  // unencrypted). key_file defaults to cert_file (a combined PEM).
  std::string cert_file;
  std::string key_file;

  // Minimum TLS version: "1.2" (default) or "1.3" ("tlsv1.2" / "tlsv1.3" are accepted too).
  std::string min_version = "1.2";

  // Name used for SNI and checked against the certificate; empty: the broker's host (from
  // client_options::brokers). An IP address is matched against the certificate's IP SANs (and
  // not sent as SNI).
  std::string server_name;

  // DANGER: skips all verification of the server certificate (chain AND host name). Anyone on
  // the path can impersonate the broker. For tests against self-signed brokers only.
  bool insecure_skip_verify = false;
};

namespace detail {

// What all transports made by one factory share.
struct tls_shared {
  tls_shared() : context(asio::ssl::context::tls_client) {}
  asio::ssl::context context;
  tls_options options;
};

[[noreturn]] inline void throw_tls_config_error(const std::system_error& e, const std::string& what,
                                                const std::string& path) {
  throw std::system_error(e.code(), "tls: cannot load " + what + " '" + path + "'");
}

inline std::shared_ptr<tls_shared> make_tls_shared(tls_options o) {
  auto shared = std::make_shared<tls_shared>();
  asio::ssl::context& ctx = shared->context;
  SSL_CTX* native = ctx.native_handle();

  long version = 0;
  if (o.min_version.empty() || o.min_version == "1.2" || o.min_version == "tlsv1.2")
    version = TLS1_2_VERSION;
  else if (o.min_version == "1.3" || o.min_version == "tlsv1.3")
    version = TLS1_3_VERSION;
  else
    throw std::invalid_argument("tls: min_version must be \"1.2\" or \"1.3\", not \"" +
                                o.min_version + "\"");
  if (SSL_CTX_set_min_proto_version(native, version) != 1)
    throw std::runtime_error("tls: cannot set the minimum TLS version");
  ctx.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_compression);

  if (!o.key_file.empty() && o.cert_file.empty())
    throw std::invalid_argument("tls: key_file is set but cert_file is not");

  if (o.insecure_skip_verify) {
    ctx.set_verify_mode(asio::ssl::verify_none);
  } else {
    ctx.set_verify_mode(asio::ssl::verify_peer);
    try {
      if (!o.ca_file.empty()) ctx.load_verify_file(o.ca_file);
    } catch (const std::system_error& e) {
      throw_tls_config_error(e, "CA file", o.ca_file);
    }
    try {
      if (!o.ca_path.empty()) ctx.add_verify_path(o.ca_path);
    } catch (const std::system_error& e) {
      throw_tls_config_error(e, "CA directory", o.ca_path);
    }
    if (o.ca_file.empty() && o.ca_path.empty() && o.use_system_trust_store) {
      std::error_code ignored;  // an empty store just makes verification fail, clearly
      ctx.set_default_verify_paths(ignored);
    }
  }

  if (!o.cert_file.empty()) {
    const std::string& key = o.key_file.empty() ? o.cert_file : o.key_file;
    try {
      ctx.use_certificate_chain_file(o.cert_file);
    } catch (const std::system_error& e) {
      throw_tls_config_error(e, "client certificate", o.cert_file);
    }
    try {
      ctx.use_private_key_file(key, asio::ssl::context::pem);
    } catch (const std::system_error& e) {
      throw_tls_config_error(e, "client key", key);
    }
    if (SSL_CTX_check_private_key(native) != 1) {
      ERR_clear_error();
      throw std::invalid_argument("tls: the client key '" + key +
                                  "' does not match the certificate '" + o.cert_file + "'");
    }
  }
  shared->options = std::move(o);
  return shared;
}

inline bool tls_is_client_cert_alert(int reason) noexcept {
  switch (reason) {
    case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED:
    case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED:
    case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
    case SSL_R_TLSV1_ALERT_ACCESS_DENIED:
      return true;
    default:
      return false;
  }
}

// Errors after the handshake: a rejected client certificate (TLS 1.3 reports it on the first
// read), truncation (mapped to eof, as with plain TCP: MQTT framing is self-delimiting).
inline std::error_code map_tls_io_error(std::error_code ec) noexcept {
  if (!ec) return ec;
  if (ec == asio::ssl::error::stream_truncated) return asio::error::eof;
  if (ec.category() == asio::error::get_ssl_category() &&
      tls_is_client_cert_alert(ERR_GET_REASON(static_cast<unsigned long>(ec.value()))))
    return tls_errc::client_certificate_rejected;
  return ec;
}

inline std::error_code map_tls_handshake_error(std::error_code ec, SSL* ssl) noexcept {
  if (!ec || ec == asio::error::operation_aborted) return ec;
  if (ec.category() == asio::error::get_ssl_category()) {
    const long verify = SSL_get_verify_result(ssl);
    const int reason = ERR_GET_REASON(static_cast<unsigned long>(ec.value()));
    if (verify != X509_V_OK || reason == SSL_R_CERTIFICATE_VERIFY_FAILED)
      return make_verify_error_code(verify);
    if (tls_is_client_cert_alert(reason)) return tls_errc::client_certificate_rejected;
    switch (reason) {
      case SSL_R_WRONG_VERSION_NUMBER:
      case SSL_R_PACKET_LENGTH_TOO_LONG:
#ifdef SSL_R_RECORD_LAYER_FAILURE
      case SSL_R_RECORD_LAYER_FAILURE:
#endif
        return tls_errc::not_tls;
#ifdef SSL_R_UNEXPECTED_EOF_WHILE_READING
      case SSL_R_UNEXPECTED_EOF_WHILE_READING:
        return tls_errc::handshake_closed;
#endif
      case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
      case SSL_R_UNSUPPORTED_PROTOCOL:
        return tls_errc::protocol_version;
      default:
        return ec;
    }
  }
  if (ec == asio::ssl::error::stream_truncated || ec == asio::error::eof ||
      ec == asio::error::connection_reset || ec == asio::ssl::error::unspecified_system_error)
    return tls_errc::handshake_closed;
  return ec;
}

}  // namespace detail

class tls_transport final : public transport {
 public:
  using stream_type = asio::ssl::stream<asio::ip::tcp::socket>;

  tls_transport(const asio::any_io_executor& ex, std::shared_ptr<detail::tls_shared> shared)
      : shared_(std::move(shared)),
        executor_(ex),
        resolver_(ex),
        stream_(socket_executor(ex), shared_->context),
        strand_(concrete_io_strand(ex)) {}

  stream_type& stream() noexcept { return stream_; }

  void async_connect(const std::string& host, std::uint16_t port, io_handler& handler) override {
    resolver_.async_resolve(
        host, std::to_string(port),
        [this, host, h = io_handler_ptr(handler)](
            std::error_code ec, const asio::ip::tcp::resolver::results_type& results) mutable {
          if (!ec && closed_) ec = asio::error::operation_aborted;
          if (ec) {
            h(ec);
            return;
          }
          // Connect and handshake handlers are bound to the client's executor: the stream's own
          // executor may be the bare io_context (socket_executor).
          asio::async_connect(
              stream_.next_layer(), results,
              asio::bind_executor(executor_, [this, host = std::move(host), h = std::move(h)](
                                                 std::error_code ec2,
                                                 const asio::ip::tcp::endpoint&) mutable {
                if (!ec2 && closed_) ec2 = asio::error::operation_aborted;
                if (!ec2) ec2 = prepare_session(host);
                if (ec2) {
                  h(ec2);
                  return;
                }
                std::error_code ignored;
                stream_.lowest_layer().set_option(asio::ip::tcp::no_delay(true), ignored);
                stream_.async_handshake(
                    asio::ssl::stream_base::client,
                    asio::bind_executor(
                        executor_, [this, h = std::move(h)](std::error_code ec3) mutable {
                          if (closed_) {  // close() during the handshake: an abort, not a failure
                            h(asio::error::operation_aborted);
                            return;
                          }
                          h(map_handshake_error(ec3));
                        }));
              }));
        });
  }

  // Completions carry io_handler_ptr's allocator (operation memory from the io_handler) and,
  // when the client has a concrete strand, are bound to it (see concrete_io_strand).
  void async_read_some(asio::mutable_buffer buffer, io_handler& handler) override {
    io_handler_ptr h(handler);
    const auto alloc = h.get_allocator();
    auto done = asio::bind_allocator(
        alloc, [this, h = std::move(h)](std::error_code ec, std::size_t n) mutable {
          if (!ec) received_ = true;
          h(map_io_error(ec), n);
        });
    if (strand_)
      stream_.async_read_some(buffer, asio::bind_executor(*strand_, std::move(done)));
    else
      stream_.async_read_some(buffer, std::move(done));
  }

  void async_write(asio::const_buffer buffer, io_handler& handler) override {
    io_handler_ptr h(handler);
    const auto alloc = h.get_allocator();
    auto done = asio::bind_allocator(
        alloc, [this, h = std::move(h)](std::error_code ec, std::size_t n) mutable {
          h(map_io_error(ec), n);
        });
    if (strand_)
      asio::async_write(stream_, buffer, asio::bind_executor(*strand_, std::move(done)));
    else
      asio::async_write(stream_, buffer, std::move(done));
  }

  // Abrupt (no close_notify): MQTT's DISCONNECT already ended the session gracefully.
  void close() noexcept override {
    closed_ = true;
    resolver_.cancel();
    std::error_code ignored;
    stream_.lowest_layer().close(ignored);
  }

 private:
  // SNI and host-name / IP verification for this connection.
  std::error_code prepare_session(const std::string& host) {
    const tls_options& o = shared_->options;
    const std::string& name = o.server_name.empty() ? host : o.server_name;
    SSL* ssl = stream_.native_handle();
    SSL_set_cert_cb(ssl, &tls_transport::on_certificate_request, this);
    std::error_code addr_ec;
    (void)asio::ip::make_address(name, addr_ec);
    const bool is_ip = !addr_ec;
    if (!is_ip && !name.empty()) {
      // SSL_set_tlsext_host_name, without its C-style cast.
      if (SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                   const_cast<char*>(name.c_str())) != 1) {
        ERR_clear_error();
        return std::make_error_code(std::errc::invalid_argument);
      }
    }
    if (o.insecure_skip_verify) return {};
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    const int ok = is_ip ? X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str())
                         : X509_VERIFY_PARAM_set1_host(param, name.c_str(), name.size());
    if (ok != 1) {
      ERR_clear_error();
      return tls_errc::host_name_mismatch;  // e.g. an empty or malformed name: cannot match
    }
    return {};
  }

  std::error_code map_io_error(std::error_code ec) noexcept {
    if (ec && !received_ && cert_requested_ && !closed_ &&
        SSL_version(stream_.native_handle()) == TLS1_3_VERSION &&
        (ec == asio::ssl::error::stream_truncated || ec == asio::error::eof ||
         ec == asio::error::connection_reset || ec == asio::error::broken_pipe)) {
      // TLS 1.3: the client's handshake completes before the server has checked our
      // certificate; a server rejecting it sends an alert and closes, and the alert is often
      // lost to the TCP reset caused by our unread CONNECT. A server that asked for a
      // certificate and then closed before sending anything rejected it.
      return tls_errc::client_certificate_rejected;
    }
    return detail::map_tls_io_error(ec);
  }

  std::error_code map_handshake_error(std::error_code ec) noexcept {
    ec = detail::map_tls_handshake_error(ec, stream_.native_handle());
    // TLS 1.2 servers answer a missing certificate with a generic handshake_failure alert.
    if (cert_requested_ && shared_->options.cert_file.empty() &&
        ec.category() == asio::error::get_ssl_category() &&
        ERR_GET_REASON(static_cast<unsigned long>(ec.value())) ==
            SSL_R_SSLV3_ALERT_HANDSHAKE_FAILURE)
      return tls_errc::client_certificate_rejected;
    return ec;
  }

  // OpenSSL calls this (client side) when the server asks for a client certificate.
  static int on_certificate_request(SSL*, void* self) {
    static_cast<tls_transport*>(self)->cert_requested_ = true;
    return 1;  // go on with the configured certificate, if any
  }

  std::shared_ptr<detail::tls_shared> shared_;
  asio::any_io_executor executor_;  // the client's (its strand)
  asio::ip::tcp::resolver resolver_;
  stream_type stream_;
  std::optional<io_strand_executor> strand_;  // the client's strand, when concrete
  bool closed_ = false;
  bool cert_requested_ = false;  // the server asked for a client certificate
  bool received_ = false;        // application data has been received
};

// A transport_factory for client_options::transport. Loads the CA, the client certificate and
// key once (throws std::system_error / std::invalid_argument when they are unusable); every call
// then creates a fresh tls_transport sharing that SSL context.
inline transport_factory make_tls_transport_factory(tls_options options) {
  std::shared_ptr<detail::tls_shared> shared = detail::make_tls_shared(std::move(options));
  return [shared](const asio::any_io_executor& ex) -> std::unique_ptr<transport> {
    return std::make_unique<tls_transport>(ex, shared);
  };
}

}  // namespace amqtt
