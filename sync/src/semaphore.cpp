// semaphore and bounded_semaphore: a count and a FIFO of waiters.
//
// Invariant: while waiters exist, count_ is 0: a release grants its permit
// straight to the longest waiter instead of raising the count, so a fiber
// arriving later cannot take it first.

#include <tendril/sync/semaphore.hpp>

#include <mutex>

#include <tendril/error.hpp>

namespace tendril {

namespace {
std::string describe_wait(const wait_reason& why) {
  return static_cast<const semaphore*>(why.object)->describe();
}
}  // namespace

semaphore::~semaphore() = default;

bool semaphore::try_acquire() noexcept {
  std::lock_guard guard(lock_);
  if (count_ == 0) return false;
  --count_;
  ++held_;
  return true;
}

bool semaphore::try_acquire_until(clock::time_point deadline) {
  lock_.lock();
  if (count_ > 0) {
    --count_;
    ++held_;
    lock_.unlock();
    return true;
  }
  if (deadline == clock::time_point::min()) {
    lock_.unlock();
    return false;
  }
  detail::waiter w;
  const wait_reason why{"semaphore", this, 0, &describe_wait, /*remote=*/true};
  return detail::wait_granted(lock_, waiters_, w, deadline, why, &pass_on, this);
}

// A permit granted to a waiter that was interrupted at that moment.
void semaphore::pass_on(void* self, detail::waiter&) noexcept {
  static_cast<semaphore*>(self)->release_locked(1);
}

void semaphore::release(std::size_t n) {
  std::lock_guard guard(lock_);
  if (limit_ != no_limit && n > held_)
    throw error(describe() + ": released " + std::to_string(n) + " permit(s) with " + std::to_string(held_) +
                " held; a bounded_semaphore cannot go above its initial " + std::to_string(limit_));
  release_locked(n);
}

void semaphore::release_locked(std::size_t n) noexcept {
  held_ -= std::min(n, held_);
  for (; n > 0; --n) {
    detail::waiter* w = waiters_.pop_front();
    if (w == nullptr) break;
    ++held_;  // the permit goes to the waiter, still held
    detail::grant(*w);
  }
  count_ += n;
}

std::size_t semaphore::available() const noexcept {
  std::lock_guard guard(lock_);
  return count_;
}

std::string semaphore::describe() const {
  return detail::describe_object(limit_ == no_limit ? "semaphore" : "bounded_semaphore", name_, this);
}

}  // namespace tendril
