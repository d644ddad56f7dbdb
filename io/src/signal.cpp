// wait_signal: per hub, a signal_watcher for each signal its fibers wait
// for, and the list of those fibers.
//
// Invariants:
// - A signal's watcher is armed exactly while this hub's list of waiters for
//   it is not empty. The lists, the watchers and the waiters belong to the
//   hub's thread: the watcher's callback runs there, inside the loop.
// - A waiter is in the list of every signal it waits for from before it
//   parks until it leaves wait_signal, however it leaves (registration).
// - The callback only records the signal in each waiter that has none yet
//   and wakes it; a waiter returns the signal it recorded, even if its
//   deadline passed in the same loop iteration.
// - libev's ev_signal_stop sets SIG_DFL, not the disposition it replaced.
//   This file saves the disposition before arming a signal and puts it back
//   after disarming it, both under one process-wide mutex, so two hubs
//   taking turns at one signal never save each other's handler.
//
// Rejected:
// - Leaving a watcher armed once a fiber has waited: between waits, the
//   process would swallow signals whose default (SIGINT, SIGTERM) the user
//   expects to end it.
// - signalfd: every thread, pool threads and the user's own included, would
//   have to block the signal.

#include <tendril/io/signal.hpp>

#include <signal.h>
#include <string.h>

#include <algorithm>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <tendril/error.hpp>
#include <tendril/hub/detail/event_loop.hpp>

namespace tendril {

namespace {

// signal_name(signo) is `SIGUSR1`, or `signal 40` for one without a name.
std::string signal_name(int signo) {
  const char* abbrev = signo > 0 && signo < NSIG ? ::sigabbrev_np(signo) : nullptr;
  if (abbrev != nullptr) return "SIG" + std::string(abbrev);
  return "signal " + std::to_string(signo);
}

void check_waitable(int signo) {
  if (signo <= 0 || signo >= NSIG)
    throw error("wait_signal: " + std::to_string(signo) + " is not a signal number");
  if (signo == SIGKILL || signo == SIGSTOP)
    throw error("wait_signal: " + signal_name(signo) + " cannot be caught");
}

// One fiber in wait_signal, on its stack.
struct signal_waiter {
  std::span<const int> signals;
  waker fiber;      // its current park
  int arrived = 0;  // the first signal that reached it
};

std::string describe_wait(const wait_reason& why) {
  const auto* w = static_cast<const signal_waiter*>(why.object);
  std::string text = "signal";
  const char* separator = " ";
  for (int signo : w->signals) {
    text += separator + signal_name(signo);
    separator = " or ";
  }
  return text;
}

// Guards the saving and restoring of dispositions around arming and
// disarming, process-wide (see the invariants).
std::mutex disposition_mutex;

class signal_service final : public detail::hub_service {
 public:
  signal_service() = default;
  ~signal_service() override {
    for (auto& entry : by_signo_)
      if (entry != nullptr && entry->watcher.armed()) disarm(*entry);
  }

  // add(signo, w) puts `w` on the list of `signo`, arming its watcher if it
  // is the first. Errors: tendril::error when another hub watches `signo`.
  void add(int signo, signal_waiter& w) {
    std::unique_ptr<watched>& entry = by_signo_[signo];
    if (entry == nullptr) entry = std::make_unique<watched>();
    entry->waiters.push_back(&w);
    if (entry->waiters.size() == 1 && !arm(*entry, signo)) {
      entry->waiters.pop_back();
      throw error("wait_signal: " + signal_name(signo) +
                  " is watched by another thread's hub (libev lets one loop at a time watch a signal)");
    }
  }

  // remove(signo, w) takes `w` off the list of `signo`, disarming its
  // watcher if it was the last.
  void remove(int signo, signal_waiter& w) noexcept {
    watched& entry = *by_signo_[signo];
    auto it = std::find(entry.waiters.begin(), entry.waiters.end(), &w);
    if (it == entry.waiters.end()) return;
    entry.waiters.erase(it);
    if (entry.waiters.empty()) disarm(entry);
  }

 private:
  struct watched {
    detail::signal_watcher watcher{&fired, this};
    std::vector<signal_waiter*> waiters;
    struct sigaction previous {};  // the disposition to restore when disarmed
  };

  // fired: in the loop, on the hub; only records and wakes.
  static void fired(detail::signal_watcher& watcher) noexcept {
    auto* entry = static_cast<watched*>(watcher.context());
    for (signal_waiter* w : entry->waiters) {
      if (w->arrived != 0) continue;
      w->arrived = watcher.signo();
      w->fiber.wake();
    }
  }

  static bool arm(watched& entry, int signo) noexcept {
    std::lock_guard guard(disposition_mutex);
    ::sigaction(signo, nullptr, &entry.previous);
    return entry.watcher.start(detail::this_thread_loop(), signo);
  }

  static void disarm(watched& entry) noexcept {
    std::lock_guard guard(disposition_mutex);
    int signo = entry.watcher.signo();
    entry.watcher.stop();
    ::sigaction(signo, &entry.previous, nullptr);
  }

  std::unique_ptr<watched> by_signo_[NSIG];
};

// registration puts a waiter on the list of each of its signals, and takes
// it off them all when it ends, however wait_signal is left.
class registration {
 public:
  registration(signal_service& service, signal_waiter& w) : service_(service), waiter_(w) {
    try {
      for (int signo : w.signals) {
        service_.add(signo, w);
        ++added_;
      }
    } catch (...) {
      remove_added();
      throw;
    }
  }
  registration(const registration&) = delete;
  registration& operator=(const registration&) = delete;
  ~registration() { remove_added(); }

 private:
  void remove_added() noexcept {
    for (std::size_t i = 0; i < added_; ++i) service_.remove(waiter_.signals[i], waiter_);
    added_ = 0;
  }

  signal_service& service_;
  signal_waiter& waiter_;
  std::size_t added_ = 0;
};

}  // namespace

int wait_signal(int signo, clock::time_point deadline) {
  return wait_signal(std::span<const int>(&signo, 1), deadline);
}

int wait_signal(std::span<const int> signals, clock::time_point deadline) {
  if (signals.empty()) throw error("wait_signal: no signal to wait for");
  for (int signo : signals) check_waitable(signo);
  signal_waiter w;
  w.signals = signals;
  registration registered(detail::this_hub_service<signal_service>(), w);
  const wait_reason why{"signal", &w, signals.front(), &describe_wait};
  for (;;) {
    w.fiber = waker::current();
    bool woken = park(why, deadline);
    if (w.arrived != 0) return w.arrived;
    if (!woken) return 0;
  }
}

}  // namespace tendril
