// wait_signal: a signal raised by another task or another thread wakes the
// waiter; every waiter of the hub wakes on one signal; a set of signals;
// deadlines, kills and timeout scopes leaving no armed watcher and the
// previous handler back in force; another thread's hub holding the signal;
// bad signal numbers. Each test installs a counting handler for SIGUSR1 and
// SIGUSR2 first, so a signal nobody waits for is counted, not fatal.

#include <signal.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include <tendril/error.hpp>
#include <tendril/hub/hub.hpp>
#include <tendril/hub/task.hpp>
#include <tendril/hub/timeout.hpp>
#include <tendril/io/signal.hpp>
#include <tendril/sync/event.hpp>

#include "support/hub_fixture.hpp"
#include "sync/sync_threads.hpp"

namespace {

using namespace std::chrono_literals;
using tendril::deadline_after;
using tendril::spawn;
using tendril::task;
using tendril::wait_signal;
using tendril::testing::hub_check;
using tendril::testing::thread_errors;

std::atomic<int> counted[NSIG];

extern "C" void count_signal(int signo) { counted[signo].fetch_add(1, std::memory_order_relaxed); }

// counting_handlers installs count_signal for SIGUSR1 and SIGUSR2 and puts
// the dispositions that were there back when the test ends.
class counting_handlers {
 public:
  counting_handlers() {
    for (int signo : {SIGUSR1, SIGUSR2}) {
      counted[signo] = 0;
      struct sigaction sa {};
      sa.sa_handler = &count_signal;
      sigemptyset(&sa.sa_mask);
      REQUIRE(::sigaction(signo, &sa, &saved_[signo]) == 0);
    }
  }
  counting_handlers(const counting_handlers&) = delete;
  counting_handlers& operator=(const counting_handlers&) = delete;
  ~counting_handlers() {
    for (int signo : {SIGUSR1, SIGUSR2}) ::sigaction(signo, &saved_[signo], nullptr);
  }

  /// in_force(signo) is true when count_signal is the signal's handler.
  static bool in_force(int signo) {
    struct sigaction now {};
    ::sigaction(signo, nullptr, &now);
    return now.sa_handler == &count_signal;
  }
  static int count(int signo) { return counted[signo].load(); }

 private:
  struct sigaction saved_[NSIG] {};
};

// armed_watchers() counts this hub's armed watchers: signals, and the
// timers of parks with a deadline.
std::size_t armed_watchers() { return tendril::this_hub_stats().watchers; }

}  // namespace

TEST_CASE("a signal raised by another task wakes the waiter with its number") {
  hub_check hub;
  counting_handlers handlers;
  auto waiter = spawn([] { return wait_signal(SIGUSR1, deadline_after(30s)); });
  tendril::yield();                                   // it waits
  CHECK_FALSE(counting_handlers::in_force(SIGUSR1));  // the hub's handler is
  auto raiser = spawn([] { ::raise(SIGUSR1); });
  CHECK(waiter.get() == SIGUSR1);
  raiser.join();
  CHECK(counting_handlers::count(SIGUSR1) == 0);
  CHECK(counting_handlers::in_force(SIGUSR1));
}

TEST_CASE("a signal raised by another thread wakes the waiter") {
  hub_check hub;
  counting_handlers handlers;
  auto waiter = spawn([] { return wait_signal(SIGUSR2, deadline_after(30s)); });
  tendril::yield();
  std::thread raiser([] { ::raise(SIGUSR2); });
  CHECK(waiter.get() == SIGUSR2);
  raiser.join();
  CHECK(counting_handlers::count(SIGUSR2) == 0);
  CHECK(counting_handlers::in_force(SIGUSR2));
}

TEST_CASE("every fiber of the hub waiting for a signal wakes on one arrival") {
  hub_check hub;
  counting_handlers handlers;
  std::vector<task<int>> waiters;
  for (int i = 0; i < 3; ++i)
    waiters.push_back(spawn([] { return wait_signal(SIGUSR1, deadline_after(30s)); }));
  waiters.push_back(spawn([] { return wait_signal({SIGUSR2, SIGUSR1}, deadline_after(30s)); }));
  auto other_signal = spawn([] { return wait_signal(SIGUSR2, deadline_after(30s)); });
  tendril::yield();
  CHECK_FALSE(counting_handlers::in_force(SIGUSR1));
  CHECK_FALSE(counting_handlers::in_force(SIGUSR2));
  ::raise(SIGUSR1);
  for (auto& w : waiters) CHECK(w.get() == SIGUSR1);
  CHECK_FALSE(other_signal.ready());
  CHECK(counting_handlers::in_force(SIGUSR1));  // nobody waits for it now
  ::raise(SIGUSR2);
  CHECK(other_signal.get() == SIGUSR2);
  CHECK(counting_handlers::count(SIGUSR1) == 0);
  CHECK(counting_handlers::count(SIGUSR2) == 0);
}

TEST_CASE("waiting for a set of signals returns the one that arrived") {
  hub_check hub;
  counting_handlers handlers;
  auto waiter = spawn([] { return wait_signal({SIGUSR1, SIGUSR2}, deadline_after(30s)); });
  tendril::yield();
  ::raise(SIGUSR2);
  CHECK(waiter.get() == SIGUSR2);
  CHECK(counting_handlers::in_force(SIGUSR1));
  CHECK(counting_handlers::in_force(SIGUSR2));
}

TEST_CASE("wait_signal returns 0 once the deadline passes, and the previous handler is back") {
  hub_check hub;
  counting_handlers handlers;
  CHECK(wait_signal(SIGUSR1, deadline_after(20ms)) == 0);
  CHECK(wait_signal({SIGUSR1, SIGUSR2}, tendril::clock::now() - 1s) == 0);
  CHECK(armed_watchers() == 0);
  CHECK(counting_handlers::in_force(SIGUSR1));
  ::raise(SIGUSR1);  // nobody waits: the previous handler sees it
  CHECK(counting_handlers::count(SIGUSR1) == 1);
}

TEST_CASE("a kill while waiting disarms the watcher and restores the previous handler") {
  hub_check hub;
  counting_handlers handlers;
  auto waiter = spawn([] { return wait_signal({SIGUSR1, SIGUSR2}); });
  tendril::yield();
  CHECK(armed_watchers() == 2);
  CHECK(waiter.kill());
  CHECK(waiter.killed());
  CHECK(armed_watchers() == 0);
  CHECK(counting_handlers::in_force(SIGUSR1));
  CHECK(counting_handlers::in_force(SIGUSR2));
  ::raise(SIGUSR2);
  CHECK(counting_handlers::count(SIGUSR2) == 1);
}

TEST_CASE("a kill of one waiter leaves the others waiting") {
  hub_check hub;
  counting_handlers handlers;
  auto killed = spawn([] { return wait_signal(SIGUSR1, deadline_after(30s)); });
  auto kept = spawn([] { return wait_signal(SIGUSR1, deadline_after(30s)); });
  tendril::yield();
  CHECK(killed.kill());
  CHECK_FALSE(counting_handlers::in_force(SIGUSR1));  // still the hub's
  ::raise(SIGUSR1);
  CHECK(kept.get() == SIGUSR1);
  CHECK(counting_handlers::count(SIGUSR1) == 0);
}

TEST_CASE("an expired timeout scope raises timeout_error from wait_signal and disarms the watcher") {
  hub_check hub;
  counting_handlers handlers;
  CHECK_THROWS_AS(tendril::with_timeout(20ms, [] { return wait_signal(SIGUSR1); }), tendril::timeout_error);
  CHECK(armed_watchers() == 0);
  CHECK(counting_handlers::in_force(SIGUSR1));
}

TEST_CASE("a signal watched by another thread's hub gives an error naming it") {
  hub_check hub;
  counting_handlers handlers;
  thread_errors errors;
  tendril::event watching;
  std::atomic<int> other_got{-1};
  std::thread other = tendril::testing::hub_thread(errors, [&] {
    auto waiter = spawn([] { return wait_signal(SIGUSR2, deadline_after(30s)); });
    tendril::yield();  // it waits
    watching.set();
    other_got = waiter.get();
  });
  REQUIRE(watching.wait_for(30s));
  CHECK_THROWS_WITH(wait_signal(SIGUSR2, deadline_after(30s)),
                    Catch::Contains("SIGUSR2") && Catch::Contains("another thread's hub"));
  CHECK_THROWS_AS(wait_signal({SIGUSR1, SIGUSR2}, deadline_after(30s)), tendril::error);
  CHECK(armed_watchers() == 0);  // SIGUSR1, armed first, was disarmed again
  CHECK(counting_handlers::in_force(SIGUSR1));
  ::raise(SIGUSR2);  // handled on this thread, delivered to the other hub
  other.join();
  CHECK(errors.take().empty());
  CHECK(other_got == SIGUSR2);
  CHECK(counting_handlers::in_force(SIGUSR2));
  // The other hub let go of it: this one may wait for it now.
  CHECK(wait_signal(SIGUSR2, deadline_after(1ms)) == 0);
}

TEST_CASE("waiting for what is not a catchable signal is an error naming it") {
  hub_check hub;
  CHECK_THROWS_WITH(wait_signal(0), Catch::Contains("0 is not a signal number"));
  CHECK_THROWS_WITH(wait_signal(NSIG), Catch::Contains("is not a signal number"));
  CHECK_THROWS_WITH(wait_signal(SIGKILL), Catch::Contains("SIGKILL cannot be caught"));
  CHECK_THROWS_WITH(wait_signal({SIGUSR1, SIGSTOP}), Catch::Contains("SIGSTOP cannot be caught"));
  CHECK_THROWS_WITH(wait_signal(std::span<const int>()), Catch::Contains("no signal"));
  CHECK(armed_watchers() == 0);
}
