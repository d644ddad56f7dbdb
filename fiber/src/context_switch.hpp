#pragma once
// The stack-switching seam. context_switch.cpp is the only file that sees
// Boost.Context, and the only place that tells AddressSanitizer and
// ThreadSanitizer about switches.

#include <any>
#include <exception>

#include "greenlet_state.hpp"

namespace tendril::detail {

class thread_state;

/// What travels with a switch; lives on the origin's stack, which stays valid
/// until the target has taken the value and error out of it.
struct switch_message {
  std::any* value;
  std::exception_ptr* error;
  greenlet_state* origin;
  greenlet_state* target;
};

/// prepare_context(g) readies g's (already allocated) stack so that the first
/// switch into it calls greenlet_main on that stack.
void prepare_context(greenlet_state* g) noexcept;

/// switch_context() makes `to` current, resumes it and returns the message
/// of whoever switches back to `from`.
switch_message* switch_context(thread_state& ts, greenlet_state* from, greenlet_state* to,
                               switch_message* msg) noexcept;

/// final_switch() leaves a dead greenlet for good.
[[noreturn]] void final_switch(thread_state& ts, greenlet_state* from, greenlet_state* to,
                               switch_message* msg) noexcept;

/// forget_context(g) releases per-greenlet sanitizer state of a dead greenlet
/// (called by the greenlet it switched to, once its stack is no longer in use).
void forget_context(greenlet_state* g) noexcept;

/// adopt_thread_context(main) records the thread's original stack as main's.
void adopt_thread_context(greenlet_state* main) noexcept;

/// this_thread_eh_globals() is the calling thread's exception-handling globals.
eh_state* this_thread_eh_globals() noexcept;

/// greenlet_main() is the first frame of every greenlet's stack (greenlet.cpp).
[[noreturn]] void greenlet_main(switch_message* in) noexcept;

}  // namespace tendril::detail
