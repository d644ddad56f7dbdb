// The process-wide thread pool behind run_in_thread, and the hand-back of a
// finished call to the fiber waiting for it.
//
// Glossary: a *job* is one call (thread_job); a *worker* is a pool thread;
// the *hand-back* is the job's spinlock and the waiting fiber's waiter node.
//
// Invariants:
// - The waiting fiber's waiter (a node on its stack, sync's wait_list) is
//   linked in the job's hand-back only while the fiber waits. The worker
//   marks the job done and grants the waiter it finds linked, both under
//   the job's spinlock; a fiber that stops waiting (deadline, kill, timeout
//   scope) unlinks its node under that lock first, so once it has left, the
//   worker never touches it, its waker or its record.
// - A grant to the fiber is queued to its hub (and counted in flight)
//   before the lock is released, so a fiber that finds itself granted as
//   it leaves waits for that wake to be handled (detail::wait_granted and
//   park() call settle_remote_wakes) before its record can die.
// - The fiber and the worker share the job (shared_ptr): whoever lets go
//   last destroys it. The callable and its arguments are destroyed on the
//   worker as the call ends, so user destructors run there, never racing
//   the fiber.
// - Pool state (queue, counts, bound) is guarded by one std::mutex; a
//   worker takes a job only while threads_ <= max_threads_, so no more than
//   the bound run calls at once (a lowered bound: once the running ones end).
// - A thread is started when a job is queued and more jobs wait than
//   threads idle, and the bound allows; workers drain the queue before they
//   idle, so a queued job always has a worker that will take it.
//
// Rejected:
// - One pool per hub (gevent's hub.threadpool): with M:N hubs the bound
//   would multiply, and a process would keep hubs x max threads around.
// - std::packaged_task and futures: a future cannot wake a fiber, and an
//   abandoned call needs its outcome dropped, not stored for nobody.
// - Joining the workers at exit: a call blocked forever would hang exit.
//   The pool is never destroyed and its threads are detached.

#include <tendril/io/thread_pool.hpp>

#include <pthread.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <iterator>
#include <mutex>
#include <new>
#include <system_error>
#include <thread>

#include <tendril/error.hpp>
#include <tendril/sync/detail/wait_list.hpp>

namespace tendril {

namespace detail {

namespace {

// hand_back: what the worker and the waiting fiber meet at.
struct hand_back {
  spinlock lock;
  bool done = false;  // run() has returned
  wait_list waiters;  // the waiting fiber's node, while it waits
};

}  // namespace

struct thread_job_access {
  static hand_back& of(thread_job& job) noexcept {
    static_assert(sizeof(hand_back) <= sizeof job.hand_back_ && alignof(hand_back) <= 8,
                  "grow thread_job::hand_back_");
    return *std::launder(reinterpret_cast<hand_back*>(job.hand_back_));
  }
  static void construct(thread_job& job) noexcept { ::new (job.hand_back_) hand_back; }
};

thread_job::thread_job() noexcept { thread_job_access::construct(*this); }

thread_job::~thread_job() { thread_job_access::of(*this).~hand_back(); }

namespace {

std::string describe_wait(const wait_reason&) { return "run_in_thread"; }
void nothing_to_pass_on(void*, waiter&) noexcept {}  // an abandoned outcome is dropped

// run_and_hand_back(job) runs the job on the calling worker and grants the
// fiber still waiting for it, if any.
void run_and_hand_back(thread_job& job) noexcept {
  job.run();
  hand_back& h = thread_job_access::of(job);
  std::lock_guard guard(h.lock);  // its release sends the wake (spinlock::unlock)
  h.done = true;
  if (waiter* w = h.waiters.pop_front()) grant(*w);
}

class pool {
 public:
  // submit(job) queues the job and starts or wakes a worker for it.
  // Errors: tendril::system_error when no worker exists and none can start.
  void submit(std::shared_ptr<thread_job> job) {
    std::lock_guard guard(mutex_);
    queue_.push_back(std::move(job));
    if (queue_.size() <= idle_) {
      work_ready_.notify_one();
      return;
    }
    if (threads_ >= max_threads_) return;  // a busy worker takes it when done
    try {
      start_worker();
    } catch (const std::system_error& e) {
      if (threads_ != 0) return;  // queued: a running worker takes it
      queue_.pop_back();
      throw tendril::system_error(e.code(), "run_in_thread: cannot start a pool thread");
    }
  }

  void set_max_threads(std::size_t n) {
    if (n == 0) throw error("thread_pool::set_max_threads: the bound must be at least 1");
    std::lock_guard guard(mutex_);
    max_threads_ = n;
    work_ready_.notify_all();  // idle workers above the bound exit
    std::size_t waiting = queue_.size() > idle_ ? queue_.size() - idle_ : 0;
    try {
      for (; waiting > 0 && threads_ < max_threads_; --waiting) start_worker();
    } catch (const std::system_error&) {
      // The queued jobs wait for the threads there are (at least one, as
      // submit made sure); a later submit tries again.
    }
  }

  void set_idle_timeout(clock::duration d) {
    if (d < clock::duration::zero()) throw error("thread_pool::set_idle_timeout: negative timeout");
    std::lock_guard guard(mutex_);
    idle_timeout_ = d;
    work_ready_.notify_all();  // idle workers wait again with the new timeout
  }

  std::size_t max_threads() {
    std::lock_guard guard(mutex_);
    return max_threads_;
  }
  clock::duration idle_timeout() {
    std::lock_guard guard(mutex_);
    return idle_timeout_;
  }
  thread_pool_stats stats() {
    std::lock_guard guard(mutex_);
    return {threads_, busy_, queue_.size(), max_threads_};
  }

  // Around fork(): the lock is held across it, so the child does not
  // inherit it locked by a worker it does not have. The child has no
  // workers: it starts its own for its first job. The queued jobs are the
  // parent's fibers', which never run in the child: left, not destroyed.
  void before_fork() noexcept { mutex_.lock(); }
  void after_fork_in_parent() noexcept { mutex_.unlock(); }
  void after_fork_in_child() noexcept {
    static auto* left_behind = new std::deque<std::shared_ptr<thread_job>>;  // reachable, for leak checkers
    std::move(queue_.begin(), queue_.end(), std::back_inserter(*left_behind));
    queue_.clear();
    threads_ = idle_ = busy_ = 0;
    new (&work_ready_) std::condition_variable;  // its waiters were the parent's threads
    mutex_.unlock();
  }

 private:
  // start_worker() starts a detached worker. Call with mutex_ held.
  void start_worker() {
    ++threads_;
    try {
      std::thread(&pool::work, this).detach();
    } catch (...) {
      --threads_;
      throw;
    }
  }

  // work() is a worker's life: take jobs in FIFO order; exit after idling
  // for idle_timeout_, or when the bound was lowered below the threads.
  void work() noexcept {
    ::pthread_setname_np(::pthread_self(), "tendril-pool");
    std::unique_lock lock(mutex_);
    for (;;) {
      if (threads_ > max_threads_) {
        if (!queue_.empty()) work_ready_.notify_one();  // a job may have been meant for this one
        break;
      }
      if (!queue_.empty()) {
        std::shared_ptr<thread_job> job = std::move(queue_.front());
        queue_.pop_front();
        ++busy_;
        lock.unlock();
        run_and_hand_back(*job);
        job.reset();  // destroys it if its fiber stopped waiting: outside the lock
        lock.lock();
        --busy_;
        continue;
      }
      ++idle_;
      bool timed_out = work_ready_.wait_until(lock, clock::now() + idle_timeout_) == std::cv_status::timeout;
      --idle_;
      if (timed_out && queue_.empty()) break;
    }
    --threads_;
  }

  std::mutex mutex_;
  std::condition_variable work_ready_;
  std::deque<std::shared_ptr<thread_job>> queue_;
  std::size_t threads_ = 0;  // alive, busy or idle
  std::size_t idle_ = 0;     // waiting on work_ready_
  std::size_t busy_ = 0;     // running a job
  std::size_t max_threads_ = thread_pool::default_max_threads();
  clock::duration idle_timeout_ = thread_pool::default_idle_timeout;
};

// the_pool() is the process's pool, made on first use and never destroyed:
// detached workers may use it while the process exits.
pool& the_pool() {
  static pool* const p = [] {
    auto* made = new pool;
    ::pthread_atfork([] { the_pool().before_fork(); }, [] { the_pool().after_fork_in_parent(); },
                     [] { the_pool().after_fork_in_child(); });
    return made;
  }();
  return *p;
}

}  // namespace

bool run_job_until(const std::shared_ptr<thread_job>& job, clock::time_point deadline) {
  if (deadline != no_deadline && deadline <= clock::now()) return false;
  if (!this_thread_has_hub()) {
    job->run();
    return true;
  }
  the_pool().submit(job);
  hand_back& h = thread_job_access::of(*job);
  h.lock.lock();
  if (h.done) {
    h.lock.unlock();
    return true;
  }
  waiter w;
  // remote: the pool's thread wakes it, so the hub must not call it stuck.
  const wait_reason why{"run_in_thread", job.get(), 0, &describe_wait, /*remote=*/true};
  return wait_granted(h.lock, h.waiters, w, deadline, why, &nothing_to_pass_on, nullptr);
}

}  // namespace detail

std::size_t thread_pool::default_max_threads() noexcept {
  return std::max<std::size_t>(8, 2 * std::size_t{std::thread::hardware_concurrency()});
}

void thread_pool::set_max_threads(std::size_t n) { detail::the_pool().set_max_threads(n); }

std::size_t thread_pool::max_threads() noexcept { return detail::the_pool().max_threads(); }

void thread_pool::set_idle_timeout(clock::duration d) { detail::the_pool().set_idle_timeout(d); }

clock::duration thread_pool::idle_timeout() noexcept { return detail::the_pool().idle_timeout(); }

thread_pool_stats thread_pool::stats() noexcept { return detail::the_pool().stats(); }

}  // namespace tendril
