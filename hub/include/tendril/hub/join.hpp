#pragma once
// Waiting on groups of tasks: joinall, wait, iwait, killall (gevent's names).
// Each takes any range of task handles (task<T> of any T, or task_base).

#include <cstddef>
#include <exception>
#include <initializer_list>
#include <iterator>
#include <memory>
#include <optional>
#include <ranges>
#include <vector>

#include <tendril/hub/park.hpp>
#include <tendril/hub/task.hpp>

namespace tendril {

namespace detail {

class task_collector;

/// borrow_tasks(range) is the tasks' states, without references: the
/// range outlives the call it is passed to (a temporary lives until the end
/// of the full expression).
template <class R>
std::vector<task_state*> borrow_tasks(R&& range) {
  std::vector<task_state*> tasks;
  if constexpr (std::ranges::sized_range<R>) tasks.reserve(std::ranges::size(range));
  for (auto&& t : range) tasks.push_back(static_cast<const task_base&>(t).state());
  return tasks;
}

template <class R>
std::vector<task_base> copy_tasks(R&& range) {
  std::vector<task_base> tasks;
  if constexpr (std::ranges::sized_range<R>) tasks.reserve(std::ranges::size(range));
  for (auto&& t : range) tasks.push_back(static_cast<const task_base&>(t));
  return tasks;
}

bool joinall_until(const std::vector<task_state*>& tasks, clock::time_point deadline, bool raise_error);
std::vector<task_base> wait_until(const std::vector<task_state*>& tasks, std::size_t count,
                                  clock::time_point deadline);
void killall(const std::vector<task_state*>& tasks, std::exception_ptr error, bool block,
             clock::time_point deadline);

}  // namespace detail

/// joinall(tasks, timeout, raise_error) waits until every task has finished;
/// returns false if `timeout` passed first. With raise_error, stops at the
/// first failure (in completion order) and rethrows it, which counts as
/// observing it.
///
/// Blocking:      parks the calling fiber; blocks a thread without a hub.
/// Deadline:      returns false when `timeout` passes.
/// Cancellation:  a kill or timeout scope raises at the park; the tasks go on.
/// Thread-safety: any thread; the tasks may belong to several hubs.
/// Errors:        tendril::error when the caller is one of the tasks, or would
///                block forever.
template <std::ranges::input_range R>
bool joinall(R&& tasks, clock::duration timeout = clock::duration::max(), bool raise_error = false) {
  return detail::joinall_until(detail::borrow_tasks(tasks), deadline_after(timeout), raise_error);
}
inline bool joinall(std::initializer_list<task_base> tasks, clock::duration timeout = clock::duration::max(),
                    bool raise_error = false) {
  return detail::joinall_until(detail::borrow_tasks(tasks), deadline_after(timeout), raise_error);
}

/// wait(tasks, count, timeout) waits until `count` of the tasks (0: all of
/// them) have finished or `timeout` passes; returns the finished ones, in
/// completion order (those finished before the call first, in range order).
/// Blocking, cancellation, thread-safety, errors: as joinall.
template <std::ranges::input_range R>
std::vector<task_base> wait(R&& tasks, std::size_t count = 0,
                            clock::duration timeout = clock::duration::max()) {
  return detail::wait_until(detail::borrow_tasks(tasks), count, deadline_after(timeout));
}

/// killall(tasks, error, block, timeout) kills every task (see task_base::kill),
/// then, with `block`, waits up to `timeout` for all of them to finish.
/// Errors: tendril::error, before killing any, when the caller is one of the
/// tasks (kill itself instead, last).
template <std::ranges::input_range R>
void killall(R&& tasks, std::exception_ptr error = nullptr, bool block = true,
             clock::duration timeout = clock::duration::max()) {
  detail::killall(detail::borrow_tasks(tasks), error, block, deadline_after(timeout));
}

inline std::vector<task_base> wait(std::initializer_list<task_base> tasks, std::size_t count = 0,
                                   clock::duration timeout = clock::duration::max()) {
  return detail::wait_until(detail::borrow_tasks(tasks), count, deadline_after(timeout));
}
inline void killall(std::initializer_list<task_base> tasks, std::exception_ptr error = nullptr,
                    bool block = true, clock::duration timeout = clock::duration::max()) {
  detail::killall(detail::borrow_tasks(tasks), error, block, deadline_after(timeout));
}

/// iwait(tasks, timeout) yields the tasks as they finish:
///
///   for (tendril::task_base& t : tendril::iwait(tasks)) use(t);
///
/// Iteration parks until the next one finishes; it ends when all have been
/// yielded, or when `timeout` (counted from the iwait call) passes.
/// Blocking, cancellation, thread-safety, errors: as joinall, at each step.
class iwait {
 public:
  template <std::ranges::input_range R>
  explicit iwait(R&& tasks, clock::duration timeout = clock::duration::max())
      : iwait(detail::copy_tasks(tasks), deadline_after(timeout)) {}
  explicit iwait(std::initializer_list<task_base> tasks, clock::duration timeout = clock::duration::max())
      : iwait(std::vector<task_base>(tasks), deadline_after(timeout)) {}
  iwait(std::vector<task_base> tasks, clock::time_point deadline);
  iwait(const iwait&) = delete;
  iwait& operator=(const iwait&) = delete;
  ~iwait();

  /// next() is the next task to finish, or nullopt once all have been
  /// yielded or the deadline has passed.
  std::optional<task_base> next();

  class iterator {
   public:
    using value_type = task_base;
    using difference_type = std::ptrdiff_t;
    iterator() = default;
    explicit iterator(iwait* owner) : owner_(owner) { ++*this; }
    task_base& operator*() { return *current_; }
    iterator& operator++() {
      current_ = owner_->next();
      return *this;
    }
    void operator++(int) { ++*this; }
    friend bool operator==(const iterator& it, std::default_sentinel_t) { return !it.current_; }

   private:
    iwait* owner_ = nullptr;
    std::optional<task_base> current_;
  };
  iterator begin() { return iterator(this); }
  std::default_sentinel_t end() { return {}; }

 private:
  std::vector<task_base> tasks_;  // kept alive while iterating
  std::unique_ptr<detail::task_collector> collector_;
  clock::time_point deadline_;
};

}  // namespace tendril
