// The M:N runtime: one hub per OS thread, tasks placed on them, and an end
// that waits for all of them (join) or for a grace period (stop).
//
// Invariants:
// - A worker thread's main fiber parks (awaits_work) until the runtime
//   tells it to exit; its hub runs the tasks meanwhile. On exit the thread
//   tears its hub down as any thread does: tasks still alive are killed.
// - The runtime ends in two steps: wait until it is quiet (or the grace
//   has passed), then tell every worker to exit and join the threads. So
//   no hub exits while tasks of another may still reach it, unless the
//   grace ran out.
// - Quiet: two snapshots in a row, of every hub, find it idle (no task
//   alive, no mail waiting) with the same count of mail ever received. A
//   task alive at any moment between them was made by mail to its hub
//   after the first look at it (so the count moved), or by a task alive
//   before (of which the same holds), so nothing can hide between looks.
//   Hubs announce each time they go idle (hub::on_idle), which wakes the
//   waiter to look again.
// - A spawn in progress (placing) holds the runtime open: stop() waits for
//   it to have been delivered before it looks.
// - Stealing (options::steal): a hub about to sleep takes in up to half of
//   the rt.spawn tasks waiting in another hub's mail (hub::steal_from). A
//   thief counts them as mail it received before the victim counts them
//   as gone, so one of the two looks busy throughout, and each look at
//   the pair still finds a count that moved, or a busy hub.
// - A spawn that finds its hub with a backlog (two stealable tasks not yet
//   taken in: the hub has not looked at its mail since the last spawn)
//   wakes one sleeping hub to steal. Sleeping is announced before the
//   thief's last look at the backlogs, and backlogs grow before the
//   spawner's look at who sleeps (sequentially consistent, on both sides),
//   so a backlog is never left beside a hub that sleeps on.
// - Thieves touch other hubs directly; the runtime stops stealing, and
//   waits for the thieves at work, before any hub exits.
//
// Rejected: one counter of live tasks for the whole runtime. Every spawn
// and every finish on every hub would write one shared cache line.

#include <tendril/hub/runtime.hpp>

#include <pthread.h>

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>

#include <tendril/hub/park.hpp>

#include "hub.hpp"
#include "hub_registry.hpp"
#include "remote_task.hpp"

namespace tendril::detail {

// After the grace: how many times the tasks left are killed, and how long
// each round waits for them to unwind.
constexpr int kill_rounds = 3;
constexpr clock::duration unwind_time = std::chrono::seconds(1);

class runtime_state {
 public:
  struct worker {
    runtime_state* runtime = nullptr;
    std::size_t index = 0;
    std::thread thread;
    detail::hub* hub = nullptr;  // valid until the thread is told to exit
    hub_ref ref;
    std::atomic<bool> sleeping{false};  // asked for work, found none; a spawn wakes it
    // Looking at other hubs' mail now. Per worker, not one count for the
    // runtime: every hub asks each time it is about to block.
    std::atomic<bool> stealing{false};
    // fruitless[v]: hub v's count of mail received when this hub last
    // found nothing to steal there (on this worker's thread only): until
    // it moves, there is nothing new to find, and no reason to take its lock.
    std::vector<std::uint64_t> fruitless;
    // On the worker's thread only:
    bool exit = false;
    waker main;
  };

  explicit runtime_state(runtime::options o) : options(std::move(o)) {}

  runtime::options options;
  std::vector<std::unique_ptr<worker>> workers;
  std::atomic<std::size_t> turn{0};
  std::atomic<bool> closed{false};    // join() or stop() has begun
  std::atomic<int> placing{0};        // spawns picked and not yet delivered
  std::atomic<bool> stealing{false};  // hubs may steal (until the threads are told to exit)
  bool ended = false;                 // the threads are joined (guarded by end_mutex)
  std::mutex end_mutex;               // one join()/stop() at a time

  std::mutex hooks_mutex;
  std::vector<std::pair<runtime::hook_id, runtime::stop_hook>> hooks;  // guarded by hooks_mutex
  runtime::hook_id last_hook = 0;                                      // guarded by hooks_mutex

  void run_stop_hooks(clock::time_point deadline) {
    std::vector<std::pair<runtime::hook_id, runtime::stop_hook>> due;
    {
      std::lock_guard lock(hooks_mutex);
      due.swap(hooks);
    }
    for (auto& [id, fn] : due) fn(deadline);
  }

  // Hubs going idle, for whoever waits until the runtime is quiet.
  remote_signal quiet;
  std::uint64_t idle_events = 0;  // guarded by quiet.mutex

  static void hub_idle(void* self) noexcept {
    auto* rt = static_cast<runtime_state*>(self);
    std::lock_guard lock(rt->quiet.mutex);
    ++rt->idle_events;
    rt->quiet.raise();
  }

  void start() {
    std::size_t n =
        options.threads != 0 ? options.threads : std::max(1u, std::thread::hardware_concurrency());
    std::mutex started_mutex;
    std::condition_variable started;
    std::size_t ready = 0;
    std::exception_ptr failed;
    for (std::size_t i = 0; i < n && !failed; ++i) {
      try {
        auto w = std::make_unique<worker>();
        worker* self = w.get();
        self->runtime = this;
        self->index = i;
        self->fruitless.assign(n, ~std::uint64_t{0});
        self->thread = std::thread([this, self, i, n, &started_mutex, &started, &ready] {
          name_thread(i);
          detail::hub& h = detail::hub::get();
          if (options.error_handler) h.set_error_handler(options.error_handler);
          h.on_idle(&runtime_state::hub_idle, this);
          if (options.steal && n > 1) h.on_hungry(&runtime_state::hungry, self);
          {
            std::lock_guard lock(started_mutex);
            self->hub = &h;
            self->ref = h.ref();
            ++ready;
            started.notify_all();
          }
          serve(*self);
        });
        workers.push_back(std::move(w));
      } catch (...) {
        failed = std::current_exception();
      }
    }
    // Every thread that started must be ready before the runtime is used
    // (or, after a failure, ended).
    std::unique_lock lock(started_mutex);
    started.wait(lock, [&] { return ready == workers.size(); });
    if (failed) std::rethrow_exception(failed);
    stealing.store(options.steal, std::memory_order_release);
  }

  // hungry(w): w's hub is about to sleep; true if it stole work instead.
  static bool hungry(void* context) noexcept {
    auto* self = static_cast<worker*>(context);
    runtime_state& rt = *self->runtime;
    self->stealing.store(true, std::memory_order_seq_cst);  // before the look at rt.stealing: see end()
    bool found = false;
    if (rt.stealing.load(std::memory_order_seq_cst)) {
      self->sleeping.store(true, std::memory_order_seq_cst);  // see the invariants: sleeping, then look
      try {
        found = rt.steal_for(*self);
      } catch (...) {
        // Out of memory for the loot: sleep; the tasks stay where they were.
      }
      if (found) self->sleeping.store(false, std::memory_order_relaxed);
    }
    self->stealing.store(false, std::memory_order_release);
    return found;
  }

  bool steal_for(worker& self) {
    std::size_t n = workers.size();
    for (std::size_t k = 1; k < n; ++k) {
      worker& victim = *workers[(self.index + k) % n];
      // A victim waiting in its loop has been (or will be) woken by that
      // mail and takes it in itself: stealing from it would only move the
      // work to the thief while the victim wakes up to nothing.
      if (victim.hub->stealable_hint() == 0 || victim.hub->waiting()) continue;
      std::uint64_t received = victim.hub->mail_received();
      if (self.fruitless[victim.index] == received) continue;
      if (self.hub->steal_from(*victim.hub) != 0) return true;
      self.fruitless[victim.index] = received;
    }
    return false;
  }

  // placed(i): a stealable task was delivered to hub i.
  void placed(std::size_t i) noexcept {
    const detail::hub& target = *workers[i]->hub;
    // No backlog (it keeps up), or it waits in its loop and will take the
    // mail in itself (thieves would leave it alone anyway).
    if (target.stealable_hint() < 2 || target.waiting()) return;
    for (const auto& w : workers) {  // see the invariants: backlog, then look
      if (w->sleeping.load(std::memory_order_seq_cst) &&
          w->sleeping.exchange(false, std::memory_order_relaxed)) {
        w->hub->loop().notify();  // alive: `placing` holds the runtime open
        return;
      }
    }
  }

  void name_thread(std::size_t index) const {
    std::string name = options.name + "-" + std::to_string(index);
    name.resize(std::min<std::size_t>(name.size(), 15));  // the kernel's limit
    (void)pthread_setname_np(pthread_self(), name.c_str());
  }

  // serve(w): the worker's main fiber, parked while its hub runs the tasks.
  static void serve(worker& w) {
    const wait_reason why{.what = "runtime work", .remote = true, .awaits_work = true};
    while (!w.exit) {
      w.main = waker::current();
      try {
        park(why);
      } catch (const error&) {
        // Nothing can end it but the runtime's exit mail, which will come.
      }
    }
    w.main = waker();
    w.hub->on_idle(nullptr, nullptr);
  }

  hub_ref pick() { return workers[pick_index()]->ref; }

  std::size_t pick_index() {
    std::size_t n = workers.size();
    std::size_t first = turn.fetch_add(1, std::memory_order_relaxed) % n;
    if (options.place == runtime::placement::round_robin) return first;
    std::size_t best = first;
    std::size_t best_load = SIZE_MAX;
    for (std::size_t k = 0; k < n; ++k) {
      std::size_t i = (first + k) % n;
      std::size_t load = workers[i]->hub->load();
      if (load < best_load) {
        best = i;
        best_load = load;
      }
    }
    return best;
  }

  struct snapshot {
    bool idle = true;
    std::vector<std::uint64_t> mail;
    friend bool operator==(const snapshot&, const snapshot&) = default;
  };

  snapshot look() const {
    snapshot s;
    for (const auto& w : workers) {
      s.idle = s.idle && w->hub->idle();
      s.mail.push_back(w->hub->mail_received());
    }
    return s;
  }

  // wait_quiet(deadline): true once the runtime is quiet (see the
  // invariants); false if the deadline passed first.
  bool wait_quiet(clock::time_point deadline) {
    while (placing.load(std::memory_order_acquire) != 0) std::this_thread::yield();
    snapshot previous;
    previous.idle = false;
    std::unique_lock lock(quiet.mutex);
    for (;;) {
      std::uint64_t seen = idle_events;
      lock.unlock();
      snapshot now = look();
      lock.lock();
      if (now.idle && now == previous) return true;
      if (now.idle) {
        previous = std::move(now);
        continue;  // look again at once
      }
      previous = std::move(now);
      const wait_reason why{.what = "runtime quiet", .object = this, .remote = true};
      if (!quiet.wait(lock, why, deadline, [&] { return idle_events != seen; })) return false;
    }
  }

  // end(deadline): the two steps of join() and stop(); see the invariants.
  bool end(clock::time_point deadline) {
    check_not_own_thread();
    std::lock_guard ending(end_mutex);
    closed.store(true, std::memory_order_release);
    if (ended) return true;
    if (deadline != no_deadline) run_stop_hooks(deadline);  // stop(), not join()
    bool quiet_in_time = wait_quiet(deadline);
    // Kill what is left while every hub is still up: a dying task may
    // still spawn on, or wait for, another hub. Tasks that spawn as they
    // die, or catch the kill, get a few rounds; then the threads exit
    // anyway, and each tears down its hub, killing what is still there.
    bool quiet_now = quiet_in_time;
    for (int round = 0; round < kill_rounds && !quiet_now; ++round) {
      for (const auto& w : workers)
        w->ref.post([] {
          for (const task_base& t : detail::hub::get().live_task_handles()) t.kill(nullptr, /*block=*/false);
        });
      quiet_now = wait_quiet(deadline_after(unwind_time));
    }
    stealing.store(false, std::memory_order_seq_cst);
    for (const auto& w : workers)
      while (w->stealing.load(std::memory_order_seq_cst)) std::this_thread::yield();
    for (const auto& w : workers) {
      worker* self = w.get();
      w->ref.post([self] {
        self->exit = true;
        self->main.wake();
      });
    }
    for (const auto& w : workers) w->thread.join();
    ended = true;
    return quiet_in_time;
  }

  void check_not_own_thread() const {
    detail::hub* here = detail::hub::find();
    for (const auto& w : workers)
      if (w->hub == here && here != nullptr)
        throw error("a runtime cannot be joined or stopped from one of its own threads (" +
                    w->ref.describe() + ")");
  }
};

}  // namespace tendril::detail

namespace tendril {

runtime::runtime(options o) : state_(std::make_unique<detail::runtime_state>(std::move(o))) {
  try {
    state_->start();
  } catch (...) {
    state_->end(clock::now());  // the threads that did start
    throw;
  }
}

runtime::~runtime() {
  try {
    state_->end(clock::now());
  } catch (const std::exception& e) {
    // Destroyed on one of its own threads: nothing sane is left to do.
    std::fprintf(stderr, "tendril: ~runtime: %s\n", e.what());
    std::abort();
  }
}

std::size_t runtime::size() const noexcept { return state_->workers.size(); }

hub_ref runtime::hub(std::size_t index) const {
  if (index >= state_->workers.size())
    throw error("runtime::hub(" + std::to_string(index) + "): the runtime has " +
                std::to_string(state_->workers.size()) + " hubs");
  return state_->workers[index]->ref;
}

std::vector<hub_ref> runtime::hubs() const {
  std::vector<hub_ref> refs;
  for (const auto& w : state_->workers) refs.push_back(w->ref);
  return refs;
}

hub_ref runtime::pick() { return state_->pick(); }

runtime::hook_id runtime::on_stop(stop_hook fn) {
  std::lock_guard lock(state_->hooks_mutex);
  hook_id id = ++state_->last_hook;
  state_->hooks.emplace_back(id, std::move(fn));
  return id;
}

bool runtime::remove_stop_hook(hook_id id) {
  std::lock_guard lock(state_->hooks_mutex);
  return std::erase_if(state_->hooks, [id](const auto& hook) { return hook.first == id; }) > 0;
}

runtime::placing::placing(runtime& rt) : state(*rt.state_) {
  state.placing.fetch_add(1, std::memory_order_acq_rel);
  if (state.closed.load(std::memory_order_acquire)) {
    state.placing.fetch_sub(1, std::memory_order_release);
    throw error("runtime::spawn after join() or stop() has begun");
  }
  index = state.pick_index();
  hub = state.workers[index]->ref;
  stealable = state.options.steal && state.workers.size() > 1;
}

runtime::placing::~placing() {
  if (stealable) state.placed(index);
  state.placing.fetch_sub(1, std::memory_order_release);
}

void runtime::join() { state_->end(no_deadline); }

bool runtime::stop(clock::duration grace) { return state_->end(deadline_after(grace)); }

std::vector<hub_stats> runtime::stats() const {
  std::vector<hub_stats> all;
  for (const auto& w : state_->workers) {
    hub_stats s;
    detail::hub_registry::visit(w->ref.id(), [&s](const detail::hub& h) { s = h.stats(); });
    all.push_back(s);  // all zero once its thread has exited
  }
  return all;
}

}  // namespace tendril
