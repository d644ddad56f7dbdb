// Observing a task's outcome: link/unlink, fire-and-forget tasks and the
// report of failures nobody observed (test__greenlet.py: test_simple_exit,
// TestUnlink, multiple_listeners_error).

#include <chrono>
#include <exception>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include <tendril/error.hpp>
#include <tendril/fiber/greenlet.hpp>
#include <tendril/hub/park.hpp>
#include <tendril/hub/sleep.hpp>
#include <tendril/hub/task.hpp>

#include "support/hub_fixture.hpp"

namespace {

using namespace std::chrono_literals;
using tendril::spawn;
using tendril::spawn_options;
using tendril::task_base;
using tendril::testing::gate;
using tendril::testing::hub_check;
using tendril::testing::parked_until;
using tendril::testing::stderr_capture;
using tendril::testing::unwind_flag;
using tendril::testing::what_of;
using strings = std::vector<std::string>;

}  // namespace

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
