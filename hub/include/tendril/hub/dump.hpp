#pragma once
// A dump of every hub and every fiber in the process: Go's goroutine dump,
// for tendril. Written on demand, or to stderr on a signal (SIGQUIT unless
// configured otherwise), while the process goes on running.
//
//   tendril::dump(std::cerr);
//
//   hub 1 (thread 4711): 3 tasks, 2 parked, 0 ready, 0 in mail; 812 loop iterations, ...
//     task 5 "writer": parked 2.013 s, waits on mutex 0x5581..., held by task 7 "reader"; stack 8 KiB used of
//     256 KiB
//         #0 0x55d0c0de1234 in tendril::park(...) at hub/src/park.cpp:120
//         ...
//     deadlock: task 5 "writer" -> task 7 "reader" -> task 5 "writer" (each waits on what the next holds)

#include <iosfwd>
#include <string>

namespace tendril {

/// dump(out) writes, for every hub of the process, its counters and each of
/// its fibers: id and name; state (running, ready, parked, not started);
/// for a parked fiber what it waits on, who holds that when known (a
/// mutex's owner, a joined task), and for how long (to within a
/// millisecond); how much of its stack it has used; and the call stack of
/// every suspended fiber. Then the deadlocks: cycles of fibers each
/// waiting on what the next holds.
///
/// Each hub describes itself on its own thread, between two polls (fibers
/// are read there, where they are consistent). A hub that does not answer
/// within a second (a fiber holds its thread without yielding, or the
/// thread is blocked outside tendril, or is not in its hub's loop) is shown
/// with the counters other threads can read, and says why it is missing.
/// Greenlets switched by hand that never parked are not the hub's and are
/// not listed.
///
/// Blocking:      waits for the other hubs' answers: parks a fiber, blocks
///                a thread without a hub (or the hub itself).
/// Deadline:      one second for all the answers together.
/// Thread-safety: any thread.
void dump(std::ostream& out);

/// dump() is dump(out), as a string.
std::string dump();

/// dump_signal() is the signal on which the process writes a dump to stderr
/// and goes on running: SIGQUIT unless the environment variable
/// TENDRIL_DUMP_SIGNAL names another number (0: none). The handler is
/// installed when the first hub starts, only if the signal's disposition
/// is still the default; a program that installs its own handler (before
/// or after) keeps it. Returns 0 when no signal is set.
int dump_signal() noexcept;

/// set_dump_signal(signo) moves the dump to `signo` (0: none), restoring
/// the default disposition of the previous one if tendril had installed it.
/// Errors: tendril::error for a number that is not a signal, or one that
/// cannot be caught (SIGKILL, SIGSTOP).
void set_dump_signal(int signo);

}  // namespace tendril
