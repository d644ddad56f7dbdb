#pragma once
// mutex and recursive_mutex: std::mutex's interface (so std::lock_guard,
// std::unique_lock and std::scoped_lock work), for fibers and threads.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

#include <tendril/hub/park.hpp>
#include <tendril/sync/detail/wait_list.hpp>

namespace tendril {

/// mutex is a fair lock: unlock hands it to the longest waiter (no barging).
/// The holder is a fiber, or a thread that has no hub.
class mutex {
 public:
  explicit mutex(std::string name = {}) : name_(std::move(name)) {}
  mutex(const mutex&) = delete;
  mutex& operator=(const mutex&) = delete;
  ~mutex();

  /// lock() takes the mutex.
  ///
  /// Blocking:      parks the calling fiber while another holds it (a thread
  ///                without a hub blocks).
  /// Deadline:      try_lock_for/until return false when it passes.
  /// Cancellation:  a kill or expired timeout scope raises here; ownership
  ///                handed over at that moment is passed on, never lost.
  /// Thread-safety: any fiber on any hub, or any thread.
  /// Errors:        tendril::error naming the fiber when it already holds
  ///                this mutex (instead of a deadlock), and when nothing can
  ///                ever release it (would block forever; the report names
  ///                the holder).
  void lock() { try_lock_until(no_deadline); }
  bool try_lock();
  template <class Rep, class Period>
  bool try_lock_for(const std::chrono::duration<Rep, Period>& timeout) {
    return try_lock_until(deadline_after(std::chrono::duration_cast<clock::duration>(timeout)));
  }
  template <class Clock, class Duration>
  bool try_lock_until(const std::chrono::time_point<Clock, Duration>& deadline) {
    return try_lock_until(clock::now() +
                          std::chrono::duration_cast<clock::duration>(deadline - Clock::now()));
  }
  bool try_lock_until(clock::time_point deadline);

  /// unlock() releases it, handing it to the longest waiter.
  /// Errors: tendril::error naming the caller and the holder when the caller
  /// does not hold it.
  void unlock();

  /// describe() is `mutex "name"` (or `mutex 0x...`), and who holds it.
  std::string describe() const;

 private:
  friend class recursive_mutex;
  static void pass_on(void* self, detail::waiter& w) noexcept;
  static std::string describe_wait(const wait_reason& why);
  static const void* holder_of(const wait_reason& why);
  bool lock_slow(std::uintptr_t me, clock::time_point deadline);
  void unlock_slow(std::uintptr_t me);
  void hand_over_locked() noexcept;
  bool held_by_caller() const;

  // The holder's token (mutex.cpp), or 0 when free; its low bit is set while
  // fibers may be queued in waiters_. Taken and released with one atomic
  // operation each when nobody waits; lock_ guards the rest.
  std::atomic<std::uintptr_t> state_{0};
  mutable detail::spinlock lock_;
  detail::wait_list waiters_;
  std::string name_;
};

/// recursive_mutex may be locked again by its holder; it is released when
/// unlock has been called as often as lock.
class recursive_mutex {
 public:
  explicit recursive_mutex(std::string name = {}) : inner_(std::move(name)) {}

  /// lock(), try_lock*(), unlock(): as mutex, but the holder may lock again.
  void lock() { try_lock_until(no_deadline); }
  bool try_lock() { return try_lock_until(clock::time_point::min()); }
  template <class Rep, class Period>
  bool try_lock_for(const std::chrono::duration<Rep, Period>& timeout) {
    return try_lock_until(deadline_after(std::chrono::duration_cast<clock::duration>(timeout)));
  }
  bool try_lock_until(clock::time_point deadline);
  void unlock();
  std::string describe() const { return inner_.describe(); }

 private:
  mutex inner_;
  std::size_t depth_ = 0;  // touched by the holder only
};

}  // namespace tendril
