// mutex and recursive_mutex: the std lock adaptors, mutual exclusion across
// switches, FIFO hand-over without barging, misuse errors, deadlines, kills
// (ownership handed to a fiber killed at that moment goes on to the next
// waiter), and threads. Ports cases of gevent's test__lock.py (which runs
// test__semaphore.py's TestSemaphoreMultiThread on an RLock).

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include <tendril/error.hpp>
#include <tendril/hub/join.hpp>
#include <tendril/hub/sleep.hpp>
#include <tendril/hub/task.hpp>
#include <tendril/hub/timeout.hpp>
#include <tendril/sync/mutex.hpp>

#include "support/hub_fixture.hpp"
#include "sync/sync_threads.hpp"

namespace {

using namespace std::chrono_literals;
using tendril::mutex;
using tendril::recursive_mutex;
using tendril::spawn;
using tendril::spawn_options;
using tendril::task;
using tendril::testing::hub_check;
using tendril::testing::thread_errors;
using tendril::testing::unwind_flag;
using strings = std::vector<std::string>;

// Increments `counter` `times` times, reading it, yielding, then writing it
// back: only a lock held across the yield keeps every increment.
void increment_slowly(int& counter, int times) {
  for (int i = 0; i < times; ++i) {
    int seen = counter;
    tendril::yield();
    counter = seen + 1;
  }
}

}  // namespace

// --- the std adaptors -----------------------------------------------------------

TEST_CASE("mutex works with std::lock_guard") {
  hub_check hub;
  mutex m("m");
  {
    std::lock_guard guard(m);
    CHECK_FALSE(spawn([&] { return m.try_lock(); }).get());
    CHECK_THAT(m.describe(), Catch::StartsWith("mutex \"m\" held by "));
  }
  CHECK(m.try_lock());
  m.unlock();
  CHECK(m.describe() == "mutex \"m\"");
}

TEST_CASE("mutex works with std::unique_lock, including try_lock_for") {
  hub_check hub;
  mutex m;
  auto holder = spawn([&] {
    std::unique_lock lock(m);
    tendril::sleep(50ms);
  });
  tendril::yield();  // holder has it
  {
    std::unique_lock lock(m, 5ms);
    CHECK_FALSE(lock.owns_lock());
  }
  {
    std::unique_lock lock(m, 10s);
    CHECK(lock.owns_lock());
    lock.unlock();
    CHECK(lock.try_lock());
  }
  holder.join();
  std::unique_lock deferred(m, std::defer_lock);
  CHECK(deferred.try_lock_until(std::chrono::system_clock::now() + 10ms));  // another clock's deadline
}

TEST_CASE("std::scoped_lock takes two tendril mutexes without deadlock") {
  hub_check hub;
  mutex left("left");
  mutex right("right");
  int both = 0;
  auto one = spawn([&] {
    tendril::timeout limit(10s);
    for (int i = 0; i < 20; ++i) {
      std::scoped_lock lock(left, right);
      tendril::yield();
      ++both;
    }
  });
  auto two = spawn([&] {
    tendril::timeout limit(10s);
    for (int i = 0; i < 20; ++i) {
      std::scoped_lock lock(right, left);
      tendril::yield();
      ++both;
    }
  });
  CHECK(tendril::joinall({one, two}, 20s, true));
  CHECK(both == 40);
  CHECK(left.try_lock());
  CHECK(right.try_lock());
  left.unlock();
  right.unlock();
}

// --- mutual exclusion and fairness ---------------------------------------------

TEST_CASE("fibers that yield in the middle of an update lose increments without the mutex") {
  hub_check hub;
  int counter = 0;
  std::vector<task<void>> fibers;
  for (int i = 0; i < 5; ++i) fibers.push_back(spawn([&] { increment_slowly(counter, 10); }));
  CHECK(tendril::joinall(fibers, 10s, true));
  CHECK(counter < 50);  // the control: the counter test below can fail
}

TEST_CASE("fibers that yield in the middle of an update keep every increment with the mutex") {
  hub_check hub;
  mutex m;
  int counter = 0;
  std::vector<task<void>> fibers;
  for (int i = 0; i < 5; ++i)
    fibers.push_back(spawn([&] {
      tendril::timeout limit(10s);
      for (int j = 0; j < 10; ++j) {
        std::lock_guard guard(m);
        increment_slowly(counter, 1);
      }
    }));
  CHECK(tendril::joinall(fibers, 20s, true));
  CHECK(counter == 50);
}

TEST_CASE("unlock hands the mutex to the longest waiter; a fiber locking right after unlock waits its turn") {
  hub_check hub;
  mutex m;
  strings order;
  m.lock();
  std::vector<task<void>> waiters;
  for (const char* name : {"a", "b", "c"})
    waiters.push_back(spawn([&m, &order, name] {
      if (!m.try_lock_for(10s)) return;
      order.push_back(name);
      tendril::yield();
      m.unlock();
    }));
  tendril::yield();  // all three wait
  m.unlock();
  CHECK_FALSE(m.try_lock());  // handed to "a": no barging
  REQUIRE(m.try_lock_for(10s));
  order.push_back("main");
  m.unlock();
  CHECK(tendril::joinall(waiters, 10s, true));
  CHECK(order == strings{"a", "b", "c", "main"});
}

// --- misuse -----------------------------------------------------------------------

TEST_CASE("locking a mutex the fiber already holds throws tendril::error naming the fiber") {
  hub_check hub;
  mutex m("twice");
  auto t = spawn(spawn_options{"relocker"}, [&] {
    std::lock_guard guard(m);
    try {
      m.lock();
      return std::string("no error");
    } catch (const tendril::error& e) {
      return std::string(e.what());
    }
  });
  std::string message = t.get();
  CHECK_THAT(message, Catch::Contains("already holds") && Catch::Contains("mutex \"twice\"") &&
                          Catch::Contains("relocker"));
  CHECK(m.try_lock());  // the guard released it
  m.unlock();
}

TEST_CASE("try_lock and try_lock_for by the holder also throw instead of returning false") {
  hub_check hub;
  mutex m;
  m.lock();
  CHECK_THROWS_WITH(m.try_lock(), Catch::Contains("already holds"));
  CHECK_THROWS_WITH(m.try_lock_for(10ms), Catch::Contains("already holds"));
  m.unlock();
}

TEST_CASE("unlocking a mutex nobody holds throws tendril::error naming the fiber") {
  hub_check hub;
  mutex m("free");
  auto t = spawn(spawn_options{"stranger"}, [&] {
    try {
      m.unlock();
      return std::string("no error");
    } catch (const tendril::error& e) {
      return std::string(e.what());
    }
  });
  std::string message = t.get();
  CHECK_THAT(message, Catch::Contains("stranger") && Catch::Contains("mutex \"free\"") &&
                          Catch::Contains("does not hold") && Catch::Contains("not locked"));
}

TEST_CASE("unlocking a mutex another fiber holds throws naming both, and changes nothing") {
  hub_check hub;
  mutex m("theirs");
  tendril::testing::gate release;
  auto owner = spawn(spawn_options{"owner"}, [&] {
    std::lock_guard guard(m);
    release.wait();
  });
  tendril::yield();
  auto t = spawn(spawn_options{"stranger"}, [&] {
    try {
      m.unlock();
      return std::string("no error");
    } catch (const tendril::error& e) {
      return std::string(e.what());
    }
  });
  std::string message = t.get();
  CHECK_THAT(message, Catch::Contains("stranger") && Catch::Contains("held by") && Catch::Contains("owner"));
  CHECK_FALSE(m.try_lock());  // still held by owner
  release.open();
  owner.join();
  CHECK(m.try_lock());
  m.unlock();
}

// --- deadlines, kills, timeout scopes ---------------------------------------------

TEST_CASE("try_lock_for returns false once the timeout passes, and the waiter is removed") {
  hub_check hub;
  mutex m;
  m.lock();
  auto t = spawn([&] {
    auto start = tendril::clock::now();
    bool got = m.try_lock_for(30ms);
    return !got && tendril::clock::now() - start >= 30ms;
  });
  CHECK(t.get());
  m.unlock();           // nobody to hand it to
  CHECK(m.try_lock());  // so it is free
  m.unlock();
}

TEST_CASE("try_lock_until returns false once the deadline passes") {
  hub_check hub;
  mutex m;
  auto owner = spawn([&] {
    std::lock_guard guard(m);
    tendril::sleep(100ms);
  });
  tendril::yield();
  auto deadline = tendril::clock::now() + 20ms;
  CHECK_FALSE(m.try_lock_until(deadline));
  CHECK(tendril::clock::now() >= deadline);
  CHECK_FALSE(m.try_lock_until(tendril::clock::now() - 1s));
  owner.join();
}

TEST_CASE("a kill while waiting for the lock raises greenlet_exit; the lock goes to the next waiter") {
  hub_check hub;
  mutex m;
  strings order;
  bool unwound = false;
  m.lock();
  auto a = spawn(spawn_options{"a"}, [&] {
    unwind_flag flag{unwound};
    std::lock_guard guard(m);
    order.push_back("a");
  });
  auto b = spawn(spawn_options{"b"}, [&] {
    if (!m.try_lock_for(10s)) return;
    order.push_back("b");
    m.unlock();
  });
  tendril::yield();
  CHECK(a.kill());
  CHECK(a.killed());
  CHECK(unwound);
  CHECK(tendril::testing::what_of(a.exception()) ==
        tendril::testing::what_of(std::make_exception_ptr(tendril::greenlet_exit())));
  m.unlock();
  CHECK(b.join_for(10s));
  CHECK(order == strings{"b"});
  CHECK(m.try_lock());
  m.unlock();
}

TEST_CASE("ownership handed to a waiter killed at that moment is passed on to the next waiter") {
  hub_check hub;
  mutex m;
  strings order;
  m.lock();
  auto a = spawn(spawn_options{"a"}, [&] {
    if (!m.try_lock_for(10s)) return;
    order.push_back("a");
    m.unlock();
  });
  auto b = spawn(spawn_options{"b"}, [&] {
    if (!m.try_lock_for(10s)) return;
    order.push_back("b");
    m.unlock();
  });
  tendril::yield();  // both wait
  m.unlock();        // handed to a, which has not run yet
  a.kill(nullptr, false);
  CHECK(b.join_for(10s));
  CHECK(a.join_for(10s));
  CHECK(a.killed());
  CHECK(order == strings{"b"});
  CHECK(m.try_lock());  // b unlocked it: nothing leaked
  m.unlock();
}

TEST_CASE("ownership handed to the only waiter, killed at that moment, leaves the mutex free") {
  hub_check hub;
  mutex m;
  m.lock();
  auto a = spawn([&] { return m.try_lock_for(10s); });
  tendril::yield();
  m.unlock();
  a.kill(nullptr, false);
  CHECK(a.join_for(10s));
  CHECK(a.killed());
  CHECK(m.try_lock());
  m.unlock();
}

TEST_CASE("an expired timeout scope raises timeout_error from lock, and the waiter is removed") {
  hub_check hub;
  mutex m;
  m.lock();
  auto t = spawn([&] {
    tendril::timeout limit(20ms);
    try {
      m.lock();
      return false;
    } catch (const tendril::timeout_error& e) {
      return limit.owns(e);
    }
  });
  CHECK(t.get());
  m.unlock();
  CHECK(m.try_lock());
  m.unlock();
}

// --- recursive_mutex --------------------------------------------------------------

TEST_CASE("recursive_mutex may be locked again by its holder and is released after as many unlocks") {
  hub_check hub;
  recursive_mutex m("re");
  m.lock();
  CHECK(m.try_lock());
  CHECK(m.try_lock_for(1ms));
  auto other = [&] {
    return spawn([&] {
      bool got = m.try_lock();
      if (got) m.unlock();
      return got;
    });
  };
  m.unlock();
  m.unlock();
  CHECK_FALSE(other().get());  // one lock still held
  m.unlock();
  CHECK(other().get());
}

TEST_CASE("recursive_mutex: unlock by a fiber that does not hold it throws naming the fiber") {
  hub_check hub;
  recursive_mutex m("re");
  CHECK_THROWS_WITH(m.unlock(), Catch::Contains("does not hold") && Catch::Contains("not locked"));
  m.lock();
  auto t = spawn(spawn_options{"stranger"}, [&] {
    try {
      m.unlock();
      return std::string("no error");
    } catch (const tendril::error& e) {
      return std::string(e.what());
    }
  });
  CHECK_THAT(t.get(), Catch::Contains("stranger") && Catch::Contains("held by"));
  m.unlock();  // still ours, once
  CHECK(spawn([&] {
          bool got = m.try_lock();
          if (got) m.unlock();
          return got;
        }).get());
}

TEST_CASE(
    "recursive_mutex: try_lock_for by another fiber times out, and a kill while waiting leaves it held") {
  hub_check hub;
  recursive_mutex m;
  m.lock();
  m.lock();
  auto timed = spawn([&] { return m.try_lock_for(20ms); });
  CHECK_FALSE(timed.get());
  auto killed = spawn([&] { m.lock(); });
  tendril::yield();
  CHECK(killed.kill());
  CHECK(killed.killed());
  m.unlock();
  m.unlock();
  auto later = spawn([&] {
    bool got = m.try_lock();
    if (got) m.unlock();
    return got;
  });
  CHECK(later.get());
}

// --- threads ------------------------------------------------------------------

TEST_CASE(
    "a plain thread waits for a mutex a fiber holds (test__lock.py: test_acquire_in_one_then_another)") {
  hub_check hub;
  thread_errors errors;
  mutex m;
  m.lock();
  std::atomic<bool> returned{false};
  std::atomic<bool> locked{false};
  std::thread t = tendril::testing::plain_thread(errors, [&] {
    locked = m.try_lock_for(10s);
    returned = true;
    if (locked) m.unlock();
  });
  tendril::sleep(30ms);
  CHECK_FALSE(returned);
  m.unlock();
  t.join();
  CHECK(locked);
  CHECK(m.try_lock());
  m.unlock();
  CHECK(errors.take().empty());
}

TEST_CASE(
    "a plain thread gives up on a held mutex once its timeout passes (test__lock.py: "
    "test_acquire_in_one_then_another_timed)") {
  hub_check hub;
  thread_errors errors;
  mutex m;
  m.lock();
  std::atomic<bool> locked{true};
  std::thread t = tendril::testing::plain_thread(errors, [&] { locked = m.try_lock_for(20ms); });
  t.join();
  CHECK_FALSE(locked);
  m.unlock();
  CHECK(m.try_lock());
  m.unlock();
  CHECK(errors.take().empty());
}

TEST_CASE("a plain thread's misuse errors name the thread") {
  hub_check hub;
  thread_errors errors;
  mutex m("t");
  std::string relock, stray;
  std::thread t = tendril::testing::plain_thread(errors, [&] {
    try {
      m.unlock();
    } catch (const tendril::error& e) {
      stray = e.what();
    }
    std::lock_guard guard(m);
    try {
      m.lock();
    } catch (const tendril::error& e) {
      relock = e.what();
    }
  });
  t.join();
  CHECK_THAT(stray, Catch::StartsWith("thread ") && Catch::Contains("does not hold"));
  CHECK_THAT(relock, Catch::StartsWith("thread ") && Catch::Contains("already holds"));
  CHECK(errors.take().empty());
}

namespace {

// Locks `m` `count` times to increment `counter` (not atomic: only the mutex
// protects it); false if a lock took longer than 30 s.
template <class Mutex>
bool count_under(Mutex& m, long& counter, int count, bool on_hub) {
  for (int i = 0; i < count; ++i) {
    std::unique_lock lock(m, 30s);
    if (!lock.owns_lock()) return false;
    long seen = counter;
    if (on_hub && i % 16 == 0) tendril::yield();  // holds the lock across a switch
    counter = seen + 1;
  }
  return true;
}

}  // namespace

TEMPLATE_TEST_CASE(
    "a plain thread and fibers on two hubs contend on one mutex guarding a counter (test__lock.py: "
    "test_dueling_threads_with_hub)",
    "", tendril::mutex, tendril::recursive_mutex) {
  hub_check hub;
  thread_errors errors;
  TestType m;
  long counter = 0;
  constexpr int fibers_per_hub = 4;
  constexpr int count = 1000;
  int failures = tendril::testing::duel_with_hubs(
      errors, [&](bool on_hub) { return count_under(m, counter, count, on_hub); }, fibers_per_hub);
  CHECK(failures == 0);
  CHECK(counter == (2 * fibers_per_hub + 1) * count);
  CHECK(m.try_lock());
  m.unlock();
  CHECK(errors.take().empty());
}

TEST_CASE("two plain threads duel on a mutex (test__lock.py: test_dueling_threads)") {
  hub_check hub;
  thread_errors errors;
  mutex m;
  long counter = 0;
  constexpr int count = 10000;
  std::atomic<int> failures{0};
  auto body = [&] {
    if (!count_under(m, counter, count, false)) ++failures;
  };
  std::thread t1 = tendril::testing::plain_thread(errors, body);
  std::thread t2 = tendril::testing::plain_thread(errors, body);
  t1.join();
  t2.join();
  CHECK(failures == 0);
  CHECK(counter == 2 * count);
  CHECK(errors.take().empty());
}

TEST_CASE("the mutex is never lost when short timeouts race unlocks from other threads") {
  hub_check hub;
  thread_errors errors;
  mutex m;
  constexpr int rounds = 500;
  long counter = 0;
  std::atomic<long> locked{0};
  auto churn = [&](int salt) {
    for (int i = 0; i < rounds; ++i) {
      if (m.try_lock_for(std::chrono::microseconds((i * 7 + salt) % 50))) {
        ++locked;
        long seen = counter;
        if (i % 3 == 0 && tendril::this_thread_has_hub()) tendril::yield();
        counter = seen + 1;
        m.unlock();
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
  CHECK(locked > 0);
  CHECK(counter == locked);
  CHECK(m.try_lock());  // free: no hand-over was lost
  m.unlock();
  CHECK(errors.take().empty());
}
