// wait_group: add/done/wait, Go's rules (a wait that saw zero returns even if
// add follows; the count never goes below zero), deadlines, kills, threads.

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
#include <tendril/sync/wait_group.hpp>

#include "support/hub_fixture.hpp"
#include "sync/sync_threads.hpp"

namespace {

using namespace std::chrono_literals;
using tendril::spawn;
using tendril::wait_group;
using tendril::testing::hub_check;
using tendril::testing::thread_errors;

}  // namespace

TEST_CASE("wait returns once every job added has called done") {
  hub_check hub;
  wait_group jobs("downloads");
  int finished = 0;
  for (int i = 0; i < 5; ++i) {
    jobs.add();
    spawn([&, i] {
      for (int y = 0; y < i; ++y) tendril::yield();
      ++finished;
      jobs.done();
    });
  }
  CHECK(jobs.count() == 5);
  CHECK(jobs.describe() == "wait_group \"downloads\" with 5 jobs outstanding");
  jobs.wait();
  CHECK(finished == 5);
  CHECK(jobs.count() == 0);
}

TEST_CASE("wait on a group with nothing outstanding returns at once") {
  hub_check hub;
  wait_group jobs;
  bool other_ran = false;
  auto other = spawn([&] { other_ran = true; });
  jobs.wait();
  CHECK(jobs.wait_for(0s));
  CHECK_FALSE(other_ran);  // no park
  other.join();
}

TEST_CASE("every waiter present when the count reaches 0 returns, even if add follows at once") {
  hub_check hub;
  wait_group jobs;
  jobs.add(2);
  int returned = 0;
  std::vector<tendril::task<void>> waiters;
  for (int i = 0; i < 3; ++i)
    waiters.push_back(spawn([&] {
      jobs.wait();
      ++returned;
    }));
  tendril::yield();
  jobs.add(-2);  // add with a negative count, as in Go
  jobs.add(1);   // before any waiter has run
  CHECK(tendril::joinall(waiters, 10s));
  CHECK(returned == 3);
  CHECK(jobs.count() == 1);
}

TEST_CASE("done more often than add throws tendril::error naming the group, and changes nothing") {
  hub_check hub;
  wait_group jobs("crawl");
  jobs.add(1);
  jobs.done();
  CHECK_THROWS_WITH(jobs.done(), Catch::Contains("wait_group \"crawl\" with 0 jobs outstanding: add(-1)"));
  CHECK_THROWS_AS(jobs.add(-3), tendril::error);
  CHECK(jobs.count() == 0);
}

TEST_CASE("wait_for returns false once the timeout passes; a kill while waiting removes the waiter") {
  hub_check hub;
  wait_group jobs;
  jobs.add();
  CHECK_FALSE(jobs.wait_for(10ms));
  bool unwound = false;
  auto killed = spawn([&] {
    tendril::testing::unwind_flag flag{unwound};
    jobs.wait();
  });
  auto other = spawn([&] { jobs.wait(); });
  tendril::yield();
  CHECK(killed.kill());
  CHECK(unwound);
  jobs.done();
  CHECK(other.join_for(10s));
  CHECK(killed.killed());
}

TEST_CASE("an expired timeout scope raises timeout_error from wait") {
  hub_check hub;
  wait_group jobs;
  jobs.add();
  auto t = spawn([&] {
    try {
      tendril::timeout limit(10ms);
      jobs.wait();
      return false;
    } catch (const tendril::timeout_error&) {
      return true;
    }
  });
  CHECK(t.get());
  jobs.done();
}

TEST_CASE("jobs done on two hubs and a plain thread release a waiting plain thread and a fiber") {
  thread_errors errors;
  wait_group jobs("workers");
  constexpr int per_thread = 200;
  jobs.add(3 * per_thread);
  std::atomic<int> done_calls{0};
  auto worker = [&] {
    for (int i = 0; i < per_thread; ++i) {
      ++done_calls;
      jobs.done();
      if (tendril::this_thread_has_hub() && i % 16 == 0) tendril::yield();
    }
  };
  std::atomic<bool> fiber_saw_zero{false};
  std::thread waiting_hub = tendril::testing::hub_thread(errors, [&] {
    jobs.wait();
    fiber_saw_zero = done_calls.load() == 3 * per_thread;
  });
  std::thread h1 = tendril::testing::hub_thread(errors, worker);
  std::thread h2 = tendril::testing::hub_thread(errors, worker);
  std::thread plain = tendril::testing::plain_thread(errors, worker);
  jobs.wait();  // the test thread waits too
  CHECK(done_calls.load() == 3 * per_thread);
  h1.join();
  h2.join();
  plain.join();
  waiting_hub.join();
  CHECK(errors.take().empty());
  CHECK(fiber_saw_zero.load());
}
