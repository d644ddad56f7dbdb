// Every sync type between fibers of different hubs, in every scheduling
// mode (one hub; M:N with 1, 2 and 4 threads; see support/modes.hpp):
// mutex, event, semaphore, condition_variable, queue, channel, async_result
// and wait_group, each waking, timing out and being interrupted by a kill
// across hubs.
//
// Catch2 assertions are not thread-safe. Tasks on other hubs return what
// they see; the mode's body checks it.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include <tendril/error.hpp>
#include <tendril/fiber/greenlet.hpp>
#include <tendril/hub/join.hpp>
#include <tendril/hub/runtime.hpp>
#include <tendril/hub/sleep.hpp>
#include <tendril/hub/task.hpp>
#include <tendril/sync/async_result.hpp>
#include <tendril/sync/channel.hpp>
#include <tendril/sync/condition_variable.hpp>
#include <tendril/sync/event.hpp>
#include <tendril/sync/mutex.hpp>
#include <tendril/sync/queue.hpp>
#include <tendril/sync/semaphore.hpp>
#include <tendril/sync/wait_group.hpp>

#include "support/hub_fixture.hpp"
#include "support/modes.hpp"

namespace {

using namespace std::chrono_literals;
using tendril::event;
using tendril::task;
using tendril::testing::mode;

// Fibers per test, spread over the hubs by index: with 8, each of 4 hubs has two.
constexpr std::size_t fibers = 8;

/// raise_max(m, v) makes m the larger of m and v.
void raise_max(std::atomic<int>& m, int v) {
  int seen = m.load();
  while (v > seen && !m.compare_exchange_weak(seen, v)) {
  }
}

}  // namespace

// --- mutex ----------------------------------------------------------------------

TEST_CASE("a mutex keeps every increment of fibers on every hub that yield inside it") {
  mode m = tendril::testing::every_mode();
  m.run([&] {
    constexpr int rounds = 200;
    tendril::mutex lock("counter");
    int counter = 0;  // guarded by lock
    std::vector<task<void>> tasks;
    for (std::size_t i = 0; i < fibers; ++i)
      tasks.push_back(m.spawn_on(i, [&] {
        for (int r = 0; r < rounds; ++r) {
          std::lock_guard guard(lock);
          const int seen = counter;
          tendril::yield();  // another fiber of this hub runs; other hubs run anyway
          counter = seen + 1;
        }
      }));
    CHECK(tendril::joinall(tasks));
    std::lock_guard guard(lock);
    CHECK(counter == static_cast<int>(fibers) * rounds);
  });
}

TEST_CASE("try_lock_for times out while a fiber of another hub holds the mutex and lock waits for it") {
  mode m = tendril::testing::every_mode();
  m.run([&] {
    tendril::mutex lock;
    event held;
    event release;
    std::atomic<bool> leaving{false};  // set by the holder just before it unlocks
    auto holder = m.spawn_on(1, [&] {
      std::lock_guard guard(lock);
      held.set();
      release.wait();
      leaving = true;
    });
    held.wait();
    CHECK_FALSE(lock.try_lock());
    CHECK_FALSE(lock.try_lock_for(5ms));
    release.set();
    lock.lock();  // parks until the holder has unlocked
    CHECK(leaving);
    lock.unlock();
    holder.join();
  });
}

// --- event ----------------------------------------------------------------------

TEST_CASE("an event set on one hub wakes its waiters on every hub") {
  mode m = tendril::testing::every_mode();
  m.run([&] {
    event ev;
    tendril::wait_group waiting;
    waiting.add(fibers);
    std::vector<task<bool>> waiters;
    for (std::size_t i = 0; i < fibers; ++i)
      waiters.push_back(m.spawn_on(i, [&] {
        waiting.done();
        return ev.wait_for(30s);
      }));
    waiting.wait();
    CHECK_FALSE(ev.is_set());
    auto setter = m.spawn_on(3, [&] { ev.set(); });
    for (auto& w : waiters) CHECK(w.get());
    setter.join();
  });
}

TEST_CASE("wait_for on an event that no hub sets returns false at its deadline") {
  mode m = tendril::testing::every_mode();
  m.run([&] {
    event ev;
    CHECK_FALSE(tendril::run_on(m.hub(1), [&] { return ev.wait_for(5ms); }));
    CHECK_FALSE(ev.is_set());
  });
}

// --- semaphore ------------------------------------------------------------------

TEST_CASE("a semaphore lets no more fibers of all hubs in at once than it has permits") {
  mode m = tendril::testing::every_mode();
  m.run([&] {
    constexpr int rounds = 50;
    tendril::semaphore permits(2);
    std::atomic<int> inside{0};
    std::atomic<int> most_inside{0};
    std::vector<task<void>> tasks;
    for (std::size_t i = 0; i < fibers; ++i)
      tasks.push_back(m.spawn_on(i, [&] {
        for (int r = 0; r < rounds; ++r) {
          permits.acquire();
          raise_max(most_inside, ++inside);
          tendril::yield();
          --inside;
          permits.release();
        }
      }));
    CHECK(tendril::joinall(tasks));
    CHECK(most_inside >= 1);
    CHECK(most_inside <= 2);
    CHECK(permits.available() == 2);
  });
}

TEST_CASE("try_acquire_for times out while fibers of another hub hold every permit") {
  mode m = tendril::testing::every_mode();
  m.run([&] {
    tendril::semaphore permits(1);
    event held;
    event release;
    auto holder = m.spawn_on(1, [&] {
      permits.acquire();
      held.set();
      release.wait();
      permits.release();
    });
    held.wait();
    CHECK_FALSE(permits.try_acquire());
    CHECK_FALSE(permits.try_acquire_for(5ms));
    release.set();
    CHECK(permits.try_acquire_for(30s));
    permits.release();
    holder.join();
  });
}

// --- condition_variable ---------------------------------------------------------

TEST_CASE("notify on one hub wakes waiters on other hubs with the mutex held") {
  mode m = tendril::testing::every_mode();
  m.run([&] {
    constexpr int items = 300;
    tendril::mutex lock;
    tendril::condition_variable changed;
    std::deque<int> pending;  // guarded by lock
    bool closed = false;      // guarded by lock
    std::vector<task<std::vector<int>>> consumers;
    for (std::size_t i = 1; i <= 3; ++i)
      consumers.push_back(m.spawn_on(i, [&] {
        std::vector<int> got;
        std::unique_lock held(lock);
        for (;;) {
          changed.wait(held, [&] { return closed || !pending.empty(); });
          if (pending.empty()) return got;
          got.push_back(pending.front());
          pending.pop_front();
        }
      }));
    for (int k = 0; k < items; ++k) {
      {
        std::lock_guard guard(lock);
        pending.push_back(k);
      }
      changed.notify_one();
      if (k % 16 == 0) tendril::yield();
    }
    {
      std::lock_guard guard(lock);
      closed = true;
    }
    changed.notify_all();
    std::vector<int> all;
    for (auto& c : consumers) {
      const std::vector<int> got = c.get();
      CHECK(std::is_sorted(got.begin(), got.end()));  // items leave in the order they came
      all.insert(all.end(), got.begin(), got.end());
    }
    std::sort(all.begin(), all.end());
    std::vector<int> expected(items);
    for (int k = 0; k < items; ++k) expected[static_cast<std::size_t>(k)] = k;
    CHECK(all == expected);
  });
}

TEST_CASE("wait_for on a condition no hub notifies times out with the mutex held again") {
  mode m = tendril::testing::every_mode();
  m.run([&] {
    tendril::mutex lock;
    tendril::condition_variable never;
    auto [status, owned] = tendril::run_on(m.hub(1), [&] {
      std::unique_lock held(lock);
      const std::cv_status s = never.wait_for(held, 5ms);
      return std::pair{s, held.owns_lock()};
    });
    CHECK(status == std::cv_status::timeout);
    CHECK(owned);
    CHECK(lock.try_lock());
    lock.unlock();
  });
}

// --- queue ----------------------------------------------------------------------

TEST_CASE("items put by fibers of several hubs reach getters of several hubs once each and in order") {
  mode m = tendril::testing::every_mode();
  m.run([&] {
    constexpr int producers = 4;
    constexpr int per_producer = 500;
    using item = std::pair<int, int>;  // producer, sequence number
    tendril::queue<item> items(8, "items");
    std::vector<task<void>> putters;
    for (int p = 0; p < producers; ++p)
      putters.push_back(m.spawn_on(static_cast<std::size_t>(p), [&items, p] {
        for (int k = 0; k < per_producer; ++k) items.put({p, k});
      }));
    std::vector<task<std::vector<item>>> getters;
    for (std::size_t c = 0; c < 4; ++c)
      getters.push_back(m.spawn_on(c + 1, [&items] {
        std::vector<item> got;
        try {
          for (;;) got.push_back(items.get());
        } catch (const tendril::queue_closed&) {
        }
        return got;
      }));
    CHECK(tendril::joinall(putters));
    items.close();
    std::set<item> all;
    std::size_t total = 0;
    for (auto& g : getters) {
      const std::vector<item> got = g.get();
      std::vector<int> last(producers, -1);
      for (const item& i : got) {
        CHECK(i.second > last[static_cast<std::size_t>(i.first)]);  // each producer's items in order
        last[static_cast<std::size_t>(i.first)] = i.second;
      }
      all.insert(got.begin(), got.end());
      total += got.size();
    }
    CHECK(total == producers * per_producer);
    CHECK(all.size() == producers * per_producer);
  });
}

TEST_CASE("close on one hub wakes getters waiting on other hubs with queue_closed") {
  mode m = tendril::testing::every_mode();
  m.run([&] {
    tendril::queue<int> items;
    tendril::wait_group waiting;
    waiting.add(3);
    std::vector<task<std::string>> getters;
    for (std::size_t i = 1; i <= 3; ++i)
      getters.push_back(m.spawn_on(i, [&] {
        waiting.done();
        try {
          items.get();
          return std::string("got an item");
        } catch (const tendril::queue_closed&) {
          return std::string("closed");
        }
      }));
    waiting.wait();
    items.close();
    for (auto& g : getters) CHECK(g.get() == "closed");
  });
}

TEST_CASE("a put into a full queue parks on one hub until a get on another makes room") {
  mode m = tendril::testing::every_mode();
  m.run([&] {
    tendril::queue<int> items(1);
    items.put(1);
    auto putter = m.spawn_on(1, [&] { items.put(2); });
    CHECK_FALSE(putter.join_for(5ms));
    CHECK(items.get() == 1);
    putter.join();
    CHECK(items.get() == 2);
    CHECK(items.empty());
  });
}

// --- channel --------------------------------------------------------------------

TEST_CASE("a channel hands every item from a fiber of one hub to a fiber of another in order") {
  mode m = tendril::testing::every_mode();
  m.run([&] {
    constexpr int items = 1000;
    tendril::channel<int> ch("handover");
    auto putter = m.spawn_on(1, [&] {
      for (int k = 0; k < items; ++k) ch.put(k);
    });
    std::vector<int> got;
    for (int k = 0; k < items; ++k) got.push_back(ch.get());
    putter.join();
    CHECK(putter.successful());
    std::vector<int> expected(items);
    for (int k = 0; k < items; ++k) expected[static_cast<std::size_t>(k)] = k;
    CHECK(got == expected);
  });
}

TEST_CASE("put_for on a channel that no hub gets from returns false at its deadline") {
  mode m = tendril::testing::every_mode();
  m.run([&] {
    tendril::channel<int> ch;
    CHECK_FALSE(tendril::run_on(m.hub(1), [&] { return ch.put_for(7, 5ms); }));
    CHECK_FALSE(ch.try_get().has_value());
  });
}

// --- async_result ---------------------------------------------------------------

TEST_CASE("an async_result set on one hub wakes its getters on every hub") {
  mode m = tendril::testing::every_mode();
  m.run([&] {
    tendril::async_result<int> value("value");
    tendril::async_result<int> failure("failure");
    tendril::wait_group waiting;
    waiting.add(fibers);
    std::vector<task<std::pair<int, std::string>>> getters;
    for (std::size_t i = 0; i < fibers; ++i)
      getters.push_back(m.spawn_on(i, [&] {
        waiting.done();
        const int v = value.get();
        try {
          failure.get();
          return std::pair{v, std::string("no exception")};
        } catch (const std::exception& e) {
          return std::pair{v, std::string(e.what())};
        }
      }));
    waiting.wait();
    CHECK_FALSE(value.wait_for(5ms));
    auto setter = m.spawn_on(3, [&] {
      value.set(42);
      failure.set_exception(std::make_exception_ptr(std::runtime_error("no result")));
    });
    for (auto& g : getters) CHECK(g.get() == std::pair{42, std::string("no result")});
    setter.join();
  });
}

// --- wait_group -----------------------------------------------------------------

TEST_CASE("wait_group wait returns once fibers on every hub have called done") {
  mode m = tendril::testing::every_mode();
  m.run([&] {
    tendril::wait_group jobs;
    jobs.add(fibers);
    std::atomic<int> finished{0};
    event release;
    for (std::size_t i = 0; i < fibers; ++i)
      m.spawn_on(i, [&] {
        release.wait();
        ++finished;
        jobs.done();
      });
    CHECK_FALSE(jobs.wait_for(5ms));
    CHECK(jobs.count() == fibers);
    release.set();
    jobs.wait();
    CHECK(finished == static_cast<int>(fibers));
    CHECK(jobs.count() == 0);
  });
}

// --- kills ----------------------------------------------------------------------

TEST_CASE("a kill from another hub ends a wait on every sync type and leaves each usable") {
  mode m = tendril::testing::every_mode();
  m.run([&] {
    tendril::mutex lock;
    tendril::condition_variable changed;
    event ev;
    tendril::semaphore none(0);
    tendril::queue<int> empty;
    tendril::channel<int> ch;
    tendril::async_result<int> result;
    tendril::wait_group one_job;
    one_job.add();
    lock.lock();  // the mutex waiter waits for the body

    tendril::wait_group waiting;
    std::atomic<int> saw_exit{0};
    std::vector<task<void>> waiters;
    auto add = [&](std::size_t i, auto wait) {
      waiting.add();
      waiters.push_back(m.spawn_on(i, [&, wait] {
        waiting.done();
        try {
          wait();
        } catch (const tendril::greenlet_exit&) {
          ++saw_exit;
          throw;
        }
      }));
    };
    add(1, [&] { std::lock_guard guard(lock); });
    add(2, [&] { ev.wait(); });
    add(3, [&] { none.acquire(); });
    add(1, [&] { empty.get(); });
    add(2, [&] { ch.get(); });
    add(3, [&] { result.get(); });
    add(1, [&] { one_job.wait(); });
    add(2, [&] {
      tendril::mutex own;
      std::unique_lock held(own);
      changed.wait(held);
    });
    waiting.wait();
    tendril::killall(waiters);
    for (const auto& w : waiters) CHECK(w.killed());
    CHECK(saw_exit == static_cast<int>(waiters.size()));

    // Nothing was taken by the killed waiters: each object works as before.
    lock.unlock();
    CHECK(lock.try_lock());
    lock.unlock();
    none.release();
    CHECK(none.try_acquire());
    CHECK(empty.try_put(1));
    CHECK(empty.try_get() == 1);
    CHECK_FALSE(ch.try_put(1));  // no getter is left waiting
    result.set(5);
    CHECK(result.get() == 5);
    one_job.done();
    CHECK(one_job.wait_for(0s));
  });
}
