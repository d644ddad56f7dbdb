// Tasks: spawn, get, join, kill, link, names, spawn_later, current_task and
// the unobserved-failure report. Ports cases of gevent's test__greenlet.py
// (TestKill, TestKillWhileRunning, TestJoin, TestGet, TestStuff, TestBasic).

#include <chrono>
#include <exception>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include <tendril/error.hpp>
#include <tendril/fiber/greenlet.hpp>
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
using tendril::testing::stderr_capture;
using tendril::testing::what_of;
using strings = std::vector<std::string>;

// Sets a flag when destroyed: proves a task's stack was unwound.
struct unwind_flag {
  bool& flag;
  ~unwind_flag() { flag = true; }
};

// A task body that parks until `g` opens and records how it ended.
struct parked_until {
  gate& g;
  bool& unwound;
  void operator()() const {
    unwind_flag f{unwound};
    g.wait();
  }
};

// Copies and moves of a value, counted.
struct counted {
  int* copies;
  int* moves;
  counted(int* c, int* m) : copies(c), moves(m) {}
  counted(const counted& o) : copies(o.copies), moves(o.moves) { ++*copies; }
  counted(counted&& o) noexcept : copies(o.copies), moves(o.moves) { ++*moves; }
};

}  // namespace

// --- spawning and results ---------------------------------------------------

TEST_CASE("spawn does not run the task until the spawner yields") {
  hub_check hub;
  bool ran = false;
  auto t = spawn([&] { ran = true; });
  CHECK_FALSE(ran);
  CHECK_FALSE(t.ready());
  tendril::yield();
  CHECK(ran);
  CHECK(t.ready());
}

TEST_CASE("spawn does not run the task until the spawner parks") {
  hub_check hub;
  strings order;
  auto t = spawn([&] { order.push_back("task"); });
  order.push_back("spawner");
  t.join();
  CHECK(order == strings{"spawner", "task"});
}

TEST_CASE("tasks start in the order they were spawned") {
  hub_check hub;
  strings order;
  std::vector<task<void>> tasks;
  for (const char* name : {"a", "b", "c", "d", "e"})
    tasks.push_back(spawn([&order, name] { order.push_back(name); }));
  for (auto& t : tasks) t.join();
  CHECK(order == strings{"a", "b", "c", "d", "e"});
}

TEST_CASE("a task spawned by a task starts after its spawner parks") {
  hub_check hub;
  strings order;
  task<void> child;
  auto parent = spawn([&] {
    child = spawn([&] { order.push_back("child"); });
    order.push_back("parent before yield");
    tendril::yield();
    order.push_back("parent after yield");
  });
  parent.join();
  child.join();
  CHECK(order == strings{"parent before yield", "child", "parent after yield"});
}

TEST_CASE("get returns the task's value") {
  hub_check hub;
  auto t = spawn([](int x, const std::string& s) { return s + std::to_string(x * 2); }, 21,
                 std::string("answer "));
  CHECK(t.get() == "answer 42");
  CHECK(t.get() == "answer 42");  // copyable values: every get() has it
  CHECK(t.successful());
}

TEST_CASE("get of a void task returns once it has finished") {
  hub_check hub;
  bool ran = false;
  auto t = spawn([&] { ran = true; });
  t.get();
  CHECK(ran);
}

TEST_CASE("get rethrows the task's exception, keeping its message (test__greenlet.py: test_error_exit)") {
  hub_check hub;
  auto t = spawn([]() -> int {
    tendril::yield();
    throw std::runtime_error("expected error");
  });
  CHECK_THROWS_AS(t.get(), std::runtime_error);
  CHECK_THROWS_WITH(t.get(), "expected error");
  CHECK(t.ready());
  CHECK_FALSE(t.successful());
  CHECK_FALSE(t.killed());
  CHECK(what_of(t.exception()) == "expected error");
}

TEST_CASE("get rethrows exceptions of any type") {
  hub_check hub;
  struct not_std {
    int code;
  };
  auto t = spawn([] { throw not_std{3}; });
  try {
    t.get();
    FAIL("get returned");
  } catch (const not_std& e) {
    CHECK(e.code == 3);
  }
}

TEST_CASE("get of a killed task throws task_killed naming the task") {
  hub_check hub;
  gate never;
  bool unwound = false;
  auto t = spawn(spawn_options{"victim"}, parked_until{never, unwound});
  tendril::yield();
  t.kill();
  try {
    t.get();
    FAIL("get returned");
  } catch (const tendril::task_killed& e) {
    CHECK_THAT(e.what(), Catch::Contains(t.describe()));
    CHECK_THAT(e.what(), Catch::Contains("killed"));
  }
  CHECK_THROWS_AS(t.get(), tendril::error);  // task_killed is a tendril::error
}

TEST_CASE("get moves a move-only value out: a second get throws tendril::error") {
  hub_check hub;
  auto t = spawn([] { return std::make_unique<int>(5); });
  std::unique_ptr<int> first = t.get();
  REQUIRE(first != nullptr);
  CHECK(*first == 5);
  CHECK_THROWS_WITH(t.get(), Catch::Contains(t.describe()) && Catch::Contains("moved out"));
}

// spawn(f, p) with a move-only p: true when spawn accepts it (std::thread does).
template <class MoveOnly>
constexpr bool spawn_accepts_move_only = requires(MoveOnly p) {
  tendril::spawn([](MoveOnly) {}, std::move(p));
};

// Runs the move-only half of the next test once spawn accepts such arguments;
// compile/spawn_move_only_argument.cpp is the test that fails meanwhile.
template <class MoveOnly>
void check_move_only_argument() {
  if constexpr (spawn_accepts_move_only<MoveOnly>) {
    MoveOnly owner = std::make_unique<int>(9);
    auto moved = spawn([](MoveOnly p) { return *p; }, std::move(owner));
    CHECK(owner == nullptr);
    CHECK(moved.get() == 9);
  } else {
    FAIL_CHECK("spawn rejects a move-only argument that std::thread accepts");
  }
}

TEST_CASE("arguments are copied or moved into the task, as std::thread does") {
  hub_check hub;
  std::string text = "original";
  auto copy_of_lvalue = spawn([](std::string s) { return s; }, text);
  text = "changed after spawn";
  CHECK(copy_of_lvalue.get() == "original");

  int copies = 0;
  int moves = 0;
  counted value(&copies, &moves);
  auto counting = spawn([](counted) {}, value);
  counting.join();
  CHECK(copies == 1);  // the one copy into the task; the rest are moves

  copies = moves = 0;
  auto moving = spawn([](counted) {}, counted(&copies, &moves));
  moving.join();
  CHECK(copies == 0);

  check_move_only_argument<std::unique_ptr<int>>();
}

TEST_CASE("a task's callable and captures are released when it finishes") {
  hub_check hub;
  auto resource = std::make_shared<int>(1);
  auto succeeded = spawn([r = resource] { return *r; });
  auto failed = spawn([r = resource]() -> int { throw std::runtime_error("failed holding it"); });
  succeeded.join();
  failed.join();
  CHECK(resource.use_count() == 1);  // the handles are still alive; the captures are gone
  CHECK(succeeded.get() == 1);
  CHECK(failed.exception() != nullptr);
}

TEST_CASE(
    "ready, successful, killed and exception through a task's life (test__greenlet.py: test_simple_exit)") {
  hub_check hub;
  gate release;
  auto t = spawn([&] {
    release.wait();
    return 5;
  });
  CHECK_FALSE(t.ready());
  CHECK_FALSE(t.successful());
  CHECK_FALSE(t.killed());
  CHECK(t.exception() == nullptr);
  tendril::yield();  // started, parked
  CHECK_FALSE(t.ready());
  CHECK(t.exception() == nullptr);
  release.open();
  t.join();
  CHECK(t.ready());
  CHECK(t.successful());
  CHECK_FALSE(t.killed());
  CHECK(t.exception() == nullptr);
  CHECK(t.get() == 5);
}

// --- join -------------------------------------------------------------------

TEST_CASE("join_for returns false while the task runs, then true (test__greenlet.py: TestJoin)") {
  hub_check hub;
  gate release;
  auto t = spawn([&] { release.wait(); });
  CHECK_FALSE(t.join_for(1ms));
  CHECK_FALSE(t.join_until(tendril::clock::now() - 1s));
  CHECK_FALSE(t.ready());
  release.open();
  CHECK(t.join_for(1h));
  CHECK(t.ready());
  CHECK(t.join_for(0ms));  // finished: at once
}

TEST_CASE("join does not rethrow the task's exception") {
  hub_check hub;
  auto t = spawn([] { throw std::runtime_error("not rethrown by join"); });
  CHECK_NOTHROW(t.join());
  CHECK(what_of(t.exception()) == "not rethrown by join");
}

TEST_CASE("a task joining itself throws tendril::error naming it") {
  hub_check hub;
  std::string join_error;
  std::string get_error;
  task<void> t;
  t = spawn(spawn_options{"narcissus"}, [&] {
    try {
      t.join();
    } catch (const tendril::error& e) {
      join_error = e.what();
    }
    try {
      t.get();
    } catch (const tendril::error& e) {
      get_error = e.what();
    }
  });
  t.join();
  CHECK_THAT(join_error, Catch::Contains(t.describe()) && Catch::Contains("itself"));
  CHECK_THAT(get_error, Catch::Contains(t.describe()) && Catch::Contains("itself"));
}

TEST_CASE("join inside an expired timeout scope raises timeout_error and the task goes on") {
  hub_check hub;
  gate release;
  auto t = spawn([&] { release.wait(); });
  {
    tendril::timeout limit(1ms);
    CHECK_THROWS_AS(t.join(), tendril::timeout_error);
  }
  CHECK_FALSE(t.ready());
  release.open();
  t.join();
  CHECK(t.successful());
}

TEST_CASE("get inside an expired timeout scope raises timeout_error (test__greenlet.py: TestGet)") {
  hub_check hub;
  gate release;
  auto t = spawn([&] {
    release.wait();
    return 1;
  });
  {
    tendril::timeout limit(1ms);
    CHECK_THROWS_AS(t.get(), tendril::timeout_error);
  }
  release.open();
  CHECK(t.get() == 1);
}

TEST_CASE("a task killed while joining another gets greenlet_exit there and the other is unaffected") {
  hub_check hub;
  gate release;
  auto target = spawn([&] {
    release.wait();
    return 3;
  });
  bool got_exit = false;
  auto joiner = spawn([&] {
    try {
      target.join();
    } catch (const tendril::greenlet_exit&) {
      got_exit = true;
      throw;
    }
  });
  tendril::yield();  // both parked
  joiner.kill();
  CHECK(got_exit);
  CHECK(joiner.killed());
  CHECK_FALSE(target.ready());
  release.open();  // its finish must not touch the dead joiner's listener
  CHECK(target.get() == 3);
}

TEST_CASE("a task killed while in get gets greenlet_exit there") {
  hub_check hub;
  gate release;
  auto target = spawn([&] {
    release.wait();
    return 3;
  });
  bool got_exit = false;
  auto getter = spawn([&] {
    try {
      return target.get();
    } catch (const tendril::greenlet_exit&) {
      got_exit = true;
      throw;
    }
  });
  tendril::yield();
  getter.kill();
  CHECK(got_exit);
  CHECK(getter.killed());
  release.open();
  CHECK(target.get() == 3);
}

TEST_CASE("joining a task from another thread throws tendril::error naming the task") {
  hub_check hub;
  gate release;
  auto t = spawn(spawn_options{"homebody"}, [&] { release.wait(); });
  tendril::yield();
  std::string join_error;
  std::string kill_error;
  std::thread other([&] {
    try {
      t.join();
    } catch (const tendril::error& e) {
      join_error = e.what();
    }
    try {
      t.kill();
    } catch (const tendril::error& e) {
      kill_error = e.what();
    }
  });
  other.join();
  CHECK_THAT(join_error, Catch::Contains(t.describe()) && Catch::Contains("thread"));
  CHECK_THAT(kill_error, Catch::Contains(t.describe()) && Catch::Contains("thread"));
  release.open();
  t.join();
}

TEST_CASE("an empty task handle throws tendril::error when used") {
  hub_check hub;
  task_base empty;
  CHECK(empty.empty());
  CHECK_THROWS_AS(empty.join(), tendril::error);
  CHECK_THROWS_AS(empty.ready(), tendril::error);
  CHECK_THROWS_AS(empty.kill(), tendril::error);
  CHECK_THROWS_WITH(empty.describe(), Catch::Contains("empty task handle"));
  auto t = spawn([] {});
  task<void> moved = std::move(t);
  CHECK(t.empty());  // NOLINT: checking the moved-from state
  CHECK_THROWS_AS(t.join(), tendril::error);
  moved.join();
}

// --- kill -------------------------------------------------------------------

TEST_CASE("killing an unstarted task: it never runs and killed() is true (test__greenlet.py: TestKill)") {
  hub_check hub;
  bool block = GENERATE(true, false);
  bool ran = false;
  int links = 0;
  auto t = spawn([&] { ran = true; });
  t.link([&](const task_base& finished) {
    ++links;
    CHECK(finished == t);
  });
  CHECK(t.kill(nullptr, block));  // dies without running, even without blocking
  CHECK(t.ready());
  CHECK(t.killed());
  CHECK_FALSE(t.successful());
  CHECK(links == 1);
  tendril::sleep(1ms);  // spin the loop: it must not run
  CHECK_FALSE(ran);
  CHECK(t.kill(nullptr, block));  // a second kill does nothing
  CHECK(t.killed());
  CHECK(links == 1);
  CHECK_THROWS_AS(t.get(), tendril::task_killed);
}

TEST_CASE("killing a parked task unwinds it: its destructors run (test__greenlet.py: TestKillWhileRunning)") {
  hub_check hub;
  gate never;
  bool unwound = false;
  bool after_wait = false;
  auto t = spawn([&] {
    parked_until{never, unwound}();
    after_wait = true;
  });
  tendril::yield();
  CHECK_FALSE(unwound);
  CHECK(t.kill());
  CHECK(unwound);
  CHECK_FALSE(after_wait);
  CHECK(t.killed());
  CHECK(t.ready());
  CHECK_FALSE(t.successful());
  CHECK(what_of(t.exception()) == "greenlet_exit");
}

TEST_CASE("killing a finished task does nothing and returns true") {
  hub_check hub;
  auto t = spawn([] { return 1; });
  t.join();
  CHECK(t.kill());
  CHECK(t.successful());
  CHECK_FALSE(t.killed());
  CHECK(t.get() == 1);
}

TEST_CASE("kill with a custom exception: exception() holds that exception") {
  hub_check hub;
  gate never;
  bool unwound = false;
  auto t = spawn(parked_until{never, unwound});
  tendril::yield();
  CHECK(t.kill(std::make_exception_ptr(std::runtime_error("custom kill"))));
  CHECK(unwound);
  CHECK(t.ready());
  CHECK_FALSE(t.killed());  // killed() is for greenlet_exit only
  CHECK_FALSE(t.successful());
  CHECK(what_of(t.exception()) == "custom kill");
  CHECK_THROWS_WITH(t.get(), "custom kill");
}

TEST_CASE("kill of an unstarted task with a custom exception: it never runs and holds that exception") {
  hub_check hub;
  bool ran = false;
  auto t = spawn([&] { ran = true; });
  CHECK(t.kill(std::make_exception_ptr(std::runtime_error("custom kill"))));
  tendril::yield();
  CHECK_FALSE(ran);
  CHECK_FALSE(t.killed());
  CHECK(what_of(t.exception()) == "custom kill");
}

TEST_CASE(
    "kill without blocking returns before the task has died (test__greenlet.py: TestKill test_non_block)") {
  hub_check hub;
  gate never;
  bool unwound = false;
  auto t = spawn(parked_until{never, unwound});
  tendril::yield();
  CHECK_FALSE(t.kill(nullptr, /*block=*/false));
  CHECK_FALSE(t.ready());
  CHECK_FALSE(unwound);
  t.join();
  CHECK(unwound);
  CHECK(t.killed());
}

TEST_CASE("a task that catches greenlet_exit goes on and finishes normally") {
  hub_check hub;
  gate never;
  int caught = 0;
  auto t = spawn([&] {
    try {
      never.wait();
    } catch (const tendril::greenlet_exit&) {
      ++caught;
    }
    tendril::yield();     // the exception is raised once per kill:
    tendril::sleep(1ms);  // later parks do not raise it again
    return 17;
  });
  tendril::yield();
  CHECK(t.kill());  // blocks until it has finished
  CHECK(caught == 1);
  CHECK(t.ready());
  CHECK(t.successful());
  CHECK_FALSE(t.killed());
  CHECK(t.get() == 17);
}

TEST_CASE("kill with a timeout returns false when the task refuses to die in time") {
  hub_check hub;
  gate never;
  gate release;
  bool caught = false;
  auto stubborn = spawn([&] {
    try {
      never.wait();
    } catch (const tendril::greenlet_exit&) {
      caught = true;
    }
    release.wait();
  });
  tendril::yield();
  CHECK_FALSE(stubborn.kill(nullptr, true, 1ms));
  CHECK(caught);
  CHECK_FALSE(stubborn.ready());
  CHECK(stubborn.kill());  // a second kill raises again, at its new park
  CHECK(stubborn.killed());
}

TEST_CASE("a killer killed while waiting in kill gets greenlet_exit there") {
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
  bool killer_got_exit = false;
  auto killer = spawn([&] {
    try {
      stubborn.kill();
    } catch (const tendril::greenlet_exit&) {
      killer_got_exit = true;
      throw;
    }
  });
  tendril::yield();  // stubborn parks; killer kills it and waits
  tendril::yield();  // stubborn catches and parks again
  CHECK_FALSE(killer.ready());
  killer.kill();
  CHECK(killer_got_exit);
  CHECK(killer.killed());
  release.open();
  stubborn.join();
  CHECK(stubborn.successful());
}

TEST_CASE("a task killing itself raises at once") {
  hub_check hub;
  bool raised = false;
  bool went_on = false;
  auto t = spawn([&] {
    try {
      tendril::current_task().kill();
    } catch (const tendril::greenlet_exit&) {
      raised = true;
      throw;
    }
    went_on = true;
  });
  t.join();
  CHECK(raised);
  CHECK_FALSE(went_on);
  CHECK(t.killed());

  std::string custom;
  auto c = spawn([&] {
    try {
      tendril::current_task().kill(std::make_exception_ptr(std::runtime_error("suicide note")));
    } catch (const std::runtime_error& e) {
      custom = e.what();
    }
    return 2;
  });
  CHECK(c.get() == 2);
  CHECK(custom == "suicide note");
}

// --- link -------------------------------------------------------------------

TEST_CASE("link runs once, after the task finished, with the task (test__greenlet.py: test_simple_exit)") {
  hub_check hub;
  gate release;
  std::vector<task_base> linked;
  bool was_ready = false;
  auto t = spawn([&] {
    release.wait();
    return 4;
  });
  t.link([&](const task_base& finished) {
    linked.push_back(finished);
    was_ready = finished.ready();
  });
  tendril::yield();
  CHECK(linked.empty());
  release.open();
  t.join();
  REQUIRE(linked.size() == 1);
  CHECK(linked[0] == t);
  CHECK(was_ready);
  tendril::sleep(1ms);
  CHECK(linked.size() == 1);
  CHECK(t.get() == 4);
}

TEST_CASE("link on a finished task runs at once") {
  hub_check hub;
  auto t = spawn([] { return 1; });
  t.join();
  int runs = 0;
  t.link([&](const task_base&) { ++runs; });
  CHECK(runs == 1);
}

TEST_CASE("unlink stops a link (test__greenlet.py: TestUnlink)") {
  hub_check hub;
  int runs = 0;
  auto t = spawn([] {});
  auto id = t.link([&](const task_base&) { ++runs; });
  auto other = t.link([&](const task_base&) { runs += 10; });
  CHECK(t.unlink(id));
  CHECK_FALSE(t.unlink(id));  // gone already
  t.join();
  CHECK(runs == 10);
  CHECK_FALSE(t.unlink(other));  // it has run
}

TEST_CASE("links run in the order they were added, for failed and killed tasks too") {
  hub_check hub;
  strings order;
  auto failing = spawn([]() { throw std::runtime_error("linked failure"); });
  failing.link([&](const task_base&) { order.push_back("first"); });
  failing.link([&](const task_base& t) { order.push_back("second: " + what_of(t.exception())); });
  failing.join();
  CHECK(order == strings{"first", "second: linked failure"});

  order.clear();
  gate never;
  bool unwound = false;
  auto killed = spawn(parked_until{never, unwound});
  killed.link([&](const task_base& t) { order.push_back(t.killed() ? "killed" : "not killed"); });
  tendril::yield();
  killed.kill();
  CHECK(order == strings{"killed"});
}

TEST_CASE(
    "a link that throws goes to the error handler and the other links still run "
    "(test__greenlet.py: test_multiple_listeners_error)") {
  hub_check hub;
  strings results;
  auto t = spawn([] { return 5; });
  t.link([&](const task_base&) {
    results.push_back("listener1");
    throw std::runtime_error("listener1 failed");
  });
  t.link([&](const task_base&) { results.push_back("listener2"); });
  t.join();
  CHECK(results == strings{"listener1", "listener2"});
  auto reported = hub.take_reported();
  REQUIRE(reported.size() == 1);
  CHECK(reported[0].task_id == t.id());
  CHECK(reported[0].what == "listener1 failed");
}

TEST_CASE("a link that throws on an already finished task goes to the error handler too") {
  hub_check hub;
  auto t = spawn([] { return 1; });
  t.join();
  CHECK_NOTHROW(t.link([](const task_base&) { throw std::runtime_error("late listener failed"); }));
  auto reported = hub.take_reported();
  REQUIRE(reported.size() == 1);
  CHECK(reported[0].task_id == t.id());
  CHECK(reported[0].what == "late listener failed");
}

TEST_CASE(
    "a link that unlinks a later one stops it, even though notification has begun "
    "(test__greenlet.py: test_multiple_listeners_error_unlink)") {
  hub_check hub;
  std::vector<int> results;
  auto t = spawn([] { return 5; });
  task_base::link_id second = 0;
  t.link([&](const task_base& finished) {
    results.push_back(1);
    CHECK(finished.unlink(second));
  });
  second = t.link([&](const task_base&) { results.push_back(2); });
  t.join();
  CHECK(results == std::vector<int>{1});
}

TEST_CASE("a failure whose only link was removed before it finished is still reported") {
  hub_check hub;
  gate release;
  std::uint64_t id = 0;
  {
    auto t = spawn([&] {
      release.wait();
      throw std::runtime_error("unlinked, unobserved");
    });
    id = t.id();
    CHECK(t.unlink(t.link([](const task_base&) {})));
  }
  release.open();
  tendril::yield();
  auto reported = hub.take_reported();
  REQUIRE(reported.size() == 1);
  CHECK(reported[0].task_id == id);
  CHECK(reported[0].what == "unlinked, unobserved");
}

// --- names, ids, describe ---------------------------------------------------

TEST_CASE("names, ids and describe") {
  hub_check hub;
  auto named = spawn(spawn_options{"worker"}, [] {});
  auto unnamed = spawn([] {});
  CHECK(named.name() == "worker");
  CHECK(unnamed.name().empty());
  CHECK(named.id() != unnamed.id());
  CHECK(named.id() == named.greenlet().id());
  CHECK(named.describe() == "task " + std::to_string(named.id()) + " \"worker\"");
  CHECK(unnamed.describe() == "task " + std::to_string(unnamed.id()));
  named.set_name("renamed");
  CHECK(named.name() == "renamed");
  CHECK(named.describe() == "task " + std::to_string(named.id()) + " \"renamed\"");
  CHECK(named.greenlet().name() == "renamed");
  named.join();
  unnamed.join();
  CHECK(named.describe() == "task " + std::to_string(named.id()) + " \"renamed\"");  // still, once finished
}

TEST_CASE("greenlet() is the greenlet the task runs on") {
  hub_check hub;
  tendril::greenlet inside;
  auto t = spawn([&] { inside = tendril::greenlet::current(); });
  t.join();
  CHECK(inside == t.greenlet());
  CHECK(t.greenlet().dead());
}

TEST_CASE("spawn_options.stack_size sizes the task's stack") {
  hub_check hub;
  std::size_t inside = 0;
  auto t =
      spawn(spawn_options{"small", 64 * 1024}, [&] { inside = tendril::greenlet::current().stack_size(); });
  t.join();
  CHECK(inside >= 64 * 1024);
  CHECK(inside < tendril::default_stack_size());
}

TEST_CASE("current_task is the running task, and empty outside any task") {
  hub_check hub;
  CHECK(tendril::current_task().empty());
  task_base seen;
  auto t = spawn([&] {
    tendril::yield();
    seen = tendril::current_task();
  });
  t.join();
  CHECK(seen == t);
  CHECK(tendril::current_task().empty());

  bool plain_saw_empty = false;
  auto host = spawn([&] {  // a plain greenlet inside a task is not a task
    tendril::greenlet([&] { plain_saw_empty = tendril::current_task().empty(); }).switch_to();
  });
  host.join();
  CHECK(plain_saw_empty);
}

// --- spawn_later ------------------------------------------------------------

TEST_CASE("spawn_later starts the task later: after a task spawned plainly afterwards") {
  hub_check hub;
  strings order;
  auto later = tendril::spawn_later(10ms, [&] { order.push_back("later"); });
  auto now = spawn([&] { order.push_back("now"); });
  tendril::yield();
  CHECK(order == strings{"now"});
  later.join();
  now.join();
  CHECK(order == strings{"now", "later"});
}

TEST_CASE("spawn_later passes its arguments and returns a typed task") {
  hub_check hub;
  auto t = tendril::spawn_later(
      1ms, [](int a, int b) { return a + b; }, 2, 3);
  CHECK(t.get() == 5);
}

TEST_CASE("killing a spawn_later task before it starts cancels it (test__greenlet.py: test_kill_scheduled)") {
  hub_check hub;
  bool ran = false;
  auto t = tendril::spawn_later(5ms, [&] { ran = true; });
  CHECK(tendril::this_hub_stats().watchers == 1);
  CHECK(t.kill());
  CHECK(t.killed());
  CHECK(tendril::this_hub_stats().watchers == 0);  // its start timer is gone
  tendril::sleep(20ms);                            // past its start time
  CHECK_FALSE(ran);
}

// --- fire and forget, and unobserved failures -------------------------------

TEST_CASE("a fire-and-forget task (its handle dropped at once) runs to completion") {
  hub_check hub;
  gate finished;
  strings steps;
  spawn([&] {
    steps.push_back("started");
    tendril::sleep(1ms);
    tendril::yield();
    steps.push_back("done");
    finished.open();
  });
  finished.wait();
  tendril::yield();  // let it return
  CHECK(steps == strings{"started", "done"});
}

TEST_CASE("an unobserved failure reaches the error handler once, with the task and its exception") {
  hub_check hub;
  gate finished;
  std::uint64_t id = 0;
  {
    auto t = spawn(spawn_options{"doomed"}, [&] {
      finished.open();
      throw std::runtime_error("nobody looked");
    });
    id = t.id();
  }  // dropped before it finished: the hub reports it when it does
  finished.wait();
  tendril::yield();
  auto reported = hub.take_reported();
  REQUIRE(reported.size() == 1);
  CHECK(reported[0].task_id == id);
  CHECK(reported[0].task_name == "doomed");
  CHECK(reported[0].what == "nobody looked");
  CHECK_THROWS_WITH(std::rethrow_exception(reported[0].error), "nobody looked");
  tendril::sleep(1ms);
  CHECK(hub.take_reported().empty());
}

TEST_CASE("an unobserved failure is reported when its last handle is dropped, not before") {
  hub_check hub;
  auto t = spawn(spawn_options{"kept"}, [] { throw std::runtime_error("reported late"); });
  t.join();  // join does not observe the outcome
  auto copy = t;
  t = {};
  CHECK(hub.take_reported().empty());
  std::uint64_t id = copy.id();
  copy = {};
  auto reported = hub.take_reported();
  REQUIRE(reported.size() == 1);
  CHECK(reported[0].task_id == id);
  CHECK(reported[0].what == "reported late");
}

TEST_CASE("an observed failure (get, exception, link) is not reported") {
  hub_check hub;
  auto failing = [] { throw std::runtime_error("observed"); };
  {
    auto by_get = spawn(failing);
    CHECK_THROWS(by_get.get());
    auto by_exception = spawn(failing);
    by_exception.join();
    CHECK(by_exception.exception() != nullptr);
    auto by_link = spawn(failing);
    by_link.link([](const task_base&) {});
    by_link.join();
  }
  CHECK(hub.take_reported().empty());
}

TEST_CASE("killed tasks are not failures: nothing is reported") {
  hub_check hub;
  gate never;
  bool unwound = false;
  {
    auto started = spawn(parked_until{never, unwound});
    auto unstarted = spawn([] {});
    tendril::yield();
    unstarted.kill();
    started.kill();
  }
  CHECK(hub.take_reported().empty());
}

TEST_CASE("the default error handler prints the task's name, id and error to stderr") {
  hub_check hub;
  auto fixture_handler = tendril::set_task_error_handler({});  // back to the default
  stderr_capture captured;
  std::uint64_t id = 0;
  {
    auto t = spawn(spawn_options{"printer"}, [] { throw std::runtime_error("printed failure"); });
    t.join();
    id = t.id();
  }
  std::string text = captured.finish();
  tendril::set_task_error_handler(std::move(fixture_handler));
  CHECK_THAT(text,
             Catch::Contains("task \"printer\" (id " + std::to_string(id) + ") failed: printed failure\n"));
}

TEST_CASE("set_task_error_handler returns the previous handler") {
  hub_check hub;
  int mine = 0;
  auto previous = tendril::set_task_error_handler([&](const task_base&, std::exception_ptr) { ++mine; });
  REQUIRE(previous);
  spawn([] { throw std::runtime_error("to mine"); }).join();
  CHECK(mine == 1);
  auto restored = tendril::set_task_error_handler(std::move(previous));
  REQUIRE(restored);
  spawn([] { throw std::runtime_error("to the fixture's"); }).join();
  CHECK(mine == 1);
  CHECK(hub.take_reported().size() == 1);
}
