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
  /// task_state(owner, home, ...): `owner` is the hub it runs on, or null
  /// until the hub with id `home` takes it in (spawn_on from another thread).
  task_state(hub* owner, std::uint64_t home, const task_vtable* vtable, std::size_t body_offset,
             bool cached_block) noexcept
      : record(owner, nullptr, this),
        home(home),
        vtable(vtable),
        body_offset(body_offset),
        cached_block(cached_block) {}

  std::atomic<std::uint32_t> refs{1};
  fiber_record record;
  tendril::greenlet greenlet;
  /// The id of its hub, how other threads reach it. Changed only by a
  /// steal, while the task waits unplaced in its hub's mail, under that
  /// hub's mail lock (so requests about it, which check it under the same
  /// lock, land where it will run: hub::take_request).
  std::atomic<std::uint64_t> home;
  /// Taken in by its hub (start_task): from then on `home` never changes,
  /// and that hub's thread may touch the task directly.
  std::atomic<bool> placed{false};
  const task_vtable* vtable;  ///< null once the body is destroyed
  const std::size_t body_offset;
  const bool cached_block;  ///< allocated as a hub::task_block_bytes block
  /// Set once, on the task's thread, after `error` and the result: other
  /// threads read it with acquire before they look at either.
  std::atomic<task_outcome> outcome{task_outcome::pending};
  bool started = false;
  /// Someone looked at the outcome (get, exception, link, joinall), on any thread.
  std::atomic<bool> observed{false};
  std::exception_ptr error;
  std::unique_ptr<timer> start_timer;  ///< spawn_later's delay, while pending
  task_listener* listeners_head = nullptr;
  task_listener* listeners_tail = nullptr;
  std::atomic<std::uint64_t> next_link_id{1};
  /// A kill from another thread, recorded before its mail is sent, so that
  /// a task that had not started when it was asked to die never runs its
  /// function, even if its hub starts it before handling the mail.
  /// early_kill: 0 none, 1 being recorded, 2 recorded in early_kill_error.
  std::atomic<int> early_kill{0};
  std::exception_ptr early_kill_error;

  void* body() noexcept { return reinterpret_cast<char*>(this) + body_offset; }
  task_outcome result() const noexcept { return outcome.load(std::memory_order_acquire); }
  bool ready() const noexcept { return result() != task_outcome::pending; }
  hub& owner() const noexcept { return *record.owner; }
  /// on_this_thread() is true when the calling thread's hub runs it (has
  /// taken it in: a task still in the mail may yet be stolen).
  bool on_this_thread() const noexcept;

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

  /// held_by_joined(why) is the held_by of a join, a wait for the task
  /// why.object: only that task can end it, so dumps and deadlock reports
  /// follow the edge to it.
  static const void* held_by_joined(const wait_reason& why) noexcept {
    return &static_cast<const task_state*>(why.object)->record;
  }
};

/// start_task(t, request) gives a task on this thread's hub its greenlet
/// (and spawn_later's timer) and queues it; schedule_task calls it, or posts
/// the task to its hub, which calls it there (hub::take_in).
void start_task(task_state* t, spawn_request&& request);

/// finish_task(t) records the outcome, tells the listeners and drops the
/// hub's reference; called on the task's greenlet (or, for a task killed
/// before it started, by the killer).
void finish_task(task_state* t, task_outcome outcome, std::exception_ptr error) noexcept;

}  // namespace tendril::detail
