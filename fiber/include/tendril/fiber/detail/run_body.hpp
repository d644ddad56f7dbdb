#pragma once
// What greenlet's constructor template needs to store any callable as the
// greenlet's `run`, in the same allocation as the greenlet's private state.
// Not API: the layout of greenlet_state stays in fiber/src.

#include <any>
#include <concepts>
#include <cstddef>
#include <new>
#include <string>
#include <type_traits>
#include <utility>

namespace tendril::detail {

class greenlet_state;

/// How to call and destroy the callable stored behind a greenlet_state.
struct run_vtable {
  std::any (*invoke)(void* body, std::any&& start_value);
  void (*destroy)(void* body) noexcept;
};

/// Adapts the callables greenlet accepts: `R(std::any)` or `R()`, where R may
/// be void (the greenlet returns "no value") or anything storable in std::any.
template <class F>
std::any invoke_run(void* body, std::any&& start_value) {
  F& fn = *static_cast<F*>(body);
  auto call = [&]() -> decltype(auto) {
    if constexpr (std::invocable<F&, std::any>) {
      return fn(std::move(start_value));
    } else {
      static_assert(std::invocable<F&>, "a greenlet's run takes std::any or nothing");
      return fn();
    }
  };
  using result = decltype(call());
  if constexpr (std::is_void_v<result>) {
    call();
    return {};
  } else {
    return std::any(call());
  }
}

template <class F>
inline constexpr run_vtable run_vtable_for{
    &invoke_run<F>,
    [](void* body) noexcept { static_cast<F*>(body)->~F(); },
};

/// new_greenlet_state() allocates a greenlet's state with `body_size` bytes
/// (aligned to `body_align`) reserved for its run callable; the caller
/// constructs the callable there (see run_body_of) and then calls
/// adopt_run_body(). `parent` null means "the current greenlet".
greenlet_state* new_greenlet_state(std::size_t body_size, std::size_t body_align, greenlet_state* parent,
                                   std::string&& name, std::size_t stack_size);

/// run_body_of() is the storage reserved for the run callable.
void* run_body_of(greenlet_state* state) noexcept;

/// adopt_run_body() records that the body was constructed and how to use it.
void adopt_run_body(greenlet_state* state, const run_vtable* vtable) noexcept;

/// discard_greenlet_state() frees a state whose body was never constructed.
void discard_greenlet_state(greenlet_state* state) noexcept;

}  // namespace tendril::detail
