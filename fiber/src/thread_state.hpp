#pragma once
// Per-thread greenlet state: the current and main greenlets, the stack
// allocator, the trace hook, the list of active greenlets, and the queue of
// handles dropped by other threads.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include <tendril/fiber/detail/block_cache.hpp>
#include <tendril/fiber/trace.hpp>

#include "greenlet_state.hpp"
#include "stack_allocator.hpp"

namespace tendril::detail {

class thread_state;

// Plain pointer with constant initialisation: reading it costs one TLS load,
// without the guard call that a thread_local with a destructor would add.
// initial-exec keeps that true inside libtendril_patch.so as well.
extern constinit thread_local thread_state* this_thread_state __attribute__((tls_model("initial-exec")));

class thread_state {
 public:
  /// get() is the calling thread's state, created on first use.
  static thread_state* get() {
    thread_state* ts = this_thread_state;
    if (ts == nullptr) [[unlikely]]
      ts = create();
    return ts;
  }

  /// find() is the calling thread's state if it has one (never creates).
  static thread_state* find() noexcept { return this_thread_state; }

  greenlet_state* current = nullptr;
  greenlet_state* main = nullptr;
  eh_state* eh_globals = nullptr;  ///< libstdc++'s per-thread globals, swapped on switch
  trace_function trace;
  stack_allocator stacks;
  const long tid;  ///< the kernel's thread id, as shown by ps and gdb

  void link_active(greenlet_state* g) noexcept;
  /// abandon_others(): see detail::abandon_other_greenlets.
  void abandon_others() noexcept;
  void unlink_active(greenlet_state* g) noexcept;
  std::size_t active_count() const noexcept { return active_count_; }

  /// has_deferred() is true when other threads dropped handles to this
  /// thread's greenlets; process_deferred() collects them.
  bool has_deferred() const noexcept { return has_deferred_.load(std::memory_order_relaxed); }
  void process_deferred() noexcept;

  /// defer_release(g) is called by another thread that dropped the last
  /// handle to `g`. Returns false if this thread has exited (the caller then
  /// frees `g` itself: a dead thread has no suspended greenlets left).
  bool defer_release(greenlet_state* g);

  /// set_deferred_hook(hook, arg): defer_release calls hook(arg), under the
  /// queue's lock, after queuing, so a thread blocked in an event loop can be
  /// woken to collect (the hub passes its ev_async notify). Null removes it.
  void set_deferred_hook(void (*hook)(void*) noexcept, void* arg) noexcept;

  /// describe() is `thread <tid>`, plus "(exited)" once it has.
  std::string describe() const;
  bool alive() const;

  /// next_greenlet_id() is a process-unique id, taken from a per-thread block
  /// so that creating a greenlet costs no atomic operation for it.
  std::uint64_t next_greenlet_id() noexcept {
    if (next_id_ == id_limit_) [[unlikely]]
      take_id_block();
    return next_id_++;
  }

  /// take_cached_block() is a free greenlet-state block of this thread, or
  /// null; keep_cached_block() gives one back.
  void* take_cached_block() noexcept { return block_cache_.take(); }
  void keep_cached_block(void* block) noexcept { block_cache_.keep(block); }

  /// Every greenlet state keeps its thread_state alive (handles outlive
  /// threads). Biased counting keeps that free of atomics in the common case:
  /// while the thread runs, states created and freed on it are counted in a
  /// plain counter, and states freed on other threads decrement an atomic
  /// that starts at a bias no count reaches. At exit the thread folds the
  /// plain count in and drops the bias; the last state to go deletes this.
  void add_state_ref() noexcept { ++local_refs_; }  // owner thread only: states are created there
  void release_state_ref() noexcept;                // any thread

 private:
  thread_state();
  ~thread_state();
  static thread_state* create();
  friend struct thread_exit;
  void exit() noexcept;
  void drop_bias() noexcept;
  void unwind_active() noexcept;
  void take_id_block() noexcept;

  greenlet_state* active_head_ = nullptr;
  std::size_t active_count_ = 0;
  std::atomic<bool> has_deferred_{false};
  static constexpr std::int64_t ref_bias = std::int64_t{1} << 48;
  std::int64_t local_refs_ = 0;
  std::atomic<std::int64_t> shared_refs_{ref_bias};
  void* alt_stack_ = nullptr;
  // Enough for a spawn burst of a thousand tasks (each holds its greenlet's
  // block until it has run) to recycle blocks instead of calling malloc.
  block_cache block_cache_{1024};
  std::uint64_t next_id_ = 0;
  std::uint64_t id_limit_ = 0;

  mutable std::mutex mutex_;
  std::vector<greenlet_state*> deferred_;            // guarded by mutex_
  void (*deferred_hook_)(void*) noexcept = nullptr;  // guarded by mutex_
  void* deferred_hook_arg_ = nullptr;                // guarded by mutex_
  bool alive_ = true;                                // guarded by mutex_
};

}  // namespace tendril::detail
