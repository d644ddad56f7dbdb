#pragma once
// Timeouts as scopes, gevent's Timeout:
//
//   try {
//     tendril::timeout limit(2s);
//     fetch_everything();           // any park inside raises after 2 s
//   } catch (const tendril::timeout_error& e) { ... }
//
// An expired scope raises timeout_error at the fiber's park point (at once if
// it is parked, else at its next park), and at every later park inside the
// scope, so retry loops end. Scopes nest: each raises its own timeout_error,
// the outermost expired one first; an inner scope's expiry does not touch
// the outer one.

#include <functional>
#include <type_traits>
#include <utility>

#include <tendril/hub/park.hpp>

namespace tendril {

class timeout;
namespace detail {
struct fiber_record;
struct timeout_access;
}  // namespace detail

/// timeout_error is raised at a park point when a timeout scope expires.
/// Like greenlet_exit it does not derive from std::exception, so a
/// `catch (const std::exception&)` cannot swallow it.
class timeout_error {
 public:
  explicit timeout_error(const timeout* source) noexcept : source_(source) {}
  const char* what() const noexcept { return "timeout"; }
  /// source() is the scope that expired (it may have ended since).
  const timeout* source() const noexcept { return source_; }

 private:
  const timeout* source_;
};

/// timeout is a scope: parks inside it raise timeout_error once its deadline
/// has passed. It belongs to the fiber that created it; create and destroy it
/// on that fiber, in stack order.
class timeout {
 public:
  explicit timeout(clock::duration d) : timeout(deadline_after(d)) {}
  explicit timeout(clock::time_point deadline);
  timeout(const timeout&) = delete;
  timeout& operator=(const timeout&) = delete;
  ~timeout();

  /// expired() is true once the deadline has passed (while the scope lives).
  bool expired() const noexcept { return expired_; }
  /// owns(e) is true if `e` was raised by this scope.
  bool owns(const timeout_error& e) const noexcept { return e.source() == this; }

 private:
  friend struct detail::timeout_access;
  detail::fiber_record* record_;  // the fiber it belongs to
  timeout* outer_;                // the enclosing scope of that fiber, or null
  bool armed_ = false;
  bool expired_ = false;
  // The hub's timer (<tendril/hub/detail/event_loop.hpp>), stored here so a scope costs
  // no allocation; its size is checked where the type is complete.
  alignas(8) unsigned char timer_[96];
};

/// with_timeout(d, f) calls f() inside a timeout scope of `d` and returns its
/// result; timeout_error propagates when the scope expires.
template <class F>
decltype(auto) with_timeout(clock::duration d, F&& f) {
  timeout scope(d);
  return std::invoke(std::forward<F>(f));
}

/// with_timeout(d, f, fallback) is with_timeout(d, f), returning `fallback`
/// when this scope expires (gevent's timeout_value). An outer scope's expiry
/// still propagates.
template <class F, class T>
auto with_timeout(clock::duration d, F&& f, T fallback) {
  timeout scope(d);
  try {
    return std::invoke(std::forward<F>(f));
  } catch (const timeout_error& e) {
    if (!scope.owns(e)) throw;
    return decltype(std::invoke(std::forward<F>(f)))(std::move(fallback));
  }
}

}  // namespace tendril
