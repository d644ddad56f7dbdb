#pragma once
// The bookkeeping on either side of a jump, shared by the inline switch
// (greenlet.cpp's prepare_switch/land_switch) and the library's own switches
// (context_switch.cpp). The only place that tells AddressSanitizer and
// ThreadSanitizer about switches.
//
// - The C++ exception-handling globals (the chain of caught exceptions and
//   the uncaught count) belong to the greenlet, not to the thread: saved into
//   the origin and loaded from the target before the jump.
// - thread_state::current names the greenlet whose stack runs, and
//   running_greenlet_tag is its tag: both set by the side that jumps, just
//   before the jump.
// - AddressSanitizer: __sanitizer_start/finish_switch_fiber around each
//   jump; a dying greenlet passes a null fake-stack slot so ASan frees it.
//   ThreadSanitizer: one __tsan fiber per greenlet. Debian's Boost.Context is
//   the fcontext build, which has no annotations of its own.

#include <tendril/fiber/detail/state_access.hpp>

#include "greenlet_state.hpp"
#include "thread_state.hpp"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#define TENDRIL_ASAN 1
#endif
#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
#define TENDRIL_TSAN 1
#endif

namespace tendril::detail {

/// hand_off(ts, from, to, from_dies) prepares the jump from `from` to `to`.
inline void hand_off(thread_state& ts, greenlet_state* from, greenlet_state* to, bool from_dies) noexcept {
  if (!from_dies) from->eh = *ts.eh_globals;
  *ts.eh_globals = to->eh;
  ts.current = to;
  running_greenlet_tag = to->tag;
#if TENDRIL_ASAN
  __sanitizer_start_switch_fiber(from_dies ? nullptr : &from->asan_fake_stack, to->asan_stack_bottom,
                                 to->asan_stack_size);
#endif
#if TENDRIL_TSAN
  __tsan_switch_to_fiber(to->tsan_fiber, 0);
#endif
}

/// hand_off_in_place(ts, to) makes `to` current where a dying greenlet's
/// frames end, on the same stack: no jump, so AddressSanitizer sees nothing
/// change (the thread's fake stack goes on serving `to`).
inline void hand_off_in_place(thread_state& ts, greenlet_state* to) noexcept {
  *ts.eh_globals = to->eh;
  ts.current = to;
  running_greenlet_tag = to->tag;
#if TENDRIL_TSAN
  __tsan_switch_to_fiber(to->tsan_fiber, 0);
#endif
}

/// take_over(self, origin, origin_context) runs first on the resumed side.
inline void take_over(greenlet_state* self, greenlet_state* origin, void* origin_context) noexcept {
#if TENDRIL_ASAN
  const void* bottom = nullptr;
  std::size_t size = 0;
  __sanitizer_finish_switch_fiber(self->asan_fake_stack, &bottom, &size);
  origin->asan_stack_bottom = bottom;  // how ASan learns the main stack's bounds
  origin->asan_stack_size = size;
#endif
  (void)self;
  origin->context = origin_context;
}

}  // namespace tendril::detail
