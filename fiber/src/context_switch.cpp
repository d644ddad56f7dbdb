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
//
// capture_suspended_frames runs a function on top of a suspended greenlet's
// context (ontop_fcontext): with that greenlet's stack and callee-saved
// registers, so the unwinder walks its frames as if they had called the
// function; then it jumps straight back, leaving a small frame there that
// hands the next real switch into the greenlet on as if it had arrived
// directly.

#include "context_switch.hpp"

#include <cxxabi.h>
#include <execinfo.h>

#include <algorithm>

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
  prepare_sanitizers(g);
}

void prepare_sanitizers(greenlet_state* g) noexcept {
#if TENDRIL_ASAN
  g->asan_stack_bottom = g->stack.limit;
  g->asan_stack_size = g->stack.size;
  g->asan_fake_stack = nullptr;
#endif
#if TENDRIL_TSAN
  g->tsan_fiber = __tsan_create_fiber(0);
#endif
  (void)g;
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

}  // namespace tendril::detail

#if defined(__x86_64__) && defined(__ELF__) && defined(__GNUC__)

namespace {

using tendril::detail::greenlet_state;

struct frame_capture {
  greenlet_state* origin;  ///< the greenlet that asked, running on its thread
  greenlet_state* target;  ///< the suspended greenlet whose frames are read
  void** frames;
  int max_frames;
  int count = 0;
};

}  // namespace

extern "C" {
fctx::transfer_t tendril_capture_entry(fctx::transfer_t t) noexcept __attribute__((visibility("hidden")));
fctx::transfer_t tendril_capture_body(fctx::transfer_t t) noexcept __attribute__((visibility("hidden")));
}

// ontop_fcontext enters tendril_capture_entry on the target's stack with
// the target's registers, its stack pointer at the return address that
// jump_context pushed: the label after the jump, 128 bytes of red zone
// below where the suspended function's own unwind information expects the
// stack pointer. The entry's unwind information says so (the caller's stack
// pointer is 136 bytes above, its return address at the bottom), so the
// unwinder walks from here into the suspended frames. It aligns the stack,
// calls the body, and later returns the body's result to that label, which
// is how a real switch into the target is handed on.
asm(".text\n"
    ".type tendril_capture_entry, @function\n"
    "tendril_capture_entry:\n"
    "  .cfi_startproc\n"
    "  .cfi_def_cfa %rsp, 136\n"
    "  .cfi_offset %rip, -136\n"
    "  pushq %rbp\n"
    "  .cfi_def_cfa_offset 144\n"
    "  .cfi_offset %rbp, -144\n"
    "  movq %rsp, %rbp\n"
    "  .cfi_def_cfa_register %rbp\n"
    "  andq $-16, %rsp\n"
    "  call tendril_capture_body\n"
    "  movq %rbp, %rsp\n"
    "  popq %rbp\n"
    "  .cfi_def_cfa %rsp, 136\n"
    "  ret\n"
    "  .cfi_endproc\n"
    ".size tendril_capture_entry, .-tendril_capture_entry\n");

// Runs on the target's stack, called by tendril_capture_entry.
fctx::transfer_t tendril_capture_body(fctx::transfer_t t) noexcept {
  auto* capture = static_cast<frame_capture*>(t.data);
#if TENDRIL_ASAN
  __sanitizer_finish_switch_fiber(capture->target->asan_fake_stack, nullptr, nullptr);
#endif
  // The first two frames are this function and the entry.
  constexpr int own_frames = 2;
  int n = ::backtrace(capture->frames, capture->max_frames);
  capture->count = std::max(n - own_frames, 0);
  std::copy(capture->frames + own_frames, capture->frames + own_frames + capture->count, capture->frames);
#if TENDRIL_ASAN
  __sanitizer_start_switch_fiber(&capture->target->asan_fake_stack, capture->origin->asan_stack_bottom,
                                 capture->origin->asan_stack_size);
#endif
#if TENDRIL_TSAN
  __tsan_switch_to_fiber(capture->origin->tsan_fiber, 0);
#endif
  // Back to the origin through jump_context, like every switch, so that the
  // target stays suspended at a jump_context label (read again, it is read
  // through this frame). The next switch into the target arrives here.
  auto [sender, in] = tendril::detail::jump_context(t.fctx, nullptr);
  return {sender, in};
}

namespace tendril::detail {

int capture_suspended_frames(greenlet_state* origin, greenlet_state* target, void** frames,
                             int max_frames) noexcept {
  frame_capture capture{origin, target, frames, max_frames};
#if TENDRIL_ASAN
  __sanitizer_start_switch_fiber(&origin->asan_fake_stack, target->asan_stack_bottom,
                                 target->asan_stack_size);
#endif
#if TENDRIL_TSAN
  __tsan_switch_to_fiber(target->tsan_fiber, 0);
#endif
  fctx::transfer_t back = fctx::ontop_fcontext(target->context, &capture, &tendril_capture_entry);
#if TENDRIL_ASAN
  __sanitizer_finish_switch_fiber(origin->asan_fake_stack, nullptr, nullptr);
#endif
  target->context = back.fctx;
  return capture.count;
}

#else

namespace tendril::detail {

int capture_suspended_frames(greenlet_state*, greenlet_state*, void**, int) noexcept { return 0; }

#endif

eh_state* this_thread_eh_globals() noexcept { return reinterpret_cast<eh_state*>(abi::__cxa_get_globals()); }

}  // namespace tendril::detail
