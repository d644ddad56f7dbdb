// The hub as a whole: its statistics, the would-block-forever report, the
// per-thread error handler, wake-ups across threads and hubs, and what a
// thread's exit does to the tasks still parked on its hub.
//
// Catch2 assertions are not thread-safe: other threads only record what they
// see, and the test thread checks it after joining them.

#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <fstream>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include <tendril/error.hpp>
#include <tendril/fiber/greenlet.hpp>
#include <tendril/fiber/stack.hpp>
#include <tendril/hub/hub.hpp>
#include <tendril/hub/join.hpp>
#include <tendril/hub/park.hpp>
#include <tendril/hub/run.hpp>
#include <tendril/hub/sleep.hpp>
#include <tendril/hub/task.hpp>

#include "support/hub_fixture.hpp"

namespace {

using namespace std::chrono_literals;
using tendril::spawn;
using tendril::spawn_options;
using tendril::task;
using tendril::task_base;
using tendril::waker;
using tendril::testing::gate;
using tendril::testing::hub_check;
using tendril::testing::unwind_flag;

// remote_event: a one-shot event that a fiber waits on and any thread sets,
// built on park/waker with a remote wait reason (the hub keeps waiting).
class remote_event {
 public:
  /// wait() parks the calling fiber until set(), then resets the event.
  void wait() {
    std::unique_lock lock(mutex_);
    while (!set_) {
      waiting_ = waker::current();
      lock.unlock();
      tendril::wait_reason why{"remote event", this};
      why.remote = true;
      tendril::park(why);
      lock.lock();
    }
    set_ = false;
    waiting_ = waker();
  }
  /// set() wakes the waiting fiber; any thread.
  void set() {
    std::lock_guard lock(mutex_);
    set_ = true;
    if (!waiting_.empty()) waiting_.wake();
  }

 private:
  std::mutex mutex_;
  bool set_ = false;
  waker waiting_;
};

}  // namespace

// --- statistics -------------------------------------------------------------

TEST_CASE("this_hub_stats counts tasks, parked and ready fibers and armed timers") {
  hub_check hub;
  gate release;
  std::vector<task<void>> tasks;
  for (int i = 0; i < 3; ++i) tasks.push_back(spawn([&] { release.wait(); }));
  tendril::hub_stats s = tendril::this_hub_stats();
  CHECK(s.tasks == 3);
  CHECK(s.ready == 3);  // queued to start
  CHECK(s.parked == 0);

  tendril::yield();  // they start and park
  s = tendril::this_hub_stats();
  CHECK(s.tasks == 3);
  CHECK(s.ready == 0);
  CHECK(s.parked == 3);

  release.open();
  s = tendril::this_hub_stats();
  CHECK(s.ready == 3);
  CHECK(s.parked == 0);
  tendril::joinall(tasks);
  s = tendril::this_hub_stats();
  CHECK(s.tasks == 0);
  CHECK(s.ready == 0);

  auto sleeper = spawn([] { tendril::sleep(1h); });
  tendril::yield();
  s = tendril::this_hub_stats();
  CHECK(s.watchers == 1);
  CHECK(s.parked == 1);
  sleeper.kill();
}

TEST_CASE("this_hub_stats counts the loop's polls") {
  hub_check hub;
  const std::uint64_t before = tendril::this_hub_stats().loop_iterations;
  tendril::sleep(1ms);
  CHECK(tendril::this_hub_stats().loop_iterations > before);
}

TEST_CASE("this_hub_stats on a thread without a hub is all zero and does not create one") {
  hub_check hub;
  tendril::hub_stats first;
  tendril::hub_stats second;
  std::size_t active = 1;
  std::thread other([&] {
    first = tendril::this_hub_stats();
    second = tendril::this_hub_stats();
    active = tendril::active_greenlet_count();
  });
  other.join();
  CHECK(first.tasks == 0);
  CHECK(first.parked == 0);
  CHECK(first.ready == 0);
  CHECK(first.watchers == 0);
  CHECK(first.loop_iterations == 0);
  CHECK(second.loop_iterations == 0);
  CHECK(active == 0);  // no hub greenlet was started
}

// --- would block forever ----------------------------------------------------

TEST_CASE("joining a task that parks forever throws would block forever, listing the parked fibers") {
  hub_check hub;
  auto stuck = spawn(spawn_options{"stuck"}, [] { tendril::park({"nothing at all"}); });
  std::string message;
  try {
    stuck.join();
    FAIL("join returned");
  } catch (const tendril::error& e) {
    message = e.what();
  }
  CHECK_THAT(message, Catch::Contains("would block forever"));
  CHECK_THAT(message, Catch::Contains(stuck.describe() + ": waits on nothing at all"));
  CHECK_THAT(message, Catch::Contains(tendril::greenlet::current().describe() + ": waits on joining " +
                                      stuck.describe()));
  CHECK_FALSE(stuck.ready());  // the task itself was not woken: the main greenlet got the error
  CHECK(stuck.kill());
  CHECK(stuck.killed());
}

TEST_CASE("the main greenlet parking with nothing to wake it throws would block forever") {
  hub_check hub;
  try {
    tendril::park({"the void"});
    FAIL("park returned");
  } catch (const tendril::error& e) {
    CHECK_THAT(e.what(), Catch::Contains("would block forever") && Catch::Contains("waits on the void"));
  }
}

TEST_CASE("a timer keeps the hub waiting: no would-block-forever while one is armed") {
  hub_check hub;
  auto sleeper = spawn([] { tendril::sleep(2ms); });
  CHECK_NOTHROW(sleeper.join());
}

TEST_CASE("a remote wait reason keeps the hub waiting for another thread") {
  hub_check hub;
  remote_event event;
  std::atomic<bool> go{false};
  std::thread other([&] {
    while (!go.load()) std::this_thread::yield();
    event.set();
  });
  auto waiter = spawn([&] { event.wait(); });
  tendril::yield();  // the waiter parks
  go = true;
  CHECK_NOTHROW(waiter.join());
  other.join();
}

// --- error handler ----------------------------------------------------------

TEST_CASE("the task error handler belongs to its thread") {
  hub_check hub;
  int other_thread_reports = 0;
  std::string other_thread_what;
  std::thread other([&] {
    tendril::set_task_error_handler([&](const task_base&, std::exception_ptr e) {
      ++other_thread_reports;
      other_thread_what = tendril::testing::what_of(e);
    });
    spawn([] { throw std::runtime_error("on the other thread"); }).join();
  });
  other.join();
  CHECK(other_thread_reports == 1);
  CHECK(other_thread_what == "on the other thread");
  CHECK(hub.take_reported().empty());  // this thread's handler saw nothing
}

TEST_CASE("an error handler that throws is reported on stderr, not a crash") {
  hub_check hub;
  auto fixture_handler = tendril::set_task_error_handler(
      [](const task_base&, std::exception_ptr) { throw std::runtime_error("bad handler"); });
  tendril::testing::stderr_capture captured;
  spawn(spawn_options{"unlucky"}, [] { throw std::runtime_error("first failure"); }).join();
  std::string text = captured.finish();
  tendril::set_task_error_handler(std::move(fixture_handler));
  CHECK_THAT(text, Catch::Contains("\"unlucky\""));
}

// --- across threads ---------------------------------------------------------

TEST_CASE("many tasks parked with remote wait reasons are woken from another thread") {
  hub_check hub;
  constexpr int count = 100;
  std::mutex mutex;
  std::vector<waker> wakers;
  std::condition_variable all_published;
  std::vector<int> payload(count, 0);  // written by the other thread, read by each task after its wake
  std::vector<int> seen(count, -1);
  std::vector<task<void>> tasks;
  for (int i = 0; i < count; ++i)
    tasks.push_back(spawn([&, i] {
      {
        std::lock_guard lock(mutex);
        wakers.push_back(waker::current());
        if (wakers.size() == count) all_published.notify_one();
      }
      tendril::wait_reason why{"other thread"};
      why.remote = true;
      tendril::park(why);
      seen[static_cast<std::size_t>(i)] = payload[static_cast<std::size_t>(i)];
    }));
  std::thread other([&] {
    std::unique_lock lock(mutex);
    all_published.wait(lock, [&] { return wakers.size() == count; });
    for (int i = 0; i < count; ++i) payload[static_cast<std::size_t>(i)] = i + 1;
    for (const waker& w : wakers) w.wake();
  });
  CHECK(tendril::joinall(tasks));
  other.join();
  for (int i = 0; i < count; ++i) CHECK(seen[static_cast<std::size_t>(i)] == i + 1);
}

TEST_CASE("fibers on two threads' hubs hand a counter back and forth by remote wakes") {
  hub_check hub;
  constexpr int rounds = 1000;
  remote_event ping;
  remote_event pong;
  int counter = 0;  // plain int: each side touches it only between a wake and the next set()
  int other_saw_odd = 0;
  std::thread other([&] {
    tendril::run([&] {
      for (int i = 0; i < rounds; ++i) {
        ping.wait();
        if (counter % 2 == 1) ++other_saw_odd;
        ++counter;
        pong.set();
      }
    });
  });
  auto player = spawn([&] {
    for (int i = 0; i < rounds; ++i) {
      ++counter;
      ping.set();
      pong.wait();
    }
  });
  player.join();
  other.join();
  CHECK(counter == 2 * rounds);
  CHECK(other_saw_odd == rounds);
}

// --- thread exit ------------------------------------------------------------

TEST_CASE("a thread that exits with tasks parked on its hub unwinds them") {
  hub_check hub;
  bool parked_unwound = false;
  bool sleeper_unwound = false;
  bool unstarted_ran = false;
  bool parked_got_exit = false;
  std::thread other([&] {
    spawn([&] {
      unwind_flag f{parked_unwound};
      try {
        tendril::park({"forever"});
      } catch (const tendril::greenlet_exit&) {
        parked_got_exit = true;
        throw;
      }
    });
    spawn([&] {
      unwind_flag f{sleeper_unwound};
      tendril::sleep(1h);
    });
    tendril::yield();  // both park
    spawn([&] { unstarted_ran = true; });
  });  // exits with two parked tasks and one unstarted
  other.join();
  CHECK(parked_unwound);
  CHECK(parked_got_exit);
  CHECK(sleeper_unwound);
  CHECK_FALSE(unstarted_ran);
}

TEST_CASE("a thread that exits with a parked task still holding a handle to it unwinds it") {
  hub_check hub;
  bool unwound = false;
  std::thread other([&] {
    static thread_local task<void> kept;  // outlives the thread's function
    kept = spawn([&] {
      unwind_flag f{unwound};
      tendril::park({"forever"});
    });
    tendril::yield();
  });
  other.join();
  CHECK(unwound);
}

// --- plain greenlets --------------------------------------------------------

TEST_CASE(
    "dropping a plain greenlet parked on the hub unwinds it at its park and leaves the hub consistent") {
  hub_check hub;
  tendril::greenlet main_greenlet = tendril::greenlet::current();
  // Hands control back to the main greenlet while `plain` is parked.
  auto back = spawn([&] { main_greenlet.switch_to(); });
  bool unwound = false;
  bool got_exit = false;
  tendril::greenlet plain([&] {
    unwind_flag f{unwound};
    try {
      tendril::park({"plain park"}, tendril::deadline_after(1h));
    } catch (const tendril::greenlet_exit&) {
      got_exit = true;
      throw;
    }
  });
  plain.switch_to();  // parks; the hub runs `back`, which switches here
  REQUIRE(plain.active());
  plain = tendril::greenlet();  // unwinds it at its park
  CHECK(got_exit);
  CHECK(unwound);
  CHECK(tendril::current_task().empty());  // the hub still knows who runs: nobody's task
  CHECK(tendril::this_hub_stats().watchers == 0);
  CHECK(tendril::this_hub_stats().parked == 0);
  back.greenlet().switch_to();  // let `back` finish
  back.join();
}

// in_epoll_wait(tid) is true while thread `tid` of this process is blocked in
// epoll_wait or epoll_pwait (from /proc: its current system call number).
bool in_epoll_wait(long tid) {
  std::ifstream syscall("/proc/self/task/" + std::to_string(tid) + "/syscall");
  long number = -1;
  syscall >> number;
  return number == SYS_epoll_wait || number == SYS_epoll_pwait;
}

TEST_CASE("a greenlet whose last handle another thread drops is collected while the hub waits") {
  hub_check hub;
  waker main_waiting;
  // Wakes the main greenlet from the dropped greenlet's unwinding: the only
  // thing that can end the park below before its (generous) deadline.
  struct wake_on_unwind {
    waker& target;
    ~wake_on_unwind() { target.wake(); }
  };
  tendril::greenlet dropped([&] {
    wake_on_unwind on_unwind{main_waiting};
    tendril::greenlet::switch_to_parent();
  });
  dropped.switch_to();  // it waits, suspended, for a switch that never comes
  REQUIRE(dropped.active());

  main_waiting = waker::current();
  const long hub_thread = ::gettid();
  std::thread dropper([&, handle = std::move(dropped)]() mutable {
    // Drop only once the hub is asleep in the kernel, where no switch would
    // collect the greenlet by chance: the hub's loop must be woken for it.
    for (int i = 0; i < 10'000 && !in_epoll_wait(hub_thread); ++i) std::this_thread::sleep_for(1ms);
    handle = tendril::greenlet();
  });
  bool woken = tendril::park({"the dropped greenlet's unwinding", nullptr, 0, nullptr, /*remote=*/true},
                             tendril::deadline_after(30s));
  dropper.join();
  CHECK(woken);
}
