// The one place that sees Boost.Context: making contexts and jumping.
//
// Invariants:
// - A switch is a single jump_fcontext. Whoever resumes a greenlet receives
//   the saved context of the greenlet it came from and stores it into that
//   origin (take_over) before anything else can switch to it.
// - Every jump is entered with push+jmp, never call (see jump_context in
//   <tendril/fiber/detail/switch_seam.hpp>): jump_fcontext leaves through an
//   indirect jump, so a call would leave one unmatched return-stack-buffer
//   entry per switch and every later return would be mispredicted.
// - The bookkeeping around a jump is context_handoff.hpp's, shared with the
//   inline switch.
//
// Rejected: boost::context::fiber (callcc). Its ownership model (a fiber
// object that is consumed by resume) fights greenlet's shared handles, it
// allocates its own control block on the stack, and it unwinds with its own
// forced_unwind exception; the raw fcontext calls give one jump per switch.
// Rejected: ucontext (swapcontext makes a sigprocmask system call per switch).

#include "context_switch.hpp"

#include <cxxabi.h>

#include <boost/context/detail/fcontext.hpp>

#include "context_handoff.hpp"
#include "thread_state.hpp"

namespace fctx = boost::context::detail;

// The entry that jump_context's inline asm jumps to. A symbol of tendril's
// own, so that the public header names nothing of Boost's.
#if defined(__x86_64__) && defined(__ELF__) && defined(__GNUC__)
asm(".text\n"
    ".globl tendril_jump_context\n"
    ".type tendril_jump_context, @function\n"
    "tendril_jump_context:\n"
    "  jmp jump_fcontext@PLT\n"
    ".size tendril_jump_context, .-tendril_jump_context\n");
#endif

namespace tendril::detail {
namespace {

static_assert(sizeof(eh_state) == 2 * sizeof(void*), "eh_state must mirror libstdc++'s __cxa_eh_globals");

void trampoline(fctx::transfer_t t) noexcept {
  auto* in = static_cast<switch_message*>(t.data);
  take_over(in->target, in->origin, t.fctx);
  greenlet_main(in);
}

}  // namespace

#if !(defined(__x86_64__) && defined(__ELF__) && defined(__GNUC__))
std::pair<void*, switch_message*> jump_context(void* to, switch_message* msg) noexcept {
  fctx::transfer_t t = fctx::jump_fcontext(to, msg);
  return {t.fctx, static_cast<switch_message*>(t.data)};
}
#endif

void prepare_context(greenlet_state* g) noexcept {
  g->context = fctx::make_fcontext(g->stack.top(), g->stack.size, &trampoline);
#if TENDRIL_ASAN
  g->asan_stack_bottom = g->stack.limit;
  g->asan_stack_size = g->stack.size;
  g->asan_fake_stack = nullptr;
#endif
#if TENDRIL_TSAN
  g->tsan_fiber = __tsan_create_fiber(0);
#endif
}

switch_message* switch_context(thread_state& ts, greenlet_state* from, greenlet_state* to,
                               switch_message* msg) noexcept {
  hand_off(ts, from, to, false);
  auto [origin_context, in] = jump_context(to->context, msg);
  take_over(from, in->origin, origin_context);
  return in;
}

void forget_context(greenlet_state* g) noexcept {
#if TENDRIL_TSAN
  if (g->tsan_fiber != nullptr) __tsan_destroy_fiber(g->tsan_fiber);
#endif
  g->tsan_fiber = nullptr;
  g->context = nullptr;
}

void adopt_thread_context(greenlet_state* main) noexcept {
#if TENDRIL_TSAN
  main->tsan_fiber = __tsan_get_current_fiber();
#endif
  (void)main;
}

eh_state* this_thread_eh_globals() noexcept { return reinterpret_cast<eh_state*>(abi::__cxa_get_globals()); }

}  // namespace tendril::detail
