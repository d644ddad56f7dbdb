// shared_mutex: a writer or a count of readers, and one FIFO of both.
//
// Invariants:
// - Nobody takes it past a waiter: a newcomer takes it at once only when
//   nobody waits, so a writer in the queue holds back later readers.
// - Releasing admits from the front: one writer once no share is held, or
//   every reader up to the next writer. So does a waiter that leaves the
//   queue (deadline, kill): a writer leaving may unblock the readers behind. Admission grants ownership to
//   the waiter (writer_ set, or readers_ counted) before it runs, as mutex does.
//
// Rejected: reader preference (the readers of a busy table starve its
// writers); a separate queue per mode (arrival order between the modes
// would be lost, and with it the fairness the tests pin down).

#include <tendril/sync/shared_mutex.hpp>

#include <mutex>

#include <tendril/error.hpp>

namespace tendril {

shared_mutex::~shared_mutex() = default;

std::string shared_mutex::describe_wait(const wait_reason& why) {
  auto* self = static_cast<const shared_mutex*>(why.object);
  std::lock_guard guard(self->lock_);
  return (why.detail == exclusive ? "exclusive lock of " : "shared lock of ") + self->describe_locked();
}

const void* shared_mutex::writer_of(const wait_reason& why) {
  auto* self = static_cast<const shared_mutex*>(why.object);
  std::lock_guard guard(self->lock_);
  return self->writer_.fiber.fiber_id();
}

bool shared_mutex::acquire(mode wanted, clock::time_point deadline) {
  request me{wanted, detail::holder::current()};
  lock_.lock();
  if (!writer_.empty() && writer_.same(me.who)) {
    lock_.unlock();
    throw error(me.who.describe() + " already holds " + detail::describe_object("shared_mutex", name_, this) +
                " exclusively (locking it again would wait forever)");
  }
  if (waiters_.empty() && writer_.empty() && (wanted == shared || readers_ == 0)) {
    if (wanted == exclusive)
      writer_ = me.who;
    else
      ++readers_;
    lock_.unlock();
    return true;
  }
  if (deadline == clock::time_point::min()) {
    lock_.unlock();
    return false;
  }
  detail::waiter w;
  w.payload = &me;
  // remote: any thread may release it; a writer parked on this hub is
  // known (writer_of), so a deadlock on it is still reported.
  const wait_reason why{"shared_mutex", this, wanted, &describe_wait, /*remote=*/true, &writer_of};
  try {
    if (detail::wait_granted(lock_, waiters_, w, deadline, why, &pass_on, this)) return true;
  } catch (...) {
    readmit_after_leaving();
    throw;
  }
  readmit_after_leaving();
  return false;
}

// A writer that stops waiting may have been all that held back the readers
// queued behind it.
void shared_mutex::readmit_after_leaving() noexcept {
  std::lock_guard guard(lock_);
  admit_waiters_locked();
}

void shared_mutex::unlock() {
  std::lock_guard guard(lock_);
  detail::holder me = detail::holder::current();
  if (writer_.empty() || !writer_.same(me))
    throw error(me.describe() + " unlocked " + describe_locked() + ", which it does not hold exclusively");
  writer_ = {};
  admit_waiters_locked();
}

void shared_mutex::unlock_shared() {
  std::lock_guard guard(lock_);
  if (readers_ == 0)
    throw error(detail::holder::current().describe() + " released a share of " + describe_locked() +
                ", but no share is held");
  if (--readers_ == 0) admit_waiters_locked();
}

// What was granted to a waiter interrupted at that moment is given back.
void shared_mutex::pass_on(void* self, detail::waiter& w) noexcept {
  auto* m = static_cast<shared_mutex*>(self);
  if (static_cast<request*>(w.payload)->wanted == exclusive)
    m->writer_ = {};
  else if (--m->readers_ != 0)
    return;
  m->admit_waiters_locked();
}

void shared_mutex::admit_waiters_locked() noexcept {
  if (!writer_.empty()) return;
  while (detail::waiter* front = waiters_.front()) {
    auto* r = static_cast<request*>(front->payload);
    if (r->wanted == exclusive) {
      if (readers_ != 0) return;
      writer_ = r->who;
      waiters_.pop_front();
      detail::grant(*front);
      return;
    }
    ++readers_;
    waiters_.pop_front();
    detail::grant(*front);
  }
}

std::string shared_mutex::describe() const {
  std::lock_guard guard(lock_);
  return describe_locked();
}

std::string shared_mutex::describe_locked() const {
  std::string text = detail::describe_object("shared_mutex", name_, this);
  if (!writer_.empty()) return text + " held by " + writer_.describe();
  if (readers_ != 0)
    text += " shared by " + std::to_string(readers_) + (readers_ == 1 ? " reader" : " readers");
  return text;
}

}  // namespace tendril
