// Hand-rolled MQTT 3.1.1 packets and timed Asio I/O for tests that must not
// depend on the library under test (e.g. tests of the broker fixture itself).
// Every operation takes a timeout; nothing blocks without bound.
//
// Works with any Asio AsyncStream that has lowest_layer(): asio::ip::tcp::socket
// and asio::ssl::stream<asio::ip::tcp::socket>.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include <asio.hpp>

namespace amqtt::test::raw {

using bytes = std::vector<std::uint8_t>;
using namespace std::chrono_literals;

// --- encoding ------------------------------------------------------------------

inline void put_u16(bytes& b, std::uint16_t v) {
  b.push_back(static_cast<std::uint8_t>(v >> 8));
  b.push_back(static_cast<std::uint8_t>(v & 0xFF));
}

inline void put_str(bytes& b, const std::string& s) {
  put_u16(b, static_cast<std::uint16_t>(s.size()));
  b.insert(b.end(), s.begin(), s.end());
}

/// fixed header byte + remaining length + body
inline bytes packet(std::uint8_t first_byte, const bytes& body) {
  bytes out{first_byte};
  std::size_t len = body.size();
  do {
    std::uint8_t d = static_cast<std::uint8_t>(len % 128);
    len /= 128;
    if (len > 0) {
      d |= 0x80;
    }
    out.push_back(d);
  } while (len > 0);
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

struct connect_options {
  std::string client_id;
  bool clean_session = true;
  std::uint16_t keep_alive = 60;
  std::optional<std::string> username;
  std::optional<std::string> password;
};

inline bytes connect_packet(const connect_options& o = {}) {
  bytes body;
  put_str(body, "MQTT");
  body.push_back(0x04);  // protocol level 3.1.1
  std::uint8_t flags = 0;
  if (o.clean_session) {
    flags |= 0x02;
  }
  if (o.username) {
    flags |= 0x80;
  }
  if (o.password) {
    flags |= 0x40;
  }
  body.push_back(flags);
  put_u16(body, o.keep_alive);
  put_str(body, o.client_id);
  if (o.username) {
    put_str(body, *o.username);
  }
  if (o.password) {
    put_str(body, *o.password);
  }
  return packet(0x10, body);
}

inline bytes subscribe_packet(std::uint16_t packet_id, const std::string& topic, std::uint8_t qos) {
  bytes body;
  put_u16(body, packet_id);
  put_str(body, topic);
  body.push_back(qos);
  return packet(0x82, body);
}

inline bytes publish_packet(const std::string& topic, const std::string& payload, std::uint8_t qos,
                            std::uint16_t packet_id = 0, bool retain = false) {
  bytes body;
  put_str(body, topic);
  if (qos > 0) {
    put_u16(body, packet_id);
  }
  body.insert(body.end(), payload.begin(), payload.end());
  return packet(static_cast<std::uint8_t>(0x30 | (qos << 1) | (retain ? 1 : 0)), body);
}

inline bytes puback_packet(std::uint16_t packet_id) {
  bytes body;
  put_u16(body, packet_id);
  return packet(0x40, body);
}

inline bytes pingreq_packet() { return {0xC0, 0x00}; }
inline bytes disconnect_packet() { return {0xE0, 0x00}; }

// --- timed I/O -------------------------------------------------------------------

/// Runs one async operation with a deadline on a private io_context.
/// `start(handler)` must initiate exactly one operation completing with
/// handler(error_code); `cancel()` is called when the deadline passes.
/// Returns asio::error::timed_out on timeout.
template <class Start, class Cancel>
std::error_code run_timed(asio::io_context& io, std::chrono::milliseconds timeout, Start&& start,
                          Cancel&& cancel) {
  // Shared state so that a (theoretical) late completion never touches a
  // dead stack frame.
  struct state {
    explicit state(asio::io_context& io) : timer(io) {}
    std::optional<std::error_code> result;
    bool timed_out = false;
    asio::steady_timer timer;
  };
  auto st = std::make_shared<state>(io);
  st->timer.expires_after(timeout);
  start([st](std::error_code ec) {
    st->result = ec;
    st->timer.cancel();
  });
  st->timer.async_wait([st, &cancel](std::error_code ec) {
    if (!ec && !st->result) {
      st->timed_out = true;
      cancel();
    }
  });
  io.restart();
  // Cancellation completes the operation promptly; the extra margin only
  // guards against a broken stream implementation.
  io.run_for(timeout + 5s);
  if (!st->result) {
    cancel();
    io.restart();
    io.run_for(1s);
    return asio::error::timed_out;
  }
  return st->timed_out ? std::error_code(asio::error::timed_out) : *st->result;
}

inline std::error_code tcp_connect(asio::io_context& io, asio::ip::tcp::socket& s,
                                   const std::string& host, std::uint16_t port,
                                   std::chrono::milliseconds timeout = 2s) {
  const asio::ip::tcp::endpoint ep(asio::ip::make_address(host), port);
  return run_timed(
      io, timeout, [&](auto h) { s.async_connect(ep, [h](std::error_code ec) mutable { h(ec); }); },
      [&] {
        std::error_code ignored;
        s.close(ignored);
      });
}

template <class Stream>
std::error_code write_all(asio::io_context& io, Stream& s, const bytes& data,
                          std::chrono::milliseconds timeout = 2s) {
  return run_timed(
      io, timeout,
      [&](auto h) {
        asio::async_write(s, asio::buffer(data),
                          [h](std::error_code ec, std::size_t) mutable { h(ec); });
      },
      [&] {
        std::error_code ignored;
        s.lowest_layer().cancel(ignored);
      });
}

/// Reads exactly n bytes (appended to `out`; on timeout `out` holds what arrived).
/// On timeout the socket is only cancelled, not closed: it can be read again.
template <class Stream>
std::error_code read_exact(asio::io_context& io, Stream& s, std::size_t n, bytes& out,
                           std::chrono::milliseconds timeout = 2s) {
  const std::size_t old = out.size();
  out.resize(old + n);
  auto got = std::make_shared<std::size_t>(0);
  auto ec = run_timed(
      io, timeout,
      [&](auto h) {
        asio::async_read(s, asio::buffer(out.data() + old, n),
                         [h, got](std::error_code e, std::size_t k) mutable {
                           *got = k;
                           h(e);
                         });
      },
      [&] {
        std::error_code ignored;
        s.lowest_layer().cancel(ignored);
      });
  out.resize(old + *got);
  return ec;
}

/// Reads one complete MQTT packet (fixed header + body) within `timeout`.
template <class Stream>
std::error_code read_packet(asio::io_context& io, Stream& s, bytes& out,
                            std::chrono::milliseconds timeout = 2s) {
  using clock = std::chrono::steady_clock;
  const auto deadline = clock::now() + timeout;
  auto left = [&] {
    auto d = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
    return d.count() > 0 ? d : std::chrono::milliseconds(1);
  };
  out.clear();
  if (auto ec = read_exact(io, s, 1, out, left())) {
    return ec;
  }
  std::size_t len = 0;
  std::size_t mul = 1;
  for (int i = 0; i < 4; ++i) {
    if (auto ec = read_exact(io, s, 1, out, left())) {
      return ec;
    }
    len += (out.back() & 0x7F) * mul;
    mul *= 128;
    if ((out.back() & 0x80) == 0) {
      break;
    }
  }
  if (len == 0) {
    return {};
  }
  return read_exact(io, s, len, out, left());
}

/// Decoded view of a PUBLISH packet read with read_packet.
struct publish_view {
  std::uint8_t qos = 0;
  bool dup = false;
  bool retain = false;
  std::string topic;
  std::uint16_t packet_id = 0;
  std::string payload;
};

inline std::optional<publish_view> parse_publish(const bytes& p) {
  if (p.empty() || (p[0] & 0xF0) != 0x30) {
    return std::nullopt;
  }
  publish_view v;
  v.qos = static_cast<std::uint8_t>((p[0] >> 1) & 0x03);
  v.dup = (p[0] & 0x08) != 0;
  v.retain = (p[0] & 0x01) != 0;
  std::size_t i = 1;
  while (i < p.size() && (p[i] & 0x80)) {
    ++i;
  }
  ++i;  // past the last length byte
  if (i + 2 > p.size()) {
    return std::nullopt;
  }
  const std::size_t tlen = static_cast<std::size_t>(p[i] << 8 | p[i + 1]);
  i += 2;
  if (i + tlen > p.size()) {
    return std::nullopt;
  }
  v.topic.assign(p.begin() + static_cast<std::ptrdiff_t>(i),
                 p.begin() + static_cast<std::ptrdiff_t>(i + tlen));
  i += tlen;
  if (v.qos > 0) {
    if (i + 2 > p.size()) {
      return std::nullopt;
    }
    v.packet_id = static_cast<std::uint16_t>(p[i] << 8 | p[i + 1]);
    i += 2;
  }
  v.payload.assign(p.begin() + static_cast<std::ptrdiff_t>(i), p.end());
  return v;
}

}  // namespace amqtt::test::raw
