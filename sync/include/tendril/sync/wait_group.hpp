#pragma once
// wait_group: wait for a counted set of jobs to finish (Go's sync.WaitGroup).
//
//   tendril::wait_group jobs;
//   for (auto& url : urls) {
//     jobs.add();
//     tendril::spawn([&jobs, url] { fetch(url); jobs.done(); });
//   }
//   jobs.wait();                      // parks until every job called done()

#include <chrono>
#include <cstddef>
#include <string>

#include <tendril/hub/park.hpp>
#include <tendril/sync/detail/wait_list.hpp>

namespace tendril {

/// wait_group counts outstanding jobs; wait() returns once the count is 0.
class wait_group {
 public:
  explicit wait_group(std::string name = {}) : name_(std::move(name)) {}
  wait_group(const wait_group&) = delete;
  wait_group& operator=(const wait_group&) = delete;
  ~wait_group();

  /// add(n) adds n jobs (n may be negative, as in Go); when the count
  /// reaches 0 every waiter is woken.
  /// Thread-safety: any fiber or thread.
  /// Errors: tendril::error naming the group, changing nothing, when the
  /// count would go below 0.
  void add(std::ptrdiff_t n = 1);
  /// done() is add(-1): one job has finished.
  void done() { add(-1); }

  /// wait() returns once the count is 0 (at once if it is).
  ///
  /// Blocking:      parks the calling fiber (a thread without a hub blocks).
  /// Deadline:      wait_for/wait_until return false when it passes.
  /// Cancellation:  a kill or expired timeout scope raises here; the waiter
  ///                is removed first.
  /// Thread-safety: any fiber on any hub, or any thread.
  void wait() { wait_until(no_deadline); }
  template <class Rep, class Period>
  bool wait_for(const std::chrono::duration<Rep, Period>& timeout) {
    return wait_until(deadline_after(std::chrono::duration_cast<clock::duration>(timeout)));
  }
  bool wait_until(clock::time_point deadline);

  /// count() is the number of outstanding jobs.
  std::size_t count() const noexcept;
  /// describe() is `wait_group "name"` (or `wait_group 0x...`) and its count.
  std::string describe() const;

 private:
  std::string describe_locked() const;

  mutable detail::spinlock lock_;
  std::size_t count_ = 0;
  detail::wait_list waiters_;
  std::string name_;
};

}  // namespace tendril
