#pragma once
// The monitor thread: one per process, started with the first hub. It
// writes a dump to stderr on the dump signal, and watches every hub for
// fibers that hold its thread too long (the blocking monitor). See
// monitor.cpp.

namespace tendril::detail {

/// start_monitor() starts the monitor thread and installs the dump and
/// busy-sample signal handlers, once per process; later calls do nothing.
void start_monitor() noexcept;

}  // namespace tendril::detail
