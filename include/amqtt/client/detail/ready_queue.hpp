#pragma once
// A FIFO of completions ready to run on the client's strand (see completion_runner.hpp), and the
// state of the one runner that runs them. Intrusive: the nodes are the completions themselves.
// Not thread-safe: used on the client's strand only.

#include <cstddef>

namespace amqtt::detail {

class ready_completion {
 public:
  ready_completion* next = nullptr;

  // Frees this node, then invokes the handler (memory is released before the upcall).
  virtual void run() = 0;
  // Frees this node without invoking the handler.
  virtual void discard() noexcept = 0;

 protected:
  ready_completion() = default;
  ready_completion(const ready_completion&) = delete;
  ready_completion& operator=(const ready_completion&) = delete;
  ~ready_completion() = default;
};

class ready_queue {
 public:
  bool empty() const noexcept { return head_ == nullptr; }

  void push(ready_completion* c) noexcept {
    c->next = nullptr;
    if (tail_)
      tail_->next = c;
    else
      head_ = c;
    tail_ = c;
  }

  ready_completion* pop() noexcept {
    ready_completion* c = head_;
    if (c) {
      head_ = c->next;
      if (!head_) tail_ = nullptr;
      c->next = nullptr;
    }
    return c;
  }

  // Frees every queued completion without running it (the io_context went away).
  void discard_all() noexcept {
    while (ready_completion* c = pop()) c->discard();
  }

  bool runner_posted = false;  // a runner is queued in the io_context
  bool running = false;        // a runner is running the queue right now

 private:
  ready_completion* head_ = nullptr;
  ready_completion* tail_ = nullptr;
};

}  // namespace amqtt::detail
