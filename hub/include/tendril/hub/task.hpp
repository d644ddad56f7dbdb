#pragma once
// Tasks: green threads on the hub, gevent's Greenlet.
//
//   tendril::task<int> t = tendril::spawn([](int x) { return x * 2; }, 21);
//   int v = t.get();   // parks until t has finished; 42
//
// spawn() creates a greenlet whose parent is the calling thread's hub and
// queues it; tasks start in the order they were spawned, when the spawner
// next parks (or yields). A task's outcome is a value, an exception, or a
// kill. The hub keeps a task alive until it finishes, so handles may be
// dropped at once ("fire and forget").
//
// A failure nobody observes (no get(), exception(), joinall with raise_error
// or link before the last handle goes and the task has finished) is reported
// to the hub's task error handler, which by default prints
// `task "<name>" (id N) failed: <what>` to stderr. The process keeps running.

#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <new>
#include <string>
#include <type_traits>
#include <utility>

#include <tendril/error.hpp>
#include <tendril/fiber/greenlet.hpp>
#include <tendril/hub/detail/task_body.hpp>
#include <tendril/hub/park.hpp>

namespace tendril {

/// task_killed is thrown by get() of a task that was killed (greenlet_exit
/// ended it, or it was killed before it started); what() names the task.
class task_killed : public error {
 public:
  using error::error;
};

/// spawn_options name a task and size its stack.
struct spawn_options {
  std::string name;            ///< shown in errors, reports and dumps
  std::size_t stack_size = 0;  ///< bytes; 0 means default_stack_size()
};

/// task_base is an untyped shared handle to a task; task<T> adds get().
class task_base {
 public:
  /// A link callback; runs once when the task finishes.
  using link_function = std::function<void(const task_base&)>;
  using link_id = std::uint64_t;

  task_base() noexcept = default;  ///< an empty handle; using it throws tendril::error
  task_base(const task_base& other) noexcept;
  task_base(task_base&& other) noexcept : state_(std::exchange(other.state_, nullptr)) {}
  task_base& operator=(const task_base& other) noexcept;
  task_base& operator=(task_base&& other) noexcept;
  ~task_base();

  /// ready() is true once the task has finished: returned, failed or was killed.
  bool ready() const;
  /// successful() is true once it has returned a value.
  bool successful() const;
  /// killed() is true once greenlet_exit ended it, or a kill came before it started.
  bool killed() const;
  /// exception() is what ended it (greenlet_exit when killed), or null if it
  /// succeeded or is still running; once it has finished, counts as
  /// observing a failure.
  std::exception_ptr exception() const;

  /// join() waits until the task has finished; it does not rethrow (get() does).
  ///
  /// Blocking:      parks the calling fiber; blocks a thread without a hub.
  /// Deadline:      join_for/join_until return false when it passes.
  /// Cancellation:  a kill or timeout of the caller raises at the park.
  /// Thread-safety: any thread. From another thread than the task's, the
  ///                request goes to the task's hub by mail (hub_ref::post).
  /// Errors:        tendril::error naming the task when it joins itself,
  ///                when nothing can ever finish it (would block forever),
  ///                and, from another thread, when its hub has exited
  ///                without finishing it.
  void join() const { join_until(no_deadline); }
  bool join_for(clock::duration timeout) const { return join_until(deadline_after(timeout)); }
  bool join_until(clock::time_point deadline) const;

  /// kill(e, block, timeout) raises `e` (null: greenlet_exit) in the task at
  /// its park point; a task that has not started dies without running (from
  /// another thread too: "not started" as of the kill() call). With
  /// `block`, waits up to `timeout` for it to finish. Returns ready().
  /// Killing a finished task does nothing; the calling task killing itself
  /// raises `e` at once. A task may catch the exception and go on (it is
  /// raised once per kill).
  /// Blocking, cancellation, thread-safety, errors: as join.
  bool kill(std::exception_ptr error = nullptr, bool block = true,
            clock::duration timeout = clock::duration::max()) const;

  /// link(fn) calls fn(task) once the task has finished, on the task's
  /// thread, right after it finished (at once if it already has: on the
  /// calling thread if that is the task's, else soon on the task's). fn must
  /// not block; an exception from it goes to the hub's task error handler.
  /// A link that runs counts as observing a failure. Returns an id for unlink().
  link_id link(link_function fn) const;
  /// unlink(id) removes a link that has not run; false if there was none.
  /// From another thread it asks the task's hub and waits for the answer.
  bool unlink(link_id id) const;

  /// id() is the task's greenlet's id, unique for the process's life.
  std::uint64_t id() const;
  /// name() is the name given in spawn_options (or by set_name); may be empty.
  std::string name() const;
  void set_name(std::string name) const;
  /// describe() is `task <id> "<name>"`, the form errors use.
  std::string describe() const;
  /// greenlet() is the task's greenlet.
  tendril::greenlet greenlet() const;

  /// empty() is true for a default-constructed or moved-from handle.
  bool empty() const noexcept { return state_ == nullptr; }
  friend bool operator==(const task_base& a, const task_base& b) noexcept { return a.state_ == b.state_; }

  /// Internal: adopts one reference.
  explicit task_base(detail::task_state* adopted) noexcept : state_(adopted) {}
  detail::task_state* state() const noexcept { return state_; }

 protected:
  /// wait_result() joins, marks the outcome observed and rethrows a failure
  /// (task_killed for a kill); returns the task_result<T>.
  void* wait_result() const;

 private:
  detail::task_state* checked() const;

  detail::task_state* state_ = nullptr;
};

/// task<T> is a task whose function returns T.
template <class T>
class task : public task_base {
 public:
  task() noexcept = default;
  explicit task(detail::task_state* adopted) noexcept : task_base(adopted) {}

  /// get() waits for the task and returns its value (a copy; a move-only
  /// value is moved out, so only the first get() has it), or rethrows its
  /// exception; a killed task throws task_killed.
  /// Blocking, deadline, cancellation, thread-safety: as join().
  T get() const {
    void* result = wait_result();
    if constexpr (!std::is_void_v<T>) {
      auto& value = static_cast<detail::task_result<T>*>(result)->value;
      if (!value) throw error(describe() + ": its value was moved out by an earlier get()");
      if constexpr (std::is_copy_constructible_v<T>) {
        return *value;
      } else {
        T out = std::move(*value);
        value.reset();
        return out;
      }
    }
  }
};

namespace detail {

/// spawnable<F, Args...>: a task can call its decayed copy of F with its
/// decayed copies of Args, moved in (std::thread's rule).
template <class F, class... Args>
concept spawnable = std::invocable<std::decay_t<F>, std::decay_t<Args>...>;

template <class F, class... Args>
auto spawn_with(spawn_request&& request, F&& f, Args&&... args) {
  auto call = bound_call(std::forward<F>(f), std::forward<Args>(args)...);
  using result = std::invoke_result_t<decltype(call)&>;
  using value = std::conditional_t<std::is_void_v<result>, void, std::decay_t<result>>;
  using body = task_body<value, decltype(call)>;
  task_state* state = new_task(sizeof(body), alignof(body), &body::vtable, request.home);
  try {
    auto* b = ::new (task_body_of(state)) body{};
    b->fn.emplace(std::move(call));
  } catch (...) {
    discard_task(state);
    throw;
  }
  task<value> handle(state);
  schedule_task(state, std::move(request));
  return handle;
}

}  // namespace detail

/// spawn(f, args...) starts f(args...) as a task on the calling thread's hub
/// (creating the hub on first use). Arguments are copied or moved into the
/// task, as std::thread does. The task starts after the tasks spawned before
/// it, once the caller parks or yields.
/// Errors: std::bad_alloc; tendril::error for a callable aligned beyond
/// operator new's default; a stack that cannot be mapped fails the task.
template <class F, class... Args>
  requires detail::spawnable<F, Args...>
auto spawn(F&& f, Args&&... args) {
  return detail::spawn_with({}, std::forward<F>(f), std::forward<Args>(args)...);
}

/// spawn(options, f, args...) is spawn() with a name and a stack size.
template <class F, class... Args>
auto spawn(spawn_options options, F&& f, Args&&... args) {
  return detail::spawn_with({std::move(options.name), options.stack_size, {}, 0, 0}, std::forward<F>(f),
                            std::forward<Args>(args)...);
}

/// spawn_later(delay, f, args...) is spawn() starting no sooner than `delay`
/// from now. Killing it before then cancels it.
template <class F, class... Args>
auto spawn_later(clock::duration delay, F&& f, Args&&... args) {
  return detail::spawn_with({{}, 0, delay, 0, 0}, std::forward<F>(f), std::forward<Args>(args)...);
}

/// task_error_handler receives each failure that nobody observed, and what
/// a function posted to the hub (hub_ref::post) threw, with an empty task.
using task_error_handler = std::function<void(const task_base& task, std::exception_ptr error)>;

/// set_task_error_handler(fn) replaces the calling thread's handler (empty:
/// the default, which prints to stderr) and returns the previous one.
task_error_handler set_task_error_handler(task_error_handler fn);

/// current_task() is the task running on the calling fiber, or empty when the
/// calling greenlet is not a task (a main greenlet, a plain greenlet).
task_base current_task();

}  // namespace tendril
