#pragma once
// shared_mutex: std::shared_mutex's interface (so std::shared_lock,
// std::unique_lock and std::lock_guard work), for fibers and threads.

#include <chrono>
#include <cstddef>
#include <string>

#include <tendril/hub/park.hpp>
#include <tendril/sync/detail/wait_list.hpp>

namespace tendril {

/// shared_mutex is a fair reader-writer lock: one writer, or any number of
/// readers. Waiters are served in arrival order, so a reader arriving while
/// a writer waits queues behind it (writers are never starved), and a
/// release admits the next writer alone or the next run of readers together.
class shared_mutex {
 public:
  explicit shared_mutex(std::string name = {}) : name_(std::move(name)) {}
  shared_mutex(const shared_mutex&) = delete;
  shared_mutex& operator=(const shared_mutex&) = delete;
  ~shared_mutex();

  /// lock() takes it exclusively; lock_shared() takes a share of it.
  ///
  /// Blocking:      parks the calling fiber while it cannot be taken (a
  ///                thread without a hub blocks).
  /// Deadline:      the try_*_for/until forms return false when it passes;
  ///                try_lock()/try_lock_shared() never wait.
  /// Cancellation:  a kill or expired timeout scope raises here; what was
  ///                handed over at that moment is passed on, never lost.
  /// Thread-safety: any fiber on any hub, or any thread.
  /// Errors:        tendril::error naming the fiber when it already holds it
  ///                exclusively (instead of a deadlock), and when nothing can
  ///                ever release it (would block forever).
  void lock() { try_lock_until(no_deadline); }
  bool try_lock() { return try_lock_until(clock::time_point::min()); }
  template <class Rep, class Period>
  bool try_lock_for(const std::chrono::duration<Rep, Period>& timeout) {
    return try_lock_until(deadline_after(std::chrono::duration_cast<clock::duration>(timeout)));
  }
  bool try_lock_until(clock::time_point deadline) { return acquire(exclusive, deadline); }

  void lock_shared() { try_lock_shared_until(no_deadline); }
  bool try_lock_shared() { return try_lock_shared_until(clock::time_point::min()); }
  template <class Rep, class Period>
  bool try_lock_shared_for(const std::chrono::duration<Rep, Period>& timeout) {
    return try_lock_shared_until(deadline_after(std::chrono::duration_cast<clock::duration>(timeout)));
  }
  bool try_lock_shared_until(clock::time_point deadline) { return acquire(shared, deadline); }

  /// unlock() releases exclusive ownership.
  /// Errors: tendril::error naming the caller when it does not hold it.
  void unlock();
  /// unlock_shared() releases one share.
  /// Errors: tendril::error when no share is held (readers are counted, not
  /// named, so a share released by a fiber that took none goes unnoticed).
  void unlock_shared();

  /// describe() is `shared_mutex "name"` (or `shared_mutex 0x...`) and who
  /// holds it: the writer, or how many readers.
  std::string describe() const;

 private:
  enum mode : unsigned char { exclusive, shared };
  struct request {
    mode wanted;
    detail::holder who;
  };

  bool acquire(mode wanted, clock::time_point deadline);
  static void pass_on(void* self, detail::waiter& w) noexcept;
  static std::string describe_wait(const wait_reason& why);
  static const void* writer_of(const wait_reason& why);
  void admit_waiters_locked() noexcept;
  void readmit_after_leaving() noexcept;
  std::string describe_locked() const;

  mutable detail::spinlock lock_;
  std::size_t readers_ = 0;  ///< shares held
  detail::holder writer_;    ///< the exclusive holder, or empty
  detail::wait_list waiters_;
  std::string name_;
};

}  // namespace tendril
