// pool: the bound (spawn parks while full, FIFO among blocked spawners, no
// slot lost to a kill or a timeout), try_spawn, add, discard,
// wait_available, apply (inline for members), map, imap and imap_unordered
// (order, results while work proceeds, failures, early exit, kills), and
// misuse. Ports the cases of gevent's test__pool.py that apply (each test
// names the one it ports); the group behaviour shared with pool is in
// group_test.cpp. Nothing here orders tasks with sleeps: gates and yields do.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <exception>
#include <optional>
#include <ranges>
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
#include <tendril/sync/event.hpp>
#include <tendril/sync/pool.hpp>

#include "support/hub_fixture.hpp"

namespace {

using namespace std::chrono_literals;
using tendril::pool;
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

int square(int x) { return x * x; }

std::vector<int> squares(int n) {
  std::vector<int> out;
  for (int i = 0; i < n; ++i) out.push_back(i * i);
  return out;
}

double divide_by(int x) {
  if (x == 0) throw std::domain_error("division by zero");
  return 1.0 / x;
}

/// ticks(n) lets the hub run the other fibers n times: a deterministic "work".
void ticks(int n) {
  for (int i = 0; i < n; ++i) tendril::yield();
}

/// concurrency counts how many tasks are inside at once, and the most seen.
struct concurrency {
  int now = 0;
  int most = 0;
  void enter() { most = std::max(most, ++now); }
  void leave() { --now; }
};

/// gates(n) is n gates, one per item.
std::vector<gate> gates(std::size_t n) { return std::vector<gate>(n); }

}  // namespace

// --- the bound ------------------------------------------------------------------

TEST_CASE("a pool of size 0 throws tendril::error naming it (test__pool.py: test_init_error)") {
  hub_check hub;
  CHECK_THROWS_WITH(pool(0, "empty"),
                    "pool \"empty\": size must be at least 1 (a pool of 0 could never run a task)");
  pool p(2, "crawlers");
  CHECK(p.capacity() == 2);
  CHECK(p.describe() == "pool \"crawlers\"");
}

TEST_CASE("spawn parks while the pool is full, until a task finishes (test__pool.py: TestSpawn)") {
  hub_check hub;
  pool p(1);
  gate done;
  bool unwound = false;
  CHECK(p.size() == 0);
  auto first = p.spawn(parked_until{done, unwound});
  CHECK(p.size() == 1);
  CHECK(p.full());
  auto opener = spawn([&] { done.open(); });
  auto second = p.spawn([] {});  // parks until `first` has finished
  CHECK(first.ready());
  CHECK(p.size() == 1);
  CHECK(p.join());
  CHECK(p.size() == 0);
  CHECK(second.successful());
  opener.join();
}

TEST_CASE("free_count counts the free slots (test__pool.py: test_execute_async)") {
  hub_check hub;
  pool p(2);
  CHECK(p.free_count() == 2);
  strings r;
  auto first = p.spawn([&] { r.push_back("1"); });
  CHECK(p.free_count() == 1);
  first.join();
  CHECK(r == strings{"1"});
  CHECK(p.free_count() == 2);
  p.spawn([&] { r.push_back("2"); });
  CHECK(p.free_count() == 1);
  p.spawn([&] { r.push_back("3"); });
  CHECK(p.free_count() == 0);
  CHECK(r == strings{"1"});
  p.spawn([&] { r.push_back("4"); });  // full: parks, and the others run
  CHECK(p.join());
  std::sort(r.begin(), r.end());
  CHECK(r == strings{"1", "2", "3", "4"});
  CHECK(p.free_count() == 2);
}

TEST_CASE("a pool never runs more than its size at once") {
  hub_check hub;
  const std::size_t size = GENERATE(1u, 2u, 3u, 5u);
  pool p(size);
  concurrency c;
  for (int i = 0; i < 20; ++i)
    p.spawn([&c, i] {
      c.enter();
      ticks(i % 4 + 1);
      c.leave();
    });
  CHECK(p.join());
  CHECK(c.most == static_cast<int>(size));
}

TEST_CASE("blocked spawners get slots in the order they started waiting") {
  hub_check hub;
  pool p(1);
  gate done;
  bool unwound = false;
  p.spawn(parked_until{done, unwound});
  strings order;
  std::vector<task<void>> spawners;
  for (const char* name : {"a", "b", "c", "d"})
    spawners.push_back(spawn([&p, &order, name] { p.spawn([&order, name] { order.push_back(name); }); }));
  tendril::yield();  // all four park, in order
  CHECK(p.free_count() == 0);
  done.open();
  CHECK(tendril::joinall(spawners, 10s));
  CHECK(p.join());
  CHECK(order == strings{"a", "b", "c", "d"});
}

TEST_CASE("a slot given back while spawners wait goes to the oldest: try_spawn cannot take it first") {
  hub_check hub;
  pool p(1);
  gate done;
  bool unwound = false;
  auto occupant = p.spawn(parked_until{done, unwound});
  bool waiter_spawned = false;
  auto waiter = spawn([&] { p.spawn([&] { waiter_spawned = true; }); });
  tendril::yield();
  std::optional<bool> barged;
  // A link runs right after the occupant finished: its slot has just been granted.
  occupant.link([&](const task_base&) { barged = p.try_spawn([] {}).has_value(); });
  done.open();
  waiter.join();
  CHECK(p.join());
  REQUIRE(barged.has_value());
  CHECK_FALSE(*barged);
  CHECK(waiter_spawned);
}

TEST_CASE("a spawner killed while blocked takes no slot") {
  hub_check hub;
  pool p(1);
  gate done;
  bool unwound = false;
  p.spawn(parked_until{done, unwound});
  bool spawner_unwound = false;
  bool spawned_ran = false;
  auto spawner = spawn([&] {
    unwind_flag flag{spawner_unwound};
    p.spawn([&] { spawned_ran = true; });
  });
  tendril::yield();
  CHECK(spawner.kill());
  CHECK(spawner_unwound);
  done.open();
  CHECK(p.join());
  CHECK(p.free_count() == 1);
  CHECK_FALSE(spawned_ran);
  auto again = p.try_spawn([] { return 7; });
  REQUIRE(again.has_value());
  CHECK(again->get() == 7);
}

TEST_CASE("a spawner killed just as its slot is granted passes it on to the next spawner") {
  hub_check hub;
  pool p(1);
  gate done;
  bool unwound = false;
  auto occupant = p.spawn(parked_until{done, unwound});
  strings spawned;
  auto first = spawn([&] { p.spawn([&] { spawned.push_back("first"); }); });
  auto second = spawn([&] { p.spawn([&] { spawned.push_back("second"); }); });
  tendril::yield();
  // Right after the occupant finished, its slot is granted to `first`,
  // which has not run yet: kill it there.
  occupant.link([&](const task_base&) { first.kill(nullptr, /*block=*/false); });
  done.open();
  CHECK(tendril::joinall({first, second}, 10s));
  CHECK(first.killed());
  CHECK(p.join());
  CHECK(spawned == strings{"second"});
  CHECK(p.free_count() == 1);
}

TEST_CASE("an expired timeout scope raises timeout_error from a blocked spawn, and takes no slot") {
  hub_check hub;
  pool p(1);
  gate done;
  bool unwound = false;
  p.spawn(parked_until{done, unwound});
  bool timed_out = false;
  try {
    tendril::timeout limit(10ms);
    p.spawn([] {});
  } catch (const tendril::timeout_error&) {
    timed_out = true;
  }
  CHECK(timed_out);
  CHECK(p.size() == 1);
  done.open();
  CHECK(p.join());
  CHECK(p.free_count() == 1);
}

TEST_CASE("try_spawn returns nullopt while the pool is full, and try_spawn_for once its timeout passes") {
  hub_check hub;
  pool p(1);
  gate done;
  bool unwound = false;
  p.spawn(parked_until{done, unwound});
  CHECK_FALSE(p.try_spawn([] {}).has_value());
  CHECK_FALSE(p.try_spawn_for(10ms, [] {}).has_value());
  CHECK_FALSE(p.try_spawn_until(tendril::clock::now() - 1s, [] {}).has_value());
  CHECK(p.size() == 1);
  auto opener = spawn([&] { done.open(); });
  auto add_one = [](int x) { return x + 1; };
  auto late = p.try_spawn_for(10s, add_one, 41);
  REQUIRE(late.has_value());
  CHECK(late->get() == 42);
  CHECK(p.join());
  opener.join();
}

TEST_CASE(
    "add takes a slot for a task spawned elsewhere (test__pool.py: test_add_method, "
    "test_add_method_non_blocking, test_add_method_timeout)") {
  hub_check hub;
  pool p(1);
  gate done;
  bool first_unwound = false, second_unwound = false;
  auto first = spawn(parked_until{done, first_unwound});
  auto second = spawn(parked_until{done, second_unwound});
  CHECK(p.free_count() == 1);
  CHECK(p.add(first));
  CHECK(p.free_count() == 0);
  CHECK(p.size() == 1);
  CHECK_FALSE(p.add(first));         // already in: no second slot
  CHECK_FALSE(p.add(second, 0s));    // non-blocking: full
  CHECK_FALSE(p.add(second, 10ms));  // timed out
  bool timed_out = false;
  try {
    tendril::timeout limit(10ms);
    p.add(second);
  } catch (const tendril::timeout_error&) {
    timed_out = true;
  }
  CHECK(timed_out);
  CHECK(p.size() == 1);
  CHECK(p.free_count() == 0);
  done.open();
  tendril::joinall({first, second});
  CHECK(p.empty());
  CHECK(p.free_count() == 1);
}

TEST_CASE("discard takes a task out and gives its slot back (test__pool.py: test_discard)") {
  hub_check hub;
  pool p(1);
  gate never;
  bool unwound = false;
  auto first = p.spawn(parked_until{never, unwound});
  tendril::yield();
  CHECK(p.discard(first));
  CHECK(p.empty());
  CHECK(p.free_count() == 1);
  CHECK(first.kill());
  CHECK(unwound);
  CHECK(p.free_count() == 1);  // its end gives nothing back a second time
}

TEST_CASE(
    "wait_available waits for a free slot without taking it (test__pool.py: TestPool0.test_wait_full)") {
  hub_check hub;
  pool p(1);
  CHECK(p.wait_available(0s));
  CHECK(p.free_count() == 1);
  gate done;
  bool unwound = false;
  p.spawn(parked_until{done, unwound});
  CHECK_FALSE(p.wait_available(10ms));
  CHECK_FALSE(p.wait_available_until(tendril::clock::now() - 1s));
  auto opener = spawn([&] { done.open(); });
  CHECK(p.wait_available(10s));
  CHECK(p.free_count() == 1);
  opener.join();
}

TEST_CASE("two fibers in a pool of 2 run side by side (test__pool.py: test_multiple_coros)") {
  hub_check hub;
  pool p(2);
  tendril::event evt;
  strings results;
  auto consumer = p.spawn([&] {
    results.push_back("cons1");
    evt.wait();
    results.push_back("cons2");
  });
  p.spawn([&] {
    tendril::yield();
    results.push_back("prod");
    evt.set();
  });
  consumer.get();
  CHECK(results == strings{"cons1", "prod", "cons2"});
  CHECK(p.join());
}

TEST_CASE(
    "join with raise_error on a pool rethrows a task's failure (test__pool.py: TestJoinSleep_raise_error)") {
  hub_check hub;
  pool p(2);
  p.spawn([] { throw expected_failure("worker failed"); });
  CHECK_THROWS_WITH(p.join(10s, /*raise_error=*/true), "worker failed");
  CHECK(p.empty());
}

// --- apply ----------------------------------------------------------------------

TEST_CASE("apply runs the function in the pool and returns its value (test__pool.py: test_apply)") {
  hub_check hub;
  pool p(2);
  bool in_pool = false;
  auto value = p.apply(
      [&](int a) {
        in_pool = p.contains(tendril::current_task());
        return std::string("foo") + std::to_string(a);
      },
      1);
  CHECK(value == "foo1");
  CHECK(in_pool);
  CHECK(p.apply(square, 5) == 25);
  CHECK(p.empty());
}

TEST_CASE("apply rethrows the function's exception (test__pool.py: test_apply_raises)") {
  hub_check hub;
  pool p(1);
  CHECK_THROWS_AS(p.apply([] { throw expected_failure("raiser"); }), expected_failure);
  CHECK(p.empty());
}

TEST_CASE(
    "apply from a task of the pool runs inline, so a full pool does not deadlock "
    "(test__pool.py: test_reentrant)") {
  hub_check hub;
  pool p(1);
  std::uint64_t outer_id = 0, inner_id = 0;
  tendril::timeout limit(10s);  // a regression deadlocks: fail instead of hanging
  int result = p.apply([&] {
    outer_id = tendril::current_task().id();
    return p.apply(
        [&](int a) {
          inner_id = tendril::current_task().id();
          return a + 1;
        },
        5);
  });
  CHECK(result == 6);
  CHECK(inner_id == outer_id);
  tendril::event evt;
  p.spawn([&] { evt.set(); });
  evt.wait();
  CHECK(p.join());
}

TEST_CASE("a caller killed in apply kills the task it spawned and waits for it") {
  hub_check hub;
  pool p(1);
  gate never;
  bool work_unwound = false;
  bool caller_unwound = false;
  auto caller = spawn([&] {
    unwind_flag flag{caller_unwound};
    p.apply([&] {
      unwind_flag f{work_unwound};
      never.wait();
    });
  });
  tendril::yield();
  tendril::yield();
  CHECK(p.size() == 1);
  CHECK(caller.kill());
  CHECK(caller_unwound);
  CHECK(work_unwound);  // before the caller finished
  CHECK(p.empty());
}

// --- map --------------------------------------------------------------------------

TEST_CASE("map returns the results in input order (test__pool.py: test_map)") {
  hub_check hub;
  const std::size_t size = GENERATE(1u, 2u, 3u, 10u);
  pool p(size);
  CHECK(p.map(square, std::views::iota(0, 10)) == squares(10));
  CHECK(p.map(square, std::views::iota(0, 100)) == squares(100));
  CHECK(p.empty());
}

TEST_CASE("map of an empty range is empty (test__pool.py: test_empty_map)") {
  hub_check hub;
  pool p(3);
  CHECK(p.map(square, std::vector<int>{}).empty());
}

TEST_CASE("map keeps input order when the tasks finish in another order") {
  hub_check hub;
  pool p(5);
  auto g = gates(5);
  std::vector<int> finished;
  int waiting = 0;
  auto opener = spawn([&] {
    while (waiting < 5) tendril::yield();  // every item is running
    for (int i = 4; i >= 0; --i) {
      g[i].open();
      tendril::yield();
    }
  });
  auto results = p.map(
      [&](int i) {
        ++waiting;
        g[i].wait();
        finished.push_back(i);
        return std::to_string(i);
      },
      std::vector<int>{0, 1, 2, 3, 4});
  CHECK(finished == std::vector<int>{4, 3, 2, 1, 0});
  CHECK(results == strings{"0", "1", "2", "3", "4"});
  opener.join();
}

TEST_CASE("map runs at most the pool's size at once, and waits its turn for slots") {
  hub_check hub;
  pool p(3);
  concurrency c;
  auto results = p.map(
      [&](int i) {
        c.enter();
        ticks(i % 3 + 1);
        c.leave();
        return i;
      },
      std::views::iota(0, 20));
  CHECK(c.most == 3);
  CHECK(results.size() == 20);
  CHECK(std::ranges::equal(results, std::views::iota(0, 20)));
}

TEST_CASE("map rethrows a failure (test__pool.py: TestErrorInHandler.test_map)") {
  hub_check hub;
  pool p(3);
  CHECK_THROWS_WITH(p.map(divide_by, std::vector<int>{1, 0, 2}), "division by zero");
  CHECK(p.empty());
}

TEST_CASE("map rethrows the first failure after killing the tasks still running, and spawns no more") {
  hub_check hub;
  pool p(3);
  gate never;
  std::vector<bool> unwound(6, false);
  std::vector<bool> started(6, false);
  auto work = [&](int i) {
    started[i] = true;
    struct flag {
      std::vector<bool>& all;
      int i;
      ~flag() { all[i] = true; }
    } f{unwound, i};
    if (i == 1) throw expected_failure("item 1");
    never.wait();
    return i;
  };
  CHECK_THROWS_WITH(p.map(work, std::views::iota(0, 6)), "item 1");
  CHECK(p.empty());
  CHECK(unwound[0]);
  CHECK(unwound[2]);
  CHECK_FALSE(started[4]);  // item 1's slot went to item 3 at most
  CHECK_FALSE(started[5]);
  for (int i = 0; i < 6; ++i) CHECK(unwound[i] == started[i]);
}

TEST_CASE("map rethrows an exception from iterating its input (test__pool.py: TestErrorInIterator.test)") {
  hub_check hub;
  pool p(3);
  std::vector<int> seen;
  auto items = std::views::iota(0, 5) | std::views::transform([](int x) {
                 if (x == 2) throw expected_failure("bad input");
                 return x;
               });
  CHECK_THROWS_WITH(p.map(
                        [&](int x) {
                          seen.push_back(x);
                          return x;
                        },
                        items),
                    "bad input");
  std::sort(seen.begin(), seen.end());
  CHECK(seen == std::vector<int>{0, 1});  // the items before it were done
  CHECK(p.empty());
}

TEST_CASE("a map whose caller is killed kills its tasks and waits for them") {
  hub_check hub;
  pool p(2);
  gate never;
  int unwound = 0;
  auto mapper = spawn([&] {
    p.map(
        [&](int) {
          struct flag {
            int& n;
            ~flag() { ++n; }
          } f{unwound};
          never.wait();
          return 0;
        },
        std::views::iota(0, 10));
  });
  tendril::yield();
  tendril::yield();
  CHECK(p.size() == 2);
  CHECK(mapper.kill());
  CHECK(mapper.killed());
  CHECK(unwound == 2);
  CHECK(p.empty());
}

TEST_CASE("pool.kill while a map runs makes map throw task_killed (test__pool.py: test_terminate)") {
  hub_check hub;
  pool p(2);
  gate never;
  auto mapper = spawn([&] {
    return p.map(
        [&](int i) {
          never.wait();
          return i;
        },
        std::views::iota(0, 6));
  });
  tendril::yield();
  tendril::yield();
  CHECK(p.size() == 2);
  CHECK(p.kill());
  CHECK_THROWS_AS(mapper.get(), tendril::task_killed);
  CHECK(p.empty());
}

// --- imap, imap_unordered ---------------------------------------------------------

TEST_CASE(
    "imap yields the results in input order (test__pool.py: test_imap_it_small, test_imap_list_small, "
    "test_imap_it_large)") {
  hub_check hub;
  const std::size_t size = GENERATE(1u, 2u, 3u, 10u);
  pool p(size);
  auto it = p.imap(square, std::views::iota(0, 10));
  for (int i = 0; i < 10; ++i) CHECK(it.next() == i * i);
  CHECK_FALSE(it.next().has_value());
  std::vector<int> all;
  for (int v : p.imap(square, std::views::iota(0, 1000))) all.push_back(v);
  CHECK(all == squares(1000));
  CHECK(p.empty());
}

TEST_CASE(
    "imap_unordered yields every result (test__pool.py: test_imap_unordered, test_imap_unordered_random)") {
  hub_check hub;
  const std::size_t size = GENERATE(1u, 2u, 3u, 10u);
  pool p(size);
  std::vector<int> all;
  for (int v : p.imap_unordered(
           [](int x) {
             ticks((x * 7) % 5);
             return x * x;
           },
           std::views::iota(0, 1000)))
    all.push_back(v);
  std::sort(all.begin(), all.end());
  CHECK(all == squares(1000));
}

TEST_CASE(
    "imap and imap_unordered of an empty range yield nothing (test__pool.py: test_empty_imap, "
    "test_empty_imap_unordered)") {
  hub_check hub;
  pool p(2);
  CHECK_FALSE(p.imap(square, std::vector<int>{}).next().has_value());
  CHECK_FALSE(p.imap_unordered(square, std::vector<int>{}).next().has_value());
}

TEST_CASE("imap_unordered yields each result as its task finishes, while the others still run") {
  hub_check hub;
  pool p(3);
  auto g = gates(3);
  std::vector<bool> finished(3, false);
  auto results = p.imap_unordered(
      [&](int i) {
        g[i].wait();
        finished[i] = true;
        return i;
      },
      std::vector<int>{0, 1, 2});
  static_assert(std::ranges::input_range<decltype(results)>);
  g[2].open();
  CHECK(results.next() == 2);
  CHECK_FALSE(finished[0]);
  CHECK_FALSE(finished[1]);
  g[0].open();
  CHECK(results.next() == 0);
  CHECK_FALSE(finished[1]);
  g[1].open();
  CHECK(results.next() == 1);
  CHECK_FALSE(results.next().has_value());
}

TEST_CASE("imap yields each result once it and those before it are done, while later ones still run") {
  hub_check hub;
  pool p(3);
  auto g = gates(3);
  std::vector<bool> finished(3, false);
  int waiting = 0;
  auto results = p.imap(
      [&](int i) {
        ++waiting;
        g[i].wait();
        finished[i] = true;
        return i * 10;
      },
      std::vector<int>{0, 1, 2});
  auto driver = spawn([&] {
    while (waiting < 3) tendril::yield();  // every item is running
    g[1].open();
    tendril::yield();  // item 1 finishes first
    g[0].open();
  });
  CHECK(results.next() == 0);
  CHECK(finished[1]);  // finished before item 0, handed out after it
  CHECK_FALSE(finished[2]);
  CHECK(results.next() == 10);
  CHECK_FALSE(finished[2]);
  g[2].open();
  CHECK(results.next() == 20);
  CHECK_FALSE(results.next().has_value());
  driver.join();
}

TEST_CASE("imap_unordered yields results in completion order (test__pool.py: test_imap_unordered_sleep)") {
  hub_check hub;
  const std::size_t size = GENERATE(1u, 3u);
  pool p(size);
  strings order;
  for (std::string s : p.imap_unordered(
           [](int n) {
             ticks(n);
             return std::to_string(n);
           },
           std::vector<int>{10, 1, 2}))
    order.push_back(s);
  CHECK(order == (size == 1 ? strings{"10", "1", "2"} : strings{"1", "2", "10"}));
}

TEST_CASE(
    "imap and imap_unordered rethrow a failed item in its turn and go on (test__pool.py: "
    "TestErrorInHandler.test_imap, test_imap_unordered)") {
  hub_check hub;
  pool p(1);
  const bool ordered = GENERATE(true, false);
  auto check = [](auto&& it) {
    CHECK(it.next() == 1.0);
    CHECK_THROWS_WITH(it.next(), "division by zero");
    CHECK(it.next() == 0.5);
    CHECK_FALSE(it.next().has_value());
  };
  if (ordered)
    check(p.imap(divide_by, std::vector<int>{1, 0, 2}));
  else
    check(p.imap_unordered(divide_by, std::vector<int>{1, 0, 2}));
  CHECK(p.empty());
}

TEST_CASE(
    "imap_unordered rethrows an exception from iterating its input after the items before it "
    "(test__pool.py: TestErrorInIterator.test_unordered)") {
  hub_check hub;
  pool p(3);
  auto items = std::views::iota(0, 5) | std::views::transform([](int x) {
                 if (x == 2) throw expected_failure("bad input");
                 return x;
               });
  auto results = p.imap_unordered(square, items);
  std::vector<int> got;
  CHECK_THROWS_WITH(
      [&] {
        for (int v : results) got.push_back(v);
      }(),
      "bad input");
  std::sort(got.begin(), got.end());
  CHECK(got == std::vector<int>{0, 1});
}

TEST_CASE(
    "imap over an input that parks after its last item (test__pool.py: test_imap_final_sleep, "
    "test_imap_unordered_final_sleep)") {
  hub_check hub;
  pool p(2);
  const bool ordered = GENERATE(true, false);
  // Taking the end of the input parks (a filter whose last test sleeps).
  auto input = [] {
    return std::views::iota(0, 4) | std::views::filter([](int x) {
             if (x == 3) tendril::sleep(1ms);
             return x < 3;
           });
  };
  std::vector<int> got;
  if (ordered)
    for (int v : p.imap(square, input())) got.push_back(v);
  else
    for (int v : p.imap_unordered(square, input())) got.push_back(v);
  std::sort(got.begin(), got.end());
  CHECK(got == std::vector<int>{0, 1, 4});
}

TEST_CASE("leaving an imap_unordered early kills the tasks still running and waits for them") {
  hub_check hub;
  pool p(2);
  auto g = gates(6);
  int started = 0, unwound = 0;
  {
    auto results = p.imap_unordered(
        [&](int i) {
          ++started;
          struct flag {
            int& n;
            ~flag() { ++n; }
          } f{unwound};
          g[i].wait();
          return i;
        },
        std::views::iota(0, 6));
    g[0].open();
    for (int v : results) {
      CHECK(v == 0);
      break;
    }
  }
  CHECK(started >= 2);
  CHECK(started <= 3);  // item 0's slot went to item 2 at most
  CHECK(unwound == started);
  CHECK(p.empty());
}

// --- misuse ---------------------------------------------------------------------

TEST_CASE("a pool used from another thread throws tendril::error naming it") {
  hub_check hub;
  pool p(2, "local");
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
    record([&] { p.spawn([] {}); });
    record([&] { (void)p.apply(square, 2); });
    record([&] { (void)p.map(square, std::vector<int>{1}); });
    record([&] { p.wait_available(); });
  });
  other.join();
  REQUIRE(errors.size() == 4);
  for (const std::string& e : errors)
    CHECK_THAT(e, Catch::StartsWith("pool \"local\" was used from thread "));
  CHECK(p.free_count() == 2);
}

TEST_CASE("a task of the pool cannot join it: tendril::error naming the task and the pool") {
  hub_check hub;
  pool p(2, "workers");
  auto inside = p.spawn([&] {
    try {
      p.join();
    } catch (const tendril::error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  });
  const std::string expected =
      " cannot join pool \"workers\": it is one of its tasks (it would wait for itself)";
  CHECK(inside.get() == inside.describe() + expected);
}
