#pragma once
// asio-mqtt's client: the codec, the session, the TCP transport and amqtt::client.
// (TLS: include "amqtt/transport/tls.hpp" as well and set client_options::transport.)

#include "amqtt/client/client.hpp"
#include "amqtt/client/error.hpp"
#include "amqtt/client/events.hpp"
#include "amqtt/client/message.hpp"
#include "amqtt/client/options.hpp"
#include "amqtt/codec/codec.hpp"
#include "amqtt/protocol/error.hpp"
#include "amqtt/protocol/session.hpp"
#include "amqtt/transport/tcp.hpp"
#include "amqtt/transport/transport.hpp"
