#pragma once
// tendril::run: the entry point of a program written with tasks.

#include <functional>
#include <type_traits>
#include <utility>

#include <tendril/hub/task.hpp>

namespace tendril {

namespace detail {
/// check_run_allowed() throws tendril::error when called from a task.
void check_run_allowed();
/// run_until_idle(main) joins `main`, then waits for every other task of
/// this hub; on an error, kills what is left before rethrowing.
void run_until_idle(const task_base& main);
}  // namespace detail

/// run(f, args...) runs f(args...) as the main task on the calling thread's
/// hub and returns its value once it and every other task on the hub have
/// finished. An exception from f is rethrown here (after the other tasks
/// have finished); failures of other tasks go to the task error handler.
///
/// Blocking:      parks the calling greenlet while the hub runs the tasks.
/// Cancellation:  if the calling greenlet is killed or timed out, the tasks
///                still running are killed before the exception propagates.
/// Thread-safety: runs on the calling thread's hub; one run per thread at a time.
/// Errors:        tendril::error when called from a task; rethrows f's exception; tendril::error when the
/// tasks would
///                block forever (listing them), after killing them.
template <class F, class... Args>
auto run(F&& f, Args&&... args) {
  detail::check_run_allowed();
  auto main = spawn(spawn_options{"main"}, std::forward<F>(f), std::forward<Args>(args)...);
  detail::run_until_idle(main);
  return main.get();
}

}  // namespace tendril
