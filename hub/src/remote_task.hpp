#pragma once
// What a task handle does when the task runs on another thread's hub: the
// task's listeners, outcome and kill belong to its hub, so the handle posts
// the request there (hub_registry::deliver) and waits, parked or blocked,
// for the answer. See remote_task.cpp.

#include <atomic>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

#include <tendril/hub/park.hpp>
#include <tendril/hub/task.hpp>

#include "hub_registry.hpp"
#include "task_state.hpp"

namespace tendril::detail {

/// remote_signal is how the task's hub tells a waiter on another thread: a
/// fiber (parked) or a thread without a hub (blocked on a condition
/// variable). Every member is guarded by `mutex`.
struct remote_signal {
  std::mutex mutex;
  std::condition_variable thread_wakes;
  waker fiber;  ///< the waiting fiber's park, while it waits

  /// raise() wakes the waiter; call with `mutex` held.
  void raise() {
    if (!fiber.empty())
      fiber.wake();  // counts the wake in flight before the lock is released
    else
      thread_wakes.notify_all();
  }

  /// wait(lock, why, deadline, done) waits until done() (checked under
  /// the lock) or the deadline; returns done(). A fiber parks; a thread
  /// without a hub blocks. An interrupt of the fiber propagates, after any
  /// wake raised for it has been handled.
  template <class Done>
  bool wait(std::unique_lock<std::mutex>& lock, const wait_reason& why, clock::time_point deadline,
            Done done);
};

/// remote_listener is a listener on a task of another hub: on the heap,
/// shared by the side that waits, the task's hub while it is listed, and
/// each request in flight about it.
struct remote_listener : task_listener {
  std::atomic<int> refs{2};  ///< the waiting side's, and the task's hub's
  virtual ~remote_listener() = default;
  void retain() noexcept { refs.fetch_add(1, std::memory_order_relaxed); }
  void drop() noexcept {
    if (refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }
};

/// remote_join(t, deadline) waits, on a thread that does not run `t`, until
/// `t` has finished or the deadline passes; returns t->ready().
/// Errors: tendril::error when `t`'s hub has exited and `t` never finished.
bool remote_join(task_state* t, clock::time_point deadline);

/// remote_kill(t, e) has `t`'s hub kill it (without waiting).
/// Errors: as remote_join.
void remote_kill(task_state* t, std::exception_ptr error);

/// remote_listen(t, l) adds `l` to `t`'s listeners on `t`'s hub, or calls
/// it there at once if `t` has finished; l->notify runs on `t`'s thread and
/// must drop the hub's reference. Returns false, doing nothing, when `t`'s
/// hub has exited.
bool remote_listen(task_state* t, remote_listener* l);
/// remote_listen_all(home, listeners) is remote_listen for several tasks of
/// the hub with id `home`, in one request: `moved` (doing nothing) when one
/// of them has been stolen by another hub since its home was read.
hub_registry::delivery remote_listen_all(
    std::uint64_t home, const std::vector<std::pair<task_state*, remote_listener*>>& listeners);
/// remote_ask(t, fn, arg) runs fn(t, arg) on `t`'s hub, in order with the
/// other requests about `t`, and waits for its answer; nullopt when that
/// hub has exited.
std::optional<bool> remote_ask(task_state* t, bool (*fn)(task_state* t, std::uint64_t arg) noexcept,
                               std::uint64_t arg);
/// stop_listening(t, l) drops the waiting side's reference to `l`, first
/// asking `t`'s hub to take it off `t`'s listeners (dropping the hub's
/// reference) unless `told` (it was notified already).
void stop_listening(task_state* t, remote_listener* l, bool told) noexcept;

template <class Done>
bool remote_signal::wait(std::unique_lock<std::mutex>& lock, const wait_reason& why,
                         clock::time_point deadline, Done done) {
  if (!this_thread_has_hub()) {
    if (deadline == no_deadline)
      thread_wakes.wait(lock, done);
    else
      thread_wakes.wait_until(lock, deadline, done);
    return done();
  }
  while (!done()) {
    fiber = waker::current();
    lock.unlock();
    bool woken = false;
    try {
      woken = park(why, deadline);
    } catch (...) {
      lock.lock();
      fiber = waker();
      lock.unlock();
      settle_remote_wakes();  // raise() may have woken this park just before
      lock.lock();
      throw;
    }
    lock.lock();
    fiber = waker();
    if (!woken) break;
  }
  // A raise() that came after the park ended (its deadline passed first)
  // sent a wake that may still be in flight: it names this fiber's record.
  lock.unlock();
  settle_remote_wakes();
  lock.lock();
  return done();
}

}  // namespace tendril::detail
