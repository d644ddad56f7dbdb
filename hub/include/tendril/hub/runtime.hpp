#pragma once
// M:N: many tasks over a few OS threads, each thread with its own hub.
//
//   tendril::runtime rt{2};                       // two threads, two hubs
//   auto t = rt.spawn([] { return work(); });     // placed on the hubs in turn
//   int v = t.get();                              // from any thread or fiber
//   rt.join();                                    // every task done, threads joined
//
// A task stays on the hub it started on: its watchers live in that hub's
// loop, and compiled code may keep the address of a thread-local (errno
// among them) across a switch, so resuming it on another thread would use
// the old thread's. Balancing happens when a task is placed (see
// runtime::placement). Tasks on different hubs share sync objects, join,
// kill and link each other; hub/README.md says how.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <type_traits>
#include <utility>
#include <vector>

#include <tendril/hub/hub.hpp>
#include <tendril/hub/task.hpp>

namespace tendril {

/// spawn_on(where, f, args...) is spawn() on the hub `where` names, from any
/// thread: the task is queued to that hub and starts there after the tasks
/// queued before it. On the calling thread's own hub it is spawn().
/// Errors: tendril::error naming the hub when its thread has exited; as spawn().
template <class F, class... Args>
  requires detail::spawnable<F, Args...>
auto spawn_on(const hub_ref& where, F&& f, Args&&... args) {
  return detail::spawn_with({{}, 0, {}, where.id(), where.thread_id()}, std::forward<F>(f),
                            std::forward<Args>(args)...);
}

/// spawn_on(where, options, f, args...) is spawn_on() with a name and a stack size.
template <class F, class... Args>
auto spawn_on(const hub_ref& where, spawn_options options, F&& f, Args&&... args) {
  return detail::spawn_with({std::move(options.name), options.stack_size, {}, where.id(), where.thread_id()},
                            std::forward<F>(f), std::forward<Args>(args)...);
}

/// run_on(where, f, args...) runs f(args...) as a task on `where` and waits
/// for it: returns its value or rethrows its exception (task_killed if it
/// was killed). For plain threads that need something done on a hub; f may
/// block, since it runs as a task.
///
/// Blocking:      parks a calling fiber; blocks a thread without a hub.
/// Cancellation:  a kill or timeout of the calling fiber raises at its park;
///                the task goes on.
/// Thread-safety: any thread.
/// Errors:        as spawn_on; rethrows f's exception.
template <class F, class... Args>
  requires detail::spawnable<F, Args...>
auto run_on(const hub_ref& where, F&& f, Args&&... args) {
  return spawn_on(where, std::forward<F>(f), std::forward<Args>(args)...).get();
}

namespace detail {
class runtime_state;
}

/// runtime runs one hub on each of its OS threads and places tasks on them.
class runtime {
 public:
  /// placement says which hub runtime::spawn picks. Measured on two hubs
  /// (docs/BENCHMARKS.md), round robin is the faster for tasks of even
  /// length: spawn+join 1.3x, a CPU fan-out a little. least_loaded reads
  /// every hub's counters per spawn, and a spawner's own hub looks loaded
  /// by the tasks it has just queued, so it sends most of them away; it
  /// pays off when tasks differ widely in length.
  enum class placement {
    /// Each hub in turn (the default).
    round_robin,
    /// The hub with the fewest unfinished tasks (ties: the next in turn).
    least_loaded,
  };

  struct options {
    /// threads: how many OS threads (and hubs); 0: hardware concurrency.
    std::size_t threads = 0;
    placement place = placement::round_robin;
    /// steal: a hub about to sleep takes in tasks rt.spawn placed on a busy
    /// hub that has not taken them in yet (see hub/README.md); spawn_on's
    /// tasks stay where they were put. Off: every task runs where placed.
    bool steal = true;
    /// name of the threads (`<name>-<index>`, as `top -H` shows them).
    std::string name = "tendril";
    /// error_handler receives the failures nobody observed, on the failing
    /// task's thread (empty: print them, as a lone hub does).
    task_error_handler error_handler;
  };

  /// runtime(threads) starts `threads` threads (0: hardware concurrency),
  /// each running a hub, and returns once every hub is ready.
  /// Errors: std::system_error when a thread cannot be started.
  runtime() : runtime(options{}) {}
  explicit runtime(std::size_t threads) : runtime(with_threads(threads)) {}
  explicit runtime(options o);
  runtime(const runtime&) = delete;
  runtime& operator=(const runtime&) = delete;
  /// ~runtime() is stop(0s) when neither join() nor stop() has run: the
  /// tasks still running are killed.
  ~runtime();

  /// size() is the number of hubs (and threads).
  std::size_t size() const noexcept;
  /// hub(i) names hub i, 0 <= i < size(). Errors: tendril::error when out of range.
  hub_ref hub(std::size_t index) const;
  /// hubs() names every hub, in index order.
  std::vector<hub_ref> hubs() const;
  /// pick() is the hub the next spawn() goes to, by the placement policy.
  hub_ref pick();

  /// spawn(f, args...) is spawn_on(pick(), f, args...), except that, with
  /// options::steal, another hub may run the task if it becomes idle
  /// before the picked hub has taken the task in.
  /// Errors: tendril::error once join() or stop() has begun; as spawn_on.
  template <class F, class... Args>
    requires detail::spawnable<F, Args...>
  auto spawn(F&& f, Args&&... args) {
    return spawn(spawn_options{}, std::forward<F>(f), std::forward<Args>(args)...);
  }
  template <class F, class... Args>
  auto spawn(spawn_options options, F&& f, Args&&... args) {
    placing where(*this);
    return detail::spawn_with({std::move(options.name),
                               options.stack_size,
                               {},
                               where.hub.id(),
                               where.hub.thread_id(),
                               where.stealable},
                              std::forward<F>(f), std::forward<Args>(args)...);
  }

  /// join() waits until no hub has a task left (tasks spawned by tasks,
  /// on any hub, included), then stops the threads. rt.spawn() throws from
  /// then on; tasks may still spawn until the last one has finished.
  ///
  /// Blocking:      blocks the calling thread (parks a calling fiber of
  ///                another hub).
  /// Thread-safety: any thread but the runtime's own.
  /// Errors:        tendril::error when called on a thread of this runtime.
  void join();

  /// stop(grace) stops the runtime: rt.spawn() throws from then on; the
  /// tasks get up to `grace` to finish, then those left are killed (and
  /// waited for), then the threads are joined. Returns true if every task
  /// finished by itself. Stopping a stopped runtime returns at once.
  /// Blocking, thread-safety, errors: as join().
  bool stop(clock::duration grace = std::chrono::seconds(1));

  /// stats() is every hub's statistics (hub_ref::stats), in index order.
  std::vector<hub_stats> stats() const;

  /// A stop hook, run when stop() (or the destructor) begins, on the
  /// stopping thread, with the grace's deadline: servers stop accepting
  /// there (runtime_server). It must not block; what it starts on the hubs
  /// (tasks) is waited for, and killed, as any task is.
  using stop_hook = std::function<void(clock::time_point deadline)>;
  using hook_id = std::uint64_t;
  /// on_stop(fn) adds a stop hook; returns an id for remove_stop_hook.
  /// Thread-safety: any thread.
  hook_id on_stop(stop_hook fn);
  /// remove_stop_hook(id) removes it; false when it has run or never existed.
  bool remove_stop_hook(hook_id id);

 private:
  static options with_threads(std::size_t threads) {
    options o;
    o.threads = threads;
    return o;
  }
  // placing picks a hub for one spawn and keeps stop() and join() from
  // ending the runtime until that spawn has been handed to the hub; then,
  // if that hub is busy, it wakes a sleeping one to steal.
  struct placing {
    explicit placing(runtime& rt);
    placing(const placing&) = delete;
    placing& operator=(const placing&) = delete;
    ~placing();
    detail::runtime_state& state;
    std::size_t index = 0;
    hub_ref hub;
    bool stealable = false;
  };
  std::unique_ptr<detail::runtime_state> state_;
};

}  // namespace tendril
