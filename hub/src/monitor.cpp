// The monitor thread: dumps on a signal, and the blocking monitor.
//
// Invariants:
// - The monitor only reads hubs through the registry (visit, under its
//   lock) and their sample slots (shared_ptr, outlive the hub): it never
//   touches a hub that may be exiting.
// - A hub counts as held when, at two looks at least a threshold apart, it
//   has not polled its loop in between, is not waiting in it, and has
//   fibers or mail waiting for it. The stall is dated from the first look
//   that saw it, so a report's `held` is a lower bound; the check runs four
//   times per threshold, so the bound is within a quarter of it.
// - The dump signal's handler only sets a flag and posts a semaphore:
//   the dump itself is written on this thread, which the signal cannot
//   interrupt in the middle of a lock.
//
// Rejected: checking on the hub's own thread (a timer in its loop cannot
// fire while a fiber holds the thread, which is the case to catch);
// a clock read per switch to date each fiber's turn (the hot path pays
// for a rare report; the poll counter costs nothing).

#include "monitor.hpp"

#include <semaphore.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <mutex>
#include <sstream>
#include <thread>
#include <unordered_map>
#include <vector>

#include <tendril/error.hpp>
#include <tendril/hub/dump.hpp>
#include <tendril/hub/monitor.hpp>

#include "busy_sample.hpp"
#include "hub.hpp"
#include "hub_registry.hpp"

namespace tendril::detail {
namespace {

constexpr std::chrono::milliseconds default_threshold{100};
// How long a busy thread gets to answer the sample signal.
constexpr std::chrono::milliseconds sample_wait{100};

std::int64_t threshold_from_environment() noexcept {
  const char* text = std::getenv("TENDRIL_BLOCKING_THRESHOLD_MS");
  if (text == nullptr || *text == '\0') return default_threshold.count();
  char* end = nullptr;
  long long ms = std::strtoll(text, &end, 10);
  return (*end == '\0' && ms >= 0) ? ms : default_threshold.count();
}

int dump_signal_from_environment() noexcept {
  const char* text = std::getenv("TENDRIL_DUMP_SIGNAL");
  if (text == nullptr || *text == '\0') return SIGQUIT;
  char* end = nullptr;
  long signo = std::strtol(text, &end, 10);
  return (*end == '\0' && signo >= 0 && signo < NSIG) ? static_cast<int>(signo) : SIGQUIT;
}

void write_stderr(const std::string& text) noexcept {
  std::size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(STDERR_FILENO, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    done += static_cast<std::size_t>(n);
  }
}

class monitor {
 public:
  static monitor& get() {
    static monitor* m = new monitor;  // never destroyed: its thread runs until the process ends
    return *m;
  }

  std::atomic<std::int64_t> threshold_ms{threshold_from_environment()};
  std::mutex mutex;  // guards handler, dump_signal and installed
  /// Held while the monitor thread does a round's work (which allocates),
  /// and by fork's prepare handler: a child never inherits an allocator
  /// lock that this thread held at the fork (AddressSanitizer's allocator,
  /// unlike glibc's malloc, does not take its locks around fork()).
  std::mutex working;
  blocking_handler handler;
  int dump_signal = 0;      ///< 0: none
  bool installed = false;   ///< tendril's handler is on dump_signal
  bool configured = false;  ///< the dump signal was chosen (from the environment or set_dump_signal)
  bool running = false;     ///< the monitor thread runs (false in a child just forked)
  std::atomic<bool> dump_requested{false};
  sem_t wakeups;  ///< posted by the dump signal's handler and by setting changes (no fd: tests count fds)
  sem_t started;  ///< posted by the monitor thread once it runs

  void start() {
    std::lock_guard lock(mutex);
    if (running) return;
    install_sample_handler();
    if (!configured) {
      configured = true;  // the environment decides once; a forked child keeps the parent's setting
      move_dump_signal(dump_signal_from_environment(), /*only_if_default=*/true);
    }
    // Returns once the thread runs: a fork() right after must not find it
    // half started, inside the allocator (see `working`).
    std::thread([this] {
      ::sem_post(&started);
      run();
    }).detach();
    while (::sem_wait(&started) != 0 && errno == EINTR) {
    }
    running = true;
  }

  void wake() noexcept { ::sem_post(&wakeups); }  // async-signal-safe

  /// forget_stalls_after_fork(): the parent's monitor thread may have been
  /// in the middle of using its table; the child's thread starts anew.
  void forget_stalls_after_fork() noexcept {
    // Kept reachable, not freed (the parent's thread may have been using it).
    static auto* left_behind = new std::vector<decltype(stalls_)*>;
    left_behind->push_back(new decltype(stalls_)(std::move(stalls_)));
    new (&stalls_) decltype(stalls_)();
  }

  /// move_dump_signal(signo, only_if_default): with `mutex` held.
  void move_dump_signal(int signo, bool only_if_default) {
    if (installed) {
      ::signal(dump_signal, SIG_DFL);
      installed = false;
    }
    dump_signal = signo;
    if (signo == 0) return;
    struct sigaction current {};
    ::sigaction(signo, nullptr, &current);
    bool is_default = (current.sa_flags & SA_SIGINFO) == 0 && current.sa_handler == SIG_DFL;
    if (only_if_default && !is_default) {
      dump_signal = 0;  // the program has its own handler there: keep it
      return;
    }
    struct sigaction action {};
    action.sa_handler = [](int) {
      int saved_errno = errno;
      monitor& m = get();
      m.dump_requested.store(true, std::memory_order_relaxed);
      m.wake();
      errno = saved_errno;
    };
    action.sa_flags = SA_RESTART;
    sigemptyset(&action.sa_mask);
    if (::sigaction(signo, &action, nullptr) != 0)
      throw error("cannot catch signal " + std::to_string(signo) + " for dumps");
    installed = true;
  }

 private:
  struct stall {
    std::uint64_t polls;
    clock::time_point since;
    bool reported;
  };

  monitor() {
    ::sem_init(&wakeups, 0, 0);
    ::sem_init(&started, 0, 0);
  }

  void run() {
    for (;;) {
      std::int64_t ms = threshold_ms.load(std::memory_order_relaxed);
      if (ms == 0) {
        while (::sem_wait(&wakeups) != 0 && errno == EINTR) {
        }
      } else {
        timespec until{};
        ::clock_gettime(CLOCK_MONOTONIC, &until);
        std::int64_t ns = until.tv_nsec + std::clamp<std::int64_t>(ms / 4, 1, 250) * 1'000'000;
        until.tv_sec += ns / 1'000'000'000;
        until.tv_nsec = ns % 1'000'000'000;
        (void)::sem_clockwait(&wakeups, CLOCK_MONOTONIC, &until);
      }
      std::lock_guard busy(working);
      if (dump_requested.exchange(false, std::memory_order_relaxed)) write_dump();
      if (ms == 0)
        stalls_.clear();
      else
        check_hubs(std::chrono::milliseconds(ms));
    }
  }

  static void write_dump() {
    try {
      std::ostringstream out;
      out << "tendril: dump of process " << ::getpid() << " (on signal)\n";
      tendril::dump(out);
      write_stderr(out.str());
    } catch (const std::exception& e) {
      write_stderr(std::string("tendril: the dump failed: ") + e.what() + "\n");
    }
  }

  void check_hubs(std::chrono::milliseconds threshold) {
    std::vector<hub_ref> hubs = hub_registry::all();
    std::erase_if(stalls_, [&](const auto& entry) {
      return std::none_of(hubs.begin(), hubs.end(), [&](const hub_ref& h) { return h.id() == entry.first; });
    });
    const clock::time_point now = clock::now();
    for (const hub_ref& ref : hubs) {
      hub::monitor_view view{};
      if (!hub_registry::visit(ref.id(), [&view](const hub& h) { view = h.view_for_monitor(); })) continue;
      auto [it, fresh] = stalls_.try_emplace(ref.id(), stall{view.polls, now, false});
      stall& s = it->second;
      if (fresh) continue;
      if (view.waiting || view.polls != s.polls || !view.has_work) {
        s = {view.polls, now, false};
        continue;
      }
      if (s.reported || now - s.since < threshold) continue;
      s.reported = true;
      report(ref, std::chrono::duration_cast<std::chrono::milliseconds>(now - s.since), *view.sample);
    }
  }

  void report(const hub_ref& ref, std::chrono::milliseconds held, sample_slot& slot) {
    blocking_report r;
    r.hub = ref;
    r.held = held;
    if (auto sample = sample_busy_thread(slot, ref.thread_id(), sample_wait)) {
      r.fiber = std::move(sample->fiber);
      r.where = std::move(sample->where);
    }
    blocking_handler fn;
    {
      std::lock_guard lock(mutex);
      fn = handler;
    }
    try {
      if (fn)
        fn(r);
      else
        write_stderr(r.to_string());
    } catch (const std::exception& e) {
      write_stderr(std::string("tendril: the blocking handler failed: ") + e.what() + "\n");
    } catch (...) {
      write_stderr("tendril: the blocking handler failed\n");
    }
  }

  std::unordered_map<std::uint64_t, stall> stalls_;  // this thread's own
};

}  // namespace

void monitor_before_fork() noexcept {
  monitor& m = monitor::get();
  m.working.lock();  // before `mutex`, as a round takes them (report())
  m.mutex.lock();
}

void monitor_after_fork(bool in_child) noexcept {
  monitor& m = monitor::get();
  if (in_child) {
    m.running = false;  // its thread is the parent's; the child's first hub starts one
    m.forget_stalls_after_fork();
  }
  m.mutex.unlock();
  m.working.unlock();
}

void start_monitor() noexcept {
  try {
    monitor::get().start();
  } catch (...) {
    // No thread for the monitor (resources exhausted): tendril runs without it.
  }
}

}  // namespace tendril::detail

namespace tendril {

std::string blocking_report::to_string() const {
  std::string text = "tendril: " + (fiber.empty() ? std::string("a fiber") : fiber) + " has held " +
                     hub.describe() + " for " + std::to_string(held.count()) + " ms without yielding";
  if (where.empty()) return text + " (its thread did not answer the monitor's signal)\n";
  return text + ":\n" + where.to_string("    ");
}

std::chrono::milliseconds blocking_threshold() noexcept {
  return std::chrono::milliseconds(detail::monitor::get().threshold_ms.load(std::memory_order_relaxed));
}

void set_blocking_threshold(std::chrono::milliseconds threshold) {
  if (threshold.count() < 0) throw error("set_blocking_threshold: a negative threshold");
  detail::monitor& m = detail::monitor::get();
  m.threshold_ms.store(threshold.count(), std::memory_order_relaxed);
  m.wake();
}

blocking_handler set_blocking_handler(blocking_handler fn) {
  detail::monitor& m = detail::monitor::get();
  std::lock_guard lock(m.mutex);
  return std::exchange(m.handler, std::move(fn));
}

int dump_signal() noexcept {
  detail::monitor& m = detail::monitor::get();
  std::lock_guard lock(m.mutex);
  return m.dump_signal;
}

void set_dump_signal(int signo) {
  if (signo < 0 || signo >= NSIG || signo == SIGKILL || signo == SIGSTOP)
    throw error("set_dump_signal: " + std::to_string(signo) + " is not a signal that can be caught");
  detail::monitor& m = detail::monitor::get();
  {
    std::lock_guard lock(m.mutex);
    m.configured = true;
    m.move_dump_signal(signo, /*only_if_default=*/false);
  }
  detail::start_monitor();  // the thread that writes the dumps
}

}  // namespace tendril
