// amqtt::detail::enqueue_completion: the client's completions run in batches on its strand.
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/strand.hpp>
#include <catch2/catch.hpp>

#include <amqtt/client/detail/completion_runner.hpp>

using amqtt::io_strand_executor;
using amqtt::detail::completion_pool;
using amqtt::detail::enqueue_completion;
using amqtt::detail::max_completions_per_turn;

namespace {

struct pool_ref {
  completion_pool* p = completion_pool::create();
  ~pool_ref() { p->release(); }
};

// Enqueues itself again `left` more times (as a handler that calls async_receive again and gets
// a message at once), recording each run.
struct chain {
  completion_pool* pool;
  const io_strand_executor* strand;
  std::vector<int>* log;
  int left;
  void operator()() {
    CHECK(strand->running_in_this_thread());
    log->push_back(left);
    if (left > 0) enqueue_completion(pool, *strand, chain{pool, strand, log, left - 1});
  }
};

// An io_context, a strand on it, a pool, and what the completions ran.
struct runner_fixture {
  asio::io_context io;
  const io_strand_executor strand = asio::make_strand(io.get_executor());
  pool_ref pool;
  std::vector<int> log;

  template <class F>
  void enqueue(F f) {
    enqueue_completion(pool.p, strand, std::move(f));
  }
  chain chain_of(int length) { return chain{pool.p, &strand, &log, length - 1}; }
};

}  // namespace

TEST_CASE_METHOD(runner_fixture,
                 "completion runner: completions run on the strand in the order queued",
                 "[client][runner]") {
  asio::post(strand, [&] {
    for (int i = 0; i < 10; ++i)
      enqueue([this, i] {
        CHECK(strand.running_in_this_thread());
        log.push_back(i);
      });
    CHECK(log.empty());  // never inside the call that queued them
  });
  io.run();
  CHECK(log == std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
}

TEST_CASE_METHOD(runner_fixture,
                 "completion runner: a completion queued by a running one runs in the same turn",
                 "[client][runner]") {
  // 150 completions, each queued by the previous one: with one post per completion that takes
  // 150 turns of the io_context (and a reactor poll between each); batched, ceil(150 / 64).
  asio::post(strand, [&] { enqueue(chain_of(150)); });
  std::size_t turns = 0;
  while (io.run_one() != 0) ++turns;
  REQUIRE(log.size() == 150);
  CHECK(log.front() == 149);
  CHECK(log.back() == 0);
  // 1 for the post above; the runner's turns go through the strand (two operations each).
  CHECK(turns <= 1 + 2 * (150 / max_completions_per_turn + 1));
}

TEST_CASE_METHOD(runner_fixture,
                 "completion runner: other handlers run between turns (at most 64 per turn)",
                 "[client][runner]") {
  std::size_t done_at_probe = 0;
  asio::post(strand, [&] {
    enqueue([&] {
      // The first completion of the turn posts a probe to the io_context (not the strand),
      // then starts a chain of 199 more: the probe must not wait for all of them.
      log.push_back(200);
      asio::post(io, [&] { done_at_probe = log.size(); });
      enqueue(chain_of(199));
    });
  });
  io.run();
  REQUIRE(log.size() == 200);
  CHECK(done_at_probe == max_completions_per_turn);
}

TEST_CASE_METHOD(runner_fixture,
                 "completion runner: a throwing handler propagates, the rest still run",
                 "[client][runner]") {
  asio::post(strand, [&] {
    enqueue([&] { log.push_back(1); });
    enqueue([] { throw std::runtime_error("from a handler"); });
    enqueue([&] { log.push_back(3); });
  });
  CHECK_THROWS_AS(io.run(), std::runtime_error);
  CHECK(log == std::vector<int>{1});
  io.restart();
  io.run();
  CHECK(log == std::vector<int>{1, 3});
}

TEST_CASE("completion runner: the io_context destroyed with completions queued frees them",
          "[client][runner]") {
  auto alive = std::make_shared<int>(0);
  int ran = 0;
  completion_pool* pool = completion_pool::create();
  {
    asio::io_context io;
    const io_strand_executor strand = asio::make_strand(io.get_executor());
    asio::post(strand, [&, alive] {
      for (int i = 0; i < 5; ++i) enqueue_completion(pool, strand, [&ran, alive] { ++ran; });
    });
    io.run_one();                   // the post above ran; the runner is queued, not run
    CHECK(alive.use_count() == 6);  // ours + 5 queued completions
  }  // destroys the runner, which frees the queued completions without running them
  CHECK(ran == 0);
  CHECK(alive.use_count() == 1);
  pool->release();  // the last reference (ASan: nothing leaked)
}
