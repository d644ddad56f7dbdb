#pragma once
// sleep and yield for fibers.

#include <tendril/hub/park.hpp>

namespace tendril {

/// sleep_until(t) parks the calling fiber until `t`.
///
/// Blocking:      parks the calling fiber; the hub runs the others.
/// Deadline:      `t` itself; a time in the past is yield().
/// Cancellation:  a kill or an expired timeout scope raises here.
/// Thread-safety: any fiber, on its own thread's hub.
/// Errors:        tendril::error when called on the hub itself.
void sleep_until(clock::time_point t);

/// sleep(d) is sleep_until(now + d); sleep(0) is yield().
void sleep(clock::duration d);

/// yield() lets every other ready fiber run once, then returns: the caller
/// goes to the back of the ready queue. Costs no system call; a fiber that
/// keeps yielding still lets the hub poll its loop (timers, I/O) at bounded
/// intervals, so it cannot starve them.
/// Cancellation: a kill or an expired timeout scope raises here.
void yield();

}  // namespace tendril
