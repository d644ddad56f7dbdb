// Killing tasks: unstarted, parked, finished, refusing, killing itself,
// with greenlet_exit or another exception. Ports gevent's test__greenlet.py
// TestKill and TestKillWhileRunning.

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
#include <tendril/hub/timeout.hpp>

#include "support/hub_fixture.hpp"

namespace {

using namespace std::chrono_literals;
using tendril::spawn;
using tendril::spawn_options;
using tendril::task_base;
using tendril::testing::gate;
using tendril::testing::hub_check;
using tendril::testing::parked_until;
using tendril::testing::unwind_flag;
using tendril::testing::what_of;

}  // namespace

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
