// group: spawning into it, tasks leaving it when they finish, add and
// discard, join (timeouts, raise_error, "at least once", kills), kill
// (block, timeouts, tasks added meanwhile) and misuse. Ports the Group cases
// of gevent's test__pool.py (TestJoinEmpty, TestJoinSleep,
// TestJoinSleep_raise_error, PoolBasicTests.test_discard and
// test_add_method, TestPool.test_terminate); pool-only cases are in
// pool_test.cpp.

#include <chrono>
#include <exception>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include <tendril/error.hpp>
#include <tendril/hub/join.hpp>
#include <tendril/hub/sleep.hpp>
#include <tendril/hub/task.hpp>
#include <tendril/hub/timeout.hpp>
#include <tendril/sync/group.hpp>

#include "support/hub_fixture.hpp"

namespace {

using namespace std::chrono_literals;
using tendril::group;
using tendril::spawn;
using tendril::spawn_options;
using tendril::task;
using tendril::task_base;
using tendril::testing::gate;
using tendril::testing::hub_check;
using tendril::testing::parked_until;
using tendril::testing::unwind_flag;
using strings = std::vector<std::string>;

struct expected_failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace

// --- membership -------------------------------------------------------------

TEST_CASE("spawn adds the task, and each task leaves the group by itself when it finishes") {
  hub_check hub;
  group crawlers("crawlers");
  gate first_done, second_done;
  auto first = crawlers.spawn([&] { first_done.wait(); });
  auto second = crawlers.spawn([&] {
    second_done.wait();
    return 2;
  });
  CHECK(crawlers.size() == 2);
  CHECK(crawlers.contains(first));
  CHECK(crawlers.contains(second));
  CHECK(crawlers.tasks() == std::vector<task_base>{first, second});
  second_done.open();
  CHECK(second.get() == 2);
  CHECK(crawlers.size() == 1);
  CHECK_FALSE(crawlers.contains(second));
  CHECK(crawlers.tasks() == std::vector<task_base>{first});
  first_done.open();
  first.join();
  CHECK(crawlers.empty());
  CHECK(crawlers.describe() == "group \"crawlers\"");
}

TEST_CASE("a failed task leaves the group too, and its failure is reported when nobody observes it") {
  hub_check hub;
  group g;
  auto t = g.spawn(spawn_options{"doomed"}, [] { throw expected_failure("boom"); });
  t.join();
  CHECK(g.empty());
  t = {};
  auto reported = hub.take_reported();
  REQUIRE(reported.size() == 1);
  CHECK(reported[0].task_name == "doomed");
  CHECK(reported[0].what == "boom");
}

TEST_CASE("a task killed before it started leaves the group without running") {
  hub_check hub;
  group g;
  bool ran = false;
  auto t = g.spawn([&] { ran = true; });
  CHECK(t.kill());
  CHECK(g.empty());
  CHECK_FALSE(ran);
  CHECK(t.killed());
}

TEST_CASE("add takes in a task spawned elsewhere until it finishes (test__pool.py: test_add_method)") {
  hub_check hub;
  group g;
  gate done;
  bool unwound = false;
  auto t = spawn(parked_until{done, unwound});
  CHECK(g.add(t));
  CHECK_FALSE(g.add(t));  // already in
  CHECK(g.size() == 1);
  CHECK(g.contains(t));
  done.open();
  t.join();
  CHECK(g.empty());
  CHECK_FALSE(g.add(t));  // finished: not added
  CHECK(g.empty());
}

TEST_CASE("discard takes a task out without touching it (test__pool.py: test_discard)") {
  hub_check hub;
  group g;
  gate done;
  bool unwound = false;
  auto spawned = g.spawn(parked_until{done, unwound});
  auto added = spawn(parked_until{done, unwound});
  g.add(added);
  CHECK(g.discard(spawned));
  CHECK_FALSE(g.discard(spawned));
  CHECK(g.discard(added));
  CHECK(g.empty());
  CHECK(g.join(0s));
  tendril::yield();
  CHECK_FALSE(spawned.ready());  // still running, outside the group
  CHECK_FALSE(added.ready());
  done.open();
  tendril::joinall({spawned, added});
  CHECK(spawned.successful());
  CHECK(added.successful());
  CHECK(g.empty());
}

TEST_CASE("a group destroyed while its tasks run leaves them running, and they never touch it again") {
  hub_check hub;
  gate done;
  bool unwound = false;
  task<void> spawned, added;
  {
    group g("short-lived");
    spawned = g.spawn(parked_until{done, unwound});
    added = spawn(parked_until{done, unwound});
    g.add(added);
    tendril::yield();
  }
  done.open();  // under ASan, a task touching the dead group fails here
  tendril::joinall({spawned, added});
  CHECK(spawned.successful());
  CHECK(added.successful());
}

// --- join ---------------------------------------------------------------------

TEST_CASE("join on an empty group returns true at once, without switching (test__pool.py: TestJoinEmpty)") {
  hub_check hub;
  group g;
  bool other_ran = false;
  auto other = spawn([&] { other_ran = true; });
  CHECK(g.join());
  CHECK_FALSE(other_ran);
  other.join();
}

TEST_CASE("join waits until every task has finished") {
  hub_check hub;
  group g;
  strings finished;
  std::vector<gate> gates(3);
  for (int i = 0; i < 3; ++i)
    g.spawn([&, i] {
      gates[i].wait();
      finished.push_back(std::to_string(i));
    });
  auto opener = spawn([&] {
    for (int i = 2; i >= 0; --i) {
      gates[i].open();
      tendril::yield();
    }
  });
  CHECK(g.join());
  CHECK(finished == strings{"2", "1", "0"});
  CHECK(g.empty());
  opener.join();
}

TEST_CASE(
    "join returns false once the timeout passes while a task still runs (test__pool.py: TestJoinSleep)") {
  hub_check hub;
  group g;
  gate done;
  bool unwound = false;
  auto t = g.spawn(parked_until{done, unwound});
  CHECK_FALSE(g.join(10ms));
  CHECK_FALSE(g.join_until(tendril::clock::now() - 1s));
  CHECK(g.size() == 1);
  done.open();
  CHECK(g.join());
}

TEST_CASE(
    "join with raise_error that times out still returns false (test__pool.py: TestJoinSleep_raise_error)") {
  hub_check hub;
  group g;
  gate done;
  bool unwound = false;
  g.spawn(parked_until{done, unwound});
  CHECK_FALSE(g.join(10ms, /*raise_error=*/true));
  CHECK(g.kill());
  CHECK(unwound);
}

TEST_CASE("join with raise_error rethrows the first failure in the order the tasks were added") {
  hub_check hub;
  group g;
  gate second_fails, first_fails;
  auto ok = g.spawn([] { return 1; });
  auto first = g.spawn([&] {
    first_fails.wait();
    throw expected_failure("first");
  });
  auto second = g.spawn([&] {
    second_fails.wait();
    throw expected_failure("second");
  });
  bool killed_unwound = false;
  gate never;
  auto killed = g.spawn(parked_until{never, killed_unwound});
  auto driver = spawn([&] {
    second_fails.open();  // fails first, but was added later
    tendril::yield();
    first_fails.open();
    tendril::yield();
    killed.kill();  // a kill is not a failure
  });
  CHECK_THROWS_WITH(g.join(10s, /*raise_error=*/true), "first");
  CHECK(g.empty());
  driver.join();
  // "first" was observed by join; "second" was not.
  first = {};
  second = {};
  auto reported = hub.take_reported();
  REQUIRE(reported.size() == 1);
  CHECK(reported[0].what == "second");
}

TEST_CASE("join with raise_error ignores killed tasks and returns true") {
  hub_check hub;
  group g;
  gate never;
  bool unwound = false;
  auto t = g.spawn(parked_until{never, unwound});
  auto killer = spawn([&] { t.kill(); });
  CHECK(g.join(10s, /*raise_error=*/true));
  killer.join();
}

TEST_CASE("join returns once the group was empty, even if a task came in before the joiner ran") {
  hub_check hub;
  group g;
  gate done;
  g.spawn([&] { done.wait(); });
  gate later;
  bool later_unwound = false;
  auto refill = spawn([&] {
    done.open();
    tendril::yield();  // the group's task finishes: the joiner is woken
    g.spawn(parked_until{later, later_unwound});
  });
  CHECK(g.join(10s));
  CHECK(g.size() == 1);  // gevent's "at least once"
  later.open();
  CHECK(g.join());
  refill.join();
}

TEST_CASE("a kill while joining raises in the joiner, and the group's tasks go on") {
  hub_check hub;
  group g;
  gate done;
  bool unwound = false;
  auto member = g.spawn(parked_until{done, unwound});
  bool joiner_unwound = false;
  auto joiner = spawn([&] {
    unwind_flag flag{joiner_unwound};
    g.join();
  });
  tendril::yield();
  CHECK(joiner.kill());
  CHECK(joiner_unwound);
  CHECK(joiner.killed());
  CHECK_FALSE(member.ready());
  done.open();
  CHECK(g.join());
}

TEST_CASE("an expired timeout scope raises timeout_error from join") {
  hub_check hub;
  group g;
  gate done;
  bool unwound = false;
  g.spawn(parked_until{done, unwound});
  bool timed_out = false;
  try {
    tendril::timeout limit(10ms);
    g.join();
  } catch (const tendril::timeout_error&) {
    timed_out = true;
  }
  CHECK(timed_out);
  CHECK(g.size() == 1);
  done.open();
  CHECK(g.join());
}

TEST_CASE("join on a group whose task can never finish reports would block forever, naming the group") {
  hub_check hub;
  group g("stuck ones");
  auto stuck = g.spawn(spawn_options{"stuck"}, [] { tendril::park({"nothing at all"}); });
  std::string message;
  try {
    g.join();
    FAIL("join returned");
  } catch (const tendril::error& e) {
    message = e.what();
  }
  CHECK_THAT(message, Catch::Contains("would block forever"));
  CHECK_THAT(message, Catch::Contains("joining group \"stuck ones\" (1 tasks)"));
  CHECK(g.kill());
  CHECK(stuck.killed());
}

// --- kill ---------------------------------------------------------------------

TEST_CASE("kill with block kills every task and waits for them (test__pool.py: test_terminate)") {
  hub_check hub;
  group g;
  gate never;
  std::vector<bool> unwound(3, false);
  std::vector<task<void>> tasks;
  for (int i = 0; i < 3; ++i)
    tasks.push_back(g.spawn([&, i] {
      struct flag {
        std::vector<bool>& all;
        int i;
        ~flag() { all[i] = true; }
      } f{unwound, i};
      never.wait();
    }));
  tendril::yield();
  CHECK(g.kill());
  CHECK(g.empty());
  CHECK(unwound == std::vector<bool>{true, true, true});
  for (auto& t : tasks) CHECK(t.killed());
}

TEST_CASE("kill without block returns before the started tasks have unwound") {
  hub_check hub;
  group g;
  gate never;
  bool started_unwound = false;
  bool unstarted_ran = false;
  auto started = g.spawn(parked_until{never, started_unwound});
  tendril::yield();
  auto unstarted = g.spawn([&] { unstarted_ran = true; });
  CHECK_FALSE(g.kill(nullptr, /*block=*/false));
  CHECK(unstarted.killed());  // died at once, without running
  CHECK_FALSE(unstarted_ran);
  CHECK_FALSE(started.ready());
  CHECK(g.size() == 1);
  CHECK(g.join(10s));
  CHECK(started_unwound);
  CHECK(started.killed());
}

TEST_CASE("kill with block also kills tasks that come into the group while it waits") {
  hub_check hub;
  group g;
  gate never;
  bool replacement_unwound = false;
  task<void> replacement;
  auto first = g.spawn([&] {
    try {
      never.wait();
    } catch (const tendril::greenlet_exit&) {
      replacement = g.spawn(parked_until{never, replacement_unwound});
      throw;
    }
  });
  tendril::yield();
  CHECK(g.kill());
  CHECK(g.empty());
  CHECK(first.killed());
  REQUIRE_FALSE(replacement.empty());
  CHECK(replacement.killed());
  CHECK(replacement_unwound);
}

TEST_CASE("kill with a timeout returns false when a task ignores its kill, and kills each task once") {
  hub_check hub;
  group g;
  gate never, release;
  int kills_seen = 0;
  auto stubborn = g.spawn([&] {
    try {
      never.wait();
    } catch (const tendril::greenlet_exit&) {
      ++kills_seen;
    }
    release.wait();  // goes on after its kill
  });
  tendril::yield();
  CHECK_FALSE(g.kill(nullptr, /*block=*/true, 10ms));
  CHECK(g.size() == 1);
  CHECK_FALSE(g.kill(nullptr, /*block=*/true, 10ms));  // not killed a second time
  CHECK(kills_seen == 1);
  release.open();
  CHECK(g.join());
  CHECK(stubborn.successful());
}

TEST_CASE("kill with an exception makes the tasks fail with it") {
  hub_check hub;
  group g;
  gate never;
  bool unwound = false;
  auto t = g.spawn(parked_until{never, unwound});
  tendril::yield();
  CHECK(g.kill(std::make_exception_ptr(expected_failure("shut down"))));
  CHECK_FALSE(t.killed());
  CHECK_THROWS_WITH(t.get(), "shut down");
}

// --- misuse -------------------------------------------------------------------

TEST_CASE("a task of the group cannot join or kill it: tendril::error naming the task and the group") {
  hub_check hub;
  group g("workers");
  gate never;
  bool other_unwound = false;
  auto other = g.spawn(parked_until{never, other_unwound});
  auto inside = g.spawn(spawn_options{"insider"}, [&] {
    std::string join_error, kill_error;
    try {
      g.join();
    } catch (const tendril::error& e) {
      join_error = e.what();
    }
    try {
      g.kill();
    } catch (const tendril::error& e) {
      kill_error = e.what();
    }
    return join_error + "|" + kill_error;
  });
  std::string errors = inside.get();
  CHECK_THAT(errors, Catch::Contains(inside.describe() + " cannot join group \"workers\": it is one of its "
                                                         "tasks (it would wait for itself)"));
  CHECK_THAT(errors, Catch::Contains(inside.describe() + " cannot kill group \"workers\": it is one of its "
                                                         "tasks (kill the others, then end itself)"));
  CHECK_FALSE(other.ready());  // refused before killing any
  CHECK(g.kill());
}

TEST_CASE("a group used from another thread throws tendril::error naming it") {
  hub_check hub;
  group g("local");
  strings errors;
  std::thread other([&] {
    auto record = [&](auto&& call) {
      try {
        call();
        errors.push_back("no error");
      } catch (const tendril::error& e) {
        errors.push_back(e.what());
      }
    };
    record([&] { g.spawn([] {}); });
    record([&] { g.join(); });
    record([&] { g.kill(); });
    record([&] { (void)g.size(); });
  });
  other.join();
  REQUIRE(errors.size() == 4);
  for (const std::string& e : errors) {
    CHECK_THAT(e, Catch::StartsWith("group \"local\" was used from thread "));
    CHECK_THAT(e, Catch::Contains(": it belongs to the hub of thread "));
  }
  CHECK(g.empty());
}

TEST_CASE("an empty task handle given to add, discard or contains throws tendril::error naming the group") {
  hub_check hub;
  group g("g");
  task_base none;
  CHECK_THROWS_WITH(g.add(none), "group \"g\": add given an empty task handle");
  CHECK_THROWS_WITH(g.discard(none), "group \"g\": discard given an empty task handle");
  CHECK_THROWS_WITH(g.contains(none), "group \"g\": contains given an empty task handle");
}
