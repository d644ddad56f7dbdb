// wait_group: a count and the list of those waiting for it to reach 0.
//
// Invariant: the waiters present when the count reaches 0 are all granted
// then, so each returns even if add() raises the count again before it runs
// (Go's rule: a wait that saw zero has returned).

#include <tendril/sync/wait_group.hpp>

#include <mutex>

#include <tendril/error.hpp>

namespace tendril {

namespace {
std::string describe_wait(const wait_reason& why) {
  return static_cast<const wait_group*>(why.object)->describe();
}
void nothing_to_pass_on(void*, detail::waiter&) noexcept {}
}  // namespace

wait_group::~wait_group() = default;

void wait_group::add(std::ptrdiff_t n) {
  std::lock_guard guard(lock_);
  if (n < 0 && static_cast<std::size_t>(-n) > count_)
    throw error(describe_locked() + ": add(" + std::to_string(n) + ") would take the count below 0" +
                " (done() called more often than add())");
  count_ += static_cast<std::size_t>(n);  // wraps back for negative n
  if (count_ == 0)
    while (detail::waiter* w = waiters_.pop_front()) detail::grant(*w);
}

bool wait_group::wait_until(clock::time_point deadline) {
  lock_.lock();
  if (count_ == 0) {
    lock_.unlock();
    return true;
  }
  detail::waiter w;
  // remote: any thread may call done().
  const wait_reason why{"wait_group", this, 0, &describe_wait, /*remote=*/true};
  return detail::wait_granted(lock_, waiters_, w, deadline, why, &nothing_to_pass_on, this);
}

std::size_t wait_group::count() const noexcept {
  std::lock_guard guard(lock_);
  return count_;
}

std::string wait_group::describe() const {
  std::lock_guard guard(lock_);
  return describe_locked();
}

std::string wait_group::describe_locked() const {
  return detail::describe_object("wait_group", name_, this) + " with " + std::to_string(count_) +
         (count_ == 1 ? " job" : " jobs") + " outstanding";
}

}  // namespace tendril
