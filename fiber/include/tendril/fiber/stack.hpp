#pragma once
// Fiber stacks: mmap'ed, lazily committed, pooled per thread.
//
// A stack normally has a PROT_NONE guard page below it: running into it
// prints `stack overflow in fiber <id> "<name>" (stack N KiB)` and aborts.
// Each guarded stack costs two kernel mappings, and Linux caps a process at
// vm.max_map_count (65530 by default), so once the guarded budget is spent
// new stacks are "compact": carved from large slabs without guard pages and
// checked by a canary when they are released. That keeps a million parked
// fibers possible on a stock kernel, at the price of detecting an overflow
// after the fact rather than at the faulting instruction.

#include <cstddef>

namespace tendril {

/// default_stack_size() is the stack a greenlet gets when its options say 0:
/// 256 KiB of address space, of which only the pages touched use memory.
std::size_t default_stack_size() noexcept;

/// set_default_stack_size(bytes) changes it for greenlets created afterwards
/// on any thread; rounded up to whole pages, at least 16 KiB.
void set_default_stack_size(std::size_t bytes) noexcept;

/// guarded_stack_limit() is how many guarded stacks the process may map at
/// once before falling back to compact stacks. The default leaves an eighth of
/// vm.max_map_count (at least 4096 mappings) for everything else; the
/// environment variable TENDRIL_GUARDED_STACKS overrides it.
std::size_t guarded_stack_limit() noexcept;

/// set_guarded_stack_limit(n) changes the budget (0: every new stack is compact).
void set_guarded_stack_limit(std::size_t stacks) noexcept;

/// stack_stats describes stacks: counts for the calling thread, and the
/// process-wide number of guarded stacks mapped.
struct stack_stats {
  std::size_t in_use = 0;          ///< stacks of live greenlets on this thread
  std::size_t compact_in_use = 0;  ///< of which compact
  std::size_t pooled = 0;          ///< free stacks kept warm on this thread
  std::size_t guarded_mapped = 0;  ///< guarded stacks mapped in the process (in use or pooled)
};

/// current_stack_stats() reads the counters; cheap, for tests and dumps.
stack_stats current_stack_stats() noexcept;

/// trim_stack_pool() unmaps the calling thread's pooled stacks.
void trim_stack_pool() noexcept;

}  // namespace tendril
