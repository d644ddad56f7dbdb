#pragma once
// The untyped state behind task handles; the typed body (callable, result)
// follows it in the same allocation (see detail/task_body.hpp).
//
// Ownership: `refs` counts handles plus one held by the hub from spawn until
// the task has finished (so fire-and-forget tasks run to the end). The state
// owns the task's greenlet.

#include <atomic>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <string>

#include <tendril/fiber/greenlet.hpp>
#include <tendril/hub/task.hpp>

#include <tendril/hub/detail/event_loop.hpp>
#include "fiber_record.hpp"

namespace tendril::detail {

enum class task_outcome : std::uint8_t { pending, succeeded, failed, killed };

/// A task_listener is told once when its task finishes; intrusive, so joins
/// and iwait register without allocating.
struct task_listener {
  void (*notify)(task_listener* self, task_state* finished) noexcept = nullptr;
  task_listener* prev = nullptr;
  task_listener* next = nullptr;
  bool linked = false;
};

class task_state {
 public:
  task_state(hub* owner, const task_vtable* vtable, std::size_t body_offset, bool cached_block) noexcept
      : record(owner, nullptr, this), vtable(vtable), body_offset(body_offset), cached_block(cached_block) {}

  std::atomic<std::uint32_t> refs{1};
  fiber_record record;
  tendril::greenlet greenlet;
  const task_vtable* vtable;  ///< null once the body is destroyed
  const std::size_t body_offset;
  const bool cached_block;  ///< allocated as a hub::task_block_bytes block
  task_outcome outcome = task_outcome::pending;
  bool started = false;
  bool observed = false;  ///< someone looked at the outcome (get, exception, link, joinall)
  std::exception_ptr error;
  std::unique_ptr<timer> start_timer;  ///< spawn_later's delay, while pending
  task_listener* listeners_head = nullptr;
  task_listener* listeners_tail = nullptr;
  std::uint64_t next_link_id = 1;

  void* body() noexcept { return reinterpret_cast<char*>(this) + body_offset; }
  bool ready() const noexcept { return outcome != task_outcome::pending; }
  hub& owner() const noexcept { return *record.owner; }

  task_state* retain() noexcept {
    refs.fetch_add(1, std::memory_order_relaxed);
    return this;
  }
  /// release() drops a reference; the last one reports an unobserved failure
  /// and frees the state.
  void release() noexcept;

  void add_listener(task_listener* l) noexcept;
  void remove_listener(task_listener* l) noexcept;

  /// describe() is `task <id> "<name>"`.
  std::string describe() const;
};

/// finish_task(t) records the outcome, tells the listeners and drops the
/// hub's reference; called on the task's greenlet (or, for a task killed
/// before it started, by the killer).
void finish_task(task_state* t, task_outcome outcome, std::exception_ptr error) noexcept;

}  // namespace tendril::detail
