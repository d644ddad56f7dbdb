#pragma once
// condition_variable: std::condition_variable's interface over tendril::mutex
// (threading.Condition, gevent's Condition).

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>

#include <tendril/hub/park.hpp>
#include <tendril/sync/detail/wait_list.hpp>
#include <tendril/sync/mutex.hpp>

namespace tendril {

/// condition_variable lets fibers and threads wait, with a tendril::mutex
/// held, until another notifies them. Waiters are woken in FIFO order.
class condition_variable {
 public:
  explicit condition_variable(std::string name = {}) : name_(std::move(name)) {}
  condition_variable(const condition_variable&) = delete;
  condition_variable& operator=(const condition_variable&) = delete;
  ~condition_variable();

  /// notify_one() wakes the longest waiter; notify_all() wakes every waiter
  /// present. A notification granted to a waiter interrupted at that moment
  /// goes to the next waiter. Thread-safety: any fiber or thread.
  void notify_one() noexcept;
  void notify_all() noexcept;

  /// wait(lock) unlocks `lock`'s mutex, waits for a notification and locks it
  /// again before returning, whatever happens (as std::condition_variable).
  ///
  /// Blocking:      parks the calling fiber (a thread without a hub blocks).
  /// Deadline:      wait_for/wait_until return std::cv_status::timeout (with
  ///                a predicate: the predicate's value) when it passes.
  /// Cancellation:  a kill or expired timeout scope raises here, after the
  ///                mutex is locked again.
  /// Thread-safety: any fiber on any hub, or any thread.
  /// Errors:        tendril::error if the caller does not hold the mutex.
  void wait(std::unique_lock<mutex>& lock) { wait_until(lock, no_deadline); }
  template <class Predicate>
  void wait(std::unique_lock<mutex>& lock, Predicate ready) {
    while (!ready()) wait(lock);
  }
  std::cv_status wait_until(std::unique_lock<mutex>& lock, clock::time_point deadline);
  template <class Predicate>
  bool wait_until(std::unique_lock<mutex>& lock, clock::time_point deadline, Predicate ready) {
    while (!ready()) {
      if (wait_until(lock, deadline) == std::cv_status::timeout) return ready();
    }
    return true;
  }
  template <class Rep, class Period>
  std::cv_status wait_for(std::unique_lock<mutex>& lock, const std::chrono::duration<Rep, Period>& timeout) {
    return wait_until(lock, deadline_after(std::chrono::duration_cast<clock::duration>(timeout)));
  }
  template <class Rep, class Period, class Predicate>
  bool wait_for(std::unique_lock<mutex>& lock, const std::chrono::duration<Rep, Period>& timeout,
                Predicate ready) {
    return wait_until(lock, deadline_after(std::chrono::duration_cast<clock::duration>(timeout)), ready);
  }

  std::string describe() const;

 private:
  static void pass_on(void* self, detail::waiter& w) noexcept;

  detail::spinlock lock_;
  detail::wait_list waiters_;
  std::string name_;
};

}  // namespace tendril
