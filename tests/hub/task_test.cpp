// Tasks: spawn, get, join, names, spawn_later and current_task. Ports cases
// of gevent's test__greenlet.py (TestJoin, TestGet, TestStuff, TestBasic);
// kills are in task_kill_test.cpp, links and failure reports in task_link_test.cpp.

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
using tendril::testing::parked_until;
using tendril::testing::unwind_flag;
using tendril::testing::what_of;
using strings = std::vector<std::string>;

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

TEST_CASE("a plain thread joins a task with a deadline and kills it") {
  hub_check hub;
  gate release;
  auto t = spawn(spawn_options{"homebody"}, [&] { release.wait(); });
  tendril::yield();
  bool joined_early = true;
  bool killed = false;
  // The main fiber waits for the thread remotely: only the thread can end it.
  tendril::waker main = tendril::waker::current();
  std::thread other([&] {
    joined_early = t.join_for(1ms);  // the task waits on a gate nobody opens: false
    killed = t.kill();               // handed to the task's hub, and waited for
    main.wake();
  });
  tendril::park({.what = "the other thread", .remote = true});
  other.join();
  CHECK_FALSE(joined_early);
  CHECK(killed);
  CHECK(t.killed());
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
