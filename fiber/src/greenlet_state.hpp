#pragma once
// The private state behind a greenlet handle.
//
// Ownership: `strong` counts handles (and internal owners: a child's parent
// pointer, the thread's reference to its main greenlet). `weak` counts
// weak_greenlets and deferred cross-thread releases, plus one for all strong
// references together, like std::shared_ptr's control block. When `strong`
// reaches zero the greenlet is collected on its own thread (unwound first if
// it is suspended mid-run); when `weak` reaches zero the memory is freed.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <tendril/fiber/detail/run_body.hpp>

#include "stack_allocator.hpp"

namespace tendril::detail {

class thread_state;

/// abandoned: suspended in the parent of a fork(), in the child; it never
/// runs again there (see detail::abandon_other_greenlets). Ordered after
/// dead so that the switch's one check refuses both.
enum class greenlet_status : std::uint8_t { unstarted, active, dead, abandoned };

/// How a state's memory was obtained, so it is returned the same way.
enum class alloc_kind : std::uint8_t { cached_block, plain, aligned };

/// Libstdc++'s __cxa_eh_globals: the chain of exceptions being handled and the
/// count of those in flight. Saved and restored per greenlet on every switch,
/// so a greenlet inside a catch block keeps its own `throw;` and
/// std::current_exception() across switches.
struct eh_state {
  void* caught = nullptr;
  unsigned int uncaught = 0;
};

struct fiber_local_slot {
  void* value = nullptr;
  void (*destroy)(void*) noexcept = nullptr;
  std::uint32_t generation = 0;
};

class greenlet_state {
 public:
  greenlet_state(thread_state* thread, greenlet_state* parent, std::string&& name, std::size_t stack_size,
                 std::size_t alloc_align) noexcept;

  // Touched on every switch.
  void* context = nullptr;  ///< saved machine context while suspended
  thread_state* const thread;
  greenlet_state* parent;  ///< strong reference; null only for a main greenlet
  /// When set, where control goes when run returns, instead of the parent
  /// (see set_finish_target); not a reference.
  greenlet_state* finish_target = nullptr;
  eh_state eh;
  greenlet_status status = greenlet_status::unstarted;
  bool is_main = false;
  bool orphaned = false;    ///< last handle dropped while it was running: collect once it switches away
  bool self_owned = false;  ///< survived the unwinding of its last handle: owns itself until it dies
  stack_region stack;
  const void* tag = nullptr;  ///< see set_greenlet_tag; copied to running_greenlet_tag on switches

  std::atomic<std::uint32_t> strong{1};
  std::atomic<std::uint32_t> weak{1};

  const run_vtable* run = nullptr;  ///< null before adoption and once the body is destroyed
  const std::uint64_t id;
  const std::size_t requested_stack_size;
  const std::size_t alloc_align;
  alloc_kind alloc = alloc_kind::plain;
  std::size_t body_offset = 0;

  // The thread's list of active greenlets (started, unfinished), for thread
  // exit and dumps.
  greenlet_state* prev_active = nullptr;
  greenlet_state* next_active = nullptr;

  std::vector<fiber_local_slot> locals;

  // Sanitizer bookkeeping, used by context_switch.cpp only.
  void* asan_fake_stack = nullptr;
  const void* asan_stack_bottom = nullptr;
  std::size_t asan_stack_size = 0;
  void* tsan_fiber = nullptr;

  std::string name() const;
  void set_name(std::string&& name);
  /// describe() is `greenlet <id> "<name>"` (the name part only when set).
  std::string describe() const;
  /// name_for_crash() is the raw name, for the async-signal-safe overflow report.
  const std::string& name_for_crash() const noexcept { return name_; }

  void* body() noexcept { return reinterpret_cast<char*>(this) + body_offset; }

 private:
  mutable std::atomic_flag name_lock_;
  std::string name_;
};

/// retain(s) adds a strong reference and returns s.
inline greenlet_state* retain(greenlet_state* s) noexcept {
  s->strong.fetch_add(1, std::memory_order_relaxed);
  return s;
}

/// release(s) drops a strong reference; the last one collects the greenlet
/// (on its own thread, or queued for it). See greenlet_lifetime.cpp.
void release(greenlet_state* s) noexcept;

/// release_weak(s) drops a weak reference; the last one frees the memory.
void release_weak(greenlet_state* s) noexcept;

/// new_main_greenlet(thread) creates the state of a thread's main greenlet.
greenlet_state* new_main_greenlet(thread_state* thread);

}  // namespace tendril::detail
