// Build smoke test: proves the test harness (layer glob, shared Catch main,
// standalone Asio, compile definitions) works. Keep it cheap.
#include <string>

#include <asio.hpp>
#include <catch2/catch.hpp>

TEST_CASE("build smoke: standalone asio io_context runs posted handlers", "[smoke]") {
  asio::io_context io;
  int calls = 0;
  asio::post(io, [&calls] { ++calls; });
  asio::post(io, [&calls] { ++calls; });
  REQUIRE(io.run() == 2);
  CHECK(calls == 2);
}

TEST_CASE("build smoke: test compile definitions are set", "[smoke]") {
  CHECK_FALSE(std::string(AMQTT_SOURCE_DIR).empty());
  CHECK_FALSE(std::string(AMQTT_SHARED_DIR).empty());
  CHECK(std::string(AMQTT_TEST_LAYER) == "codec");
#if !defined(ASIO_STANDALONE) || !defined(ASIO_NO_DEPRECATED)
  FAIL("Asio::Asio must define ASIO_STANDALONE and ASIO_NO_DEPRECATED");
#endif
}
