// Looking at a greenlet from outside: where it is suspended, and how much
// of its stack it has touched. Dumps (hub/src/dump.cpp) read both.

#include <sys/mman.h>

#include <vector>

#include <tendril/error.hpp>
#include <tendril/fiber/greenlet.hpp>

#include "context_switch.hpp"
#include "greenlet_state.hpp"
#include "thread_state.hpp"

namespace tendril {

call_stack greenlet::suspended_at() const {
  detail::greenlet_state* self = checked();
  detail::thread_state* ts = detail::thread_state::find();
  if (ts != self->thread)
    throw error("cannot read the call stack of " + self->describe() + " of " + self->thread->describe() +
                " from another thread: a suspended greenlet is read on its own thread");
  if (self->status != detail::greenlet_status::active || self == ts->current || self->context == nullptr)
    return {};
  std::vector<void*> frames(64);
  int n = detail::capture_suspended_frames(ts->current, self, frames.data(), static_cast<int>(frames.size()));
  frames.resize(static_cast<std::size_t>(n));
  return call_stack(std::move(frames));
}

// The pages of a stack are mapped lazily: the lowest one in memory marks
// how deep any greenlet that used this stack has reached. mincore asks the
// kernel without touching them (a swapped-out page would be missed).
std::size_t greenlet::stack_high_water() const {
  const detail::stack_region& stack = checked()->stack;
  if (stack.kind == detail::stack_kind::none) return 0;
  const std::size_t page = 4096;
  std::vector<unsigned char> resident(stack.size / page);
  if (::mincore(stack.limit, stack.size, resident.data()) != 0) return 0;
  for (std::size_t i = 0; i < resident.size(); ++i)
    if ((resident[i] & 1) != 0) return stack.size - i * page;
  return 0;
}

}  // namespace tendril
