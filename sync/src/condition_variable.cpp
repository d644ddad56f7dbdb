// condition_variable: a FIFO of waiters; notify grants the front ones.
//
// Invariant: a waiter is enqueued before the user's mutex is released, under
// the condition's own lock, so a notify between the two cannot be missed.
// The mutex is locked again on every way out, interrupts held back meanwhile
// (an expired timeout scope would otherwise raise again while re-locking and
// leave the unique_lock claiming a mutex it does not hold).

#include <tendril/sync/condition_variable.hpp>

#include <tendril/error.hpp>

namespace tendril {

namespace {
std::string describe_wait(const wait_reason& why) {
  return static_cast<const condition_variable*>(why.object)->describe();
}
}  // namespace

condition_variable::~condition_variable() = default;

void condition_variable::notify_one() noexcept {
  std::lock_guard guard(lock_);
  if (detail::waiter* w = waiters_.pop_front()) detail::grant(*w);
}

void condition_variable::notify_all() noexcept {
  std::lock_guard guard(lock_);
  while (detail::waiter* w = waiters_.pop_front()) detail::grant(*w);
}

void condition_variable::pass_on(void* self, detail::waiter&) noexcept {
  auto* cv = static_cast<condition_variable*>(self);
  if (detail::waiter* w = cv->waiters_.pop_front()) detail::grant(*w);
}

std::cv_status condition_variable::wait_until(std::unique_lock<mutex>& lock, clock::time_point deadline) {
  if (!lock.owns_lock()) throw error(describe() + ": wait with a unique_lock that does not hold its mutex");
  detail::waiter w;
  lock_.lock();
  try {
    lock.unlock();  // throws, naming the caller, if another holds the mutex
  } catch (...) {
    lock_.unlock();
    throw;
  }
  struct relock {
    std::unique_lock<mutex>& lock;
    ~relock() {
      detail::interrupt_shield hold;
      lock.lock();
    }
  } relock_on_exit{lock};
  const wait_reason why{"condition_variable", this, 0, &describe_wait, /*remote=*/true};
  bool notified = detail::wait_granted(lock_, waiters_, w, deadline, why, &pass_on, this);
  return notified ? std::cv_status::no_timeout : std::cv_status::timeout;
}

std::string condition_variable::describe() const {
  return detail::describe_object("condition_variable", name_, this);
}

}  // namespace tendril
