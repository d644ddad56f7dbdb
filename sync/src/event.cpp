// event: a flag and the list of those waiting for it.
//
// Invariant: set() grants every waiter present, so each returns true even if
// clear() runs before it resumes (a flag checked on waking would lose them).

#include <tendril/sync/event.hpp>

#include <mutex>

namespace tendril {

namespace {
std::string describe_wait(const wait_reason& why) {
  return static_cast<const event*>(why.object)->describe();
}
void nothing_to_pass_on(void*, detail::waiter&) noexcept {}
}  // namespace

event::~event() = default;

void event::set() {
  std::lock_guard guard(lock_);
  set_ = true;
  while (detail::waiter* w = waiters_.pop_front()) detail::grant(*w);
}

void event::clear() noexcept {
  std::lock_guard guard(lock_);
  set_ = false;
}

bool event::is_set() const noexcept {
  std::lock_guard guard(lock_);
  return set_;
}

bool event::wait_until(clock::time_point deadline) {
  lock_.lock();
  if (set_) {
    lock_.unlock();
    return true;
  }
  detail::waiter w;
  // remote: a thread other than this hub's may set it (see sync/README.md).
  const wait_reason why{"event", this, 0, &describe_wait, /*remote=*/true};
  return detail::wait_granted(lock_, waiters_, w, deadline, why, &nothing_to_pass_on, this);
}

std::string event::describe() const { return detail::describe_object("event", name_, this); }

}  // namespace tendril
