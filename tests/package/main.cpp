// Package consumer smoke test: compiles against the installed / embedded asio-mqtt exactly like
// a user project would, and uses the codec and the client types so that a broken install (missing
// header, missing Asio dependency) fails here.
#include <amqtt/amqtt.hpp>

#include <cstdio>
#include <vector>

#if defined(AMQTT_PACKAGE_TEST_EXPECT_TLS) && !defined(AMQTT_HAS_TLS)
#error "asio-mqtt::tls must define AMQTT_HAS_TLS"
#endif
#if !defined(ASIO_STANDALONE)
#error "asio-mqtt::asio-mqtt must define ASIO_STANDALONE"
#endif

int main() {
  // Codec round trip.
  amqtt::publish_packet p;
  p.topic = "package/test";
  p.payload = "hello";
  p.qos = amqtt::qos::at_least_once;
  p.packet_id = 1;
  std::vector<std::uint8_t> bytes;
  if (amqtt::encode_append(p, bytes)) return 1;
  amqtt::packet out;
  const auto r = amqtt::decode_packet(bytes.data(), bytes.size(), out);
  if (r.status != amqtt::decode_status::complete || !(std::get<amqtt::publish_packet>(out) == p))
    return 2;
  // The client constructs and is destroyed cleanly without a broker.
  asio::io_context io;
  amqtt::client_options options;
  amqtt::client c(io, options);
  std::printf("asio-mqtt %s consumer ok\n", AMQTT_VERSION_STRING);
  return 0;
}
