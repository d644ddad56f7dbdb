#pragma once
// run_in_thread: a blocking call made on a pool of OS threads while the
// calling fiber parks (gevent's hub.threadpool.apply, one pool for the
// whole process rather than one per hub).
//
//   std::string text = tendril::run_in_thread(legacy_blocking_fetch, key);
//
// The pool starts its threads when work arrives, up to a bound, and lets a
// thread exit after it has idled for a while; calls beyond the bound wait
// in FIFO order. A call cannot be stopped once it runs: a fiber that stops
// waiting (deadline, kill, timeout scope) leaves it running, and its result
// is dropped when it ends.

#include <chrono>
#include <concepts>
#include <cstddef>
#include <exception>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>

#include <tendril/hub/detail/task_body.hpp>
#include <tendril/hub/park.hpp>

namespace tendril {

namespace detail {

/// thread_job is one call for the pool, with its type erased. The waiting
/// fiber and the worker share it; when the fiber stops waiting first, the
/// worker destroys it once the call has ended.
class thread_job {
 public:
  thread_job() noexcept;
  thread_job(const thread_job&) = delete;
  thread_job& operator=(const thread_job&) = delete;
  virtual ~thread_job();

  /// run() makes the call (on a worker), keeps its value or exception, and
  /// destroys the callable and its arguments.
  virtual void run() noexcept = 0;

 private:
  friend struct thread_job_access;
  // The hand-back to the waiting fiber (a spinlock and its waiter, see
  // thread_pool.cpp), stored here so a call costs one allocation; its size
  // is checked where the type is complete.
  alignas(8) unsigned char hand_back_[24];
};

/// run_job_until(job, deadline) runs job->run() on a pool thread while the
/// calling fiber parks: true once it has run, false if `deadline` passed
/// first (or had passed: then the job is not run). On a thread without a
/// hub the job runs inline. Blocking, cancellation, errors: run_in_thread.
bool run_job_until(const std::shared_ptr<thread_job>& job, clock::time_point deadline);

/// call_job<T, Call> holds the bound call until it has run, then its outcome.
template <class T, class Call>
class call_job final : public thread_job {
 public:
  explicit call_job(Call&& call) : call_(std::move(call)) {}

  void run() noexcept override {
    try {
      result_.store(*call_);
    } catch (...) {
      error_ = std::current_exception();  // rethrown on the waiting fiber, by take()
    }
    call_.reset();
  }

  /// take() is the value (moved out), or rethrows the call's exception
  /// (moved out too: the worker may destroy the job while the fiber handles
  /// the exception, and must not be left holding the last reference to it).
  T take() {
    if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
    if constexpr (!std::is_void_v<T>) return std::move(*result_.value);
  }

 private:
  std::optional<Call> call_;
  task_result<T> result_;
  std::exception_ptr error_;
};

template <class F, class... Args>
auto make_thread_job(F&& f, Args&&... args) {
  auto call = bound_call(std::forward<F>(f), std::forward<Args>(args)...);
  using result = std::invoke_result_t<decltype(call)&>;
  using value = std::conditional_t<std::is_void_v<result>, void, std::decay_t<result>>;
  return std::make_shared<call_job<value, decltype(call)>>(std::move(call));
}

/// thread_callable<F, Args...>: the pool can call a decayed copy of F with
/// decayed copies of Args, moved in (std::thread's rule).
template <class F, class... Args>
concept thread_callable = std::invocable<std::decay_t<F>, std::decay_t<Args>...>;

}  // namespace detail

/// thread_result_t<F, Args...> is what run_in_thread(f, args...) returns:
/// the call's result, decayed (a reference result is returned as a copy).
template <class F, class... Args>
using thread_result_t = decltype(detail::make_thread_job(std::declval<F>(), std::declval<Args>()...)->take());

/// run_in_thread(f, args...) calls f(args...) on a thread of the pool and
/// returns its value, or rethrows its exception, on the calling fiber. f and
/// args are copied or moved into the call, as std::thread does (std::ref
/// shares); they, and a result nobody takes, are destroyed on the worker.
///
/// Blocking:      parks the calling fiber while the call runs (or waits for
///                a thread); other fibers on its hub keep running. On a
///                thread without a hub (a plain thread, a pool thread), f
///                runs inline, blocking the thread.
/// Deadline:      none; see run_in_thread_until.
/// Cancellation:  a kill or an expired timeout scope raises here at once.
///                The call cannot be stopped: it runs to its end (or, still
///                queued, starts later and runs), and its result or
///                exception is then dropped. Whatever it refers to
///                (std::ref, captured pointers) must outlive it.
/// Thread-safety: any fiber on any hub, or any thread. The calls of all
///                hubs share the process's one pool.
/// Errors:        rethrows f's exception (its own type); tendril::system_error
///                when the pool has no thread and cannot start one.
template <class F, class... Args>
  requires detail::thread_callable<F, Args...>
auto run_in_thread(F&& f, Args&&... args) {
  auto job = detail::make_thread_job(std::forward<F>(f), std::forward<Args>(args)...);
  detail::run_job_until(job, no_deadline);
  return job->take();
}

/// run_in_thread_until(deadline, f, args...) is run_in_thread(f, args...)
/// that stops waiting at `deadline`. It returns std::optional<T> holding the
/// value, or std::nullopt when the deadline passed first; for a call that
/// returns void, true or false.
///
/// Deadline:      when it passes the fiber returns nullopt (false); the call
///                runs on to its end and its result or exception is dropped.
///                A deadline already passed returns at once without making
///                the call. On a thread without a hub f runs inline and the
///                deadline is checked only before it starts.
/// Blocking, cancellation, thread-safety, errors: as run_in_thread.
template <class F, class... Args>
  requires detail::thread_callable<F, Args...>
auto run_in_thread_until(clock::time_point deadline, F&& f, Args&&... args) {
  auto job = detail::make_thread_job(std::forward<F>(f), std::forward<Args>(args)...);
  using value = decltype(job->take());
  if constexpr (std::is_void_v<value>) {
    if (!detail::run_job_until(job, deadline)) return false;
    job->take();
    return true;
  } else {
    if (!detail::run_job_until(job, deadline)) return std::optional<value>();
    return std::optional<value>(job->take());
  }
}

/// run_in_thread_for(timeout, f, args...) is run_in_thread_until(now + timeout, f, args...).
template <class Rep, class Period, class F, class... Args>
  requires detail::thread_callable<F, Args...>
auto run_in_thread_for(const std::chrono::duration<Rep, Period>& timeout, F&& f, Args&&... args) {
  return run_in_thread_until(deadline_after(std::chrono::duration_cast<clock::duration>(timeout)),
                             std::forward<F>(f), std::forward<Args>(args)...);
}

/// thread_pool_stats is a snapshot of the pool.
struct thread_pool_stats {
  std::size_t threads = 0;      ///< OS threads alive, busy or idle
  std::size_t busy = 0;         ///< threads running a call
  std::size_t queued = 0;       ///< calls waiting for a thread
  std::size_t max_threads = 0;  ///< the bound (set_max_threads)
};

/// The process-wide pool behind run_in_thread. Its threads are detached:
/// it is never torn down, and a call still running at exit ends with the
/// process. A pool thread has no hub.
namespace thread_pool {

/// default_max_threads() is the bound the pool starts with: twice the
/// hardware threads, and at least 8 (the pool is for calls that block
/// more often than they compute).
std::size_t default_max_threads() noexcept;

/// set_max_threads(n) bounds the pool to `n` threads. Raising it starts
/// threads for calls already queued; lowering it lets the extra threads
/// exit as they finish their calls (a running call is never interrupted).
/// Thread-safety: any thread. Errors: tendril::error when n is 0.
void set_max_threads(std::size_t n);

/// max_threads() is the current bound.
std::size_t max_threads() noexcept;

/// default_idle_timeout is how long a thread waits for work before it exits.
inline constexpr clock::duration default_idle_timeout = std::chrono::seconds(10);

/// set_idle_timeout(d) makes threads exit after `d` without work (0: as soon
/// as the queue is empty). Idle threads apply it at once.
/// Thread-safety: any thread. Errors: tendril::error when d is negative.
void set_idle_timeout(clock::duration d);

/// idle_timeout() is the current idle timeout.
clock::duration idle_timeout() noexcept;

/// stats() is a snapshot of the pool. Thread-safety: any thread.
thread_pool_stats stats() noexcept;

}  // namespace thread_pool

}  // namespace tendril
