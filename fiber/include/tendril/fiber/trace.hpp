#pragma once
// A per-thread hook that sees every greenlet switch (python greenlet's settrace).
// Tracing, the hub's blocking monitor and fiber dumps build on it.

#include <functional>

#include <tendril/fiber/greenlet.hpp>

namespace tendril {

/// trace_event says what kind of transfer a trace call reports.
enum class trace_event {
  switched,  ///< a switch carrying a value (or none)
  thrown,    ///< a switch carrying an exception: throw_in, or a child's escaping exception
};

/// A trace function is called as fn(event, origin, target) on the switching
/// thread, just before control leaves `origin` for `target`.
using trace_function = std::function<void(trace_event, const greenlet& origin, const greenlet& target)>;

/// settrace(fn) installs `fn` as the calling thread's trace function (empty
/// to remove it) and returns the previous one.
///
/// If `fn` throws, tracing is disabled and the exception is raised where the
/// switch was attempted: the switch_to/throw_in call throws and no switch
/// happens. When the switch is a dying greenlet handing its result to its
/// parent, the exception replaces that result in the parent.
/// Thread-safety: affects only the calling thread.
trace_function settrace(trace_function fn);

/// gettrace() is the calling thread's trace function, or empty.
trace_function gettrace();

}  // namespace tendril
