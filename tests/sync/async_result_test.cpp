// async_result: set/get, set_exception, waiting with deadlines, kills,
// move-only values, threads, and waiting on results beside tasks through
// as_task(). Ports cases of gevent's test__event.py (TestAsyncResult,
// TestAsyncResultWait, TestAsyncResultAsLinkTarget where they apply).

#include <chrono>
#include <memory>
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
#include <tendril/sync/async_result.hpp>

#include "support/hub_fixture.hpp"
#include "sync/sync_threads.hpp"

namespace {

using namespace std::chrono_literals;
using tendril::async_result;
using tendril::spawn;
using tendril::testing::hub_check;
using tendril::testing::thread_errors;
using strings = std::vector<std::string>;

}  // namespace

TEST_CASE(
    "get parks until another fiber sets the value, and every waiter gets it (test__event.py: "
    "TestAsyncResult.test_set)") {
  hub_check hub;
  async_result<int> result("answer");
  strings got;
  auto waiter = [&](std::string name) { got.push_back(name + "=" + std::to_string(result.get())); };
  auto a = spawn(waiter, std::string("a"));
  auto b = spawn(waiter, std::string("b"));
  tendril::yield();
  CHECK(got.empty());
  CHECK_FALSE(result.ready());
  result.set(42);
  CHECK(result.ready());
  CHECK(result.successful());
  CHECK(result.exception() == nullptr);
  CHECK(a.join_for(10s));
  CHECK(b.join_for(10s));
  CHECK(got == strings{"a=42", "b=42"});
  CHECK(result.get() == 42);  // later gets return at once
}

TEST_CASE("set_exception makes get rethrow it in every waiter, and wait does not rethrow") {
  hub_check hub;
  async_result<std::string> result;
  auto getter = spawn([&] {
    try {
      return result.get();
    } catch (const std::runtime_error& e) {
      return std::string("caught ") + e.what();
    }
  });
  tendril::yield();
  result.set_exception(std::make_exception_ptr(std::runtime_error("boom")));
  CHECK(getter.get() == "caught boom");
  result.wait();  // does not rethrow
  CHECK(result.ready());
  CHECK_FALSE(result.successful());
  CHECK(tendril::testing::what_of(result.exception()) == "boom");
  CHECK_THROWS_AS(result.get(), std::runtime_error);
}

TEST_CASE("a result arrives once: setting it again throws tendril::error naming it and changes nothing") {
  hub_check hub;
  async_result<int> result("answer");
  result.set(1);
  CHECK_THROWS_WITH(result.set(2), Catch::Contains("async_result \"answer\" is already set"));
  CHECK_THROWS_AS(result.set_exception(std::make_exception_ptr(std::runtime_error("late"))), tendril::error);
  CHECK(result.get() == 1);
  CHECK(result.successful());
}

TEST_CASE("async_result<void>: set() with no value wakes get()") {
  hub_check hub;
  async_result<> done;
  bool returned = false;
  auto t = spawn([&] {
    done.get();
    returned = true;
  });
  tendril::yield();
  CHECK_FALSE(returned);
  done.set();
  CHECK(t.join_for(10s));
  CHECK(returned);
}

TEST_CASE("a move-only value is moved out by the first get; a second get throws tendril::error") {
  hub_check hub;
  async_result<std::unique_ptr<int>> result("box");
  result.set(std::make_unique<int>(7));
  std::unique_ptr<int> first = result.get();
  REQUIRE(first);
  CHECK(*first == 7);
  CHECK_THROWS_WITH(result.get(), Catch::Contains("moved out by an earlier get()"));
}

TEST_CASE("copies of the handle share one result") {
  hub_check hub;
  async_result<int> original;
  async_result<int> copy = original;
  CHECK(copy == original);
  CHECK_FALSE(async_result<int>() == original);
  copy.set(5);
  CHECK(original.ready());
  CHECK(original.get() == 5);
}

TEST_CASE(
    "wait_for returns false once the timeout passes, and true when set in time (test__event.py: "
    "TestAsyncResultWait)") {
  hub_check hub;
  async_result<int> result;
  CHECK_FALSE(result.wait_for(10ms));
  CHECK_FALSE(result.wait_until(tendril::clock::now() + 1ms));
  auto setter = spawn([&] { result.set(3); });
  CHECK(result.wait_for(10s));
  CHECK(result.get() == 3);
  setter.join();
}

TEST_CASE("a kill while waiting removes the waiter; the result still reaches the others") {
  hub_check hub;
  async_result<int> result;
  bool unwound = false;
  auto killed = spawn([&] {
    tendril::testing::unwind_flag flag{unwound};
    return result.get();
  });
  auto other = spawn([&] { return result.get(); });
  tendril::yield();
  CHECK(killed.kill());
  CHECK(unwound);
  result.set(9);
  CHECK(other.get() == 9);
  CHECK(killed.killed());
}

TEST_CASE("an expired timeout scope raises timeout_error from get") {
  hub_check hub;
  async_result<int> result;
  auto t = spawn([&] {
    try {
      tendril::timeout limit(10ms);
      return result.get();
    } catch (const tendril::timeout_error&) {
      return -1;
    }
  });
  CHECK(t.get() == -1);
  result.set(1);  // nobody is left waiting: nothing to wake, nothing breaks
  CHECK(result.get() == 1);
}

TEST_CASE("as_task lets iwait yield results beside tasks as they become ready") {
  hub_check hub;
  async_result<int> first("first");
  async_result<int> second("second");
  auto worker = spawn([] { return 0; });
  std::vector<tendril::task_base> waited{second.as_task(), worker, first.as_task()};
  strings order;
  auto setter = spawn([&] {
    first.set(1);
    tendril::yield();
    second.set(2);
  });
  for (tendril::task_base& done : tendril::iwait(waited)) {
    if (done == worker)
      order.push_back("worker");
    else if (done == waited[0])
      order.push_back("second=" + std::to_string(second.get()));
    else
      order.push_back("first=" + std::to_string(first.get()));
  }
  CHECK(order == strings{"worker", "first=1", "second=2"});
  CHECK(waited[2].name() == "async_result \"first\"");
  setter.join();
}

TEST_CASE("as_task of a result that fails still succeeds; the failure stays with the result") {
  hub_check hub;
  async_result<int> result;
  auto watch = result.as_task();
  result.set_exception(std::make_exception_ptr(std::runtime_error("bad")));
  CHECK(tendril::joinall({watch}, std::chrono::seconds(10), /*raise_error=*/true));
  CHECK(watch.successful());
  CHECK_THROWS_AS(result.get(), std::runtime_error);
}

TEST_CASE("a plain thread sets a result a fiber waits on, and a plain thread gets one a fiber sets") {
  hub_check hub;
  thread_errors errors;
  async_result<int> to_fiber;
  async_result<int> to_thread;
  int thread_got = 0;
  std::thread plain = tendril::testing::plain_thread(errors, [&] {
    to_fiber.set(10);
    thread_got = to_thread.get();  // blocks this thread, which has no hub
  });
  CHECK(to_fiber.get() == 10);
  to_thread.set(20);
  plain.join();
  CHECK(errors.take().empty());
  CHECK(thread_got == 20);
}

TEST_CASE("results cross hubs: many fibers on one hub wait for a value set on another") {
  thread_errors errors;
  async_result<int> result;
  std::atomic<int> sum{0};
  std::thread waiters = tendril::testing::hub_thread(errors, [&] {
    std::vector<tendril::task<void>> tasks;
    for (int i = 0; i < 50; ++i) tasks.push_back(spawn([&] { sum += result.get(); }));
    tendril::joinall(tasks);
  });
  std::thread setter = tendril::testing::hub_thread(errors, [&] { result.set(2); });
  waiters.join();
  setter.join();
  CHECK(errors.take().empty());
  CHECK(sum.load() == 100);
}
