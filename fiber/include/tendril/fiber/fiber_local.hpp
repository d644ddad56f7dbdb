#pragma once
// fiber_local<T>: storage with one T per greenlet, like thread_local is per thread.

#include <cstdint>
#include <utility>

namespace tendril {
namespace detail {

struct fiber_local_key {
  std::uint32_t index;
  std::uint32_t generation;
};

fiber_local_key new_fiber_local_key();
void free_fiber_local_key(fiber_local_key key) noexcept;
/// The current greenlet's value for `key`, or null.
void* fiber_local_get(fiber_local_key key) noexcept;
/// Stores `value` for the current greenlet, destroying the previous one.
void fiber_local_set(fiber_local_key key, void* value, void (*destroy)(void*) noexcept);

}  // namespace detail

/// fiber_local<T> holds a separate T for each greenlet (including each
/// thread's main greenlet), created by default construction on first use.
///
/// A greenlet's values are destroyed on its own stack when it finishes or is
/// unwound; a main greenlet's when its thread exits. Destroying the
/// fiber_local object itself does not destroy other greenlets' values early:
/// each is destroyed with its greenlet.
/// Thread-safety: get() touches only the current greenlet's slot.
template <class T>
class fiber_local {
 public:
  fiber_local() : key_(detail::new_fiber_local_key()) {}
  fiber_local(const fiber_local&) = delete;
  fiber_local& operator=(const fiber_local&) = delete;
  ~fiber_local() { detail::free_fiber_local_key(key_); }

  /// get() is the current greenlet's T, default-constructed on first use.
  T& get() {
    if (void* p = detail::fiber_local_get(key_)) return *static_cast<T*>(p);
    return emplace();
  }
  T& operator*() { return get(); }
  T* operator->() { return &get(); }

  /// has_value() is true if the current greenlet's T exists.
  bool has_value() const noexcept { return detail::fiber_local_get(key_) != nullptr; }

  /// emplace(args...) replaces the current greenlet's T with T(args...).
  template <class... Args>
  T& emplace(Args&&... args) {
    T* value = new T(std::forward<Args>(args)...);
    detail::fiber_local_set(key_, value, &destroy);
    return *value;
  }

  /// reset() destroys the current greenlet's T, if any.
  void reset() { detail::fiber_local_set(key_, nullptr, &destroy); }

 private:
  static void destroy(void* p) noexcept { delete static_cast<T*>(p); }

  detail::fiber_local_key key_;
};

}  // namespace tendril
