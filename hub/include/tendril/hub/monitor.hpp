#pragma once
// The blocking monitor: a watchdog thread that notices a hub whose thread
// has not come back to its loop for longer than a threshold (a fiber doing
// CPU work without yielding, or calling something that blocks the thread),
// and reports which fiber held it, for how long, and where it stands.
// gevent's monitor thread is the model; it is on by default.
//
//   tendril: task 5 "resize" has held hub 1 (thread 4711) for 212 ms without yielding:
//       #0 0x55d0c0de1234 in resize_image(...) at images.cpp:88
//       ...

#include <chrono>
#include <functional>
#include <string>

#include <tendril/fiber/call_stack.hpp>
#include <tendril/hub/hub.hpp>

namespace tendril {

/// blocking_report is one sighting of a hub held too long.
struct blocking_report {
  hub_ref hub;        ///< the hub whose thread was held
  std::string fiber;  ///< `task 5 "name"`, `greenlet 1`, or "the hub itself (...)"; empty if unknown
  std::chrono::milliseconds
      held{};  ///< how long the hub had not come back to its loop when reported (at least the threshold)
  call_stack where;  ///< the holder's call stack then; empty if the thread did not answer

  /// to_string() is the report as printed on stderr, call stack included.
  std::string to_string() const;
};

/// blocking_handler receives reports on the monitor's thread; it must not
/// block for long (the monitor watches nothing meanwhile).
using blocking_handler = std::function<void(const blocking_report&)>;

/// blocking_threshold() is how long a hub may go without coming back to
/// its loop, while fibers wait for it, before it is reported: 100 ms
/// unless the environment variable TENDRIL_BLOCKING_THRESHOLD_MS says
/// otherwise; zero means the monitor is off. Each stall is reported once.
std::chrono::milliseconds blocking_threshold() noexcept;

/// set_blocking_threshold(t) changes it (zero: off). Takes effect at once.
/// Errors: tendril::error for a negative threshold.
void set_blocking_threshold(std::chrono::milliseconds threshold);

/// set_blocking_handler(fn) sends reports to `fn` instead of printing them
/// on stderr (empty: print again); returns the previous handler.
/// Thread-safety: any thread.
blocking_handler set_blocking_handler(blocking_handler fn);

}  // namespace tendril
