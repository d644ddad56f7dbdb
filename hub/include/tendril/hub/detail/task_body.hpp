#pragma once
// What task<T> and spawn() need inline: the typed part of a task (its
// callable, then its result) stored behind the untyped task state, in the same
// allocation, the way greenlet stores its run callable. Not API.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

namespace tendril::detail {

class task_state;

/// How to run and destroy the typed body behind a task_state.
struct task_vtable {
  /// run(body) calls the callable once, stores its result and destroys the
  /// callable (its captures are released as soon as the task ends). An
  /// exception from the callable propagates to the caller, which records it.
  void (*run)(void* body);
  void (*destroy)(void* body) noexcept;
  /// result(body) is the body's task_result<T>.
  void* (*result)(void* body) noexcept;
};

/// task_result<T> is where a finished task's value lives.
template <class T>
struct task_result {
  std::optional<T> value;
  template <class F>
  void store(F& fn) {
    value.emplace(std::invoke(fn));
  }
};

template <>
struct task_result<void> {
  template <class F>
  void store(F& fn) {
    std::invoke(fn);
  }
};

/// task_body<T, F> holds the callable until it has run, then the result.
template <class T, class F>
struct task_body {
  std::optional<F> fn;
  task_result<T> result;

  static void run(void* self) {
    auto* body = static_cast<task_body*>(self);
    body->result.store(*body->fn);
    body->fn.reset();
  }
  static void destroy(void* self) noexcept { static_cast<task_body*>(self)->~task_body(); }
  static void* result_of(void* self) noexcept { return &static_cast<task_body*>(self)->result; }
  static constexpr task_vtable vtable{&run, &destroy, &result_of};
};

/// bound_call(f, args...) is a callable that calls f with args, all stored by
/// value (decayed, a std::reference_wrapper kept as one), like std::thread's arguments.
template <class F, class... Args>
auto bound_call(F&& f, Args&&... args) {
  return [fn = std::forward<F>(f), tuple = std::tuple<std::decay_t<Args>...>(
                                       std::forward<Args>(args)...)]() mutable -> decltype(auto) {
    return std::apply(
        [&](auto&... a) -> decltype(auto) { return std::invoke(std::move(fn), std::move(a)...); }, tuple);
  };
}

/// spawn_request is what spawn() hands to the hub.
struct spawn_request {
  std::string name;
  std::size_t stack_size = 0;
  std::chrono::steady_clock::duration delay{};  ///< spawn_later: when to start
  std::uint64_t home = 0;  ///< spawn_on: the id of the hub to run on; 0: the calling thread's
  long home_thread = 0;    ///< spawn_on: that hub's thread, for errors
  /// runtime::spawn: another hub of the runtime may take the task in
  /// instead, while it waits in its hub's mail (see hub::steal_from).
  bool stealable = false;
};

/// new_task(body_size, body_align, vtable, home) allocates an unstarted
/// task's state with room for its body, for the hub with id `home` (0: the
/// calling thread's); the caller constructs the body there (task_body_of)
/// and then calls schedule_task(), or discard_task() if the construction threw.
task_state* new_task(std::size_t body_size, std::size_t body_align, const task_vtable* vtable,
                     std::uint64_t home);
void* task_body_of(task_state* state) noexcept;
void schedule_task(task_state* state, spawn_request&& request);
void discard_task(task_state* state) noexcept;

}  // namespace tendril::detail
