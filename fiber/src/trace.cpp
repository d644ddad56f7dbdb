// The per-thread trace hook; transfer() in greenlet.cpp calls it.

#include <tendril/fiber/trace.hpp>

#include "thread_state.hpp"

namespace tendril {

trace_function settrace(trace_function fn) {
  return std::exchange(detail::thread_state::get()->trace, std::move(fn));
}

trace_function gettrace() { return detail::thread_state::get()->trace; }

}  // namespace tendril
