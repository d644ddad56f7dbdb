#pragma once
// The stack-switching seam. context_switch.cpp is the only file that sees
// Boost.Context.

#include <tendril/fiber/detail/switch_seam.hpp>

#include "greenlet_state.hpp"

namespace tendril::detail {

class thread_state;

/// prepare_context(g) readies g's (already allocated) stack so that the first
/// switch into it calls greenlet_main on that stack.
void prepare_context(greenlet_state* g) noexcept;

/// prepare_sanitizers(g) is prepare_context's bookkeeping without the
/// context: for a greenlet that starts running on its stack in place, where
/// a dying greenlet's frames end (see greenlet.cpp's finish).
void prepare_sanitizers(greenlet_state* g) noexcept;

/// switch_context() makes `to` current, resumes it and returns the message
/// of whoever switches back to `from`.
switch_message* switch_context(thread_state& ts, greenlet_state* from, greenlet_state* to,
                               switch_message* msg) noexcept;

/// forget_context(g) releases per-greenlet sanitizer state of a dead greenlet
/// (called by the greenlet it switched to, once its stack is no longer in use).
void forget_context(greenlet_state* g) noexcept;

/// adopt_thread_context(main) records the thread's original stack as main's.
void adopt_thread_context(greenlet_state* main) noexcept;

/// capture_suspended_frames(origin, target, frames, max) fills `frames` with
/// the return addresses of the suspended greenlet `target`, innermost first,
/// and returns how many (fewer than max).
/// `origin` is the calling greenlet; both are on the calling thread, and
/// `target` is started, not dead and not running.
int capture_suspended_frames(greenlet_state* origin, greenlet_state* target, void** frames,
                             int max_frames) noexcept;

/// this_thread_eh_globals() is the calling thread's exception-handling globals.
eh_state* this_thread_eh_globals() noexcept;

/// greenlet_main() is the first frame of every greenlet's stack (greenlet.cpp).
[[noreturn]] void greenlet_main(switch_message* in) noexcept;

}  // namespace tendril::detail
