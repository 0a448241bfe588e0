#pragma once
// Library version (kept in step with project(VERSION) in CMakeLists.txt).

#define AMQTT_VERSION_MAJOR 0
#define AMQTT_VERSION_MINOR 1
#define AMQTT_VERSION_PATCH 0
#define AMQTT_VERSION_STRING "0.1.0"
