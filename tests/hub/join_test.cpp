// Waiting on groups of tasks: joinall, wait, iwait, killall. Completion
// order is set by the test, by opening gates in a chosen order, never by
// racing sleeps. Ports gevent's test__joinall.py, test__iwait.py and the
// joinall cases of test__greenlet.py.

#include <array>
#include <chrono>
#include <exception>
#include <list>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include <tendril/error.hpp>
#include <tendril/fiber/greenlet.hpp>
#include <tendril/hub/join.hpp>
#include <tendril/hub/park.hpp>
#include <tendril/hub/sleep.hpp>
#include <tendril/hub/task.hpp>
#include <tendril/hub/timeout.hpp>

#include "support/hub_fixture.hpp"

namespace {

using namespace std::chrono_literals;
using tendril::spawn;
using tendril::spawn_options;
using tendril::task;
using tendril::task_base;
using tendril::testing::gate;
using tendril::testing::hub_check;
using tendril::testing::what_of;
using names = std::vector<std::string>;

// Tasks named "0", "1", ... that each wait for their own gate, then return
// their index. Opening gates in some order finishes them in that order.
struct gated_tasks {
  std::vector<std::unique_ptr<gate>> gates;
  std::vector<task<int>> tasks;

  explicit gated_tasks(int count) {
    for (int i = 0; i < count; ++i) {
      gates.push_back(std::make_unique<gate>());
      tasks.push_back(spawn(spawn_options{std::to_string(i)}, [g = gates.back().get(), i] {
        g->wait();
        return i;
      }));
    }
  }

  // release(order) spawns a task that opens the gates in `order`, all at once:
  // the tasks then finish in that order. Returns the releasing task.
  task<void> release(std::vector<int> order) {
    return spawn([this, order] {
      for (int i : order) gates[static_cast<std::size_t>(i)]->open();
    });
  }

  void open_all() {
    for (auto& g : gates) g->open();
  }
};

names names_of(const std::vector<task_base>& tasks) {
  names out;
  for (const task_base& t : tasks) out.push_back(t.name());
  return out;
}

}  // namespace

// --- joinall ----------------------------------------------------------------

TEST_CASE("joinall waits for every task and returns true (test__joinall.py: the same task twice)") {
  hub_check hub;
  int finished = 0;
  auto a = spawn([&] { ++finished; });
  auto b = spawn([&] {
    tendril::sleep(1ms);
    ++finished;
  });
  CHECK(tendril::joinall({a, b, a}));
  CHECK(finished == 2);
  CHECK(a.ready());
  CHECK(b.ready());
}

TEST_CASE("joinall of many tasks returns true once all have finished") {
  hub_check hub;
  std::vector<task<int>> tasks;
  int finished = 0;
  for (int i = 0; i < 200; ++i)
    tasks.push_back(spawn([&finished, i] {
      for (int k = 0; k < i % 5; ++k) tendril::yield();
      ++finished;
      return i;
    }));
  CHECK(tendril::joinall(tasks));
  CHECK(finished == 200);
  for (int i = 0; i < 200; ++i) CHECK(tasks[static_cast<std::size_t>(i)].get() == i);
}

TEST_CASE("joinall accepts any range of tasks") {
  hub_check hub;
  std::list<task_base> listed{spawn([] {}), spawn([] { return 1; })};
  CHECK(tendril::joinall(listed));
  std::array<task<void>, 2> fixed{spawn([] {}), spawn([] {})};
  CHECK(tendril::joinall(fixed));
  std::vector<task_base> none;
  CHECK(tendril::joinall(none));  // nothing to wait for: at once
}

TEST_CASE("joinall with a timeout returns false while some tasks still run") {
  hub_check hub;
  gated_tasks group(3);
  group.gates[0]->open();
  CHECK_FALSE(tendril::joinall(group.tasks, 5ms));
  CHECK(group.tasks[0].ready());
  CHECK_FALSE(group.tasks[1].ready());
  group.open_all();
  CHECK(tendril::joinall(group.tasks, 1h));
}

TEST_CASE(
    "joinall with raise_error rethrows the first failure in completion order "
    "(test__greenlet.py: test_joinall_exception_order)") {
  hub_check hub;
  gate first_waits;
  auto first = spawn([&] {
    first_waits.wait();
    throw std::runtime_error("first");
  });
  auto second = spawn([] { throw std::runtime_error("second"); });
  CHECK_THROWS_WITH(tendril::joinall({first, second}, tendril::clock::duration::max(), true), "second");
  CHECK_FALSE(first.ready());
  first_waits.open();
  CHECK(tendril::joinall({first, second}));
  CHECK(what_of(first.exception()) == "first");
  // The rethrown failure counts as observed: the fixture sees no report for "second".
}

TEST_CASE("joinall with raise_error and no failure returns true (test__greenlet.py: test_wait_noerrors)") {
  hub_check hub;
  auto x = spawn([] { return 1; });
  auto y = spawn([] { return 2; });
  auto z = spawn([] { return 3; });
  CHECK(tendril::joinall({x, y, z}, tendril::clock::duration::max(), true));
  CHECK(std::vector<int>{x.get(), y.get(), z.get()} == std::vector<int>{1, 2, 3});
}

TEST_CASE("joinall with raise_error does not treat a killed task as a failure") {
  hub_check hub;
  gated_tasks group(2);
  tendril::yield();
  group.tasks[0].kill(nullptr, false);
  group.gates[1]->open();
  CHECK(tendril::joinall(group.tasks, tendril::clock::duration::max(), true));
  CHECK(group.tasks[0].killed());
}

TEST_CASE(
    "joinall with raise_error rethrows a failure that happened before the call "
    "(test__greenlet.py: test_wait_error)") {
  hub_check hub;
  auto failed = spawn([] { throw std::runtime_error("already failed"); });
  failed.join();
  CHECK_THROWS_WITH(tendril::joinall({failed}, tendril::clock::duration::max(), true), "already failed");
}

TEST_CASE("joinall inside an expired timeout scope raises timeout_error and the tasks go on") {
  hub_check hub;
  gated_tasks group(2);
  {
    tendril::timeout limit(1ms);
    CHECK_THROWS_AS(tendril::joinall(group.tasks), tendril::timeout_error);
  }
  group.open_all();
  CHECK(tendril::joinall(group.tasks));
}

TEST_CASE("a task killed while in joinall gets greenlet_exit there and the tasks go on") {
  hub_check hub;
  gated_tasks group(2);
  bool got_exit = false;
  auto joiner = spawn([&] {
    try {
      tendril::joinall(group.tasks);
    } catch (const tendril::greenlet_exit&) {
      got_exit = true;
      throw;
    }
  });
  tendril::yield();
  joiner.kill();
  CHECK(got_exit);
  group.open_all();  // finishing must not touch the dead joiner's listeners
  CHECK(tendril::joinall(group.tasks));
}

TEST_CASE("joinall, wait and iwait from a task in the list throw tendril::error naming it") {
  hub_check hub;
  std::vector<task_base> group;
  std::string joinall_error;
  std::string wait_error;
  std::string iwait_error;
  gate release;
  group.push_back(spawn([&] { release.wait(); }));
  group.push_back(spawn(spawn_options{"inside"}, [&] {
    try {
      tendril::joinall(group);
    } catch (const tendril::error& e) {
      joinall_error = e.what();
    }
    try {
      tendril::wait(group);
    } catch (const tendril::error& e) {
      wait_error = e.what();
    }
    try {
      tendril::iwait all(group);
    } catch (const tendril::error& e) {
      iwait_error = e.what();
    }
  }));
  group[1].join();
  release.open();
  group[0].join();
  std::string self = group[1].describe();
  CHECK_THAT(joinall_error, Catch::Contains(self));
  CHECK_THAT(wait_error, Catch::Contains(self));
  CHECK_THAT(iwait_error, Catch::Contains(self));
}

TEST_CASE("joinall given an empty task handle throws tendril::error") {
  hub_check hub;
  std::vector<task_base> group{spawn([] {}), task_base()};
  CHECK_THROWS_AS(tendril::joinall(group), tendril::error);
  group[0].join();
}

// --- wait -------------------------------------------------------------------

TEST_CASE("wait(tasks, count) returns count finished tasks, in completion order") {
  hub_check hub;
  gated_tasks group(4);
  auto releaser = group.release({2, 0, 3, 1});
  CHECK(names_of(tendril::wait(group.tasks, 2)) == names{"2", "0"});
  CHECK(names_of(tendril::wait(group.tasks, 3)) ==
        names{"0", "1", "2"});  // finished before the call: range order
  CHECK(tendril::joinall(group.tasks));
  releaser.join();
}

TEST_CASE("wait(tasks) waits for all and returns them in completion order") {
  hub_check hub;
  gated_tasks group(3);
  auto releaser = group.release({1, 2, 0});
  CHECK(names_of(tendril::wait(group.tasks)) == names{"1", "2", "0"});
  releaser.join();
}

TEST_CASE("wait with a count larger than the range waits for all") {
  hub_check hub;
  gated_tasks group(2);
  auto releaser = group.release({1, 0});
  CHECK(names_of(tendril::wait(group.tasks, 10)) == names{"1", "0"});
  releaser.join();
}

TEST_CASE("wait with a timeout returns the tasks finished so far") {
  hub_check hub;
  gated_tasks group(3);
  group.gates[1]->open();
  CHECK(names_of(tendril::wait(group.tasks, 0, 5ms)) == names{"1"});
  CHECK(tendril::wait(std::vector<task_base>{group.tasks[0]}, 0, 1ms).empty());
  group.open_all();
  CHECK(tendril::joinall(group.tasks));
}

TEST_CASE("wait inside an expired timeout scope raises timeout_error") {
  hub_check hub;
  gated_tasks group(2);
  {
    tendril::timeout limit(1ms);
    CHECK_THROWS_AS(tendril::wait(group.tasks), tendril::timeout_error);
  }
  group.open_all();
  CHECK(tendril::joinall(group.tasks));
}

TEST_CASE("a task killed while in wait gets greenlet_exit there") {
  hub_check hub;
  gated_tasks group(2);
  bool got_exit = false;
  auto waiter = spawn([&] {
    try {
      tendril::wait(group.tasks, 1);
    } catch (const tendril::greenlet_exit&) {
      got_exit = true;
      throw;
    }
  });
  tendril::yield();
  waiter.kill();
  CHECK(got_exit);
  group.open_all();
  CHECK(tendril::joinall(group.tasks));
}

// --- iwait ------------------------------------------------------------------

TEST_CASE("iwait yields the tasks in completion order") {
  hub_check hub;
  gated_tasks group(5);
  auto releaser = group.release({3, 1, 4, 0, 2});
  names order;
  for (task_base& t : tendril::iwait(group.tasks)) {
    CHECK(t.ready());
    order.push_back(t.name());
  }
  CHECK(order == names{"3", "1", "4", "0", "2"});
  releaser.join();
}

TEST_CASE("iwait yields each task as it finishes, while the others still run") {
  hub_check hub;
  gated_tasks group(3);
  tendril::iwait finishing(group.tasks);
  group.gates[2]->open();
  std::optional<task_base> first = finishing.next();
  REQUIRE(first);
  CHECK(first->name() == "2");
  CHECK_FALSE(group.tasks[0].ready());
  CHECK_FALSE(group.tasks[1].ready());
  group.gates[0]->open();
  std::optional<task_base> second = finishing.next();
  REQUIRE(second);
  CHECK(second->name() == "0");
  group.gates[1]->open();
  std::optional<task_base> third = finishing.next();
  REQUIRE(third);
  CHECK(third->name() == "1");
  CHECK_FALSE(finishing.next());
  CHECK_FALSE(finishing.next());
}

TEST_CASE("iwait yields tasks that finished before it first, in range order") {
  hub_check hub;
  gated_tasks group(3);
  group.gates[2]->open();
  group.gates[0]->open();
  tendril::yield();  // 2 then 0 finish
  tendril::iwait finishing(group.tasks);
  group.gates[1]->open();
  names order;
  for (task_base& t : finishing) order.push_back(t.name());
  CHECK(order == names{"0", "2", "1"});
}

TEST_CASE("iwait ends when its timeout passes") {
  hub_check hub;
  gated_tasks group(3);
  group.gates[1]->open();
  names order;
  for (task_base& t : tendril::iwait(group.tasks, 5ms)) order.push_back(t.name());
  CHECK(order == names{"1"});
  group.open_all();
  CHECK(tendril::joinall(group.tasks));
}

TEST_CASE("an iwait dropped half-way leaves nothing behind (test__iwait.py: test_iwait_nogarbage)") {
  hub_check hub;
  gated_tasks group(3);
  {
    tendril::iwait finishing(group.tasks);
    group.gates[1]->open();
    std::optional<task_base> first = finishing.next();
    REQUIRE(first);
    CHECK(first->name() == "1");
  }
  group.open_all();  // the others finish after the iwait is gone
  CHECK(tendril::joinall(group.tasks));
}

TEST_CASE("iwait inside an expired timeout scope raises timeout_error") {
  hub_check hub;
  gated_tasks group(2);
  {
    tendril::timeout limit(1ms);
    tendril::iwait finishing(group.tasks);
    CHECK_THROWS_AS(finishing.next(), tendril::timeout_error);
  }
  group.open_all();
  CHECK(tendril::joinall(group.tasks));
}

TEST_CASE("a task killed while in iwait gets greenlet_exit there") {
  hub_check hub;
  gated_tasks group(2);
  bool got_exit = false;
  auto waiter = spawn([&] {
    try {
      for (task_base& t : tendril::iwait(group.tasks)) (void)t;
    } catch (const tendril::greenlet_exit&) {
      got_exit = true;
      throw;
    }
  });
  tendril::yield();
  waiter.kill();
  CHECK(got_exit);
  group.open_all();
  CHECK(tendril::joinall(group.tasks));
}

// --- killall ----------------------------------------------------------------

TEST_CASE("killall kills every task, started or not (test__greenlet.py: TestKill test_block_killall)") {
  hub_check hub;
  gated_tasks started(3);
  tendril::yield();
  bool unstarted_ran = false;
  auto unstarted = spawn([&] { unstarted_ran = true; });
  std::vector<task_base> all(started.tasks.begin(), started.tasks.end());
  all.push_back(unstarted);
  tendril::killall(all);
  for (const task_base& t : all) {
    CHECK(t.ready());
    CHECK(t.killed());
  }
  tendril::yield();
  CHECK_FALSE(unstarted_ran);
}

TEST_CASE(
    "killall without blocking returns before the started tasks have died "
    "(test__greenlet.py: TestKill test_non_block_killall)") {
  hub_check hub;
  gated_tasks group(2);
  tendril::yield();
  tendril::killall(group.tasks, nullptr, /*block=*/false);
  CHECK_FALSE(group.tasks[0].ready());
  CHECK_FALSE(group.tasks[1].ready());
  CHECK(tendril::joinall(group.tasks));
  CHECK(group.tasks[0].killed());
  CHECK(group.tasks[1].killed());
}

TEST_CASE("killall with a custom exception raises it in every task") {
  hub_check hub;
  gated_tasks group(2);
  tendril::yield();
  tendril::killall(group.tasks, std::make_exception_ptr(std::runtime_error("all of you")));
  for (const auto& t : group.tasks) {
    CHECK_FALSE(t.killed());
    CHECK(what_of(t.exception()) == "all of you");
  }
}

TEST_CASE("killall with a timeout returns when it passes, leaving tasks that refuse to die") {
  hub_check hub;
  gate never;
  gate release;
  auto stubborn = spawn([&] {
    try {
      never.wait();
    } catch (const tendril::greenlet_exit&) {
    }
    release.wait();
  });
  auto meek = spawn([&] { never.wait(); });
  tendril::yield();
  tendril::killall(std::vector<task_base>{stubborn, meek}, nullptr, true, 5ms);
  CHECK(meek.killed());
  CHECK_FALSE(stubborn.ready());
  release.open();
  stubborn.join();
}

TEST_CASE("a task killed while in killall gets greenlet_exit there") {
  hub_check hub;
  gate never;
  gate release;
  auto stubborn = spawn([&] {
    try {
      never.wait();
    } catch (const tendril::greenlet_exit&) {
    }
    release.wait();
  });
  bool got_exit = false;
  auto killer = spawn([&] {
    try {
      tendril::killall(std::vector<task_base>{stubborn});
    } catch (const tendril::greenlet_exit&) {
      got_exit = true;
      throw;
    }
  });
  tendril::yield();
  tendril::yield();
  killer.kill();
  CHECK(got_exit);
  release.open();
  stubborn.join();
}

TEST_CASE("killall from a task in the list throws tendril::error naming it") {
  hub_check hub;
  gated_tasks others(2);
  std::vector<task_base> group(others.tasks.begin(), others.tasks.end());
  std::string killall_error;
  bool got_exit = false;
  group.push_back(spawn(spawn_options{"inside"}, [&] {
    try {
      tendril::killall(group);
    } catch (const tendril::error& e) {
      killall_error = e.what();
    } catch (const tendril::greenlet_exit&) {
      got_exit = true;
      throw;
    }
  }));
  task_base inside = group.back();
  inside.join();
  CHECK_FALSE(got_exit);
  CHECK_THAT(killall_error, Catch::Contains(inside.describe()));
  tendril::killall(others.tasks);
}
