#pragma once
// asio-mqtt: a header-only MQTT 3.1.1 client for C++17 on standalone Asio.
//
// This umbrella header brings in every layer except TLS (which needs OpenSSL: include
// <amqtt/transport/tls.hpp> and link asio-mqtt::tls). Include a layer's own header to pay for
// less: <amqtt/codec/codec.hpp> (pure codec), <amqtt/protocol/session.hpp> (sans-I/O session),
// <amqtt/client.hpp> (the Asio client).

#include "amqtt/client.hpp"
#include "amqtt/codec/codec.hpp"
#include "amqtt/protocol/session.hpp"
#include "amqtt/version.hpp"
