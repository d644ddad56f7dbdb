// The one place that switches stacks.
//
// Invariants:
// - A switch is a single jump_fcontext. Whoever resumes a greenlet receives
//   the saved context of the greenlet it came from in transfer_t::fctx and
//   stores it into that origin before anything else can switch to it.
// - ThreadState::current always names the greenlet whose stack is running:
//   it is set just before the jump, by the side that jumps.
// - The C++ exception-handling globals (the chain of caught exceptions and
//   the uncaught count) belong to the greenlet, not to the thread: they are
//   saved into the origin and loaded from the target before the jump.
// - Sanitizers are told about every switch here and nowhere else:
//   AddressSanitizer with __sanitizer_start/finish_switch_fiber (a dying
//   greenlet passes a null fake-stack slot so ASan frees it), ThreadSanitizer
//   with one __tsan fiber per greenlet. Debian's Boost.Context is the fcontext
//   build, which has no annotations of its own.
//
// Rejected: boost::context::fiber (callcc). Its ownership model (a fiber
// object that is consumed by resume) fights greenlet's shared handles, it
// allocates its own control block on the stack, and it unwinds with its own
// forced_unwind exception; the raw fcontext calls give one jump per switch.
// Rejected: ucontext (swapcontext makes a sigprocmask system call per switch).

#include "context_switch.hpp"

#include <cxxabi.h>

#include <boost/context/detail/fcontext.hpp>

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
namespace {

namespace fctx = boost::context::detail;

// Boost's jump_fcontext leaves through `pop; jmp *reg`, not `ret`. Called
// with `call`, each switch would leave one unmatched entry in the CPU's
// return-stack buffer, and every `ret` after it (switch_context's, transfer's,
// the user's...) would then be mispredicted: measured here, a ping-pong
// through three ordinary frames cost 40 ns instead of 20. Entering it with
// `push; jmp` pushes nothing, so the returns on the resumed side pair with
// the calls that led into the switch on the same code path.
#if defined(__x86_64__) && defined(__ELF__)
inline fctx::transfer_t jump(fctx::fcontext_t to, void* data) noexcept {
  register void* rdi asm("rdi") = to;
  register void* rsi asm("rsi") = data;
  register void* rax asm("rax");
  register void* rdx asm("rdx");
  asm volatile(
      "subq $128, %%rsp\n\t"  // step over the red zone, which may hold live data
      "leaq 1f(%%rip), %%rax\n\t"
      "pushq %%rax\n\t"
      "jmp jump_fcontext@PLT\n"
      "1:\n\t"
      "addq $128, %%rsp\n\t"
      : "=r"(rax), "=r"(rdx), "+r"(rdi), "+r"(rsi)
      :
      // Everything the SysV ABI lets a called function clobber.
      : "rcx", "r8", "r9", "r10", "r11", "memory", "cc", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5",
        "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "st", "st(1)",
        "st(2)", "st(3)", "st(4)", "st(5)", "st(6)", "st(7)", "mm0", "mm1", "mm2", "mm3", "mm4", "mm5", "mm6",
        "mm7");
  return {rax, rdx};
}
#else
inline fctx::transfer_t jump(fctx::fcontext_t to, void* data) noexcept {
  return fctx::jump_fcontext(to, data);
}
#endif

static_assert(sizeof(eh_state) == 2 * sizeof(void*), "eh_state must mirror libstdc++'s __cxa_eh_globals");

void swap_exception_state(thread_state& ts, greenlet_state* from, greenlet_state* to) noexcept {
  from->eh = *ts.eh_globals;
  *ts.eh_globals = to->eh;
}

void announce_switch(greenlet_state* from, greenlet_state* to, bool from_dies) noexcept {
#if TENDRIL_ASAN
  __sanitizer_start_switch_fiber(from_dies ? nullptr : &from->asan_fake_stack, to->asan_stack_bottom,
                                 to->asan_stack_size);
#endif
#if TENDRIL_TSAN
  __tsan_switch_to_fiber(to->tsan_fiber, 0);
#endif
  (void)from;
  (void)to;
  (void)from_dies;
}

// Called on the resumed side with the greenlet now running and the one it came from.
void land(greenlet_state* self, greenlet_state* origin, fctx::fcontext_t origin_context) noexcept {
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

void trampoline(fctx::transfer_t t) noexcept {
  auto* in = static_cast<switch_message*>(t.data);
  land(in->target, in->origin, t.fctx);
  greenlet_main(in);
}

}  // namespace

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
  swap_exception_state(ts, from, to);
  ts.current = to;
  announce_switch(from, to, false);
  fctx::transfer_t t = jump(to->context, msg);
  auto* in = static_cast<switch_message*>(t.data);
  land(from, in->origin, t.fctx);
  return in;
}

void final_switch(thread_state& ts, greenlet_state* from, greenlet_state* to, switch_message* msg) noexcept {
  *ts.eh_globals = to->eh;
  ts.current = to;
  announce_switch(from, to, true);
  jump(to->context, msg);
  __builtin_unreachable();
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
