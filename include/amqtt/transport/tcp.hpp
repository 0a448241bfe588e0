#pragma once
// Plain TCP transport: DNS resolution, connect (each resolved endpoint in turn), TCP_NODELAY.
// Reads and writes are bound to the client's concrete strand when it has one (see
// concrete_io_strand in transport.hpp).

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <utility>

#include <asio/bind_executor.hpp>
#include <asio/connect.hpp>
#include <asio/error.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/write.hpp>

#include "amqtt/transport/transport.hpp"

namespace amqtt {

class tcp_transport final : public transport {
 public:
  using socket_type = asio::ip::tcp::socket;

  explicit tcp_transport(const asio::any_io_executor& ex)
      : executor_(ex),
        resolver_(ex),
        socket_(socket_executor(ex)),
        strand_(concrete_io_strand(ex)) {}

  socket_type& socket() noexcept { return socket_; }

  void async_connect(const std::string& host, std::uint16_t port, io_handler& handler) override {
    resolver_.async_resolve(
        host, std::to_string(port),
        [this, h = io_handler_ptr(handler)](
            std::error_code ec, const asio::ip::tcp::resolver::results_type& results) mutable {
          if (!ec && closed_) ec = asio::error::operation_aborted;
          if (ec) {
            h(ec);
            return;
          }
          // Bound to the client's executor: the socket's own executor may be the bare
          // io_context (socket_executor).
          asio::async_connect(
              socket_, results,
              asio::bind_executor(executor_,
                                  [this, h = std::move(h)](std::error_code ec2,
                                                           const asio::ip::tcp::endpoint&) mutable {
                                    if (!ec2 && closed_) ec2 = asio::error::operation_aborted;
                                    if (!ec2) {
                                      std::error_code ignored;
                                      socket_.set_option(asio::ip::tcp::no_delay(true), ignored);
                                    }
                                    h(ec2);
                                  }));
        });
  }

  void async_read_some(asio::mutable_buffer buffer, io_handler& handler) override {
    if (strand_)
      socket_.async_read_some(buffer, asio::bind_executor(*strand_, io_handler_ptr(handler)));
    else
      socket_.async_read_some(buffer, io_handler_ptr(handler));
  }

  void async_write(asio::const_buffer buffer, io_handler& handler) override {
    if (strand_)
      asio::async_write(socket_, buffer, asio::bind_executor(*strand_, io_handler_ptr(handler)));
    else
      asio::async_write(socket_, buffer, io_handler_ptr(handler));
  }

  void close() noexcept override {
    closed_ = true;
    resolver_.cancel();
    std::error_code ignored;
    socket_.close(ignored);
  }

 private:
  asio::any_io_executor executor_;  // the client's (its strand)
  asio::ip::tcp::resolver resolver_;
  socket_type socket_;
  std::optional<io_strand_executor> strand_;  // the client's strand, when concrete
  bool closed_ = false;
};

// The default transport_factory.
inline std::unique_ptr<transport> make_tcp_transport(const asio::any_io_executor& ex) {
  return std::make_unique<tcp_transport>(ex);
}

}  // namespace amqtt
