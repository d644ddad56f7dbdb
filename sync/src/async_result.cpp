// The untyped half of async_result: a ready flag, the failure, and waiters
// that are all granted at once when the result is set (as event's set).
//
// Invariant: the value (in async_result's state) and failure_ are written
// before ready_, under lock_, and never again, so whoever has seen ready_
// under the lock (or through a grant) may read them without it.

#include <tendril/sync/detail/result_core.hpp>

#include <mutex>

#include <tendril/error.hpp>

namespace tendril::detail {

namespace {
void nothing_to_pass_on(void*, waiter&) noexcept {}
}  // namespace

std::string result_core::describe_wait(const wait_reason& why) {
  return static_cast<const result_core*>(why.object)->describe();
}

bool result_core::ready() const noexcept {
  std::lock_guard guard(lock_);
  return ready_;
}

std::exception_ptr result_core::failure() const noexcept {
  std::lock_guard guard(lock_);
  return failure_;
}

bool result_core::wait_until(clock::time_point deadline) {
  lock_.lock();
  if (ready_) {
    lock_.unlock();
    return true;
  }
  waiter w;
  // remote: any thread may set it.
  const wait_reason why{"async_result", this, 0, &describe_wait, /*remote=*/true};
  return wait_granted(lock_, waiters_, w, deadline, why, &nothing_to_pass_on, this);
}

void result_core::wait_and_rethrow() {
  wait_until(no_deadline);
  if (std::exception_ptr e = failure()) std::rethrow_exception(e);
}

void result_core::throw_already_set() const {
  throw error(describe() + " is already set (a result arrives once)");
}

void result_core::publish_locked(std::exception_ptr failure) noexcept {
  failure_ = std::move(failure);
  ready_ = true;
  while (waiter* w = waiters_.pop_front()) grant(*w);
  lock_.unlock();
}

}  // namespace tendril::detail
