#pragma once
// The codec layer: bytes <-> MQTT 3.1.1 packets. Pure C++17: no Asio, no I/O, no clocks.

#include "amqtt/codec/decoder.hpp"
#include "amqtt/codec/encoder.hpp"
#include "amqtt/codec/error.hpp"
#include "amqtt/codec/packets.hpp"
#include "amqtt/codec/remaining_length.hpp"
#include "amqtt/codec/stream_decoder.hpp"
#include "amqtt/codec/subscription_index.hpp"
#include "amqtt/codec/topic.hpp"
#include "amqtt/codec/utf8.hpp"
