// tendril::run: the main task's value or exception, waiting for every other
// task, the would-block-forever report, and cancellation by a timeout scope.

#include <algorithm>
#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include <tendril/error.hpp>
#include <tendril/fiber/greenlet.hpp>
#include <tendril/hub/hub.hpp>
#include <tendril/hub/join.hpp>
#include <tendril/hub/run.hpp>
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
using tendril::testing::unwind_flag;
using strings = std::vector<std::string>;

}  // namespace

TEST_CASE("run returns the main function's value") {
  hub_check hub;
  CHECK(tendril::run([](int x) { return x * 2; }, 21) == 42);
  CHECK(tendril::run([] { return std::string("text"); }) == "text");
  bool ran = false;
  tendril::run([&] { ran = true; });
  CHECK(ran);
}

TEST_CASE("run's main function runs as a task named main") {
  hub_check hub;
  std::string name = tendril::run([] { return tendril::current_task().name(); });
  CHECK(name == "main");
}

TEST_CASE("run waits for the tasks the main function spawned, fire-and-forget ones too") {
  hub_check hub;
  strings done;
  int value = tendril::run([&] {
    spawn([&] {
      tendril::sleep(2ms);
      done.push_back("slow fire-and-forget");
    });
    spawn([&] {
      spawn([&] {  // spawned by a task, not by main
        tendril::sleep(1ms);
        done.push_back("grandchild");
      });
      done.push_back("child");
    });
    return 5;
  });
  CHECK(value == 5);
  std::sort(done.begin(), done.end());  // the sleeps let time pass; their order is not the point
  CHECK(done == strings{"child", "grandchild", "slow fire-and-forget"});
}

TEST_CASE("run rethrows the main function's exception after the other tasks have finished") {
  hub_check hub;
  bool other_finished = false;
  try {
    tendril::run([&]() -> int {
      spawn([&] {
        tendril::sleep(1ms);
        other_finished = true;
      });
      throw std::runtime_error("main failed");
    });
    FAIL("run returned");
  } catch (const std::runtime_error& e) {
    CHECK(std::string(e.what()) == "main failed");
  }
  CHECK(other_finished);
}

TEST_CASE("run reports other tasks' failures to the error handler and returns normally") {
  hub_check hub;
  std::uint64_t failing_id = 0;
  int value = tendril::run([&] {
    auto t = spawn(spawn_options{"side"}, [] { throw std::runtime_error("side failure"); });
    failing_id = t.id();
    return 3;
  });
  CHECK(value == 3);
  auto reported = hub.take_reported();
  REQUIRE(reported.size() == 1);
  CHECK(reported[0].task_id == failing_id);
  CHECK(reported[0].what == "side failure");
}

TEST_CASE(
    "run throws would block forever when two tasks wait on each other, naming both and what they wait on") {
  hub_check hub;
  task_base alpha;
  task_base beta;
  bool alpha_unwound = false;
  bool beta_unwound = false;
  std::string message;
  std::string alpha_text;
  std::string beta_text;
  try {
    tendril::run([&] {
      alpha = spawn(spawn_options{"alpha"}, [&] {
        unwind_flag f{alpha_unwound};
        tendril::yield();
        beta.join();
      });
      beta = spawn(spawn_options{"beta"}, [&] {
        unwind_flag f{beta_unwound};
        alpha.join();
      });
      alpha_text = alpha.describe();
      beta_text = beta.describe();
      alpha.join();
    });
    FAIL("run returned");
  } catch (const tendril::error& e) {
    message = e.what();
  }
  CHECK_THAT(message, Catch::Contains("would block forever"));
  CHECK_THAT(message, Catch::Contains(alpha_text + ": waits on joining " + beta_text));
  CHECK_THAT(message, Catch::Contains(beta_text + ": waits on joining " + alpha_text));
  // The leftover tasks were killed: unwound, finished, and the hub is clean.
  CHECK(alpha_unwound);
  CHECK(beta_unwound);
  CHECK(alpha.killed());
  CHECK(beta.killed());
}

TEST_CASE("run throws would block forever when a task left behind by main parks forever, and kills it") {
  hub_check hub;
  task_base leftover;
  bool unwound = false;
  std::string message;
  try {
    tendril::run([&] {
      leftover = spawn(spawn_options{"leftover"}, [&] {
        unwind_flag f{unwound};
        tendril::park({"a wake that never comes"});
      });
      return 1;
    });
    FAIL("run returned");
  } catch (const tendril::error& e) {
    message = e.what();
  }
  CHECK_THAT(message, Catch::Contains("would block forever"));
  CHECK_THAT(message, Catch::Contains(leftover.describe() + ": waits on a wake that never comes"));
  CHECK(unwound);
  CHECK(leftover.killed());
}

TEST_CASE("run called from inside a task throws tendril::error") {
  hub_check hub;
  std::string message;
  tendril::run([&] {
    try {
      tendril::run([] {});
    } catch (const tendril::error& e) {
      message = e.what();
    }
  });
  CHECK_THAT(message, Catch::Contains("tendril::run") && Catch::Contains("\"main\""));

  message.clear();
  auto t = spawn(spawn_options{"plain task"}, [&] {
    try {
      tendril::run([] {});
    } catch (const tendril::error& e) {
      message = e.what();
    }
  });
  t.join();
  CHECK_THAT(message, Catch::Contains(t.describe()));
}

TEST_CASE("run called twice in a row reuses the hub") {
  hub_check hub;
  CHECK(tendril::run([] { return 1; }) == 1);
  CHECK(tendril::run([] {
          tendril::sleep(1ms);
          return 2;
        }) == 2);
}

TEST_CASE(
    "run inside an expired timeout scope kills the tasks still running before timeout_error propagates") {
  hub_check hub;
  bool main_unwound = false;
  bool other_unwound = false;
  bool fired = false;
  try {
    tendril::timeout limit(2ms);
    tendril::run([&] {
      spawn([&] {
        unwind_flag f{other_unwound};
        tendril::sleep(1h);
      });
      unwind_flag f{main_unwound};
      tendril::sleep(1h);
    });
  } catch (const tendril::timeout_error&) {
    fired = true;
  }
  CHECK(fired);
  CHECK(main_unwound);
  CHECK(other_unwound);
  CHECK(tendril::this_hub_stats().tasks == 0);
}

TEST_CASE("run works on another thread, with that thread's own hub") {
  hub_check hub;
  int result = 0;
  std::size_t tasks_after = 1;
  std::thread other([&] {
    result = tendril::run([] {
      auto t = spawn([] {
        tendril::sleep(1ms);
        return 20;
      });
      return t.get() + 1;
    });
    tasks_after = tendril::this_hub_stats().tasks;
  });
  other.join();
  CHECK(result == 21);
  CHECK(tasks_after == 0);
}
