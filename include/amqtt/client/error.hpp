#pragma once
// Error codes of the client layer (category "amqtt.client").
//
// Other categories a client operation can report:
//   amqtt.protocol  protocol_errc: server violations, CONNACK refusals, keepalive timeout,
//                   queue_full (amqtt/protocol/error.hpp)
//   amqtt.codec     codec_errc: invalid topic, filter, string... (amqtt/codec/error.hpp)
//   asio.*          transport errors (connection_refused, eof, host_not_found, ...) and
//                   asio::error::operation_aborted for cancelled or aborted operations.

#include <string>
#include <system_error>

namespace amqtt {

enum class client_errc {
  connect_timeout = 1,  // DNS + TCP (+ TLS) + CONNECT/CONNACK did not finish within connect_timeout
  no_brokers,           // client_options::brokers is empty
  empty_client_id,      // clean_session = false needs a client identifier
  invalid_options,      // an option is out of range (see docs/client.md)
  already_running,      // async_run while another async_run is pending
  disconnecting,        // async_run / async_connect while a graceful disconnect is in progress
  receive_pending,      // async_receive while another async_receive is pending
  transport_failed,     // the transport factory returned no transport
};

class client_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "amqtt.client"; }
  std::string message(int value) const override {
    switch (static_cast<client_errc>(value)) {
      case client_errc::connect_timeout:
        return "connect timeout: no CONNACK within the connect timeout";
      case client_errc::no_brokers:
        return "no broker address configured";
      case client_errc::empty_client_id:
        return "a client identifier is required when clean_session is false";
      case client_errc::invalid_options:
        return "invalid client options";
      case client_errc::already_running:
        return "the connection loop is already run by another async_run";
      case client_errc::disconnecting:
        return "the client is disconnecting";
      case client_errc::receive_pending:
        return "another async_receive is already pending";
      case client_errc::transport_failed:
        return "the transport factory did not create a transport";
    }
    return "unknown amqtt client error";
  }
};

inline const std::error_category& client_category() noexcept {
  static const client_category_impl category;
  return category;
}

inline std::error_code make_error_code(client_errc e) noexcept {
  return {static_cast<int>(e), client_category()};
}

}  // namespace amqtt

template <>
struct std::is_error_code_enum<amqtt::client_errc> : std::true_type {};
