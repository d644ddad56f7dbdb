#pragma once
// The untyped half of async_result<T>: readiness, the failure, and the
// waiters. The typed value lives beside it in async_result's shared state.
// Not API.

#include <exception>
#include <string>

#include <tendril/hub/park.hpp>
#include <tendril/sync/detail/wait_list.hpp>

namespace tendril::detail {

class result_core {
 public:
  explicit result_core(std::string name) : name_(std::move(name)) {}
  result_core(const result_core&) = delete;
  result_core& operator=(const result_core&) = delete;

  /// settle(store, failure) runs store() (which must not throw: it moves
  /// the value in) and makes the result ready, waking every waiter.
  /// Errors: tendril::error naming the result, changing nothing, when it is
  /// ready already.
  template <class Store>
  void settle(Store&& store, std::exception_ptr failure) {
    lock_.lock();
    if (ready_) {
      lock_.unlock();
      throw_already_set();
    }
    store();
    publish_locked(std::move(failure));
  }

  bool ready() const noexcept;
  /// failure() is the exception it was set with, or null.
  std::exception_ptr failure() const noexcept;
  /// wait_until(deadline) is true once ready, false when the deadline passes.
  bool wait_until(clock::time_point deadline);
  /// wait_and_rethrow() waits until ready, then rethrows the failure, if any.
  void wait_and_rethrow();

  spinlock& lock() const noexcept { return lock_; }
  std::string describe() const { return describe_object("async_result", name_, this); }

 private:
  [[noreturn]] void throw_already_set() const;
  void publish_locked(std::exception_ptr failure) noexcept;
  static std::string describe_wait(const wait_reason& why);

  mutable spinlock lock_;
  bool ready_ = false;
  std::exception_ptr failure_;
  wait_list waiters_;
  std::string name_;
};

}  // namespace tendril::detail
