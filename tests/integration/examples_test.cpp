// The example programs (examples/example_*.cpp) run against a real mosquitto: each subscribes,
// publishes, receives its own message, disconnects and exits 0. Binaries: as in cli_test.cpp
// ($AMQTT_BIN_DIR, AMQTT_EXAMPLES_DIR, <build>/examples); skipped with a warning when absent
// unless AMQTT_EXAMPLES_DIR is defined. example_coroutines is only built when the compiler
// supports C++20 coroutines.
#include "support/mosquitto_broker.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>

#include <sys/stat.h>
#include <unistd.h>

namespace {

using amqtt::test::mosquitto_broker;
using amqtt::test::temp_dir;
using namespace std::chrono_literals;

using amqtt::test::fixture_detail::is_executable;  // tests/support/subprocess.hpp
using amqtt::test::fixture_detail::read_file;

std::string examples_dir() {
  if (const char* e = std::getenv("AMQTT_BIN_DIR"); e != nullptr && *e != '\0') return e;
#ifdef AMQTT_EXAMPLES_DIR
  return AMQTT_EXAMPLES_DIR;
#else
  return std::string(AMQTT_BINARY_DIR) + "/examples";
#endif
}

}  // namespace

TEST_CASE("examples: each example round-trips a message through mosquitto", "[integration][examples]") {
  const std::string dir = examples_dir();
  if (!is_executable(dir + "/example_callbacks")) {
#ifdef AMQTT_EXAMPLES_DIR
    FAIL("examples not found in " << dir);
#else
    WARN("skipped: examples not found in " << dir << " (AMQTT_BUILD_EXAMPLES=OFF?); set AMQTT_BIN_DIR");
    return;
#endif
  }
  mosquitto_broker broker;
  temp_dir out("amqtt-examples");

  for (const char* name : {"example_callbacks", "example_futures", "example_coroutines"}) {
    const std::string exe = dir + "/" + name;
    if (!is_executable(exe)) {
      WARN(name << " not built (no C++20 coroutine support?)");
      continue;
    }
    {
      const std::string log = out.file(std::string(name) + ".log");
      const auto t0 = std::chrono::steady_clock::now();
      const int rc = amqtt::test::run_process({exe, broker.host(), std::to_string(broker.port())}, log, 20s);
      const auto took = std::chrono::steady_clock::now() - t0;
      const std::string output = read_file(log);
      INFO(name << " output:\n" << output);
      CHECK(rc == 0);
      CHECK(output.find("received 'hello from ") != std::string::npos);
      CHECK(took < 5s);  // no lingering timers: the program ends right after the exchange
    }
  }
}

TEST_CASE("examples: a failure is reported and the example exits non-zero", "[integration][examples]") {
  const std::string dir = examples_dir();
  if (!is_executable(dir + "/example_callbacks")) return;  // warned above
  std::uint16_t port = 0;
  {
    mosquitto_broker broker;  // a free port, then nobody listens on it
    port = broker.port();
  }
  temp_dir out("amqtt-examples");
  for (const char* name : {"example_callbacks", "example_futures", "example_coroutines"}) {
    const std::string exe = dir + "/" + name;
    if (!is_executable(exe)) continue;
    const std::string log = out.file(std::string(name) + ".log");
    const int rc = amqtt::test::run_process({exe, "127.0.0.1", std::to_string(port)}, log, 20s);
    INFO(name << " output:\n" << read_file(log));
    CHECK(rc == 1);
    CHECK(read_file(log).find("failed") != std::string::npos);
  }
}
