#pragma once
// semaphore and bounded_semaphore (threading.Semaphore/BoundedSemaphore,
// gevent.lock.Semaphore/BoundedSemaphore).

#include <chrono>
#include <cstddef>
#include <string>

#include <tendril/hub/park.hpp>
#include <tendril/sync/detail/wait_list.hpp>

namespace tendril {

/// semaphore counts permits; acquire takes one (waiting while none is
/// free), release returns one. Waiters are granted permits in FIFO order: a
/// release with waiters hands its permit to the longest waiter.
class semaphore {
 public:
  explicit semaphore(std::size_t permits, std::string name = {})
      : semaphore(permits, no_limit, std::move(name)) {}
  semaphore(const semaphore&) = delete;
  semaphore& operator=(const semaphore&) = delete;
  ~semaphore();

  /// acquire() takes a permit.
  ///
  /// Blocking:      parks the calling fiber while none is free (a thread
  ///                without a hub blocks).
  /// Deadline:      try_acquire_for/until return false when it passes.
  /// Cancellation:  a kill or expired timeout scope raises here; a permit
  ///                granted at that moment is passed on, never lost.
  /// Thread-safety: any fiber on any hub, or any thread.
  /// Errors:        tendril::error when nothing can ever release one.
  void acquire() { try_acquire_until(no_deadline); }
  bool try_acquire() noexcept;
  template <class Rep, class Period>
  bool try_acquire_for(const std::chrono::duration<Rep, Period>& timeout) {
    return try_acquire_until(deadline_after(std::chrono::duration_cast<clock::duration>(timeout)));
  }
  bool try_acquire_until(clock::time_point deadline);

  /// release(n) returns n permits, granting them to waiters in order.
  /// Errors: a bounded_semaphore throws tendril::error, changing nothing,
  /// when the release would take its free permits above the initial count.
  void release(std::size_t n = 1);

  /// available() is the number of free permits.
  std::size_t available() const noexcept;
  std::string describe() const;

 protected:
  static constexpr std::size_t no_limit = static_cast<std::size_t>(-1);
  semaphore(std::size_t permits, std::size_t limit, std::string name)
      : count_(permits), limit_(limit), name_(std::move(name)) {}

 private:
  static void pass_on(void* self, detail::waiter& w) noexcept;
  void release_locked(std::size_t n) noexcept;

  mutable detail::spinlock lock_;
  std::size_t count_;
  std::size_t held_ = 0;  ///< permits acquired and not yet released, for the bound
  const std::size_t limit_;
  detail::wait_list waiters_;
  std::string name_;
};

/// bounded_semaphore is a semaphore whose release above its initial count
/// throws tendril::error (it catches a release without an acquire).
class bounded_semaphore : public semaphore {
 public:
  explicit bounded_semaphore(std::size_t permits, std::string name = {})
      : semaphore(permits, permits, std::move(name)) {}
};

}  // namespace tendril
