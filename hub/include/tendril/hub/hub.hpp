#pragma once
// A hub seen from outside: statistics that fixtures and monitoring read, and
// hub_ref, the name by which other threads reach a hub (post work to it,
// spawn on it, read its statistics). Scheduling itself goes through park,
// spawn and sleep.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

namespace tendril {

/// hub_stats is a snapshot of one hub.
struct hub_stats {
  std::size_t tasks = 0;               ///< tasks spawned and not yet finished
  std::size_t parked = 0;              ///< fibers parked (tasks or not)
  std::size_t ready = 0;               ///< fibers queued to resume
  std::size_t watchers = 0;            ///< armed timers and I/O watchers of tendril's own
  std::uint64_t loop_iterations = 0;   ///< polls of the libev loop so far
  std::uint64_t switches = 0;          ///< switches from one fiber (or the hub) to another so far
  std::chrono::nanoseconds blocked{};  ///< time spent waiting in the loop with nothing to run
  std::uint64_t stolen = 0;            ///< tasks taken from other hubs' mail before they started (runtime)
};

/// this_hub_stats() is the calling thread's hub's statistics; all zero when
/// the thread has no hub yet (it does not create one).
/// Thread-safety: reads the calling thread's hub only (hub_ref::stats reads any).
hub_stats this_hub_stats() noexcept;

/// hub_ref names one hub, the scheduler of one OS thread, so that any thread
/// can reach it. Cheap to copy; it stays a valid name after the hub's thread
/// has exited, and then every use says so with an error.
class hub_ref {
 public:
  /// hub_ref() names no hub.
  hub_ref() noexcept = default;

  /// current() is the calling thread's hub (created on first use).
  static hub_ref current();

  /// post(fn) runs fn() on the hub's thread soon, after the work posted
  /// before it (asyncio's call_soon_threadsafe). fn runs on the hub itself,
  /// between two polls of its loop, so it must not block: spawn a task from
  /// it for anything that parks. What fn throws goes to the hub's task error
  /// handler, with an empty task handle.
  /// Thread-safety: any thread, the hub's own included.
  /// Errors: tendril::error naming the hub when its thread has exited (fn
  /// is then not run) or when the ref is empty.
  void post(std::function<void()> fn) const;

  /// stats() is the hub's statistics, read without stopping it. `tasks`,
  /// `parked`, `ready`, `watchers` are the hub's own counters as of a moment
  /// ago; they are exact when read on the hub's thread.
  /// Thread-safety: any thread. Errors: as post.
  hub_stats stats() const;

  /// alive() is false once the hub's thread has exited (or for an empty ref).
  bool alive() const noexcept;

  /// id() is unique among the hubs of the process's life (0: empty).
  std::uint64_t id() const noexcept { return id_; }
  /// thread_id() is the kernel thread id (gettid) of the hub's thread.
  long thread_id() const noexcept { return thread_id_; }
  /// describe() is `hub <id> (thread <tid>)`, the form errors use.
  std::string describe() const;
  bool empty() const noexcept { return id_ == 0; }
  friend bool operator==(const hub_ref& a, const hub_ref& b) noexcept { return a.id_ == b.id_; }

  /// Internal: names the hub with this id.
  hub_ref(std::uint64_t id, long thread_id) noexcept : id_(id), thread_id_(thread_id) {}

 private:
  std::uint64_t id_ = 0;
  long thread_id_ = 0;
};

}  // namespace tendril
