#pragma once
// greenlet: a symmetric stackful coroutine with Python greenlet's semantics.
//
//   tendril::greenlet g([](std::any v) { ... return result; });
//   std::any back = g.switch_to(42);   // starts g with run(42)
//
// A greenlet owns a stack. switch_to(v) starts or resumes it; v becomes the
// value its own pending switch_to returns (or run's argument on the first
// switch). When run returns, the greenlet is dead and its return value goes to
// its *parent* (by default the greenlet current at construction), not to
// whoever switched in last. An exception escaping run is rethrown in the
// parent at its pending switch. Dropping the last handle to a suspended,
// unfinished greenlet unwinds it with greenlet_exit so its destructors run.
//
// A greenlet belongs to the thread that created it: only that thread may
// switch to it or throw into it. Handles may be copied, compared, dropped and
// inspected from any thread.
//
// Non-feature: reference cycles through a greenlet's own run callable (a run
// lambda capturing a handle to its greenlet) are not collected while the
// greenlet is unstarted or suspended; hold a weak_greenlet instead. Cycles
// through a suspended stack are broken when the thread exits.

#include <any>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <string>
#include <type_traits>
#include <typeinfo>
#include <utility>

#include <tendril/error.hpp>
#include <tendril/fiber/call_stack.hpp>
#include <tendril/fiber/detail/run_body.hpp>
#include <tendril/fiber/detail/switch_seam.hpp>

namespace tendril {

/// greenlet_exit unwinds a greenlet: thrown into it when its last handle is
/// dropped, when its thread exits, and (from the hub) when it is killed.
///
/// It does not derive from std::exception, so `catch (const std::exception&)`
/// cannot swallow it; code that catches it with `catch (...)` must rethrow.
/// When it escapes a greenlet's run, the parent receives it as a *value*
/// (a std::any holding greenlet_exit), not as an exception.
class greenlet_exit {
 public:
  const char* what() const noexcept { return "greenlet_exit"; }
};

class weak_greenlet;

/// greenlet is a shared handle to a greenlet; copies refer to the same greenlet.
class greenlet {
 public:
  struct options {
    std::string name;            ///< shown in errors, traces and dumps
    std::size_t stack_size = 0;  ///< bytes; 0 means default_stack_size()
  };

  /// greenlet() is an empty handle; using it throws tendril::error.
  greenlet() noexcept = default;

  /// greenlet(run) creates an unstarted greenlet whose parent is the current
  /// greenlet. `run` is `R(std::any)` or `R()`; a void R returns "no value".
  /// Nothing runs until the first switch_to(). Allocates no stack until then.
  template <class F>
    requires(!std::is_same_v<std::remove_cvref_t<F>, greenlet>)
  explicit greenlet(F&& run, options opts = {})
      : greenlet(std::forward<F>(run), greenlet(), std::move(opts)) {}

  /// greenlet(run, parent) creates an unstarted greenlet with the given parent
  /// (empty: the current greenlet). Errors: tendril::error if `parent` belongs
  /// to another thread.
  template <class F>
    requires(!std::is_same_v<std::remove_cvref_t<F>, greenlet>)
  greenlet(F&& run, const greenlet& parent, options opts = {});

  greenlet(const greenlet& other) noexcept;
  greenlet(greenlet&& other) noexcept : state_(std::exchange(other.state_, nullptr)) {}
  greenlet& operator=(const greenlet& other) noexcept;
  greenlet& operator=(greenlet&& other) noexcept;

  /// ~greenlet() drops this handle. Dropping the last handle to a started,
  /// unfinished greenlet throws greenlet_exit into it (with the dropping
  /// greenlet as its temporary parent) so its destructors run; an exception it
  /// lets escape is printed on stderr. Dropped on another thread, the unwinding
  /// is queued for the greenlet's own thread and runs at its next switch.
  ~greenlet();

  /// current() is the greenlet running on the calling thread; never empty.
  /// Each thread has a main greenlet (its original stack) with no parent.
  static greenlet current();

  /// switch_to(v) starts or resumes this greenlet, delivering `v` (an empty
  /// std::any means "no value") as run's argument or as the return value of
  /// its pending switch_to. Returns the value next switched back to the caller.
  ///
  /// A dead target forwards to its first live ancestor; an unstarted ancestor
  /// is started. Switching to the current greenlet returns `v` at once.
  ///
  /// Blocking:      suspends the caller until something switches back to it.
  /// Deadline:      none; greenlets have no clock (the hub's timeouts do).
  /// Cancellation:  a greenlet_exit thrown into the caller (its last handle
  ///                dropped, its thread exiting) is raised here.
  /// Thread-safety: call on this greenlet's thread. The handle is not used
  ///                once control has left the caller, so it may be destroyed
  ///                while the caller is suspended.
  /// Errors:        tendril::error for an empty handle or a greenlet of another
  ///                thread (naming both threads); tendril::system_error if
  ///                starting it cannot map a stack;
  ///                rethrows any exception delivered to the caller while it
  ///                waited (a child's escaping exception, or a throw_in).
  std::any switch_to(std::any value = {}) const {
    detail::switch_message msg{&value, nullptr, nullptr, nullptr};
    void* to = state_ != nullptr ? detail::prepare_switch(state_, msg) : nullptr;
    if (to == nullptr) [[unlikely]]
      return detail::switch_slow(state_, std::move(value));
    auto [sender, in] = detail::jump_context(to, &msg);
    return detail::land_switch(sender, in);
  }

  /// switch_to<R>(v) is switch_to(v) with the result converted to R.
  /// Errors: tendril::error naming both types if the value is not an R.
  template <class R>
  R switch_to(std::any value = {}) const {
    return value_as<R>(switch_to(std::move(value)));
  }

  /// switch_to_parent(v) is current().parent().switch_to(v), without the
  /// trap in that expression: its temporary handle to the current greenlet
  /// lives until the switch returns, so a greenlet parked there owns itself
  /// and dropping its other handles could never unwind it.
  /// Errors: tendril::error when called from a main greenlet (it has no parent).
  static std::any switch_to_parent(std::any value = {});

  /// throw_in(e) switches to this greenlet and raises `e` at its switch point;
  /// it may catch it and continue. An unstarted greenlet dies without running
  /// run; a dead one forwards `e` to its first live ancestor (greenlet_exit
  /// turns into a value there, as if it had escaped the dead greenlet).
  /// Returns what is next switched back to the caller.
  /// Blocking, cancellation, thread-safety and errors: as switch_to.
  std::any throw_in(std::exception_ptr error) const;

  // The requires-clause follows `const`: clang-format 14 mangles one placed
  // before a const member function.
  template <class E>
  std::any throw_in(E&& error) const requires(!std::is_same_v<std::remove_cvref_t<E>, std::exception_ptr>) {
    return throw_in(std::make_exception_ptr(std::forward<E>(error)));
  }

  /// started() is true once it has been switched (or thrown) into.
  bool started() const noexcept;
  /// dead() is true once it started and finished; a main greenlet dies with its thread.
  bool dead() const noexcept;
  /// active() is started() && !dead(): it has a live stack.
  bool active() const noexcept;
  explicit operator bool() const noexcept { return active(); }

  /// empty() is true for a default-constructed or moved-from handle.
  bool empty() const noexcept { return state_ == nullptr; }
  /// is_main() is true for a thread's main greenlet.
  bool is_main() const noexcept;

  /// parent() is the greenlet that receives this one's result; empty for a main greenlet.
  /// Thread-safety: call on the greenlet's own thread.
  greenlet parent() const;
  /// set_parent(p) changes the parent. Thread-safety: call on the greenlet's
  /// own thread. Errors: tendril::error if called from another thread, if `p`
  /// is empty, belongs to another thread or would make a cycle, or if this is
  /// a main greenlet.
  void set_parent(const greenlet& parent) const;

  /// id() is unique for the life of the process (never reused); main greenlets included.
  std::uint64_t id() const noexcept;
  /// name() is the name given at construction or by set_name; may be empty.
  std::string name() const;
  void set_name(std::string name) const;
  /// describe() is `greenlet <id> "<name>"`, the form errors use.
  std::string describe() const;

  /// stack_size() is the usable stack size in bytes (0 for a main greenlet).
  std::size_t stack_size() const noexcept;
  /// stack_high_water() is how deep its stack has been touched, in bytes
  /// from the top (0 for a main greenlet or before it started). Stacks are
  /// pooled and keep their touched pages, so this is the deepest any
  /// greenlet that used this stack reached: an upper bound for this one,
  /// and what the stack costs in memory. Read from the kernel (mincore).
  /// Thread-safety: any thread, while a handle keeps the greenlet.
  std::size_t stack_high_water() const;

  /// suspended_at() is the call stack where this greenlet is suspended,
  /// innermost first: in a switch_to, or in the hub's park for a fiber.
  /// Empty for the running greenlet, and one not started or dead. Read by
  /// running briefly on top of the greenlet's saved context (its stack, its
  /// registers) and coming straight back; the greenlet does not run.
  /// Thread-safety: call on the greenlet's own thread.
  /// Errors: tendril::error for an empty handle, or from another thread.
  call_stack suspended_at() const;

  friend bool operator==(const greenlet& a, const greenlet& b) noexcept { return a.state_ == b.state_; }

  /// value_as<R>(v) converts a switched value; throws tendril::error naming
  /// both types on mismatch (instead of std::bad_any_cast).
  template <class R>
  static R value_as(std::any&& value) {
    if (auto* p = std::any_cast<R>(&value)) return std::move(*p);
    throw_bad_value(value.type(), typeid(R));
  }

  /// Internal: adopts one strong reference.
  explicit greenlet(detail::greenlet_state* adopted) noexcept : state_(adopted) {}
  detail::greenlet_state* state() const noexcept { return state_; }

 private:
  friend class weak_greenlet;
  friend struct std::hash<greenlet>;

  [[noreturn]] static void throw_bad_value(const std::type_info& got, const std::type_info& wanted);
  detail::greenlet_state* checked() const;

  detail::greenlet_state* state_ = nullptr;
};

/// weak_greenlet observes a greenlet without keeping it alive.
class weak_greenlet {
 public:
  weak_greenlet() noexcept = default;
  weak_greenlet(const greenlet& g) noexcept;  // NOLINT: implicit like std::weak_ptr
  weak_greenlet(const weak_greenlet& other) noexcept;
  weak_greenlet& operator=(const weak_greenlet& other) noexcept;
  ~weak_greenlet();

  /// lock() is a strong handle, or empty once the greenlet has been collected.
  greenlet lock() const noexcept;
  /// expired() is true once every strong handle is gone.
  bool expired() const noexcept;

 private:
  detail::greenlet_state* state_ = nullptr;
};

template <class F>
  requires(!std::is_same_v<std::remove_cvref_t<F>, greenlet>)
greenlet::greenlet(F&& run, const greenlet& parent, options opts) {
  using body = std::decay_t<F>;
  detail::greenlet_state* s = detail::new_greenlet_state(sizeof(body), alignof(body), parent.state_,
                                                         std::move(opts.name), opts.stack_size);
  try {
    ::new (detail::run_body_of(s)) body(std::forward<F>(run));
  } catch (...) {
    detail::discard_greenlet_state(s);
    throw;
  }
  detail::adopt_run_body(s, &detail::run_vtable_for<body>);
  state_ = s;
}

/// active_greenlet_count() is the number of started, unfinished greenlets on
/// the calling thread, main greenlet excluded. Test fixtures check it returns
/// to its starting value.
std::size_t active_greenlet_count() noexcept;

}  // namespace tendril

template <>
struct std::hash<tendril::greenlet> {
  std::size_t operator()(const tendril::greenlet& g) const noexcept {
    return std::hash<const void*>{}(g.state_);
  }
};
