// semaphore and bounded_semaphore: acquiring, FIFO release, release(n),
// deadlines, kills (a permit granted to a fiber killed at that moment goes on
// to the next waiter), the bound, and threads. Ports cases of gevent's
// test__semaphore.py (TestSemaphore, TestSemaphoreMultiThread,
// TestBoundedSemaphoreMultiThread, TestSemaphoreFair).

#include <algorithm>
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
#include <tendril/sync/semaphore.hpp>

#include "support/hub_fixture.hpp"
#include "sync/sync_threads.hpp"

namespace {

using namespace std::chrono_literals;
using tendril::bounded_semaphore;
using tendril::semaphore;
using tendril::spawn;
using tendril::spawn_options;
using tendril::task;
using tendril::testing::hub_check;
using tendril::testing::thread_errors;
using tendril::testing::unwind_flag;
using strings = std::vector<std::string>;

}  // namespace

// --- acquiring ----------------------------------------------------------------

TEST_CASE("acquire takes a free permit at once") {
  hub_check hub;
  semaphore s(2, "slots");
  bool other_ran = false;
  auto other = spawn([&] { other_ran = true; });
  s.acquire();
  CHECK(s.available() == 1);
  s.acquire();
  CHECK(s.available() == 0);
  CHECK_FALSE(other_ran);  // no park on the fast path
  s.release(2);
  CHECK(s.available() == 2);
  other.join();
  CHECK(s.describe() == "semaphore \"slots\"");
}

TEST_CASE("try_acquire takes a free permit, and returns false when none is free") {
  hub_check hub;
  semaphore s(1);
  CHECK(s.try_acquire());
  CHECK_FALSE(s.try_acquire());
  CHECK(s.available() == 0);
  s.release();
  CHECK(s.try_acquire());
  s.release();
}

TEST_CASE(
    "try_acquire_for returns false once the timeout passes (test__semaphore.py: "
    "test_acquire_returns_false_after_timeout)") {
  hub_check hub;
  semaphore s(0);
  auto start = tendril::clock::now();
  CHECK_FALSE(s.try_acquire_for(30ms));
  CHECK(tendril::clock::now() - start >= 30ms);
  CHECK(s.available() == 0);
  // The waiter that gave up is gone: a release now raises the count.
  s.release();
  CHECK(s.available() == 1);
}

TEST_CASE("try_acquire_until returns false once the deadline passes") {
  hub_check hub;
  semaphore s(0);
  auto deadline = tendril::clock::now() + 20ms;
  CHECK_FALSE(s.try_acquire_until(deadline));
  CHECK(tendril::clock::now() >= deadline);
  CHECK_FALSE(s.try_acquire_until(tendril::clock::now() - 1s));
}

TEST_CASE("try_acquire_for returns true once another fiber releases in time") {
  hub_check hub;
  semaphore s(0);
  auto releaser = spawn([&] {
    tendril::sleep(10ms);
    s.release();
  });
  CHECK(s.try_acquire_for(10s));
  CHECK(s.available() == 0);
  releaser.join();
}

// --- release order --------------------------------------------------------------

TEST_CASE("release grants permits to the waiters in the order they started waiting") {
  hub_check hub;
  semaphore s(0);
  strings order;
  std::vector<task<void>> waiters;
  for (const char* name : {"a", "b", "c", "d"})
    waiters.push_back(spawn([&s, &order, name] {
      if (s.try_acquire_for(10s)) order.push_back(name);
    }));
  tendril::yield();
  for (int i = 0; i < 4; ++i) {
    s.release();
    tendril::yield();
    CHECK(order.size() == static_cast<std::size_t>(i + 1));
  }
  CHECK(tendril::joinall(waiters, 10s));
  CHECK(order == strings{"a", "b", "c", "d"});
  CHECK(s.available() == 0);
}

TEST_CASE("a release with waiters hands its permit over: a fiber arriving later cannot take it first") {
  hub_check hub;
  semaphore s(0);
  auto waiter = spawn([&] { return s.try_acquire_for(10s); });
  tendril::yield();
  s.release();
  CHECK(s.available() == 0);     // granted to the waiter, not counted free
  CHECK_FALSE(s.try_acquire());  // so the releaser cannot barge
  CHECK(waiter.get());
}

TEST_CASE("release(n) wakes n waiters, the oldest first") {
  hub_check hub;
  semaphore s(0);
  strings order;
  std::vector<task<void>> waiters;
  for (const char* name : {"a", "b", "c", "d"})
    waiters.push_back(spawn([&s, &order, name] {
      if (s.try_acquire_for(10s)) order.push_back(name);
    }));
  tendril::yield();
  s.release(2);
  tendril::yield();
  CHECK(order == strings{"a", "b"});
  s.release(3);  // two waiters left: one permit stays free
  CHECK(tendril::joinall(waiters, 10s));
  CHECK(order == strings{"a", "b", "c", "d"});
  CHECK(s.available() == 1);
}

TEST_CASE("a semaphore limits how many fibers are inside at once (downloads)") {
  hub_check hub;
  semaphore s(3);
  int inside = 0;
  int most = 0;
  int done = 0;
  std::vector<task<void>> downloads;
  for (int i = 0; i < 12; ++i)
    downloads.push_back(spawn([&, i] {
      tendril::timeout limit(10s);
      s.acquire();
      ++inside;
      most = std::max(most, inside);
      tendril::sleep(std::chrono::milliseconds(1 + i % 3));
      --inside;
      ++done;
      s.release();
    }));
  CHECK(tendril::joinall(downloads, 20s, true));
  CHECK(done == 12);
  CHECK(most == 3);
  CHECK(s.available() == 3);
}

// --- kills and timeout scopes ---------------------------------------------------

TEST_CASE("a kill while acquiring removes the waiter: the next release goes to the others") {
  hub_check hub;
  semaphore s(0);
  strings order;
  bool unwound = false;
  auto a = spawn(spawn_options{"a"}, [&] {
    unwind_flag flag{unwound};
    s.acquire();
    order.push_back("a");
  });
  auto b = spawn(spawn_options{"b"}, [&] {
    if (s.try_acquire_for(10s)) order.push_back("b");
  });
  tendril::yield();
  CHECK(a.kill());
  CHECK(a.killed());
  CHECK(unwound);
  s.release();
  b.join();
  CHECK(order == strings{"b"});
  CHECK(s.available() == 0);
  s.release();
  CHECK(s.available() == 1);
}

TEST_CASE("a permit granted to a waiter killed at that moment is passed on to the next waiter") {
  hub_check hub;
  semaphore s(0);
  strings order;
  auto a = spawn(spawn_options{"a"}, [&] {
    if (s.try_acquire_for(10s)) order.push_back("a");
  });
  auto b = spawn(spawn_options{"b"}, [&] {
    if (s.try_acquire_for(10s)) order.push_back("b");
  });
  tendril::yield();  // both wait
  s.release();       // granted to a, which has not run yet
  a.kill(nullptr, false);
  CHECK(b.join_for(10s));
  CHECK(a.join_for(10s));
  CHECK(a.killed());
  CHECK(order == strings{"b"});
  CHECK(s.available() == 0);  // b holds the one permit
  s.release();
  CHECK(s.available() == 1);
}

TEST_CASE("a permit granted to the only waiter, killed at that moment, goes back to the count") {
  hub_check hub;
  semaphore s(0);
  auto a = spawn([&] { return s.try_acquire_for(10s); });
  tendril::yield();
  s.release();
  a.kill(nullptr, false);
  CHECK(a.join_for(10s));
  CHECK(a.killed());
  CHECK(s.available() == 1);
}

TEST_CASE("an expired timeout scope raises timeout_error from acquire, taking no permit") {
  hub_check hub;
  semaphore s(0);
  auto t = spawn([&] {
    tendril::timeout limit(20ms);
    try {
      s.acquire();
      return false;
    } catch (const tendril::timeout_error& e) {
      return limit.owns(e);
    }
  });
  CHECK(t.get());
  s.release();
  CHECK(s.available() == 1);
}

// --- bounded_semaphore --------------------------------------------------------

TEST_CASE(
    "bounded_semaphore: a release above the initial count throws tendril::error and changes nothing "
    "(test__semaphore.py: BoundedSemaphore release too many)") {
  hub_check hub;
  bounded_semaphore s(2, "pool");
  CHECK_THROWS_AS(s.release(), tendril::error);
  CHECK(s.available() == 2);
  s.acquire();
  CHECK_THROWS_WITH(s.release(2),
                    Catch::Contains("semaphore \"pool\"") && Catch::Contains("bounded_semaphore"));
  CHECK(s.available() == 1);
  s.release();
  CHECK(s.available() == 2);
  CHECK_THROWS_AS(s.release(), tendril::error);
  CHECK(s.available() == 2);
}

TEST_CASE("bounded_semaphore: a permit granted to a waiter and released by it stays within the bound") {
  hub_check hub;
  bounded_semaphore s(1);
  s.acquire();
  auto waiter = spawn([&] {
    if (!s.try_acquire_for(10s)) return false;
    s.release();
    return true;
  });
  tendril::yield();
  s.release();
  CHECK(waiter.get());
  CHECK(s.available() == 1);
  CHECK_THROWS_AS(s.release(), tendril::error);
  CHECK(s.available() == 1);
}

// --- fairness -----------------------------------------------------------------

TEST_CASE(
    "fibers that keep re-acquiring do not starve a waiter (test__semaphore.py: "
    "TestSemaphoreFair.test_fair_or_hangs)") {
  hub_check hub;
  semaphore s(1);
  bool quit = false;
  int rounds_before_exit = 0;
  auto keep_going = [&] {
    tendril::timeout limit(10s);
    while (!quit) {
      s.acquire();
      tendril::yield();
      s.release();
      if (!quit) ++rounds_before_exit;
    }
  };
  auto k1 = spawn(keep_going);
  auto k2 = spawn(keep_going);
  auto exiting = spawn([&] {
    bool got = s.try_acquire_for(10s);
    quit = true;
    if (got) s.release();
    return got;
  });
  CHECK(exiting.get());
  CHECK(tendril::joinall({k1, k2}, 10s, true));
  CHECK(rounds_before_exit <= 3);
  CHECK(s.available() == 1);
}

// --- threads ------------------------------------------------------------------

TEST_CASE(
    "a plain thread waits for a permit a fiber releases (test__semaphore.py: "
    "test_acquire_in_one_then_another)") {
  hub_check hub;
  thread_errors errors;
  semaphore s(1);
  s.acquire();
  std::atomic<bool> returned{false};
  std::atomic<bool> acquired{false};
  std::thread t = tendril::testing::plain_thread(errors, [&] {
    acquired = s.try_acquire_for(10s);
    returned = true;
  });
  tendril::sleep(30ms);
  CHECK_FALSE(returned);
  s.release();
  t.join();
  CHECK(acquired);
  CHECK(s.available() == 0);
  CHECK(errors.take().empty());
}

TEST_CASE(
    "a plain thread gives up once its timeout passes (test__semaphore.py: "
    "test_acquire_in_one_then_another_timed)") {
  hub_check hub;
  thread_errors errors;
  semaphore s(1);
  s.acquire();
  std::atomic<bool> acquired{true};
  std::thread t = tendril::testing::plain_thread(errors, [&] { acquired = s.try_acquire_for(20ms); });
  t.join();
  CHECK_FALSE(acquired);
  s.release();  // wakes nobody: the thread's waiter is gone
  CHECK(s.available() == 1);
  CHECK(errors.take().empty());
}

TEST_CASE(
    "a fiber is granted the permit while a thread waiting after it gives up (test__semaphore.py: "
    "test_acquire_in_one_wait_greenlet_wait_thread_gives_up)") {
  hub_check hub;
  thread_errors errors;
  semaphore s(1);
  s.acquire();
  std::atomic<bool> thread_acquired{true};
  std::thread t;
  auto fiber = spawn([&] {
    bool got = s.try_acquire_for(10s);
    t = tendril::testing::plain_thread(errors, [&] { thread_acquired = s.try_acquire_for(30ms); });
    tendril::sleep(60ms);
    return got;
  });
  tendril::yield();
  s.release();
  CHECK(fiber.get());
  t.join();
  CHECK_FALSE(thread_acquired);
  CHECK(s.available() == 0);
  CHECK(errors.take().empty());
}

namespace {

// Acquires and releases `s` `count` times, incrementing `counter` (not
// atomic: only the semaphore protects it); returns false if an acquire took
// longer than 30 s.
bool count_under(semaphore& s, long& counter, int count, bool on_hub) {
  for (int i = 0; i < count; ++i) {
    if (!s.try_acquire_for(30s)) return false;
    long seen = counter;
    if (on_hub && i % 16 == 0) tendril::yield();  // holds the permit across a switch
    counter = seen + 1;
    s.release();
  }
  return true;
}

}  // namespace

TEST_CASE("two plain threads duel on a semaphore (test__semaphore.py: test_dueling_threads)") {
  hub_check hub;
  thread_errors errors;
  semaphore s(1);
  long counter = 0;
  constexpr int count = 10000;
  std::atomic<int> failures{0};
  auto body = [&] {
    if (!count_under(s, counter, count, false)) ++failures;
  };
  std::thread t1 = tendril::testing::plain_thread(errors, body);
  std::thread t2 = tendril::testing::plain_thread(errors, body);
  t1.join();
  t2.join();
  CHECK(failures == 0);
  CHECK(counter == 2 * count);
  CHECK(s.available() == 1);
  CHECK(errors.take().empty());
}

TEST_CASE(
    "fibers on two hubs and a plain thread share a semaphore(1) guarding a counter (test__semaphore.py: "
    "test_dueling_threads_with_hub)") {
  hub_check hub;
  thread_errors errors;
  semaphore s(1);
  long counter = 0;
  constexpr int fibers_per_hub = 4;
  constexpr int count = 1000;
  int failures = tendril::testing::duel_with_hubs(
      errors, [&](bool on_hub) { return count_under(s, counter, count, on_hub); }, fibers_per_hub);
  CHECK(failures == 0);
  CHECK(counter == (2 * fibers_per_hub + 1) * count);
  CHECK(s.available() == 1);
  CHECK(errors.take().empty());
}

TEST_CASE("no permit is lost when short timeouts race releases from other threads") {
  hub_check hub;
  thread_errors errors;
  semaphore s(2);
  constexpr int rounds = 500;
  std::atomic<int> acquired{0};
  auto churn = [&](int salt) {
    for (int i = 0; i < rounds; ++i) {
      if (s.try_acquire_for(std::chrono::microseconds((i * 7 + salt) % 50))) {
        ++acquired;
        if (i % 3 == 0 && tendril::this_thread_has_hub()) tendril::yield();
        s.release();
      }
    }
  };
  auto hub_body = [&] {
    std::vector<task<void>> fibers;
    for (int i = 0; i < 3; ++i) fibers.push_back(spawn(churn, i));
    for (auto& f : fibers) f.get();
  };
  std::thread h1 = tendril::testing::hub_thread(errors, hub_body);
  std::thread h2 = tendril::testing::hub_thread(errors, hub_body);
  std::thread plain = tendril::testing::plain_thread(errors, [&] { churn(11); });
  h1.join();
  h2.join();
  plain.join();
  CHECK(acquired > 0);
  CHECK(s.available() == 2);
  CHECK(errors.take().empty());
}
