#pragma once
// The calling thread's hub, seen from outside: statistics that test fixtures
// and monitoring read. (Scheduling itself goes through park, spawn, sleep.)

#include <cstddef>
#include <cstdint>

namespace tendril {

/// hub_stats is a snapshot of one hub.
struct hub_stats {
  std::size_t tasks = 0;              ///< tasks spawned and not yet finished
  std::size_t parked = 0;             ///< fibers parked (tasks or not)
  std::size_t ready = 0;              ///< fibers queued to resume
  std::size_t watchers = 0;           ///< armed timers and I/O watchers of tendril's own
  std::uint64_t loop_iterations = 0;  ///< polls of the libev loop so far
};

/// this_hub_stats() is the calling thread's hub's statistics; all zero when
/// the thread has no hub yet (it does not create one).
/// Thread-safety: reads the calling thread's hub only.
hub_stats this_hub_stats() noexcept;

}  // namespace tendril
