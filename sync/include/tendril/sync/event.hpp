#pragma once
// event: a flag fibers and threads wait for (gevent.event.Event, threading.Event).

#include <chrono>
#include <string>

#include <tendril/hub/park.hpp>
#include <tendril/sync/detail/wait_list.hpp>

namespace tendril {

/// event starts cleared; set() wakes every waiter and lets later waits pass
/// until clear().
class event {
 public:
  /// event(name): the name shows in would-block-forever reports and dumps.
  explicit event(std::string name = {}) : name_(std::move(name)) {}
  event(const event&) = delete;
  event& operator=(const event&) = delete;
  ~event();

  /// set() sets the flag and wakes every waiter present, in the order they
  /// started waiting; each of them returns true from wait, even if clear()
  /// follows at once. Thread-safety: any fiber or thread.
  void set();
  /// clear() resets the flag; waiters already woken still return true.
  void clear() noexcept;
  bool is_set() const noexcept;

  /// wait() returns once the event is set (at once if it is).
  ///
  /// Blocking:      parks the calling fiber (a thread without a hub blocks).
  /// Deadline:      wait_for/wait_until return false when it passes.
  /// Cancellation:  a kill or expired timeout scope raises here; the waiter
  ///                is removed first.
  /// Thread-safety: any fiber on any hub, or any thread.
  /// Errors:        tendril::error when nothing can ever set it (would block forever).
  void wait() { wait_until(no_deadline); }
  template <class Rep, class Period>
  bool wait_for(const std::chrono::duration<Rep, Period>& timeout) {
    return wait_until(deadline_after(std::chrono::duration_cast<clock::duration>(timeout)));
  }
  bool wait_until(clock::time_point deadline);

  /// describe() is `event "name"` (or `event 0x...`).
  std::string describe() const;

 private:
  mutable detail::spinlock lock_;
  bool set_ = false;
  detail::wait_list waiters_;
  std::string name_;
};

}  // namespace tendril
