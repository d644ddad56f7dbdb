#pragma once
// pool: a group that runs at most `size` tasks at once, gevent.pool.Pool.
//
//   tendril::pool fetchers(3, "fetchers");
//   std::vector<page> pages = fetchers.map(fetch, urls);   // in the order of urls
//   for (page& p : fetchers.imap_unordered(fetch, urls))   // as each one arrives
//     show(p);
//
// Each task in the pool holds one of its `size` slots (a tendril::semaphore)
// until it finishes or is discarded. spawn parks while every slot is held,
// and blocked spawners get slots in the order they started waiting.
//
// map, imap and imap_unordered feed the pool from a range: a feeder task
// spawns one task per item (parking while the pool is full), and the
// caller collects the results as they arrive. They are structured: every
// task they spawned has finished when map returns or throws, and when the
// object imap returned is destroyed.
//
// Like a group, a pool belongs to the hub of the thread that created it;
// every call but describe() is made on that thread.
//
// Non-features: no unbounded pool (use tendril::group); no maxsize for
// imap's finished results (they wait in memory for the reader); no
// apply_async/map_async (spawn a task that calls apply or map).

#include <concepts>
#include <cstddef>
#include <exception>
#include <iterator>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <tendril/hub/park.hpp>
#include <tendril/hub/task.hpp>
#include <tendril/sync/detail/map_run.hpp>
#include <tendril/sync/group.hpp>
#include <tendril/sync/semaphore.hpp>

namespace tendril {

class pool;

/// map_results is what imap and imap_unordered return: an input range of
/// the results, each computed by a task of the pool.
///
///   for (page& p : fetchers.imap_unordered(fetch, urls)) show(p);
///
/// Iterating parks until the next result is ready; results are handed out
/// while the other items are still being worked on. A failed item's
/// exception is rethrown when its turn comes (a killed item's as
/// tendril::task_killed); next() may be called again after it, to go on
/// with the other items. An exception from iterating the input ends it: it
/// is rethrown after the results of the items taken before it. Not
/// movable; destroying it before the end kills the tasks still running and
/// waits for them to finish, interrupts held back meanwhile.
template <class Fn, class V>
class map_results {
 public:
  using value_type = typename detail::map_run<Fn, V>::result;

  map_results(const map_results&) = delete;
  map_results& operator=(const map_results&) = delete;

  /// next() is the next result, or nullopt once all have been handed out.
  ///
  /// Blocking:      parks the calling fiber until a result is ready.
  /// Deadline:      none; use a tendril::timeout scope.
  /// Cancellation:  a kill or expired timeout scope raises here; the tasks go
  ///                on until the object is destroyed.
  /// Thread-safety: call from a fiber of the pool's hub.
  /// Errors:        rethrows the item's or the input's exception (see above);
  ///                tendril::error when nothing can ever finish the tasks.
  std::optional<value_type> next() {
    std::optional<typename detail::map_run<Fn, V>::outcome> o = run_.next();
    if (!o) return std::nullopt;
    if (o->error) std::rethrow_exception(o->error);
    return std::move(o->value);
  }

  class iterator {
   public:
    using value_type = map_results::value_type;
    using difference_type = std::ptrdiff_t;
    iterator() = default;
    explicit iterator(map_results* owner) : owner_(owner) { ++*this; }
    value_type& operator*() const { return *current_; }
    iterator& operator++() {
      current_ = owner_->next();
      return *this;
    }
    void operator++(int) { ++*this; }
    friend bool operator==(const iterator& it, std::default_sentinel_t) { return !it.current_; }

   private:
    map_results* owner_ = nullptr;
    mutable std::optional<value_type> current_;
  };
  /// begin() waits for the first result (see next()); iterate once.
  iterator begin() { return iterator(this); }
  std::default_sentinel_t end() { return {}; }

 private:
  friend class pool;
  template <class G, class W>
  map_results(detail::task_set& set, G&& f, W&& input, bool ordered)
      : run_(set, std::forward<G>(f), std::forward<W>(input), ordered) {}

  detail::map_run<Fn, V> run_;
};

/// pool is a group of at most `size` tasks running at once.
class pool {
 public:
  /// pool(size, name): `size` slots; the name shows in errors and wait
  /// reasons (`pool "name"`, and `semaphore "name"` for blocked spawners).
  /// Errors: tendril::error naming the pool when size is 0.
  explicit pool(std::size_t size, std::string name = {});
  pool(const pool&) = delete;
  pool& operator=(const pool&) = delete;
  /// ~pool() leaves its tasks running, as ~group() does. No fiber may be
  /// blocked in spawn, add or wait_available then, and no map_results of
  /// the pool may outlive it.
  ~pool() = default;

  /// spawn(f, args...) takes a slot, then is group::spawn: returns the
  /// task<R> of f(args...), a member of the pool until it finishes.
  ///
  /// Blocking:      parks while the pool is full; blocked spawners get
  ///                slots in the order they started waiting.
  /// Deadline:      none; try_spawn_for/until return nullopt when it passes.
  /// Cancellation:  a kill or expired timeout scope raises at the park; no
  ///                slot is taken (one granted at that moment is passed on).
  /// Thread-safety: call from a fiber (or the main greenlet) of the pool's hub.
  /// Errors:        tendril::error naming the pool when called from another
  ///                thread; otherwise as tendril::spawn.
  template <class F, class... Args>
    requires detail::spawnable<F, Args...>
  auto spawn(F&& f, Args&&... args) {
    set_.check_thread();
    set_.take_slot(no_deadline);
    return set_.spawn({}, std::forward<F>(f), std::forward<Args>(args)...);
  }
  /// spawn(options, f, args...) is spawn() with a name and a stack size.
  template <class F, class... Args>
    requires detail::spawnable<F, Args...>
  auto spawn(spawn_options options, F&& f, Args&&... args) {
    set_.check_thread();
    set_.take_slot(no_deadline);
    return set_.spawn(std::move(options), std::forward<F>(f), std::forward<Args>(args)...);
  }

  /// try_spawn(f, args...) is spawn() when a slot is free, else nullopt
  /// (also while earlier spawners wait for one). Never blocks.
  template <class F, class... Args>
    requires detail::spawnable<F, Args...>
  auto try_spawn(F&& f, Args&&... args) {
    return try_spawn_until(clock::time_point::min(), std::forward<F>(f), std::forward<Args>(args)...);
  }
  /// try_spawn_for(timeout, f, args...) is spawn(), or nullopt when no slot
  /// came free within `timeout`. Blocking, cancellation, errors: as spawn.
  template <class F, class... Args>
    requires detail::spawnable<F, Args...>
  auto try_spawn_for(clock::duration timeout, F&& f, Args&&... args) {
    return try_spawn_until(deadline_after(timeout), std::forward<F>(f), std::forward<Args>(args)...);
  }
  template <class F, class... Args>
    requires detail::spawnable<F, Args...>
  auto try_spawn_until(clock::time_point deadline, F&& f, Args&&... args) {
    std::optional<task<detail::spawn_value_t<F, Args...>>> spawned;
    set_.check_thread();
    if (set_.take_slot(deadline)) spawned = set_.spawn({}, std::forward<F>(f), std::forward<Args>(args)...);
    return spawned;
  }

  /// add(t, timeout) adds a task spawned elsewhere on this hub, taking a
  /// slot for it (parking while the pool is full); t leaves, and gives the
  /// slot back, when it finishes. Returns false, adding nothing, when t has
  /// finished or is in the pool already, or no slot came free within
  /// `timeout` (0: do not wait). As group::add, the link counts as observing
  /// a failure. A task already running may finish while add waits.
  /// Blocking, cancellation: as spawn. Thread-safety: as spawn; t must be a
  /// task of the pool's hub. Errors: tendril::error naming the pool for an
  /// empty handle, and from another thread.
  bool add(const task_base& t, clock::duration timeout = clock::duration::max()) {
    return add_until(t,
                     timeout <= clock::duration::zero() ? clock::time_point::min() : deadline_after(timeout));
  }
  bool add_until(const task_base& t, clock::time_point deadline);
  /// discard(t) takes t out without touching it, and gives its slot back (so
  /// the pool may then run more than `size` tasks); false if it was not in.
  bool discard(const task_base& t) { return set_.discard(t); }

  /// contains(t), size(), empty(), tasks(): as group. size() counts the
  /// tasks in the pool; capacity() is the number of slots.
  bool contains(const task_base& t) const { return set_.contains(t); }
  std::size_t size() const { return set_.size(); }
  bool empty() const { return size() == 0; }
  std::vector<task_base> tasks() const { return set_.tasks(); }
  std::size_t capacity() const noexcept { return capacity_; }
  /// free_count() is the number of free slots: 0 while full, and while
  /// spawners wait (a slot given back goes straight to the oldest of them).
  std::size_t free_count() const noexcept { return slots_.available(); }
  bool full() const noexcept { return free_count() == 0; }

  /// wait_available(timeout) waits until a slot is free, without taking
  /// it; true once one is, false if `timeout` passed first. It waits its
  /// turn behind the spawners already blocked, then passes the slot on, so
  /// one of them may take it first.
  /// Blocking, cancellation, thread-safety: as spawn.
  /// Deadline: returns false when `timeout` (wait_available_until: `deadline`) passes.
  bool wait_available(clock::duration timeout = clock::duration::max()) {
    return wait_available_until(deadline_after(timeout));
  }
  bool wait_available_until(clock::time_point deadline);

  /// join(timeout, raise_error), join_until, kill(e, block, timeout): as
  /// group. They do not touch spawners blocked on a full pool (a kill frees
  /// slots: they get them).
  bool join(clock::duration timeout = clock::duration::max(), bool raise_error = false) {
    return set_.join_until(deadline_after(timeout), raise_error);
  }
  bool join_until(clock::time_point deadline, bool raise_error = false) {
    return set_.join_until(deadline, raise_error);
  }
  bool kill(std::exception_ptr error = nullptr, bool block = true,
            clock::duration timeout = clock::duration::max()) {
    return set_.kill(std::move(error), block, deadline_after(timeout));
  }

  /// apply(f, args...) runs f(args...) in a task of the pool and returns its
  /// value, or rethrows its exception (a killed task: tendril::task_killed).
  /// Called from a task of the pool, it runs f at once on the caller
  /// instead (gevent's rule: a member waiting for a slot it holds could wait
  /// forever). Arguments are copied as spawn copies them, either way.
  ///
  /// Blocking:      parks while the pool is full (as spawn), then until f returns.
  /// Deadline:      none; use a tendril::timeout scope.
  /// Cancellation:  a kill or expired timeout scope raises at either park;
  ///                a task already spawned is killed and waited for first
  ///                (f may use the caller's stack).
  /// Thread-safety: as spawn.
  /// Errors:        f's exception; as spawn.
  template <class F, class... Args>
    requires detail::spawnable<F, Args...>
  auto apply(F&& f, Args&&... args) -> detail::spawn_value_t<F, Args...> {
    using value = detail::spawn_value_t<F, Args...>;
    set_.check_thread();
    if (set_.current_is_member()) {
      auto call = detail::bound_call(std::forward<F>(f), std::forward<Args>(args)...);
      if constexpr (std::is_void_v<value>)
        call();
      else
        return value(call());
    } else {
      task<value> t = spawn(std::forward<F>(f), std::forward<Args>(args)...);
      detail::join_or_kill(t);
      return t.get();
    }
  }

  /// map(f, items) is f(item) for each item, each in a task of the pool,
  /// as a std::vector in the order of `items`. Items are copied into their
  /// tasks; at most size() run at once, and map waits its turn for slots
  /// like any spawner. On the first failure (in the order the tasks
  /// finish), map stops spawning, kills the tasks still running, waits for
  /// them, and rethrows it; the others' outcomes are dropped. An exception
  /// from iterating `items` is rethrown once the items taken before it are
  /// done. Every task map spawned has finished when it returns or throws.
  ///
  /// Blocking:      parks until every item is done.
  /// Deadline:      none; use a tendril::timeout scope.
  /// Cancellation:  a kill or expired timeout scope raises here, after the
  ///                tasks still running have been killed and have finished.
  /// Thread-safety: call from a fiber (or the main greenlet) of the pool's
  ///                hub. From a task of the pool it holds a slot while it
  ///                waits for others: with every slot so held, it waits forever.
  /// Errors:        the first failure; tendril::task_killed when an item's
  ///                task was killed (by pool.kill()); tendril::error naming
  ///                the pool from another thread.
  template <class F, class R>
    requires detail::pool_mappable<F, R>
  auto map(F&& f, R&& items) {
    detail::map_run<std::remove_reference_t<F>&, std::remove_reference_t<R>&> run(set_, f, items,
                                                                                  /*ordered=*/false);
    using result = typename decltype(run)::result;
    std::vector<std::optional<result>> slots;
    while (auto o = run.next()) {
      if (o->error) {
        run.stop();
        std::rethrow_exception(o->error);
      }
      if (slots.size() <= o->index) slots.resize(o->index + 1);
      slots[o->index] = std::move(o->value);
    }
    std::vector<result> out;
    out.reserve(slots.size());
    for (std::optional<result>& r : slots) out.push_back(std::move(*r));
    return out;
  }

  /// imap(f, items) is map() as a map_results, handing out each result in
  /// the order of `items` as soon as it and those before it are ready.
  /// f and `items` (when an rvalue) are moved into the returned object; an
  /// lvalue range must outlive it. Never blocks: the work starts when the
  /// caller next parks. Thread-safety, errors: as map (see map_results).
  template <class F, class R>
    requires detail::pool_mappable<F, R>
  auto imap(F&& f, R&& items) {
    return map_results<std::decay_t<F>, std::views::all_t<R>>(
        set_, std::forward<F>(f), std::views::all(std::forward<R>(items)), /*ordered=*/true);
  }
  /// imap_unordered(f, items) is imap() handing out the results in the
  /// order their tasks finish.
  template <class F, class R>
    requires detail::pool_mappable<F, R>
  auto imap_unordered(F&& f, R&& items) {
    return map_results<std::decay_t<F>, std::views::all_t<R>>(
        set_, std::forward<F>(f), std::views::all(std::forward<R>(items)), /*ordered=*/false);
  }

  /// describe() is `pool "name"` (or `pool 0x...`). Thread-safety: any thread.
  std::string describe() const { return set_.describe(); }

 private:
  std::size_t capacity_;
  semaphore slots_;
  detail::task_set set_;
};

}  // namespace tendril
