// Package consumer smoke test: compiles against the installed / embedded
// asio-mqtt exactly like a user project would.
#include <amqtt/amqtt.hpp>

#if defined(AMQTT_PACKAGE_TEST_EXPECT_TLS) && !defined(AMQTT_HAS_TLS)
#error "asio-mqtt::tls must define AMQTT_HAS_TLS"
#endif
#if !defined(ASIO_STANDALONE)
#error "asio-mqtt::asio-mqtt must define ASIO_STANDALONE"
#endif

int main() { return 0; }
