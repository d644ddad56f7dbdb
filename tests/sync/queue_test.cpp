// queue, lifo_queue, priority_queue, joinable_queue: order, FIFO wake-ups of
// waiting gets and puts, try_* and deadlines, kills and timeout scopes (an
// item or a slot granted to a fiber interrupted at that moment is passed
// on), close, task_done/join, move-only items, and threads (fibers on two
// hubs and plain threads, a multi-producer multi-consumer stress). Ports
// cases of gevent's test__queue.py (TestQueue, TestJoinableQueue,
// TestGetInterrupt*, TestPutInterrupt*).

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <iterator>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include <tendril/error.hpp>
#include <tendril/hub/join.hpp>
#include <tendril/hub/sleep.hpp>
#include <tendril/hub/task.hpp>
#include <tendril/hub/timeout.hpp>
#include <tendril/sync/event.hpp>
#include <tendril/sync/queue.hpp>

#include "support/hub_fixture.hpp"
#include "sync/sync_threads.hpp"

namespace {

using namespace std::chrono_literals;
using tendril::joinable_queue;
using tendril::lifo_queue;
using tendril::priority_queue;
using tendril::queue;
using tendril::queue_closed;
using tendril::spawn;
using tendril::spawn_options;
using tendril::task;
using tendril::testing::hub_check;
using tendril::testing::thread_errors;
using tendril::testing::unwind_flag;
using strings = std::vector<std::string>;
using ints = std::vector<int>;

// Every queue kind, with int items, for the tests whose behaviour does not
// depend on the order (gevent runs TestGetInterrupt and TestPutInterrupt on
// each kind the same way).
#define ALL_QUEUE_KINDS queue<int>, lifo_queue<int>, priority_queue<int>, joinable_queue<int>

// drain(q) is what try_get returns until it returns nothing.
template <class Queue>
auto drain(Queue& q) {
  std::vector<std::decay_t<decltype(*q.try_get())>> items;
  while (auto item = q.try_get()) items.push_back(std::move(*item));
  return items;
}

}  // namespace

// --- putting and getting ------------------------------------------------------

TEST_CASE("get returns an item put before, without switching (test__queue.py: TestQueue.test_send_first)") {
  hub_check hub;
  queue<std::string> q;
  bool other_ran = false;
  auto other = spawn([&] { other_ran = true; });
  q.put("hi");
  CHECK(q.size() == 1);
  CHECK(q.get() == "hi");
  CHECK(q.empty());
  CHECK_FALSE(other_ran);  // neither put nor get parked
  other.join();
}

TEST_CASE("a get waiting on an empty queue receives the item put later (test__queue.py: test_send_last)") {
  hub_check hub;
  queue<std::string> q;
  auto waiter = spawn([&] {
    tendril::timeout limit(10s);
    return q.get();
  });
  tendril::yield();
  CHECK_FALSE(waiter.ready());
  q.put("hi2");
  CHECK(q.empty());  // handed straight to the waiting get
  CHECK(waiter.get() == "hi2");
}

TEST_CASE("a queue gives items back first in, first out") {
  hub_check hub;
  queue<int> q;
  for (int i : {3, 1, 4, 1, 5}) q.put(i);
  CHECK(drain(q) == ints{3, 1, 4, 1, 5});
}

TEST_CASE("a lifo_queue gives items back last in, first out (test__queue.py: TestLifoQueue)") {
  hub_check hub;
  lifo_queue<int> q;
  for (int i : {3, 1, 4, 1, 5}) q.put(i);
  CHECK(drain(q) == ints{5, 1, 4, 1, 3});
}

TEST_CASE("a priority_queue with std::less gives the largest item first, as std::priority_queue") {
  hub_check hub;
  priority_queue<int> q;
  for (int i : {3, 1, 4, 1, 5, 9, 2, 6}) q.put(i);
  CHECK(drain(q) == ints{9, 6, 5, 4, 3, 2, 1, 1});
}

TEST_CASE("a priority_queue with std::greater gives the smallest item first, as Python's PriorityQueue") {
  hub_check hub;
  priority_queue<std::pair<int, std::string>, std::greater<>> q;
  q.put({2, "write"});
  q.put({1, "read"});
  q.put({3, "close"});
  std::vector<std::pair<int, std::string>> expected{{1, "read"}, {2, "write"}, {3, "close"}};
  CHECK(drain(q) == expected);
}

TEST_CASE("a queue of maxsize 0 is unbounded: put never waits and full() is never true") {
  hub_check hub;
  queue<int> q;
  CHECK(q.maxsize() == 0);
  for (int i = 0; i < 10000; ++i) REQUIRE(q.try_put(i));
  CHECK_FALSE(q.full());
  CHECK(q.size() == 10000);
  CHECK(drain(q).size() == 10000);
}

TEST_CASE("queues hold move-only items") {
  hub_check hub;
  queue<std::unique_ptr<int>> q(1);
  q.put(std::make_unique<int>(1));
  auto later = std::make_unique<int>(2);
  CHECK_FALSE(q.try_put(std::move(later)));
  REQUIRE(later != nullptr);  // a put that fails leaves the item with the caller
  CHECK(*later == 2);
  CHECK_FALSE(q.put_for(std::move(later), 1ms));
  REQUIRE(later != nullptr);
  auto getter = spawn([&] { return q.get(); });
  CHECK(*q.get() == 1);
  CHECK(q.put_for(std::move(later), 10s));
  CHECK(later == nullptr);
  CHECK(*getter.get() == 2);
  lifo_queue<std::unique_ptr<int>> stack;
  stack.put(std::make_unique<int>(3));
  CHECK(**stack.try_get() == 3);
}

TEST_CASE("put and its variants accept an lvalue, which they copy") {
  hub_check hub;
  queue<std::string> q(3);
  const std::string text = "copied";
  q.put(text);
  CHECK(q.try_put(text));
  CHECK(q.put_for(text, 1s));
  CHECK_FALSE(q.put_until(text, tendril::clock::now()));
  CHECK(text == "copied");
  CHECK(drain(q) == strings{"copied", "copied", "copied"});
}

TEST_CASE("describe names the kind of queue and its name, or its address") {
  hub_check hub;
  CHECK(queue<int>(0, "jobs").describe() == "queue \"jobs\"");
  CHECK(lifo_queue<int>(0, "stack").describe() == "lifo_queue \"stack\"");
  CHECK(priority_queue<int>(0, "urgent").describe() == "priority_queue \"urgent\"");
  CHECK(joinable_queue<int>(0, "work").describe() == "joinable_queue \"work\"");
  CHECK_THAT(queue<int>().describe(), Catch::Matches("queue 0x[0-9a-f]+"));
}

// --- try_put and try_get ------------------------------------------------------

TEST_CASE(
    "try_put puts while there is room and returns false once full (test__queue.py: "
    "test_put_nowait_simple)") {
  hub_check hub;
  queue<int> q(1);
  CHECK(q.try_put(2));
  CHECK(q.full());
  CHECK_FALSE(q.try_put(3));
  CHECK(q.size() == 1);
  CHECK(q.get() == 2);
}

TEST_CASE("try_get takes an item if there is one, else nullopt (test__queue.py: test_get_nowait_simple)") {
  hub_check hub;
  queue<int> q(1);
  q.put(4);
  CHECK(q.try_get() == 4);
  CHECK(q.try_get() == std::nullopt);
}

TEST_CASE("try_put hands its item to a waiting get (test__queue.py: test_put_nowait_unlock)") {
  hub_check hub;
  queue<int> q;
  auto p = spawn([&] {
    tendril::timeout limit(10s);
    return q.get();
  });
  CHECK(q.empty());
  CHECK_FALSE(q.full());
  tendril::yield();
  CHECK(q.try_put(10));
  CHECK_FALSE(p.ready());
  CHECK(q.empty());
  CHECK(p.get() == 10);
  CHECK(q.empty());
}

TEST_CASE("try_get makes room for a waiting put (test__queue.py: test_get_nowait_unlock)") {
  hub_check hub;
  queue<int> q(1);
  auto p = spawn([&] {
    tendril::timeout limit(10s);
    q.put(5);
    q.put(6);
  });
  CHECK(q.empty());
  tendril::yield();
  CHECK(q.full());
  CHECK(q.try_get() == 5);
  CHECK(p.join_for(10s));
  CHECK(q.try_get() == 6);
  CHECK(q.empty());
}

// --- FIFO wake-ups ------------------------------------------------------------

TEST_CASE(
    "a bounded queue makes put wait while full and lets it go once a get makes room (test__queue.py: "
    "test_max_size)") {
  hub_check hub;
  queue<std::string> q(2);
  strings results;
  auto putter = spawn([&] {
    tendril::timeout limit(10s);
    for (const char* item : {"a", "b", "c"}) {
      q.put(item);
      results.push_back(item);
    }
  });
  tendril::yield();
  CHECK(results == strings{"a", "b"});
  CHECK(q.get() == "a");
  tendril::yield();
  CHECK(results == strings{"a", "b", "c"});
  CHECK(q.get() == "b");
  CHECK(q.get() == "c");
  CHECK(putter.join_for(0s));
}

TEST_CASE(
    "waiting gets receive items in the order they started waiting (test__queue.py: "
    "test_multiple_waiters)") {
  hub_check hub;
  queue<std::string> q;
  strings received;
  std::vector<task<void>> waiters;
  for (const char* name : {"w1", "w2", "w3", "w4"})
    waiters.push_back(spawn([&q, &received, name] {
      tendril::timeout limit(10s);
      received.push_back(std::string(name) + ":" + q.get());
    }));
  tendril::yield();
  q.put("1");
  tendril::yield();
  CHECK(received == strings{"w1:1"});
  q.put("2");
  q.put("3");
  q.put("4");
  CHECK(tendril::joinall(waiters, 10s));
  CHECK(received == strings{"w1:1", "w2:2", "w3:3", "w4:4"});
}

TEST_CASE("puts waiting on a full queue proceed in the order they started waiting") {
  hub_check hub;
  queue<std::string> q(1);
  q.put("x");
  std::vector<task<void>> putters;
  for (const char* name : {"a", "b", "c"})
    putters.push_back(spawn([&q, name] {
      tendril::timeout limit(10s);
      q.put(name);
    }));
  tendril::yield();
  strings got;
  for (int i = 0; i < 4; ++i) got.push_back(q.get_for(10s).value_or("none"));
  CHECK(got == strings{"x", "a", "b", "c"});
  CHECK(tendril::joinall(putters, 10s));
}

TEST_CASE("a slot freed for a waiting put is its: a newcomer's put does not overtake it") {
  hub_check hub;
  queue<std::string> q(1);
  q.put("x");
  auto waiting = spawn([&] { return q.put_for("waited", 10s); });
  tendril::yield();
  CHECK(q.get() == "x");  // the slot is granted to `waiting`, which has not run yet
  CHECK(q.empty());
  CHECK(q.full());
  CHECK_FALSE(q.try_put("newcomer"));
  CHECK(waiting.get());
  CHECK(q.try_get() == "waited");
}

TEST_CASE("a priority_queue admits a waiting put once a get makes room, and keeps its order") {
  hub_check hub;
  priority_queue<int> q(2);
  q.put(1);
  q.put(7);
  auto putter = spawn([&] { return q.put_for(4, 10s); });
  tendril::yield();
  CHECK(q.get() == 7);
  CHECK(putter.get());
  CHECK(q.get() == 4);
  CHECK(q.get() == 1);
}

// --- deadlines ----------------------------------------------------------------

TEMPLATE_TEST_CASE("get_for returns nullopt once the timeout passes (test__queue.py: TestGetInterrupt)", "",
                   ALL_QUEUE_KINDS) {
  hub_check hub;
  TestType q;
  auto start = tendril::clock::now();
  CHECK(q.get_for(30ms) == std::nullopt);
  CHECK(tendril::clock::now() - start >= 30ms);
  // The get that gave up is gone: an item put now stays in the queue.
  q.put(1);
  CHECK(q.size() == 1);
}

TEMPLATE_TEST_CASE("get_until returns nullopt once the deadline passes, and at once if it has", "",
                   ALL_QUEUE_KINDS) {
  hub_check hub;
  TestType q;
  auto deadline = tendril::clock::now() + 20ms;
  CHECK(q.get_until(deadline) == std::nullopt);
  CHECK(tendril::clock::now() >= deadline);
  CHECK(q.get_until(tendril::clock::now() - 1s) == std::nullopt);
}

TEMPLATE_TEST_CASE(
    "put_for on a full queue returns false once the timeout passes (test__queue.py: TestPutInterrupt)", "",
    ALL_QUEUE_KINDS) {
  hub_check hub;
  TestType q(1);
  while (!q.full()) q.put(1);
  auto start = tendril::clock::now();
  CHECK_FALSE(q.put_for(2, 30ms));
  CHECK(tendril::clock::now() - start >= 30ms);
  CHECK_FALSE(q.put_until(2, tendril::clock::now() - 1s));
  CHECK(q.size() == 1);
  CHECK(q.get() == 1);
  CHECK(q.empty());  // the put that gave up is gone: nothing came in when room appeared
}

TEST_CASE("get_for returns the item when one is put before the timeout passes") {
  hub_check hub;
  queue<int> q;
  auto putter = spawn([&] { q.put(8); });  // starts once get_for has parked
  CHECK(q.get_for(10s) == 8);
  putter.join();
}

TEST_CASE("put_for returns true when a get makes room before the timeout passes") {
  hub_check hub;
  queue<int> q(1);
  q.put(1);
  auto getter = spawn([&] { return q.get(); });  // starts once put_for has parked
  CHECK(q.put_for(2, 10s));
  CHECK(getter.get() == 1);
  CHECK(q.get() == 2);
}

// --- kills and timeout scopes -------------------------------------------------

TEMPLATE_TEST_CASE("a kill while getting removes the waiter: the next item goes to the others", "",
                   ALL_QUEUE_KINDS) {
  hub_check hub;
  TestType q;
  bool unwound = false;
  auto a = spawn(spawn_options{"a"}, [&] {
    unwind_flag flag{unwound};
    return q.get();
  });
  auto b = spawn(spawn_options{"b"}, [&] { return q.get_for(10s); });
  tendril::yield();
  CHECK(a.kill());
  CHECK(unwound);
  q.put(5);
  CHECK(b.get() == 5);
  CHECK(q.empty());
}

TEMPLATE_TEST_CASE("a kill while putting removes the waiter: its item never enters the queue", "",
                   ALL_QUEUE_KINDS) {
  hub_check hub;
  TestType q(1);
  q.put(1);
  bool unwound = false;
  auto a = spawn([&] {
    unwind_flag flag{unwound};
    q.put(2);
  });
  tendril::yield();
  CHECK(a.kill());
  CHECK(unwound);
  CHECK(q.get() == 1);
  CHECK(q.empty());
  CHECK_FALSE(q.full());
}

TEST_CASE(
    "a get whose timeout scope expires leaves a later item in the queue (test__queue.py: "
    "test_waiters_that_cancel)") {
  hub_check hub;
  queue<std::string> q;
  auto receiver = spawn([&] {
    tendril::timeout limit(0s);
    try {
      return q.get();
    } catch (const tendril::timeout_error& e) {
      return std::string(limit.owns(e) ? "timed out" : "another scope");
    }
  });
  CHECK(receiver.get() == "timed out");
  q.put("hi");
  CHECK(q.get() == "hi");
}

TEST_CASE(
    "of two waiting gets, one whose scope expires, the other receives the item (test__queue.py: "
    "test_two_waiters_one_dies)") {
  hub_check hub;
  queue<std::string> q;
  auto dying = spawn([&] {
    tendril::timeout limit(0s);
    try {
      return q.get();
    } catch (const tendril::timeout_error&) {
      return std::string("timed out");
    }
  });
  auto waiting = spawn([&] { return q.get_for(10s).value_or("nothing"); });
  CHECK(dying.get() == "timed out");  // its scope expired while it waited: it leaves the queue
  q.put("hi");
  CHECK(waiting.get() == "hi");
}

TEST_CASE(
    "two gets whose scopes expire leave the item in the queue (test__queue.py: test_two_bogus_waiters)") {
  hub_check hub;
  queue<std::string> q;
  auto receive = [&] {
    tendril::timeout limit(0s);
    try {
      return q.get();
    } catch (const tendril::timeout_error&) {
      return std::string("timed out");
    }
  };
  auto e1 = spawn(receive);
  auto e2 = spawn(receive);
  CHECK(e1.get() == "timed out");
  CHECK(e2.get() == "timed out");
  q.put("sent");  // no get is left waiting for it
  CHECK(q.get() == "sent");
}

TEST_CASE("an expired timeout scope raises timeout_error from put, and the item is not put") {
  hub_check hub;
  queue<int> q(1);
  q.put(1);
  auto t = spawn([&] {
    tendril::timeout limit(20ms);
    try {
      q.put(2);
      return false;
    } catch (const tendril::timeout_error& e) {
      return limit.owns(e);
    }
  });
  CHECK(t.get());
  CHECK(drain(q) == ints{1});
}

TEST_CASE("an item handed to a get killed at that moment goes to the next waiting get") {
  hub_check hub;
  queue<std::string> q;
  auto a = spawn(spawn_options{"a"}, [&] { return q.get_for(10s); });
  auto b = spawn(spawn_options{"b"}, [&] { return q.get_for(10s); });
  tendril::yield();  // both wait
  q.put("item");     // handed to a, which has not run yet
  a.kill(nullptr, false);
  CHECK(b.get() == "item");
  CHECK(a.join_for(10s));
  CHECK(a.killed());
  CHECK(q.empty());
}

TEST_CASE("an item handed to the only get, killed at that moment, goes back to the front of the queue") {
  hub_check hub;
  queue<std::string> q(1);
  auto a = spawn([&] { return q.get_for(10s); });
  tendril::yield();
  q.put("first");   // handed to a
  q.put("second");  // the queue had room: a's item is not in it
  a.kill(nullptr, false);
  CHECK(a.join_for(10s));
  CHECK(a.killed());
  // Back at the front, one over maxsize: nothing is dropped to keep the bound.
  CHECK(q.size() == 2);
  CHECK(q.full());
  CHECK(drain(q) == strings{"first", "second"});
}

TEST_CASE("an item handed to a lifo_queue's get killed at that moment goes back on top") {
  hub_check hub;
  lifo_queue<int> q;
  auto a = spawn([&] { return q.get_for(10s); });
  tendril::yield();
  q.put(1);  // handed to a
  q.put(2);
  a.kill(nullptr, false);
  CHECK(a.join_for(10s));
  CHECK(drain(q) == ints{1, 2});
}

TEST_CASE("a slot granted to a put killed at that moment is passed on to the next waiting put") {
  hub_check hub;
  queue<std::string> q(1);
  q.put("x");
  auto a = spawn(spawn_options{"a"}, [&] { return q.put_for("a", 10s); });
  auto b = spawn(spawn_options{"b"}, [&] { return q.put_for("b", 10s); });
  tendril::yield();        // both wait
  CHECK(q.get() == "x");   // the slot is granted to a, which has not run yet
  a.kill(nullptr, false);  // so its put raises, and b has the slot
  CHECK(b.get());
  CHECK(a.join_for(10s));
  CHECK(a.killed());
  CHECK(drain(q) == strings{"b"});
}

TEST_CASE("a slot granted to the only put, killed at that moment, is free again") {
  hub_check hub;
  queue<std::string> q(1);
  q.put("x");
  auto a = spawn([&] { return q.put_for("a", 10s); });
  tendril::yield();
  CHECK(q.get() == "x");
  a.kill(nullptr, false);
  CHECK(a.join_for(10s));
  CHECK(a.killed());
  CHECK(q.empty());
  CHECK_FALSE(q.full());
  CHECK(q.try_put("y"));
  CHECK(drain(q) == strings{"y"});
}

// --- close --------------------------------------------------------------------

TEST_CASE("close wakes every waiting get with queue_closed naming the queue") {
  hub_check hub;
  queue<int> q(0, "jobs");
  std::vector<task<std::string>> getters;
  for (int i = 0; i < 3; ++i)
    getters.push_back(spawn([&] {
      try {
        q.get_for(10s);
        return std::string("got one");
      } catch (const queue_closed& e) {
        return std::string(e.what());
      }
    }));
  tendril::yield();
  q.close();
  CHECK(q.closed());
  for (auto& g : getters) CHECK_THAT(g.get(), Catch::Contains("queue \"jobs\"") && Catch::Contains("closed"));
}

TEST_CASE("close wakes every waiting put with tendril::error naming the queue and the putter") {
  hub_check hub;
  queue<std::unique_ptr<int>> q(1, "jobs");
  q.put(std::make_unique<int>(0));
  std::vector<task<bool>> putters;
  for (int i = 1; i <= 2; ++i)
    putters.push_back(spawn(spawn_options{"putter"}, [&q, i] {
      auto item = std::make_unique<int>(i);
      try {
        q.put_for(std::move(item), 10s);
      } catch (const tendril::error& e) {
        CHECK_THAT(e.what(), Catch::Contains("queue \"jobs\"") && Catch::Contains("\"putter\"") &&
                                 Catch::Contains("closed"));
      }
      return item != nullptr && *item == i;  // still the caller's
    }));
  tendril::yield();
  q.close();
  for (auto& p : putters) CHECK(p.get());
  CHECK(*q.get() == 0);  // what was in the queue before close is still there
}

TEST_CASE(
    "after close, gets drain what is left, then throw queue_closed, and try_get returns nullopt "
    "(test__queue.py: test_shutdown_all_methods_in_one_thread)") {
  hub_check hub;
  joinable_queue<std::string> q(0, "letters");
  q.put("L");
  q.put("O");
  q.close();
  CHECK_THROWS_WITH(q.put("E"), Catch::Contains("cannot put into joinable_queue \"letters\": it is closed"));
  CHECK_THROWS_AS(q.try_put("W"), tendril::error);
  CHECK(q.get() == "L");
  q.task_done();
  CHECK(q.get_for(1s) == "O");
  q.task_done();
  q.join();
  CHECK_THROWS_AS(q.get(), queue_closed);
  CHECK_THROWS_AS(q.get_for(1s), queue_closed);
  CHECK_THROWS_AS(q.get_until(tendril::clock::now() - 1s), queue_closed);
  CHECK(q.try_get() == std::nullopt);
  q.close();  // twice: nothing more
  CHECK(q.closed());
}

TEST_CASE("put into a closed queue throws tendril::error naming the queue and the caller") {
  hub_check hub;
  queue<int> q(0, "results");
  q.close();
  auto t = spawn(spawn_options{"producer"}, [&] { q.put(1); });
  t.join();
  REQUIRE(t.exception() != nullptr);
  CHECK_THAT(tendril::testing::what_of(t.exception()),
             Catch::Contains(t.describe() + " cannot put into queue \"results\": it is closed"));
  CHECK(q.empty());
}

TEST_CASE("a put granted a slot just before close throws when it resumes, putting nothing") {
  hub_check hub;
  queue<std::string> q(1, "q");
  q.put("x");
  auto late = spawn([&] {
    try {
      q.put("late");
      return std::string("put");
    } catch (const tendril::error& e) {
      return std::string(e.what());
    }
  });
  tendril::yield();
  CHECK(q.get() == "x");  // grants late a slot
  q.close();
  CHECK_THAT(late.get(), Catch::Contains("closed"));
  CHECK(q.empty());
  CHECK_THROWS_AS(q.get(), queue_closed);
}

// --- joinable_queue -----------------------------------------------------------

TEST_CASE("task_done counts unfinished items down (test__queue.py: TestJoinableQueue.test_task_done)") {
  hub_check hub;
  joinable_queue<int> q;
  auto putter = spawn([&] { q.put(42); });
  CHECK(q.get() == 42);
  CHECK(q.unfinished() == 1);
  q.task_done();
  CHECK(q.unfinished() == 0);
  putter.join();
}

TEST_CASE("join returns at once when nothing was put (test__queue.py: TestJoinableQueue.test_issue_45)") {
  hub_check hub;
  joinable_queue<int> q;
  bool other_ran = false;
  auto other = spawn([&] { other_ran = true; });
  q.join();
  CHECK_FALSE(other_ran);
  other.join();
}

TEST_CASE("join waits until every item put has been marked task_done") {
  hub_check hub;
  joinable_queue<int> q(2, "work");
  int handled = 0;
  std::vector<task<void>> workers;
  for (int w = 0; w < 3; ++w)
    workers.push_back(spawn([&] {
      tendril::timeout limit(10s);
      try {
        for (;;) {
          q.get();
          tendril::yield();
          ++handled;
          q.task_done();
        }
      } catch (const queue_closed&) {
      }
    }));
  for (int i = 0; i < 20; ++i) q.put(i);
  CHECK(q.join_for(10s));
  CHECK(handled == 20);
  CHECK(q.unfinished() == 0);
  q.close();
  CHECK(tendril::joinall(workers, 10s, true));
}

TEST_CASE("task_done called more times than items were put throws tendril::error naming the queue") {
  hub_check hub;
  joinable_queue<int> q(0, "work");
  CHECK_THROWS_WITH(q.task_done(), Catch::Contains("task_done on joinable_queue \"work\" more times"));
  q.put(1);
  q.task_done();
  CHECK_THROWS_AS(q.task_done(), tendril::error);
  CHECK(q.unfinished() == 0);
}

TEST_CASE("join_for returns false once the timeout passes, and a kill while joining removes the waiter") {
  hub_check hub;
  joinable_queue<int> q;
  q.put(1);
  CHECK_FALSE(q.join_for(20ms));
  bool unwound = false;
  auto joiner = spawn([&] {
    unwind_flag flag{unwound};
    q.join();
  });
  auto other = spawn([&] { return q.join_for(10s); });
  tendril::yield();
  CHECK(joiner.kill());
  CHECK(unwound);
  q.task_done();
  CHECK(other.get());
}

// --- threads ------------------------------------------------------------------

TEST_CASE("a plain thread blocks in get until a fiber puts") {
  hub_check hub;
  thread_errors errors;
  queue<int> q;
  std::atomic<bool> returned{false};
  std::atomic<int> got{0};
  std::thread t = tendril::testing::plain_thread(errors, [&] {
    got = q.get_for(10s).value_or(-1);
    returned = true;
  });
  tendril::sleep(30ms);
  CHECK_FALSE(returned);  // it blocks, as on std::condition_variable
  q.put(7);
  t.join();
  CHECK(got == 7);
  CHECK(errors.take().empty());
}

TEST_CASE("a plain thread blocked putting into a full queue goes on once a fiber gets") {
  hub_check hub;
  thread_errors errors;
  queue<int> q(1);
  q.put(1);
  std::atomic<bool> put{false};
  std::thread t = tendril::testing::plain_thread(errors, [&] { put = q.put_for(2, 10s); });
  tendril::sleep(30ms);
  CHECK_FALSE(put);
  CHECK(q.get() == 1);
  t.join();
  CHECK(put);
  CHECK(q.get() == 2);
  CHECK(errors.take().empty());
}

TEST_CASE("a plain thread's get_for and put_for return once the timeout passes") {
  hub_check hub;
  thread_errors errors;
  queue<int> q(1);
  std::atomic<bool> got_nothing{false};
  std::atomic<bool> put_refused{false};
  std::thread t = tendril::testing::plain_thread(errors, [&] {
    got_nothing = !q.get_for(20ms).has_value();
    q.put(1);
    put_refused = !q.put_for(2, 20ms);
  });
  t.join();
  CHECK(got_nothing);
  CHECK(put_refused);
  CHECK(drain(q) == ints{1});
  CHECK(errors.take().empty());
}

TEST_CASE("close from a plain thread wakes a fiber's get with queue_closed") {
  hub_check hub;
  thread_errors errors;
  queue<int> q(0, "q");
  tendril::event waiting;
  std::thread t = tendril::testing::plain_thread(errors, [&] {
    if (waiting.wait_for(10s)) q.close();
  });
  auto getter = spawn([&] {
    try {
      q.get_for(10s);
      return false;
    } catch (const queue_closed&) {
      return true;
    }
  });
  tendril::yield();  // the getter waits
  waiting.set();
  CHECK(getter.get());
  t.join();
  CHECK(errors.take().empty());
}

TEST_CASE("fibers on two hubs pass items back and forth through two queues") {
  hub_check hub;
  thread_errors errors;
  queue<int> ping(1, "ping");
  queue<int> pong(1, "pong");
  constexpr int rounds = 500;
  std::atomic<long> sum{0};
  std::thread a = tendril::testing::hub_thread(errors, [&] {
    for (int i = 0; i < rounds; ++i) {
      ping.put(i);
      sum += pong.get();
    }
  });
  std::thread b = tendril::testing::hub_thread(errors, [&] {
    for (int i = 0; i < rounds; ++i) pong.put(ping.get() * 2);
  });
  a.join();
  b.join();
  CHECK(sum == static_cast<long>(rounds) * (rounds - 1));
  CHECK(errors.take().empty());
}

namespace {

// One consumer's haul: each consumer owns one, read after its thread joined.
struct haul {
  ints items;
};

// consume(q, h) gets until the queue is closed and empty.
void consume(queue<int>& q, haul& h) {
  try {
    for (;;) {
      std::optional<int> item = q.get_for(60s);
      if (!item) throw tendril::error("a consumer waited 60 s for an item");
      h.items.push_back(*item);
    }
  } catch (const queue_closed&) {
  }
}

}  // namespace

TEST_CASE(
    "producers and consumers on two hubs and two plain threads deliver every item exactly once through a "
    "bounded queue") {
  hub_check hub;
  thread_errors errors;
  queue<int> q(8, "stress");
  constexpr int per_producer = 2000;
  constexpr int fibers_per_hub = 2;
  constexpr int producers = 2 * fibers_per_hub + 1;
  std::atomic<int> producing{producers};
  tendril::event produced("produced");
  auto produce = [&](int id) {
    for (int i = 0; i < per_producer; ++i)
      if (!q.put_for(id * per_producer + i, 60s)) throw tendril::error("a producer waited 60 s for room");
    if (--producing == 0) produced.set();
  };
  std::vector<haul> hauls(2 * fibers_per_hub + 1);
  auto hub_body = [&](int first) {
    std::vector<task<void>> fibers;
    for (int i = 0; i < fibers_per_hub; ++i) {
      fibers.push_back(spawn(produce, first + i));
      fibers.push_back(spawn([&q, &h = hauls[first + i]] { consume(q, h); }));
    }
    for (auto& f : fibers) f.get();
  };
  std::thread h1 = tendril::testing::hub_thread(errors, [&] { hub_body(0); });
  std::thread h2 = tendril::testing::hub_thread(errors, [&] { hub_body(fibers_per_hub); });
  std::thread plain_producer = tendril::testing::plain_thread(errors, [&] { produce(producers - 1); });
  std::thread plain_consumer = tendril::testing::plain_thread(errors, [&] { consume(q, hauls.back()); });
  CHECK(produced.wait_for(60s));
  q.close();
  h1.join();
  h2.join();
  plain_producer.join();
  plain_consumer.join();
  ints all;
  for (const haul& h : hauls) {
    // One consumer sees each producer's items in the order they were put.
    for (int p = 0; p < producers; ++p) {
      ints mine;
      std::copy_if(h.items.begin(), h.items.end(), std::back_inserter(mine),
                   [&](int v) { return v / per_producer == p; });
      CHECK(std::is_sorted(mine.begin(), mine.end()));
    }
    all.insert(all.end(), h.items.begin(), h.items.end());
  }
  std::sort(all.begin(), all.end());
  ints expected(producers * per_producer);
  for (int i = 0; i < producers * per_producer; ++i) expected[i] = i;
  CHECK(all == expected);
  CHECK(q.empty());
  CHECK(errors.take().empty());
}

TEST_CASE("no item is lost or duplicated when short timeouts race puts and gets across threads") {
  hub_check hub;
  thread_errors errors;
  queue<int> q(4);
  constexpr int rounds = 1000;
  std::atomic<bool> stop{false};
  std::vector<ints> put_lists(4);
  std::vector<ints> got_lists(4);
  auto put_churn = [&](int id) {
    for (int i = 0; i < rounds; ++i) {
      int item = id * rounds + i;
      if (q.put_for(item, std::chrono::microseconds((i * 7 + id) % 50))) put_lists[id].push_back(item);
      if (i % 5 == 0 && tendril::this_thread_has_hub()) tendril::yield();
    }
  };
  auto get_churn = [&](int id) {
    for (int i = 0; !stop; ++i)
      if (auto item = q.get_for(std::chrono::microseconds((i * 11 + id) % 50)))
        got_lists[id].push_back(*item);
  };
  std::thread producers_hub = tendril::testing::hub_thread(errors, [&] {
    auto a = spawn(put_churn, 0);
    auto b = spawn(put_churn, 1);
    a.get();
    b.get();
  });
  std::thread consumers_hub = tendril::testing::hub_thread(errors, [&] {
    auto a = spawn(get_churn, 0);
    auto b = spawn(get_churn, 1);
    a.get();
    b.get();
  });
  std::thread plain_producer = tendril::testing::plain_thread(errors, [&] { put_churn(2); });
  std::thread plain_consumer = tendril::testing::plain_thread(errors, [&] { get_churn(2); });
  producers_hub.join();
  plain_producer.join();
  stop = true;
  consumers_hub.join();
  plain_consumer.join();
  got_lists[3] = drain(q);
  ints put_all, got_all;
  for (const ints& l : put_lists) put_all.insert(put_all.end(), l.begin(), l.end());
  for (const ints& l : got_lists) got_all.insert(got_all.end(), l.begin(), l.end());
  std::sort(put_all.begin(), put_all.end());
  std::sort(got_all.begin(), got_all.end());
  CHECK_FALSE(put_all.empty());
  CHECK(got_all == put_all);
  CHECK(errors.take().empty());
}
