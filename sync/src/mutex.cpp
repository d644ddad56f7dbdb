// mutex and recursive_mutex.
//
// Invariants:
// - locked_ stays true from lock to the last unlock; unlock with waiters
//   hands ownership to the longest waiter (holder_ becomes that waiter's)
//   without ever clearing locked_, so nobody barges in between.
// - holder_ is read and written under lock_ only.
//
// Rejected: a fast path that lets a newcomer take a just-released lock
// ahead of the waiters (Boost.Fiber and Go's normal mode do, for
// throughput); issue 4 asks for FIFO hand-over, which also makes the
// holder of every parked fiber's mutex well defined for the deadlock report.

#include <tendril/sync/mutex.hpp>

#include <mutex>

#include <tendril/error.hpp>

namespace tendril {

mutex::~mutex() = default;

std::string mutex::describe_wait(const wait_reason& why) {
  auto* self = static_cast<const mutex*>(why.object);
  return self->describe();
}

const void* mutex::holder_of(const wait_reason& why) {
  auto* self = static_cast<const mutex*>(why.object);
  std::lock_guard guard(self->lock_);
  return self->holder_.fiber.fiber_id();
}

bool mutex::try_lock() { return try_lock_until(clock::time_point::min()); }

bool mutex::try_lock_until(clock::time_point deadline) {
  detail::holder me = detail::holder::current();
  lock_.lock();
  if (!locked_) {
    locked_ = true;
    holder_ = me;
    lock_.unlock();
    return true;
  }
  if (holder_.same(me)) {
    lock_.unlock();
    throw error(me.describe() + " already holds " + detail::describe_object("mutex", name_, this) +
                " (locking it again would wait forever; use recursive_mutex to re-enter)");
  }
  if (deadline == clock::time_point::min()) {
    lock_.unlock();
    return false;
  }
  detail::waiter w;
  w.payload = &me;  // the granter makes the waiter the holder
  // remote: the holder may be on another thread; but a holder parked on
  // this hub is known (holder_of), so a deadlock here is still reported.
  const wait_reason why{"mutex", this, 0, &describe_wait, /*remote=*/true, &holder_of};
  return detail::wait_granted(lock_, waiters_, w, deadline, why, &pass_on, this);
}

void mutex::unlock() {
  std::lock_guard guard(lock_);
  detail::holder me = detail::holder::current();
  if (!locked_ || !holder_.same(me)) {
    std::string held = locked_ ? "held by " + holder_.describe() : "not locked";
    throw error(me.describe() + " unlocked " + detail::describe_object("mutex", name_, this) +
                ", which it does not hold (" + held + ")");
  }
  hand_over_locked();
}

// Ownership granted to a waiter interrupted at that moment goes on to the next.
void mutex::pass_on(void* self, detail::waiter&) noexcept { static_cast<mutex*>(self)->hand_over_locked(); }

void mutex::hand_over_locked() noexcept {
  detail::waiter* next = waiters_.pop_front();
  if (next == nullptr) {
    locked_ = false;
    holder_ = {};
    return;
  }
  holder_ = *static_cast<detail::holder*>(next->payload);
  detail::grant(*next);
}

bool mutex::held_by(const detail::holder& h) const {
  std::lock_guard guard(lock_);
  return locked_ && holder_.same(h);
}

std::string mutex::describe() const {
  std::lock_guard guard(lock_);
  std::string text = detail::describe_object("mutex", name_, this);
  if (locked_) text += " held by " + holder_.describe();
  return text;
}

bool recursive_mutex::try_lock_until(clock::time_point deadline) {
  if (inner_.held_by(detail::holder::current())) {
    ++depth_;
    return true;
  }
  if (!inner_.try_lock_until(deadline)) return false;
  depth_ = 1;
  return true;
}

void recursive_mutex::unlock() {
  if (!inner_.held_by(detail::holder::current()))
    inner_.unlock();  // throws, naming the caller and the holder
  if (--depth_ == 0) inner_.unlock();
}

}  // namespace tendril
