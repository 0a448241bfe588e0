// Helpers shared by the client unit tests and the client integration tests.
#pragma once

#include <amqtt/client.hpp>

#include <asio/executor_work_guard.hpp>
#include <asio/async_result.hpp>
#include <asio/io_context.hpp>
#include <asio/use_future.hpp>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace amqtt::test {

using namespace std::chrono_literals;

// An io_context run by one background thread. The destructor lets outstanding work finish
// (bounded), then stops and joins.
class io_thread {
 public:
  explicit io_thread(int threads = 1) {
    for (int i = 0; i < threads; ++i)
      threads_.emplace_back([this] {
        io.run();
        ++finished_;
      });
  }
  ~io_thread() {
    work_.reset();
    const auto deadline = std::chrono::steady_clock::now() + 3s;
    while (finished_.load() < threads_.size() && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(1ms);
    io.stop();
    for (auto& t : threads_) t.join();
  }
  io_thread(const io_thread&) = delete;
  io_thread& operator=(const io_thread&) = delete;

  asio::io_context io;

 private:
  asio::executor_work_guard<asio::io_context::executor_type> work_{io.get_executor()};
  std::vector<std::thread> threads_;
  std::atomic<std::size_t> finished_{0};
};

// A completion token: the operation returns std::future<std::tuple<std::error_code, ...>>
// (asio::use_future throws the error instead, and Asio 1.22's as_tuple cannot wrap it).
struct tuple_future_t {};
inline constexpr tuple_future_t tuple_future{};

// Waits (bounded) for a future; throws on timeout.
template <class T>
T wait_get(std::future<T>& f, std::chrono::milliseconds timeout = 10s) {
  if (f.wait_for(timeout) != std::future_status::ready)
    throw std::runtime_error("timed out waiting for an operation");
  return f.get();
}
template <class T>
T wait_get(std::future<T>&& f, std::chrono::milliseconds timeout = 10s) {
  return wait_get(f, timeout);
}

// Polls `pred` (bounded in time).
template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds timeout = 10s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(2ms);
  }
  return true;
}

}  // namespace amqtt::test

template <class... Args>
struct asio::async_result<amqtt::test::tuple_future_t, void(Args...)> {
  using value_type = std::tuple<std::decay_t<Args>...>;
  using return_type = std::future<value_type>;

  template <class Initiation, class... InitArgs>
  static return_type initiate(Initiation&& init, amqtt::test::tuple_future_t, InitArgs&&... args) {
    auto p = std::make_shared<std::promise<value_type>>();
    return_type f = p->get_future();
    std::forward<Initiation>(init)(
        [p](Args... a) { p->set_value(value_type(std::move(a)...)); },
        std::forward<InitArgs>(args)...);
    return f;
  }
};
