// amqtt::detail::message_queue: the ring of received messages waiting for async_receive.
#include <cstdint>
#include <string>

#include <catch2/catch.hpp>

#include <amqtt/client/detail/message_queue.hpp>

using amqtt::message;
using amqtt::message_view;
using amqtt::detail::message_queue;

namespace {

message_view view_of(const std::string& topic, const std::string& payload) {
  message_view v;
  v.topic = topic;
  v.payload = payload;
  v.qos = amqtt::qos::at_least_once;
  return v;
}

}  // namespace

TEST_CASE("message_queue: FIFO across wrap-around and growth, head not reset when empty",
          "[client][queue]") {
  message_queue q;
  message out;
  std::uint64_t pushed = 0, popped = 0;
  // Depths 1..40 in turn: the ring empties, keeps turning, wraps and grows (16 -> 32 -> 64)
  // while it holds messages that wrapped.
  for (int round = 0; round < 200; ++round) {
    const int depth = 1 + round % 40;
    for (int i = 0; i < depth; ++i) {
      const std::string payload = "m" + std::to_string(pushed++);
      q.push(view_of("t/" + std::to_string(round), payload));
    }
    CHECK(q.size() == static_cast<std::size_t>(depth));
    for (int i = 0; i < depth; ++i) {
      q.pop_into(out);
      REQUIRE(out.payload == "m" + std::to_string(popped++));
      CHECK(out.topic == "t/" + std::to_string(round));
      CHECK(out.qos == amqtt::qos::at_least_once);
    }
    CHECK(q.empty());
  }
  CHECK(q.capacity() == 64);
  // Pushes interleaved with pops (the steady state: one behind).
  q.push(view_of("a", "1"));
  for (int i = 2; i < 100; ++i) {
    q.push(view_of("a", std::to_string(i)));
    q.pop_into(out);
    REQUIRE(out.payload == std::to_string(i - 1));
  }
  CHECK(q.size() == 1);
  q.clear();
  CHECK(q.empty());
  CHECK(q.capacity() == 0);
}
