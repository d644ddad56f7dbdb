// event: waiting, set waking every waiter in order (even when clear follows
// at once), deadlines, kills and timeout scopes, and threads: a plain thread
// setting or waiting, two hubs signalling each other. Ports cases of
// gevent's test__event.py (TestEvent_SetThenClear*, TestEventBasics).

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include <tendril/error.hpp>
#include <tendril/hub/join.hpp>
#include <tendril/hub/sleep.hpp>
#include <tendril/hub/task.hpp>
#include <tendril/hub/timeout.hpp>
#include <tendril/sync/event.hpp>

#include "support/hub_fixture.hpp"
#include "sync/sync_threads.hpp"

namespace {

using namespace std::chrono_literals;
using tendril::event;
using tendril::spawn;
using tendril::spawn_options;
using tendril::task;
using tendril::testing::hub_check;
using tendril::testing::thread_errors;
using tendril::testing::unwind_flag;
using strings = std::vector<std::string>;

}  // namespace

// --- waiting and setting ------------------------------------------------------

TEST_CASE("an event starts cleared; set and clear change is_set") {
  hub_check hub;
  event ev("flag");
  CHECK_FALSE(ev.is_set());
  ev.set();
  CHECK(ev.is_set());
  ev.clear();
  CHECK_FALSE(ev.is_set());
  CHECK(ev.describe() == "event \"flag\"");
}

TEST_CASE("wait returns at once when the event is set, without letting other fibers run") {
  hub_check hub;
  event ev;
  ev.set();
  bool other_ran = false;
  auto other = spawn([&] { other_ran = true; });
  ev.wait();
  CHECK(ev.wait_for(0s));
  CHECK(ev.wait_until(tendril::clock::now() - 1s));
  CHECK_FALSE(other_ran);
  other.join();
}

TEST_CASE("set wakes every waiter, in the order they started waiting") {
  hub_check hub;
  event ev;
  strings order;
  std::vector<task<bool>> waiters;
  for (const char* name : {"a", "b", "c", "d", "e"})
    waiters.push_back(spawn([&ev, &order, name] {
      bool woken = ev.wait_for(10s);
      order.push_back(name);
      return woken;
    }));
  tendril::yield();  // all of them wait
  CHECK(order.empty());
  ev.set();
  for (auto& t : waiters) CHECK(t.get());
  CHECK(order == strings{"a", "b", "c", "d", "e"});
}

TEST_CASE(
    "a waiter woken by set that waits again returns at once (test__event.py: test_wait_while_notifying)") {
  hub_check hub;
  event ev;
  strings order;
  auto first = spawn([&] {
    ev.wait_for(10s);
    order.push_back("first");
    CHECK(ev.wait_for(0s));
    order.push_back("first again");
  });
  auto second = spawn([&] {
    ev.wait_for(10s);
    order.push_back("second");
  });
  tendril::yield();
  ev.set();
  first.join();
  second.join();
  CHECK(order == strings{"first", "first again", "second"});
}

TEST_CASE(
    "every waiter returns true when clear follows set at once (test__event.py: TestEvent_SetThenClear)") {
  hub_check hub;
  event ev;
  std::vector<task<bool>> waiters;
  for (int i = 0; i < 3; ++i) waiters.push_back(spawn([&] { return ev.wait_for(10s); }));
  tendril::sleep(1ms);
  ev.set();
  ev.clear();
  for (auto& t : waiters) CHECK(t.get());
  CHECK_FALSE(ev.is_set());
}

TEST_CASE(
    "1000 waiters all wake on set even when clear follows at once (test__event.py: "
    "TestEvent_SetThenClear1000)") {
  hub_check hub;
  event ev;
  int woken = 0;
  std::vector<task<void>> waiters;
  for (int i = 0; i < 1000; ++i)
    waiters.push_back(spawn([&] {
      if (ev.wait_for(30s)) ++woken;
    }));
  tendril::yield();
  CHECK(woken == 0);
  ev.set();
  ev.clear();
  CHECK(tendril::joinall(waiters, 30s));
  CHECK(woken == 1000);
  // Cleared: a new waiter waits again.
  CHECK_FALSE(ev.wait_for(1ms));
}

// --- deadlines, kills, timeout scopes -----------------------------------------

TEST_CASE("wait_for returns false once the timeout passes") {
  hub_check hub;
  event ev;
  auto start = tendril::clock::now();
  CHECK_FALSE(ev.wait_for(30ms));
  CHECK(tendril::clock::now() - start >= 30ms);
  CHECK_FALSE(ev.wait_for(0s));
  // The waiter that timed out is gone: a later set wakes only the new one.
  auto later = spawn([&] { return ev.wait_for(10s); });
  tendril::yield();
  ev.set();
  CHECK(later.get());
}

TEST_CASE("wait_until returns false once the deadline passes") {
  hub_check hub;
  event ev;
  auto deadline = tendril::clock::now() + 30ms;
  CHECK_FALSE(ev.wait_until(deadline));
  CHECK(tendril::clock::now() >= deadline);
  CHECK_FALSE(ev.wait_until(tendril::clock::now() - 1s));  // a past deadline: false without waiting
}

TEST_CASE("wait_for returns true when set before the timeout passes") {
  hub_check hub;
  event ev;
  auto setter = spawn([&] {
    tendril::sleep(10ms);
    ev.set();
  });
  CHECK(ev.wait_for(10s));
  setter.join();
}

TEST_CASE("a kill while waiting removes the waiter: set then wakes only the others") {
  hub_check hub;
  event ev;
  strings order;
  bool unwound = false;
  auto a = spawn(spawn_options{"a"}, [&] {
    ev.wait_for(10s);
    order.push_back("a");
  });
  auto b = spawn(spawn_options{"b"}, [&] {
    unwind_flag flag{unwound};
    ev.wait_for(10s);
    order.push_back("b");
  });
  auto c = spawn(spawn_options{"c"}, [&] {
    ev.wait_for(10s);
    order.push_back("c");
  });
  tendril::yield();
  CHECK(b.kill());
  CHECK(b.killed());
  CHECK(unwound);
  ev.set();
  a.join();
  c.join();
  CHECK(order == strings{"a", "c"});
}

TEST_CASE("an expired timeout scope raises timeout_error from wait, and the waiter is removed") {
  hub_check hub;
  event ev;
  auto t = spawn([&] {
    tendril::timeout limit(20ms);
    try {
      ev.wait();
      return false;
    } catch (const tendril::timeout_error& e) {
      return limit.owns(e);
    }
  });
  CHECK(t.get());
  ev.set();  // touches no waiter: the timed-out fiber's node is gone with its stack
  CHECK(ev.is_set());
}

// --- threads ----------------------------------------------------------------

TEST_CASE("a plain thread sets an event a fiber waits on") {
  hub_check hub;
  thread_errors errors;
  event ev;
  std::thread setter = tendril::testing::plain_thread(errors, [&] {
    std::this_thread::sleep_for(20ms);
    ev.set();
  });
  bool woken = ev.wait_for(10s);
  setter.join();
  CHECK(woken);
  CHECK(errors.take().empty());
}

TEST_CASE("a plain thread waiting on an event blocks until a fiber sets it") {
  hub_check hub;
  thread_errors errors;
  event ev;
  std::atomic<bool> returned{false};
  std::atomic<bool> result{false};
  std::thread waiter = tendril::testing::plain_thread(errors, [&] {
    result = ev.wait_for(10s);
    returned = true;
  });
  tendril::sleep(30ms);
  CHECK_FALSE(returned);  // it blocks, as on std::condition_variable
  ev.set();
  waiter.join();
  CHECK(returned);
  CHECK(result);
  CHECK(errors.take().empty());
}

TEST_CASE("a plain thread's wait_for returns false once the timeout passes") {
  hub_check hub;
  thread_errors errors;
  event ev;
  std::atomic<bool> result{true};
  std::atomic<long long> waited_ms{0};
  std::thread waiter = tendril::testing::plain_thread(errors, [&] {
    auto start = tendril::clock::now();
    result = ev.wait_for(30ms);
    waited_ms = std::chrono::duration_cast<std::chrono::milliseconds>(tendril::clock::now() - start).count();
  });
  waiter.join();
  CHECK_FALSE(result);
  CHECK(waited_ms >= 30);
  ev.set();  // no waiter left behind
  CHECK(errors.take().empty());
}

TEST_CASE("fibers on two hubs signal each other through two events") {
  hub_check hub;
  thread_errors errors;
  event ping("ping");
  event pong("pong");
  constexpr int rounds = 200;
  std::atomic<int> pings{0};
  std::atomic<int> pongs{0};
  std::thread a = tendril::testing::hub_thread(errors, [&] {
    for (int i = 0; i < rounds; ++i) {
      ping.set();
      if (!pong.wait_for(10s)) throw tendril::error("no pong");
      pong.clear();
      ++pongs;
    }
  });
  std::thread b = tendril::testing::hub_thread(errors, [&] {
    for (int i = 0; i < rounds; ++i) {
      if (!ping.wait_for(10s)) throw tendril::error("no ping");
      ping.clear();
      ++pings;
      pong.set();
    }
  });
  a.join();
  b.join();
  CHECK(pings == rounds);
  CHECK(pongs == rounds);
  CHECK(errors.take().empty());
}

TEST_CASE("set from another hub wakes many fibers of this hub, in order") {
  hub_check hub;
  thread_errors errors;
  event ev;
  strings order;
  std::vector<task<bool>> waiters;
  for (const char* name : {"a", "b", "c"})
    waiters.push_back(spawn([&ev, &order, name] {
      bool woken = ev.wait_for(10s);
      order.push_back(name);
      return woken;
    }));
  tendril::yield();
  std::thread setter = tendril::testing::hub_thread(errors, [&] { ev.set(); });
  for (auto& t : waiters) CHECK(t.get());
  setter.join();
  CHECK(order == strings{"a", "b", "c"});
  CHECK(errors.take().empty());
}
