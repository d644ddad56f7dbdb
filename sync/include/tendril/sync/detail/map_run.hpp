#pragma once
// map_run: the machinery of pool::map, imap and imap_unordered (a feeder
// task spawning one task per item, the outcomes collected in input order or
// as they finish), and the concepts that say what a pool can map. Not API;
// <tendril/sync/pool.hpp> documents the behaviour.

#include <concepts>
#include <cstddef>
#include <deque>
#include <exception>
#include <functional>
#include <map>
#include <optional>
#include <ranges>
#include <type_traits>
#include <utility>
#include <vector>

#include <tendril/hub/park.hpp>
#include <tendril/hub/task.hpp>
#include <tendril/sync/group.hpp>

namespace tendril {

namespace detail {

/// spawn_value_t<F, Args...> is T of the task<T> spawn(f, args...) returns.
template <class F, class... Args>
using spawn_value_t =
    std::conditional_t<std::is_void_v<std::invoke_result_t<std::decay_t<F>, std::decay_t<Args>...>>, void,
                       std::decay_t<std::invoke_result_t<std::decay_t<F>, std::decay_t<Args>...>>>;

/// copyable_items<R>: R is an input range whose items can be copied into tasks.
template <class R>
concept copyable_items = std::ranges::input_range<R> &&
    std::constructible_from<std::ranges::range_value_t<R>, std::ranges::range_reference_t<R>>;

template <class T>
concept non_void = !std::is_void_v<T>;

/// returns_value<Fn, T>: Fn can be called with a T, and returns something.
template <class Fn, class T>
concept returns_value = std::invocable<Fn, T> && non_void<std::invoke_result_t<Fn, T>>;

/// lvalue_of_t<F> is how a map calls its function: as an lvalue of its decayed type.
template <class F>
using lvalue_of_t = std::add_lvalue_reference_t<std::decay_t<F>>;

/// pool_mappable<F, R>: a pool can map F over R: R's items can be copied
/// into tasks, and F returns a value for each.
template <class F, class R>
concept pool_mappable = copyable_items<R> && returns_value<lvalue_of_t<F>, std::ranges::range_value_t<R>>;

/// join_or_kill(t) joins t; if the caller is interrupted meanwhile (kill,
/// timeout scope), kills t and waits for it before the interrupt goes on.
void join_or_kill(const task_base& t);

/// wait_for_results(consumer, set, running) parks the caller of a map until
/// `consumer` (set to its waker meanwhile) is woken.
void wait_for_results(waker& consumer, const task_set& set, std::size_t running);

/// stop_map(feeder, running) kills the feeder, then the tasks still running,
/// and waits for all of them, interrupts held back.
void stop_map(const task_base& feeder, std::vector<task_base> running) noexcept;

/// map_run<Fn, V> runs Fn over the input V in a pool's tasks and hands out
/// the outcomes: in input order (`ordered`) or as they finish. Fn and V may
/// be references (map keeps the caller's). Not movable: its tasks point at
/// it. Not API; pool::map and map_results document the behaviour.
template <class Fn, class V>
class map_run {
 public:
  using item = std::ranges::range_value_t<V>;
  using result = std::decay_t<std::invoke_result_t<Fn&, item>>;
  struct outcome {
    std::size_t index;
    std::optional<result> value;
    std::exception_ptr error;  ///< set instead of value when the item's task failed
  };

  template <class G, class W>
  map_run(task_set& set, G&& f, W&& input, bool ordered)
      : set_(set), f_(std::forward<G>(f)), input_(std::forward<W>(input)), ordered_(ordered) {
    set.check_thread();
    feeder_ = tendril::spawn(spawn_options{set.describe() + " feeder"}, [this] { feed(); });
    try {
      feeder_.link([this](const task_base& done) {
        feeder_done_ = true;
        if (!done.successful() && !done.killed()) input_error_ = done.exception();
        consumer_.wake();
      });
    } catch (...) {
      feeder_.kill(nullptr, /*block=*/false);  // not started: it dies without running
      throw;
    }
  }
  map_run(const map_run&) = delete;
  map_run& operator=(const map_run&) = delete;
  ~map_run() { stop(); }

  /// next() is the next outcome, or nullopt once every item's has been
  /// handed out; rethrows an exception from iterating the input after the
  /// outcomes of the items before it. Parks while none is ready.
  std::optional<outcome> next() {
    for (;;) {
      if (!buffer_.empty() && buffer_.front()) {
        std::optional<outcome> o = std::move(buffer_.front());
        buffer_.pop_front();
        ++base_;
        return o;
      }
      if (feeder_done_ && running_.empty()) {
        if (input_error_) std::rethrow_exception(std::exchange(input_error_, nullptr));
        return std::nullopt;
      }
      wait_for_results(consumer_, set_, running_.size());
    }
  }

  /// stop() kills the feeder and the tasks still running, and waits for them.
  void stop() noexcept {
    if (feeder_.ready() && running_.empty()) return;
    std::vector<task_base> running;
    for (auto& entry : running_) running.push_back(entry.second);
    stop_map(feeder_, std::move(running));
  }

 private:
  void feed() {
    std::size_t index = 0;
    for (auto it = std::ranges::begin(input_); it != std::ranges::end(input_); ++it, ++index) {
      item value(*it);
      set_.take_slot(no_deadline);
      watch(index, set_.spawn({}, [this, index, v = std::move(value)]() mutable {
        store(outcome{index, std::invoke(f_, std::move(v)), nullptr});
      }));
    }
  }

  // watch(index, t) follows a task that has not started yet (spawn never
  // switches); if that fails, the task is killed, so it never runs.
  void watch(std::size_t index, const task_base& t) {
    struct unwatched {
      map_run* run;
      std::size_t index;
      const task_base& t;
      bool armed = true;
      ~unwatched() {
        if (!armed) return;
        run->running_.erase(index);
        t.kill(nullptr, /*block=*/false);
      }
    } guard{this, index, t};
    running_.emplace(index, t);
    t.link([this, index](const task_base& done) { finished(index, done); });
    guard.armed = false;
  }

  // A link: runs on the task's fiber right after it finished; never blocks.
  void finished(std::size_t index, const task_base& done) {
    running_.erase(index);
    if (done.killed())
      store(outcome{index, std::nullopt,
                    std::make_exception_ptr(task_killed(done.describe() + " was killed"))});
    else if (!done.successful())
      store(outcome{index, std::nullopt, done.exception()});
    consumer_.wake();
  }

  void store(outcome&& o) {
    if (!ordered_) {
      buffer_.emplace_back(std::move(o));
      return;
    }
    std::size_t slot = o.index - base_;
    if (buffer_.size() <= slot) buffer_.resize(slot + 1);
    buffer_[slot] = std::move(o);
  }

  task_set& set_;
  Fn f_;
  V input_;
  const bool ordered_;
  task_base feeder_;
  bool feeder_done_ = false;
  std::exception_ptr input_error_;
  std::map<std::size_t, task_base> running_;   // by item index
  std::deque<std::optional<outcome>> buffer_;  // ordered: the outcome of item base_ + i at i
  std::size_t base_ = 0;
  waker consumer_;
};

}  // namespace detail

}  // namespace tendril
