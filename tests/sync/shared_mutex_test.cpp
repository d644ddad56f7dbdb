// shared_mutex: readers together, writers alone, arrival order between the
// two (a waiting writer holds back later readers), deadlines and kills (a
// writer that stops waiting lets the readers behind it in; ownership handed
// to a fiber killed at that moment is passed on), misuse, and threads.

#include <atomic>
#include <chrono>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include <tendril/error.hpp>
#include <tendril/hub/sleep.hpp>
#include <tendril/hub/task.hpp>
#include <tendril/hub/timeout.hpp>
#include <tendril/sync/shared_mutex.hpp>

#include "support/hub_fixture.hpp"
#include "sync/sync_threads.hpp"

namespace {

using namespace std::chrono_literals;
using tendril::shared_mutex;
using tendril::spawn;
using tendril::spawn_options;
using tendril::testing::gate;
using tendril::testing::hub_check;
using tendril::testing::thread_errors;
using strings = std::vector<std::string>;

}  // namespace

// --- readers and writers --------------------------------------------------------

TEST_CASE("readers share it: two fibers hold shares at once") {
  hub_check hub;
  shared_mutex m("table");
  gate both_in;
  int inside = 0;
  auto reader = [&] {
    std::shared_lock guard(m);
    if (++inside == 2) both_in.open();
    both_in.wait();
  };
  auto a = spawn(reader);
  auto b = spawn(reader);
  CHECK(a.join_for(10s));
  CHECK(b.join_for(10s));
  CHECK(inside == 2);
  CHECK(m.try_lock());
  m.unlock();
}

TEST_CASE("a writer excludes readers and writers, and a reader excludes writers") {
  hub_check hub;
  shared_mutex m("table");
  m.lock();
  CHECK(m.describe().find("held by") != std::string::npos);
  auto probe = spawn([&] { return std::pair(m.try_lock(), m.try_lock_shared()); });
  CHECK(probe.get() == std::pair(false, false));
  m.unlock();

  m.lock_shared();
  CHECK(m.describe() == "shared_mutex \"table\" shared by 1 reader");
  auto writer_probe = spawn([&] { return m.try_lock(); });
  CHECK_FALSE(writer_probe.get());
  auto reader_probe = spawn([&] {
    bool shared = m.try_lock_shared();
    if (shared) m.unlock_shared();
    return shared;
  });
  CHECK(reader_probe.get());
  m.unlock_shared();
  CHECK(m.describe() == "shared_mutex \"table\"");
}

TEST_CASE("std::unique_lock and std::shared_lock work with it, including the timed forms") {
  hub_check hub;
  shared_mutex m;
  {
    std::unique_lock writer(m, 1s);
    CHECK(writer.owns_lock());
    auto other = spawn([&] {
      std::shared_lock reader(m, std::chrono::milliseconds(1));
      return reader.owns_lock();
    });
    CHECK_FALSE(other.get());
  }
  std::shared_lock reader(m);
  CHECK(reader.owns_lock());
}

// --- fairness -------------------------------------------------------------------

TEST_CASE("a waiting writer holds back readers that arrive after it, then they enter together") {
  hub_check hub;
  shared_mutex m("table");
  strings order;
  m.lock_shared();
  auto writer = spawn(spawn_options{"writer"}, [&] {
    std::unique_lock guard(m);
    order.push_back("writer");
  });
  tendril::yield();                  // the writer waits behind the share held here
  CHECK_FALSE(m.try_lock_shared());  // would pass the waiting writer
  gate readers_in;
  int inside = 0;
  auto reader = [&](std::string name) {
    std::shared_lock guard(m);
    order.push_back(name);
    if (++inside == 2) readers_in.open();
    readers_in.wait();  // both hold a share at once
  };
  auto r1 = spawn(reader, std::string("r1"));
  auto r2 = spawn(reader, std::string("r2"));
  tendril::yield();
  CHECK(order.empty());
  m.unlock_shared();  // admits the writer alone; its unlock admits both readers
  CHECK(r1.join_for(10s));
  CHECK(r2.join_for(10s));
  CHECK(writer.join_for(10s));
  CHECK(order == strings{"writer", "r1", "r2"});
}

TEST_CASE("a release admits the run of readers at the front and stops at the next writer") {
  hub_check hub;
  shared_mutex m;
  strings order;
  m.lock();
  auto take = [&](std::string name, bool exclusive) {
    if (exclusive) {
      std::unique_lock guard(m);
      order.push_back(name);
      tendril::yield();
      order.push_back(name + " out");
    } else {
      std::shared_lock guard(m);
      order.push_back(name);
      tendril::yield();
      order.push_back(name + " out");
    }
  };
  auto r1 = spawn(take, std::string("r1"), false);
  auto r2 = spawn(take, std::string("r2"), false);
  auto w = spawn(take, std::string("w"), true);
  auto r3 = spawn(take, std::string("r3"), false);
  tendril::yield();
  m.unlock();
  CHECK(r3.join_for(10s));
  CHECK(w.join_for(10s));
  CHECK(order == strings{"r1", "r2", "r1 out", "r2 out", "w", "w out", "r3", "r3 out"});
}

// --- deadlines and kills ----------------------------------------------------------

TEST_CASE("a writer whose try_lock_for times out lets in the readers queued behind it") {
  hub_check hub;
  shared_mutex m;
  m.lock_shared();
  auto writer = spawn([&] { return m.try_lock_for(20ms); });
  tendril::yield();
  auto reader = spawn([&] {
    std::shared_lock guard(m);
    return true;
  });
  CHECK_FALSE(writer.get());
  CHECK(reader.join_for(10s));  // without re-admission it would wait behind nobody
  CHECK(reader.get());
  m.unlock_shared();
}

TEST_CASE("a killed writer waiting for the lock lets in the readers queued behind it") {
  hub_check hub;
  shared_mutex m;
  m.lock_shared();
  bool unwound = false;
  auto writer = spawn([&] {
    tendril::testing::unwind_flag flag{unwound};
    m.lock();
    m.unlock();
  });
  tendril::yield();
  auto reader = spawn([&] { std::shared_lock guard(m); });
  tendril::yield();
  CHECK_FALSE(reader.ready());
  CHECK(writer.kill());
  CHECK(unwound);
  CHECK(reader.join_for(10s));
  m.unlock_shared();
  CHECK(m.try_lock());
  m.unlock();
}

TEST_CASE("an expired timeout scope raises timeout_error from lock_shared, and the waiter is removed") {
  hub_check hub;
  shared_mutex m;
  m.lock();
  auto reader = spawn([&] {
    try {
      tendril::timeout limit(10ms);
      m.lock_shared();
      return std::string("locked");
    } catch (const tendril::timeout_error&) {
      return std::string("timed out");
    }
  });
  CHECK(reader.get() == "timed out");
  m.unlock();
  CHECK(m.try_lock_shared());  // nobody left queued holds it back
  m.unlock_shared();
}

TEST_CASE("exclusive ownership handed to a writer killed at that moment goes to the readers behind it") {
  hub_check hub;
  shared_mutex m;
  strings order;
  m.lock();
  auto writer = spawn([&] {
    m.lock();
    order.push_back("writer");
    m.unlock();
  });
  auto reader = spawn([&] {
    std::shared_lock guard(m);
    order.push_back("reader");
  });
  tendril::yield();  // both wait
  m.unlock();        // handed to the writer, which has not run yet
  writer.kill(nullptr, false);
  CHECK(reader.join_for(10s));
  CHECK(writer.join_for(10s));
  CHECK(writer.killed());
  CHECK(order == strings{"reader"});
  CHECK(m.try_lock());  // nothing leaked
  m.unlock();
}

TEST_CASE("a share handed to a reader killed at that moment is given back, admitting the writer behind") {
  hub_check hub;
  shared_mutex m;
  strings order;
  m.lock();
  auto reader = spawn([&] {
    std::shared_lock guard(m);
    order.push_back("reader");
  });
  auto writer = spawn([&] {
    std::unique_lock guard(m);
    order.push_back("writer");
  });
  tendril::yield();
  m.unlock();  // a share handed to the reader, which has not run yet
  reader.kill(nullptr, false);
  CHECK(writer.join_for(10s));
  CHECK(reader.killed());
  CHECK(order == strings{"writer"});
  CHECK(m.try_lock());
  m.unlock();
}

// --- misuse -----------------------------------------------------------------------

TEST_CASE("locking it again while holding it exclusively throws tendril::error naming the fiber") {
  hub_check hub;
  shared_mutex m("table");
  auto t = spawn(spawn_options{"owner"}, [&] {
    std::unique_lock guard(m);
    for (int mode = 0; mode < 2; ++mode) {
      try {
        if (mode == 0)
          m.lock();
        else
          m.lock_shared();
        return std::string("no error");
      } catch (const tendril::error& e) {
        std::string text = e.what();
        if (text.find("\"owner\" already holds shared_mutex \"table\" exclusively") == std::string::npos)
          return text;
      }
    }
    return std::string("both threw");
  });
  CHECK(t.get() == "both threw");
}

TEST_CASE("unlock by a fiber that does not hold it, and unlock_shared with no share, throw tendril::error") {
  hub_check hub;
  shared_mutex m("table");
  auto t = spawn(spawn_options{"stranger"}, [&] {
    try {
      m.unlock();
    } catch (const tendril::error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  });
  m.lock();
  std::string text = t.get();
  CHECK(text.find("\"stranger\" unlocked shared_mutex \"table\" held by") != std::string::npos);
  CHECK(text.find("which it does not hold exclusively") != std::string::npos);
  m.unlock();
  CHECK_THROWS_WITH(m.unlock_shared(), Catch::Contains("no share is held"));
  CHECK(m.try_lock());  // the failed unlocks changed nothing
  m.unlock();
}

// --- threads ------------------------------------------------------------------------

TEST_CASE("readers never see a writer inside, across two hubs and a plain thread") {
  shared_mutex m("table");
  thread_errors errors;
  int value = 0;  // written only under the exclusive lock
  std::atomic<int> writers_inside{0};
  std::atomic<int> violations{0};
  constexpr int rounds = 300;
  auto work = [&](bool on_hub) {
    for (int i = 0; i < rounds; ++i) {
      if (i % 4 == 0) {
        std::unique_lock guard(m);
        if (writers_inside.fetch_add(1) != 0) ++violations;
        ++value;
        if (on_hub) tendril::yield();
        writers_inside.fetch_sub(1);
      } else {
        std::shared_lock guard(m);
        if (writers_inside.load() != 0) ++violations;
        if (on_hub) tendril::yield();
      }
    }
    return true;
  };
  int failures = tendril::testing::duel_with_hubs(errors, work, 3);
  CHECK(errors.take().empty());
  CHECK(failures == 0);
  CHECK(violations.load() == 0);
  CHECK(value == (3 * 2 + 1) * (rounds / 4));
}
