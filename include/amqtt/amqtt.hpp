#pragma once
// asio-mqtt: a header-only MQTT 3.1.1 client for C++17 on standalone Asio.
// This umbrella header brings in every layer; include a layer's own header to pay for less.

#include "amqtt/codec/codec.hpp"
#include "amqtt/version.hpp"
