#pragma once
// Reporting stack overflows: a guard-page hit caught by a SIGSEGV handler on
// an alternate signal stack, and a compact stack's canary found overwritten.

#include <cstddef>

namespace tendril::detail {

class greenlet_state;

/// install_overflow_handler() installs the process's SIGSEGV handler once,
/// chaining to whatever handler was there before.
void install_overflow_handler() noexcept;

/// install_alt_stack() gives the calling thread an alternate signal stack
/// (unless it has one), so the handler can run when a fiber's stack is full.
/// Returns what remove_alt_stack() needs, or null if nothing was installed.
void* install_alt_stack() noexcept;
void remove_alt_stack(void* alt_stack) noexcept;

/// report_canary_overflow() prints the overflow report for a compact stack and aborts.
[[noreturn]] void report_canary_overflow(const greenlet_state& owner, std::size_t stack_size) noexcept;

}  // namespace tendril::detail
