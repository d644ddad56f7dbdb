// condition_variable with tendril::mutex: waiting with a predicate, FIFO
// notification, deadlines, kills and timeout scopes (the mutex is always
// held again on the way out), and threads without a hub.

#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include <tendril/error.hpp>
#include <tendril/hub/join.hpp>
#include <tendril/hub/sleep.hpp>
#include <tendril/hub/task.hpp>
#include <tendril/hub/timeout.hpp>
#include <tendril/sync/condition_variable.hpp>
#include <tendril/sync/mutex.hpp>

#include "support/hub_fixture.hpp"

namespace {

using namespace std::chrono_literals;
using tendril::condition_variable;
using tendril::mutex;
using tendril::spawn;
using tendril::testing::hub_check;

}  // namespace

TEST_CASE("wait with a predicate returns once another fiber makes it true and notifies") {
  hub_check hub;
  mutex m;
  condition_variable cv;
  bool ready = false;
  auto waiter = spawn([&] {
    std::unique_lock lock(m);
    cv.wait(lock, [&] { return ready; });
    return lock.owns_lock();
  });
  tendril::yield();  // it waits
  {
    std::lock_guard lock(m);
    ready = true;
  }
  cv.notify_one();
  CHECK(waiter.get());
}

TEST_CASE("notify_one wakes waiters one at a time, in the order they started waiting") {
  hub_check hub;
  mutex m;
  condition_variable cv;
  std::vector<int> woken;
  std::vector<tendril::task<void>> waiters;
  for (int i = 0; i < 3; ++i) {
    waiters.push_back(spawn([&, i] {
      std::unique_lock lock(m);
      cv.wait(lock);
      woken.push_back(i);
    }));
  }
  tendril::yield();  // all three wait
  for (int round = 1; round <= 3; ++round) {
    cv.notify_one();
    tendril::yield();
    CHECK(woken.size() == static_cast<std::size_t>(round));
  }
  tendril::joinall(waiters);
  CHECK(woken == std::vector<int>{0, 1, 2});
}

TEST_CASE("notify_all wakes every waiter present") {
  hub_check hub;
  mutex m;
  condition_variable cv;
  int woken = 0;
  std::vector<tendril::task<void>> waiters;
  for (int i = 0; i < 100; ++i) {
    waiters.push_back(spawn([&] {
      std::unique_lock lock(m);
      cv.wait(lock);
      ++woken;
    }));
  }
  tendril::yield();
  cv.notify_all();
  CHECK(tendril::joinall(waiters, 10s));
  CHECK(woken == 100);
}

TEST_CASE("wait_for returns timeout when nobody notifies, holding the mutex again") {
  hub_check hub;
  mutex m;
  condition_variable cv;
  std::unique_lock lock(m);
  CHECK(cv.wait_for(lock, 1ms) == std::cv_status::timeout);
  CHECK(lock.owns_lock());
  CHECK_FALSE(cv.wait_for(lock, 1ms, [] { return false; }));
  CHECK(lock.owns_lock());
}

TEST_CASE("an expired timeout scope raises timeout_error in wait, with the mutex held again") {
  hub_check hub;
  mutex m;
  condition_variable cv;
  std::unique_lock lock(m);
  bool raised = false;
  try {
    tendril::timeout limit(1ms);
    cv.wait(lock);
  } catch (const tendril::timeout_error&) {
    raised = true;
  }
  CHECK(raised);
  CHECK(lock.owns_lock());
  lock.unlock();  // proves it really holds it: unlocking a mutex one does not hold throws
}

TEST_CASE(
    "a kill while waiting raises greenlet_exit after the mutex is locked again, and passes no notify on") {
  hub_check hub;
  mutex m;
  condition_variable cv;
  bool held_on_exit = false;
  auto victim = spawn([&] {
    std::unique_lock lock(m);
    try {
      cv.wait(lock);
    } catch (const tendril::greenlet_exit&) {
      held_on_exit = lock.owns_lock();
      throw;
    }
  });
  tendril::yield();
  CHECK(victim.kill());
  CHECK(victim.killed());
  CHECK(held_on_exit);
  std::unique_lock lock(m);  // and it was released by the unwinding
  CHECK(lock.owns_lock());
}

TEST_CASE("a notify granted to a waiter killed at that moment goes to the next waiter") {
  hub_check hub;
  mutex m;
  condition_variable cv;
  bool second_woke = false;
  auto first = spawn([&] {
    std::unique_lock lock(m);
    cv.wait(lock);
  });
  auto second = spawn([&] {
    std::unique_lock lock(m);
    second_woke = cv.wait_for(lock, 10s) == std::cv_status::no_timeout;
  });
  tendril::yield();                      // both wait, first in front
  cv.notify_one();                       // granted to first...
  first.kill(nullptr, /*block=*/false);  // ...which is killed before it runs
  CHECK(first.join_for(10s));
  CHECK(second.join_for(10s));
  CHECK(first.killed());
  CHECK(second_woke);
}

TEST_CASE("wait with a unique_lock that holds nothing throws tendril::error") {
  hub_check hub;
  mutex m;
  condition_variable cv("orders");
  std::unique_lock lock(m, std::defer_lock);
  CHECK_THROWS_WITH(cv.wait(lock), Catch::Contains("condition_variable \"orders\""));
}

TEST_CASE("a plain thread waits on a condition a fiber notifies, and the other way round") {
  hub_check hub;
  mutex m;
  condition_variable cv;
  std::deque<int> to_thread, to_fiber;
  std::thread echo([&] {
    std::unique_lock lock(m);  // no hub on this thread: it blocks
    for (int i = 0; i < 100; ++i) {
      cv.wait(lock, [&] { return !to_thread.empty(); });
      to_fiber.push_back(to_thread.front() * 2);
      to_thread.pop_front();
      cv.notify_all();
    }
  });
  int sum = 0;
  {
    std::unique_lock lock(m);
    for (int i = 1; i <= 100; ++i) {
      to_thread.push_back(i);
      cv.notify_all();
      REQUIRE(cv.wait_for(lock, 30s, [&] { return !to_fiber.empty(); }));
      sum += to_fiber.front();
      to_fiber.pop_front();
    }
  }
  echo.join();
  CHECK(sum == 2 * 5050);
}
