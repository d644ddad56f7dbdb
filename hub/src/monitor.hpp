#pragma once
// The monitor thread: one per process, started with the first hub. It
// writes a dump to stderr on the dump signal, and watches every hub for
// fibers that hold its thread too long (the blocking monitor). See
// monitor.cpp.

namespace tendril::detail {

/// start_monitor() starts the monitor thread and installs the dump and
/// busy-sample signal handlers, once per process; later calls do nothing.
void start_monitor() noexcept;

/// Around fork() (fork.cpp): the monitor's lock is taken before, and the
/// child, which has no monitor thread, starts one with its first hub.
void monitor_before_fork() noexcept;
void monitor_after_fork(bool in_child) noexcept;

}  // namespace tendril::detail
