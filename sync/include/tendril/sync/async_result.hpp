#pragma once
// async_result<T>: a value (or an exception) that arrives once, and those
// waiting for it — gevent.event.AsyncResult; a promise and future in one.
//
//   tendril::async_result<int> answer;
//   std::thread worker([answer]() mutable { answer.set(42); });
//   int v = answer.get();            // parks this fiber until it is set
//
// Handles are cheap, copyable and share one result (like task handles), so
// the setting side and the waiting sides each keep their own.

#include <chrono>
#include <concepts>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include <tendril/error.hpp>
#include <tendril/hub/park.hpp>
#include <tendril/hub/task.hpp>
#include <tendril/sync/detail/result_core.hpp>

namespace tendril {

namespace detail {
template <class T>
concept void_type = std::is_void_v<T>;
template <class T>
concept value_type = !std::is_void_v<T>;
}  // namespace detail

template <class T = void>
class async_result {
 public:
  /// async_result(name) is a new, unset result; the name shows in errors,
  /// would-block-forever reports and dumps.
  explicit async_result(std::string name = {}) : state_(std::make_shared<state>(std::move(name))) {}

  /// set(value) stores the value and wakes every waiter.
  /// Thread-safety: any fiber or thread.
  /// Errors: tendril::error naming the result when it is already set (a
  /// result arrives once; make a new one for the next).
  template <detail::value_type U = T>
  void set(std::type_identity_t<U> value) {
    std::optional<U> staged(std::move(value));  // constructed outside the lock
    state_->core.settle([&]() noexcept { state_->value = std::move(staged); }, nullptr);
  }
  template <detail::void_type U = T>
  void set() {
    state_->core.settle([]() noexcept {}, nullptr);
  }

  /// set_exception(e) makes get() rethrow `e` (null: a tendril::error).
  /// Thread-safety, errors: as set.
  void set_exception(std::exception_ptr e) {
    if (!e) e = std::make_exception_ptr(error(describe() + " was given a null exception"));
    state_->core.settle([]() noexcept {}, std::move(e));
  }

  /// get() waits until the result is set, then returns its value (a copy; a
  /// move-only value is moved out, so only the first get() has it) or
  /// rethrows its exception.
  ///
  /// Blocking:      parks the calling fiber (a thread without a hub blocks).
  /// Deadline:      use wait_for/wait_until first, or a tendril::timeout scope.
  /// Cancellation:  a kill or expired timeout scope raises here.
  /// Thread-safety: any fiber on any hub, or any thread.
  /// Errors:        the stored exception; tendril::error when a move-only
  ///                value was already moved out.
  T get() {
    state_->core.wait_and_rethrow();
    if constexpr (!std::is_void_v<T>) {
      if constexpr (std::is_copy_constructible_v<T>) {
        return *state_->value;  // immutable once ready
      } else {
        std::lock_guard guard(state_->core.lock());
        if (!state_->value) throw error(describe() + ": its value was moved out by an earlier get()");
        T out = std::move(*state_->value);
        state_->value.reset();
        return out;
      }
    }
  }

  /// wait() returns once the result is set (at once if it is); it does not
  /// rethrow. wait_for/wait_until return false when the deadline passes.
  /// Blocking, cancellation, thread-safety: as get.
  void wait() { state_->core.wait_until(no_deadline); }
  template <class Rep, class Period>
  bool wait_for(const std::chrono::duration<Rep, Period>& timeout) {
    return state_->core.wait_until(deadline_after(std::chrono::duration_cast<clock::duration>(timeout)));
  }
  bool wait_until(clock::time_point deadline) { return state_->core.wait_until(deadline); }

  /// ready() is true once set (with a value or an exception).
  bool ready() const noexcept { return state_->core.ready(); }
  /// successful() is true once set with a value.
  bool successful() const noexcept { return ready() && !state_->core.failure(); }
  /// exception() is the exception it was set with, or null.
  std::exception_ptr exception() const noexcept { return state_->core.failure(); }

  /// as_task() is a task on the calling fiber's hub that finishes once this
  /// result is ready, so that joinall, wait and iwait can wait for it beside
  /// other tasks. The task always succeeds; get() the result itself for its
  /// value. It keeps the result alive; kill it to stop waiting. Each call
  /// spawns a new task.
  task<void> as_task() const {
    return spawn(spawn_options{describe()}, [s = state_] { s->core.wait_until(no_deadline); });
  }

  /// describe() is `async_result "name"` (or `async_result 0x...`).
  std::string describe() const { return state_->core.describe(); }

  friend bool operator==(const async_result& a, const async_result& b) noexcept {
    return a.state_ == b.state_;
  }

 private:
  struct state {
    explicit state(std::string name) : core(std::move(name)) {}
    detail::result_core core;
    std::optional<std::conditional_t<std::is_void_v<T>, char, T>> value;
  };
  std::shared_ptr<state> state_;
};

}  // namespace tendril
