#pragma once
// wait_signal: a fiber waits for a POSIX signal, watched by its hub's loop
// (libev's ev_signal). The usual use is a graceful shutdown:
//
//   auto server = tendril::spawn(serve, port);
//   int signo = tendril::wait_signal({SIGINT, SIGTERM});   // the rest keep running
//   stop_accepting_and_drain(server);
//
// A signal is caught only while some fiber waits for it: the hub installs
// its handler when the first fiber starts waiting and restores the previous
// disposition (SIGINT's default ends the process) when the last one stops.
// A signal that arrives between two waits is not kept for the next one, so
// a program that must catch every SIGHUP keeps a fiber waiting in a loop.

#include <initializer_list>
#include <span>

#include <tendril/hub/park.hpp>

namespace tendril {

/// wait_signal(signo, deadline) returns `signo` once that signal arrives, or
/// 0 when `deadline` passes first. Every fiber of the hub waiting for the
/// signal wakes on one arrival; arrivals before the waiters resume count once.
///
/// Blocking:      parks the calling fiber; its hub's loop watches the signal
///                meanwhile (a thread without a hub gets one, as with sleep).
/// Deadline:      returns 0 once it passes (a signal that arrived first wins).
/// Cancellation:  a kill or an expired timeout scope raises here; the fiber
///                stops waiting first, and the last waiter's leaving restores
///                the signal's previous disposition.
/// Thread-safety: any fiber on any hub, but a signal is watched by one hub at
///                a time (libev allows one loop per signal): fibers of one hub
///                share it, another hub's wait for it fails until they stop.
///                The signal may be raised by any thread or process.
/// Errors:        tendril::error naming the signal when another thread's hub
///                watches it, or when it cannot be waited for (not a valid
///                signal number, SIGKILL, SIGSTOP).
int wait_signal(int signo, clock::time_point deadline = no_deadline);

/// wait_signal(signals, deadline) waits for any of `signals` and returns the
/// one that arrived (the first one delivered when several arrive together), or 0
/// when `deadline` passes. Same rules as wait_signal(signo, deadline); an
/// empty set is an error.
int wait_signal(std::span<const int> signals, clock::time_point deadline = no_deadline);

/// wait_signal({SIGINT, SIGTERM}, deadline): the same, for a braced list.
inline int wait_signal(std::initializer_list<int> signals, clock::time_point deadline = no_deadline) {
  return wait_signal(std::span<const int>(signals.begin(), signals.size()), deadline);
}

}  // namespace tendril
