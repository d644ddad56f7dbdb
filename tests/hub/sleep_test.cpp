// sleep, sleep_until and yield: FIFO hand-over between ready fibers, and a
// fiber that keeps yielding cannot starve timers (gevent's test__sleep0.py).
// Sleeps here only let time pass; what is checked is ordering and outcome.

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include <tendril/fiber/greenlet.hpp>
#include <tendril/hub/hub.hpp>
#include <tendril/hub/join.hpp>
#include <tendril/hub/park.hpp>
#include <tendril/hub/sleep.hpp>
#include <tendril/hub/task.hpp>
#include <tendril/hub/timeout.hpp>

#include "support/hub_fixture.hpp"

namespace {

using namespace std::chrono_literals;
using tendril::clock;
using tendril::spawn;
using tendril::task;
using tendril::testing::gate;
using tendril::testing::hub_check;
using strings = std::vector<std::string>;

// The ways a fiber can give up the CPU without waiting for anything.
enum class pass_kind { yield, sleep_zero, sleep_negative, sleep_until_past };

void pass(pass_kind how) {
  switch (how) {
    case pass_kind::yield:
      tendril::yield();
      break;
    case pass_kind::sleep_zero:
      tendril::sleep(0s);
      break;
    case pass_kind::sleep_negative:
      tendril::sleep(-1ms);
      break;
    case pass_kind::sleep_until_past:
      tendril::sleep_until(clock::now() - 1s);
      break;
  }
}

const char* name_of(pass_kind how) {
  switch (how) {
    case pass_kind::yield:
      return "yield()";
    case pass_kind::sleep_zero:
      return "sleep(0)";
    case pass_kind::sleep_negative:
      return "sleep(-1ms)";
    case pass_kind::sleep_until_past:
      return "sleep_until(past)";
  }
  return "?";
}

// A bound on loops that wait for a timer while spinning: far beyond any
// scheduling delay, it only turns a starvation bug into a failure, not a hang.
constexpr clock::duration give_up_after = 30s;

}  // namespace

TEST_CASE("yield and sleep(0) let every other ready fiber run once, in FIFO order (test__sleep0.py's idea)") {
  hub_check hub;
  pass_kind how = GENERATE(pass_kind::yield, pass_kind::sleep_zero, pass_kind::sleep_negative,
                           pass_kind::sleep_until_past);
  INFO(name_of(how));
  strings order;
  std::vector<task<void>> tasks;
  for (const char* name : {"a", "b", "c"})
    tasks.push_back(spawn([&order, name, how] {
      for (int round = 0; round < 3; ++round) {
        order.push_back(name + std::to_string(round));
        pass(how);
      }
    }));
  tendril::joinall(tasks);
  CHECK(order == strings{"a0", "b0", "c0", "a1", "b1", "c1", "a2", "b2", "c2"});
}

TEST_CASE("a yield from the main greenlet lets each ready task run exactly once") {
  hub_check hub;
  pass_kind how = GENERATE(pass_kind::yield, pass_kind::sleep_zero, pass_kind::sleep_until_past);
  INFO(name_of(how));
  bool stop = false;
  int a = 0;
  int b = 0;
  auto spin_a = spawn([&] {
    while (!stop) {
      ++a;
      tendril::yield();
    }
  });
  auto spin_b = spawn([&] {
    while (!stop) {
      ++b;
      tendril::yield();
    }
  });
  pass(how);
  CHECK(a == 1);
  CHECK(b == 1);
  pass(how);
  CHECK(a == 2);
  CHECK(b == 2);
  stop = true;
  tendril::joinall({spin_a, spin_b});
}

TEST_CASE("yield with nothing else ready returns at once") {
  hub_check hub;
  for (int i = 0; i < 1000; ++i) tendril::yield();
  CHECK(tendril::this_hub_stats().ready == 0);
}

TEST_CASE("yields do not poll the loop each time: a yield costs no system call") {
  hub_check hub;
  bool stop = false;
  std::int64_t other_ran = 0;
  auto other = spawn([&] {
    while (!stop) {
      ++other_ran;
      tendril::yield();
    }
  });
  constexpr std::int64_t yields = 100'000;
  const auto before = tendril::this_hub_stats().loop_iterations;
  for (std::int64_t i = 0; i < yields; ++i) tendril::yield();
  const auto polls = tendril::this_hub_stats().loop_iterations - before;
  stop = true;
  other.join();
  CHECK(other_ran >= yields);
  // The loop is polled once per poll interval (1 ms) of running fibers, not
  // per yield: even at 10 us a yield (a slow sanitizer build) that is 1,000
  // polls for 100,000 yields.
  CHECK(polls < static_cast<unsigned>(yields / 10));
}

TEST_CASE("a fiber spinning on yield cannot stop a timeout from firing (test__sleep0.py)") {
  hub_check hub;
  pass_kind how = GENERATE(pass_kind::yield, pass_kind::sleep_zero);
  INFO(name_of(how));
  bool fired = false;
  try {
    tendril::timeout t(5ms);
    for (;;) pass(how);
  } catch (const tendril::timeout_error&) {
    fired = true;
  }
  CHECK(fired);
}

TEST_CASE("a task spinning on yield cannot stop its timeout from firing") {
  hub_check hub;
  auto spinner = spawn([] {
    tendril::timeout t(5ms);
    try {
      for (;;) tendril::yield();
    } catch (const tendril::timeout_error& e) {
      return t.owns(e);
    }
  });
  CHECK(spinner.get());
}

TEST_CASE("two fibers yielding to each other cannot stop a timeout from firing") {
  hub_check hub;
  bool stop = false;
  auto other = spawn([&] {
    while (!stop) tendril::yield();
  });
  bool fired = false;
  try {
    tendril::timeout t(5ms);
    for (;;) tendril::yield();  // the ready queue is never empty
  } catch (const tendril::timeout_error&) {
    fired = true;
  }
  CHECK(fired);
  stop = true;
  other.join();
}

TEST_CASE("a fiber spinning on yield cannot starve a sleeping fiber's timer") {
  hub_check hub;
  bool woke = false;
  auto sleeper = spawn([&] {
    tendril::sleep(1ms);
    woke = true;
  });
  const clock::time_point give_up = clock::now() + give_up_after;
  while (!woke && clock::now() < give_up) tendril::yield();
  CHECK(woke);
  sleeper.join();
}

TEST_CASE("sleep_until a time in the past is a yield: others run, no timer is armed") {
  hub_check hub;
  bool ran = false;
  auto t = spawn([&] { ran = true; });
  tendril::sleep_until(clock::now() - 1h);
  CHECK(ran);
  CHECK(tendril::this_hub_stats().watchers == 0);
  t.join();
}

TEST_CASE("sleep_until does not return before its deadline") {
  hub_check hub;
  for (int i = 0; i < 20; ++i) {
    const clock::time_point deadline = clock::now() + 1ms;
    tendril::sleep_until(deadline);
    CHECK(clock::now() >= deadline);
  }
  const clock::time_point start = clock::now();
  tendril::sleep(2ms);
  CHECK(clock::now() - start >= 2ms);
}

TEST_CASE("a sleep is not cut short by a stray wake") {
  hub_check hub;
  tendril::waker stray;
  bool woke_it = false;
  const clock::time_point deadline = clock::now() + 50ms;
  auto waking = spawn([&] { woke_it = stray.wake(); });
  stray = tendril::waker::current();  // names the sleep's park
  tendril::sleep_until(deadline);
  CHECK(clock::now() >= deadline);
  waking.join();
  // The wake lands inside the sleep unless this thread stalled past the
  // deadline before sleeping; then the sleep was a yield and proves nothing.
  if (!woke_it) WARN("the stray wake came after the deadline: the machine stalled");
}

TEST_CASE("sleeping fibers wake in the order of their deadlines") {
  hub_check hub;
  // Deadlines 50 ms apart, checked below to have been ahead of each task when
  // it went to sleep: only then is the order the timers' to decide.
  static constexpr clock::duration step = 50ms;
  strings order;
  bool all_ahead = true;
  const clock::time_point start = clock::now();
  std::vector<task<void>> tasks;
  for (int k : {3, 1, 2})
    tasks.push_back(spawn([&order, &all_ahead, start, k] {
      if (clock::now() >= start + step / 2) all_ahead = false;
      tendril::sleep_until(start + k * step);
      order.push_back(std::to_string(k));
    }));
  tendril::joinall(tasks);
  if (all_ahead)
    CHECK(order == strings{"1", "2", "3"});
  else
    WARN("a task started too late to arm its timer ahead of the others: the machine stalled");
}

TEST_CASE("sleep inside an expired timeout scope raises timeout_error") {
  hub_check hub;
  tendril::timeout limit(1ms);
  CHECK_THROWS_AS(tendril::sleep(1h), tendril::timeout_error);
  CHECK(limit.expired());
}

TEST_CASE("a sleeping task that is killed gets greenlet_exit and its timer is removed") {
  hub_check hub;
  bool got_exit = false;
  auto sleeper = spawn([&] {
    try {
      tendril::sleep(1h);
    } catch (const tendril::greenlet_exit&) {
      got_exit = true;
      throw;
    }
  });
  tendril::yield();
  CHECK(tendril::this_hub_stats().watchers == 1);
  sleeper.kill();
  CHECK(got_exit);
  CHECK(sleeper.killed());
  CHECK(tendril::this_hub_stats().watchers == 0);
}

TEST_CASE("a task spinning on yield that is killed gets greenlet_exit at its yield") {
  hub_check hub;
  int spins = 0;
  bool got_exit = false;
  auto spinner = spawn([&] {
    try {
      for (;;) {
        ++spins;
        tendril::yield();
      }
    } catch (const tendril::greenlet_exit&) {
      got_exit = true;
      throw;
    }
  });
  tendril::yield();
  CHECK(spins == 1);
  spinner.kill();
  CHECK(got_exit);
  CHECK(spinner.killed());
}

TEST_CASE("sleep from a plain greenlet works") {
  hub_check hub;
  bool slept = false;
  tendril::greenlet plain([&] {
    tendril::sleep(1ms);
    slept = true;
  });
  plain.switch_to();
  CHECK(slept);
  CHECK(plain.dead());
}

TEST_CASE("a sleep lets time pass for the loop: loop iterations grow") {
  hub_check hub;
  const auto before = tendril::this_hub_stats().loop_iterations;
  tendril::sleep(1ms);
  CHECK(tendril::this_hub_stats().loop_iterations > before);
}

TEST_CASE("gate (the tests' event) releases waiters in the order they waited") {
  hub_check hub;
  gate g;
  strings order;
  std::vector<task<void>> tasks;
  for (const char* name : {"x", "y", "z"})
    tasks.push_back(spawn([&order, &g, name] {
      g.wait();
      order.push_back(name);
    }));
  tendril::yield();
  CHECK(order.empty());
  g.open();
  tendril::joinall(tasks);
  CHECK(order == strings{"x", "y", "z"});
  g.wait();  // open: at once
}
