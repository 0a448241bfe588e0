#pragma once
// Error codes of the TLS transport (amqtt/transport/tls.hpp). Needs OpenSSL, like tls.hpp.
//
// Two categories:
//   amqtt.tls         tls_errc: host name mismatch, client certificate rejected, the peer does not
//                     speak TLS, ...
//   amqtt.tls.verify  the server certificate failed verification: the value IS OpenSSL's X509
//                     verify result (X509_V_ERR_*), so message() reads e.g.
//                     "certificate verify failed: unable to get local issuer certificate".
// Other TLS failures keep Asio's own codes (category asio.ssl, message from OpenSSL).
//
//   if (amqtt::is_certificate_error(ec)) ...           // any verification failure
//   if (ec == amqtt::tls_errc::host_name_mismatch) ...
//   if (ec.category() == amqtt::tls_verify_category())
//     long x509_result = ec.value();                    // X509_V_ERR_*

#if !__has_include(<openssl/x509.h>)
#error "amqtt/transport/tls_error.hpp needs OpenSSL: link asio-mqtt::tls (or OpenSSL::SSL)"
#endif

#include <string>
#include <system_error>

#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

namespace amqtt {

enum class tls_errc {
  // The server certificate failed verification and OpenSSL gave no detail (a specific failure is
  // reported in tls_verify_category() instead).
  certificate_verify_failed = 1,
  // The server certificate is valid but not for the host name (or IP address) it was reached by.
  host_name_mismatch,
  // The server refused our client certificate, or its absence (mutual TLS).
  client_certificate_rejected,
  // The server closed the connection during the handshake: usually not a TLS port.
  handshake_closed,
  // The server answered with something that is not TLS: a plain MQTT port.
  not_tls,
  // No TLS version acceptable to both sides (tls_options::min_version).
  protocol_version,
};

}  // namespace amqtt

template <>
struct std::is_error_code_enum<amqtt::tls_errc> : std::true_type {};

namespace amqtt {

class tls_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "amqtt.tls"; }
  std::string message(int value) const override {
    switch (static_cast<tls_errc>(value)) {
      case tls_errc::certificate_verify_failed:
        return "certificate verify failed";
      case tls_errc::host_name_mismatch:
        return "certificate verify failed: host name mismatch (the server certificate is not "
               "valid for the name or address used to connect)";
      case tls_errc::client_certificate_rejected:
        return "TLS: the server rejected the client certificate (missing, or not signed by a CA "
               "the server trusts)";
      case tls_errc::handshake_closed:
        return "TLS: the server closed the connection during the handshake (not a TLS port?)";
      case tls_errc::not_tls:
        return "TLS: the server does not speak TLS (a plain MQTT port?)";
      case tls_errc::protocol_version:
        return "TLS: no protocol version acceptable to both sides";
    }
    return "unknown amqtt TLS error";
  }
};

inline const std::error_category& tls_category() noexcept {
  static const tls_category_impl category;
  return category;
}

inline std::error_code make_error_code(tls_errc e) noexcept {
  return {static_cast<int>(e), tls_category()};
}

// Values are X509 verify results (X509_V_ERR_*).
class tls_verify_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "amqtt.tls.verify"; }
  std::string message(int value) const override {
    const char* reason = X509_verify_cert_error_string(value);
    return std::string("certificate verify failed: ") +
           (reason != nullptr ? reason : "unknown reason");
  }
};

inline const std::error_category& tls_verify_category() noexcept {
  static const tls_verify_category_impl category;
  return category;
}

// The error for an X509 verify result (SSL_get_verify_result); host/IP mismatches become
// tls_errc::host_name_mismatch.
inline std::error_code make_verify_error_code(long x509_result) noexcept {
  if (x509_result == X509_V_ERR_HOSTNAME_MISMATCH || x509_result == X509_V_ERR_IP_ADDRESS_MISMATCH)
    return tls_errc::host_name_mismatch;
  if (x509_result == X509_V_OK) return tls_errc::certificate_verify_failed;
  return {static_cast<int>(x509_result), tls_verify_category()};
}

// True for any failure to verify the server certificate (untrusted, expired, wrong host, ...).
inline bool is_certificate_error(const std::error_code& ec) noexcept {
  return ec.category() == tls_verify_category() || ec == tls_errc::certificate_verify_failed ||
         ec == tls_errc::host_name_mismatch;
}

}  // namespace amqtt
