#pragma once
// What greenlet::switch_to needs inline. Not API.
//
// The common switch jumps from the caller's own code: a library function
// that switched stacks would return, on the resumed side, into a different
// caller than the one its return address was predicted for, and that one
// mispredicted return costs more than the rest of the switch (see
// docs/BENCHMARKS.md). The bookkeeping stays out of line, in
// prepare_switch() before the jump and land_switch() after it.

#include <any>
#include <exception>
#include <utility>

namespace tendril::detail {

class greenlet_state;

/// What travels with a switch; lives on the sender's stack, which stays valid
/// until the receiver has taken the value and error out of it.
struct switch_message {
  std::any* value;
  std::exception_ptr* error;  ///< null when the switch carries a value
  greenlet_state* origin;
  greenlet_state* target;
};

/// prepare_switch(target, msg) does everything before the jump for a switch
/// to a live greenlet of this thread (starting it if unstarted), untraced,
/// carrying a value: fills msg's origin and target, makes target current and
/// returns the context to jump to. Returns null, having done nothing, for any
/// other switch. Errors: starting may fail to map a stack.
void* prepare_switch(greenlet_state* target, switch_message& msg);

/// land_switch(sender, in) runs on the resumed side: records the sender's
/// context, does the landing bookkeeping and returns the value (or rethrows
/// the exception) that `in` carries.
std::any land_switch(void* sender_context, switch_message* in);

/// land_switch_discarding(sender, in) is land_switch for a receiver that
/// takes no value (the hub resuming a parked fiber): any value is left
/// where it is; an exception is rethrown.
void land_switch_discarding(void* sender_context, switch_message* in);

/// switch_slow(target, value) is every switch prepare_switch declines.
std::any switch_slow(greenlet_state* target, std::any&& value);

/// jump_context(to, msg) transfers control to `to`, passing `msg`; returns the
/// context and message of whoever switches back.
#if defined(__x86_64__) && defined(__ELF__) && defined(__GNUC__)
inline std::pair<void*, switch_message*> jump_context(void* to, switch_message* msg) noexcept {
  // tendril_jump_context leaves through an indirect jump, not a return, so
  // it is entered with push+jmp: no return-stack-buffer entry is left behind.
  register void* rdi asm("rdi") = to;
  register void* rsi asm("rsi") = msg;
  register void* rax asm("rax");
  register void* rdx asm("rdx");
  asm volatile(
      "subq $128, %%rsp\n\t"  // step over the red zone, which may hold live data
      "leaq 1f(%%rip), %%rax\n\t"
      "pushq %%rax\n\t"
      "jmp tendril_jump_context@PLT\n"
      "1:\n\t"
      "addq $128, %%rsp\n\t"
      : "=r"(rax), "=r"(rdx), "+r"(rdi), "+r"(rsi)
      :
      // Everything the SysV ABI lets a called function clobber.
      : "rcx", "r8", "r9", "r10", "r11", "memory", "cc", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5",
        "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "st", "st(1)",
        "st(2)", "st(3)", "st(4)", "st(5)", "st(6)", "st(7)", "mm0", "mm1", "mm2", "mm3", "mm4", "mm5", "mm6",
        "mm7");
  void* sender = rax;  // std::pair takes references, which register variables cannot give
  auto* in = static_cast<switch_message*>(rdx);
  return {sender, in};
}
#else
std::pair<void*, switch_message*> jump_context(void* to, switch_message* msg) noexcept;
#endif

}  // namespace tendril::detail
