// The M:N runtime: its hubs and threads, where spawn_on and runtime::spawn
// put tasks (placement), hub_ref::post, run_on, join and stop, statistics
// read from other threads, and the error handler.
//
// Catch2 assertions are not thread-safe. Runtime threads only record what
// they see; the test thread checks it after a handshake (a latch, a task's
// get, join), or a mode's body checks it (see support/modes.hpp).

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <fstream>
#include <latch>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include <tendril/error.hpp>
#include <tendril/fiber/greenlet.hpp>
#include <tendril/hub/hub.hpp>
#include <tendril/hub/join.hpp>
#include <tendril/hub/park.hpp>
#include <tendril/hub/run.hpp>
#include <tendril/hub/runtime.hpp>
#include <tendril/hub/sleep.hpp>
#include <tendril/hub/task.hpp>
#include <tendril/sync/event.hpp>
#include <tendril/sync/wait_group.hpp>

#include "support/hub_fixture.hpp"
#include "support/modes.hpp"

namespace {

using namespace std::chrono_literals;
using tendril::hub_ref;
using tendril::runtime;
using tendril::spawn_options;
using tendril::task;
using tendril::task_base;
using tendril::testing::mode;
using tendril::testing::stderr_capture;
using tendril::testing::what_of;

long this_thread_id() { return static_cast<long>(::gettid()); }

/// thread_name(tid) is the name of a thread of this process, as top -H shows it.
std::string thread_name(long tid) {
  std::ifstream comm("/proc/self/task/" + std::to_string(tid) + "/comm");
  std::string name;
  std::getline(comm, name);
  return name;
}

/// parked_tasks spawns tasks that wait on one event, and lets the test
/// thread wait (blocking, std::latch) until all of them have started.
struct parked_tasks {
  tendril::event release;
  std::latch started;
  std::atomic<int> unwound{0};
  std::atomic<int> saw_exit{0};
  std::vector<task<void>> tasks;

  explicit parked_tasks(std::ptrdiff_t count) : started(count) {
    tasks.reserve(static_cast<std::size_t>(count));
  }

  /// add(where) spawns one on `where`.
  void add(const hub_ref& where) {
    tasks.push_back(tendril::spawn_on(where, [this] {
      struct count_unwind {
        std::atomic<int>& n;
        ~count_unwind() { ++n; }
      } guard{unwound};
      started.count_down();
      try {
        release.wait();
      } catch (const tendril::greenlet_exit&) {
        ++saw_exit;
        throw;
      }
    }));
  }
};

/// chain_link k runs on hub k % hubs and spawns link k + 1 on the next hub,
/// fire and forget, until threads.size() links have run; each records its
/// thread. Nothing waits for the chain but runtime::join.
struct chain {
  std::vector<hub_ref> hubs;
  std::vector<long> threads;  // slot k written by link k only, read after join
  std::atomic<int> links{0};
};

struct chain_link {
  chain* c;
  std::size_t k;
  void operator()() const {
    c->threads[k] = this_thread_id();
    ++c->links;
    if (k + 1 < c->threads.size()) tendril::spawn_on(c->hubs[(k + 1) % c->hubs.size()], chain_link{c, k + 1});
  }
};

}  // namespace

// --- hubs and threads ---------------------------------------------------------

TEST_CASE("a runtime runs one hub on each of its threads and none on the calling thread") {
  runtime rt{3};
  REQUIRE(rt.size() == 3);
  const std::vector<hub_ref> hubs = rt.hubs();
  REQUIRE(hubs.size() == 3);
  std::set<std::uint64_t> ids;
  std::set<long> threads;
  for (std::size_t i = 0; i < hubs.size(); ++i) {
    CHECK(hubs[i] == rt.hub(i));
    CHECK_FALSE(hubs[i].empty());
    CHECK(hubs[i].alive());
    CHECK(hubs[i].thread_id() != this_thread_id());
    CHECK(tendril::run_on(hubs[i], [] { return this_thread_id(); }) == hubs[i].thread_id());
    CHECK(tendril::run_on(hubs[i], [] { return hub_ref::current(); }) == hubs[i]);
    ids.insert(hubs[i].id());
    threads.insert(hubs[i].thread_id());
  }
  CHECK(ids.size() == 3);
  CHECK(threads.size() == 3);
  rt.join();
  for (const hub_ref& h : hubs) CHECK_FALSE(h.alive());
}

TEST_CASE("describe names a hub by its id and its thread") {
  runtime rt{1};
  const hub_ref h = rt.hub(0);
  CHECK(h.describe() == "hub " + std::to_string(h.id()) + " (thread " + std::to_string(h.thread_id()) + ")");
  rt.join();
}

TEST_CASE("a runtime of zero threads runs one per hardware thread") {
  const unsigned hardware = std::thread::hardware_concurrency();
  REQUIRE(hardware > 0);
  runtime rt{0};
  CHECK(rt.size() == hardware);
  rt.join();
}

TEST_CASE("hub(i) past the last hub throws tendril::error") {
  runtime rt{2};
  CHECK_NOTHROW(rt.hub(1));
  CHECK_THROWS_AS(rt.hub(2), tendril::error);
  rt.join();
}

TEST_CASE("a runtime's threads are named after it and their index") {
  runtime::options options;
  options.threads = 2;
  options.name = "rtname";
  runtime rt{std::move(options)};
  CHECK(thread_name(rt.hub(0).thread_id()) == "rtname-0");
  CHECK(thread_name(rt.hub(1).thread_id()) == "rtname-1");
  rt.join();
}

TEST_CASE("hub_ref::current inside a task is the task's hub") {
  mode m = tendril::testing::every_mode();
  m.run([&] {
    CHECK(hub_ref::current() == m.hub(0));
    for (std::size_t i = 0; i < m.size(); ++i)
      CHECK(tendril::run_on(m.hub(i), [] { return hub_ref::current(); }) == m.hub(i));
  });
}

TEST_CASE("an empty hub_ref names no hub: it is not alive and post and stats throw") {
  const hub_ref none;
  CHECK(none.empty());
  CHECK_FALSE(none.alive());
  CHECK(none.id() == 0);
  CHECK_THROWS_AS(none.post([] {}), tendril::error);
  CHECK_THROWS_AS(none.stats(), tendril::error);
}

// --- spawn_on -----------------------------------------------------------------

TEST_CASE("a task stays on its hub's thread across every kind of park") {
  mode m = tendril::testing::every_mode();
  m.run([&] {
    constexpr std::size_t count = 4;
    tendril::event release;
    tendril::wait_group waiting;
    waiting.add(count);
    std::vector<task<std::vector<long>>> tasks;
    for (std::size_t i = 0; i < count; ++i)
      tasks.push_back(m.spawn_on(i, [&] {
        std::vector<long> seen{this_thread_id()};
        tendril::yield();
        seen.push_back(this_thread_id());
        tendril::sleep(1ms);
        seen.push_back(this_thread_id());
        waiting.done();
        release.wait();
        seen.push_back(this_thread_id());
        return seen;
      }));
    waiting.wait();
    release.set();
    for (std::size_t i = 0; i < count; ++i) {
      const std::vector<long> seen = tasks[i].get();
      CHECK(seen == std::vector<long>(4, m.hub(i).thread_id()));
    }
  });
}

TEST_CASE("tasks queued to a hub by spawn_on start in the order they were queued") {
  mode m = tendril::testing::every_mode();
  m.run([&] {
    std::vector<int> order;  // touched by tasks of hub 1 only, read after joining them
    std::vector<task<void>> tasks;
    for (int i = 0; i < 100; ++i) tasks.push_back(m.spawn_on(1, [&order, i] { order.push_back(i); }));
    CHECK(tendril::joinall(tasks));
    REQUIRE(order.size() == 100);
    for (int i = 0; i < 100; ++i) CHECK(order[static_cast<std::size_t>(i)] == i);
  });
}

TEST_CASE("spawn_on from a thread without a hub runs the task on that hub and gives the thread no hub") {
  runtime rt{2};
  long ran_on = 0;
  bool had_hub = true;
  bool has_hub_after = true;
  std::thread plain([&] {
    had_hub = tendril::this_thread_has_hub();
    ran_on = tendril::spawn_on(rt.hub(1), [] { return this_thread_id(); }).get();
    has_hub_after = tendril::this_thread_has_hub();
  });
  plain.join();
  CHECK_FALSE(had_hub);
  CHECK(ran_on == rt.hub(1).thread_id());
  CHECK_FALSE(has_hub_after);
  rt.join();
}

TEST_CASE("spawn_on a hub whose thread has exited throws tendril::error naming the hub") {
  runtime rt{1};
  const hub_ref gone = rt.hub(0);
  rt.join();
  bool ran = false;
  CHECK_THROWS_WITH(tendril::spawn_on(gone, [&] { ran = true; }), Catch::Contains(gone.describe()));
  CHECK_FALSE(ran);
}

// --- run_on -------------------------------------------------------------------

TEST_CASE("run_on returns the value of a function it runs as a task on another hub") {
  mode m = tendril::testing::every_mode();
  m.run([&] {
    auto [value, thread] = tendril::run_on(
        m.hub(1),
        [](int x) {
          tendril::sleep(1ms);  // f may block: it runs as a task
          return std::pair{x * 2, this_thread_id()};
        },
        21);
    CHECK(value == 42);
    CHECK(thread == m.hub(1).thread_id());
  });
}

TEST_CASE("run_on rethrows the exception of the function it runs on another hub") {
  mode m = tendril::testing::every_mode();
  m.run([&] {
    CHECK_THROWS_WITH(tendril::run_on(m.hub(1), [] { throw std::runtime_error("failed on hub 1"); }),
                      "failed on hub 1");
  });
}

TEST_CASE("run_on throws task_killed when the task it runs is killed") {
  mode m = tendril::testing::every_mode();
  m.run([&] {
    CHECK_THROWS_AS(tendril::run_on(m.hub(1), [] { tendril::current_task().kill(); }), tendril::task_killed);
  });
}

TEST_CASE("run_on from a thread without a hub returns the value or rethrows the exception") {
  runtime rt{2};
  int value = 0;
  std::string thrown;
  std::thread plain([&] {
    value = tendril::run_on(rt.hub(0), [] {
      tendril::sleep(1ms);
      return 7;
    });
    try {
      tendril::run_on(rt.hub(1), [] { throw std::runtime_error("from hub 1"); });
    } catch (const std::exception& e) {
      thrown = e.what();
    }
  });
  plain.join();
  CHECK(value == 7);
  CHECK(thrown == "from hub 1");
  rt.join();
}

// --- post ---------------------------------------------------------------------

TEST_CASE("post runs functions on the hub's thread in the order they were posted") {
  constexpr int count = 1000;
  runtime rt{2};
  std::vector<int> order;  // touched on hub 1's thread only, read after the latch
  std::set<long> threads;
  std::latch all_ran(count);
  for (int i = 0; i < count; ++i)
    rt.hub(1).post([&, i] {
      order.push_back(i);
      threads.insert(this_thread_id());
      all_ran.count_down();
    });
  all_ran.wait();
  REQUIRE(order.size() == count);
  for (int i = 0; i < count; ++i) CHECK(order[static_cast<std::size_t>(i)] == i);
  CHECK(threads == std::set<long>{rt.hub(1).thread_id()});
  rt.join();
}

TEST_CASE("post from several threads keeps each thread's posting order") {
  constexpr int posters = 4;
  constexpr int per_poster = 500;
  runtime rt{1};
  const hub_ref target = rt.hub(0);
  std::vector<std::vector<int>> seen(posters);  // touched on the hub's thread only
  std::latch all_ran(posters * per_poster);
  std::vector<std::thread> threads;
  for (int p = 0; p < posters; ++p)
    threads.emplace_back([&, p] {
      for (int i = 0; i < per_poster; ++i)
        target.post([&, p, i] {
          seen[static_cast<std::size_t>(p)].push_back(i);
          all_ran.count_down();
        });
    });
  for (auto& t : threads) t.join();
  all_ran.wait();
  for (const std::vector<int>& from_one : seen) {
    REQUIRE(from_one.size() == per_poster);
    for (int i = 0; i < per_poster; ++i) CHECK(from_one[static_cast<std::size_t>(i)] == i);
  }
  rt.join();
}

TEST_CASE("post from a fiber runs the function later on the hub's thread and never inside post") {
  mode m = tendril::testing::every_mode();
  m.run([&] {
    for (std::size_t i = 0; i < m.size(); ++i) {
      std::atomic<bool> ran{false};
      std::atomic<long> ran_on{0};
      tendril::event done;
      m.hub(i).post([&] {
        ran_on = this_thread_id();
        ran = true;
        done.set();
      });
      if (m.hub(i) == m.hub(0)) CHECK_FALSE(ran);  // the poster's own hub: nothing ran inside post
      CHECK(done.wait_for(30s));
      CHECK(ran);
      CHECK(ran_on == m.hub(i).thread_id());
    }
  });
}

TEST_CASE("post to a hub whose thread has exited throws tendril::error naming the hub and runs nothing") {
  runtime rt{2};
  const hub_ref gone = rt.hub(0);
  rt.join();
  CHECK_FALSE(gone.alive());
  bool ran = false;
  CHECK_THROWS_WITH(gone.post([&] { ran = true; }), Catch::Contains(gone.describe()));
  CHECK_FALSE(ran);
  CHECK_THROWS_WITH(gone.stats(), Catch::Contains(gone.describe()));
}

TEST_CASE("an exception thrown by a posted function goes to the error handler and the hub goes on") {
  std::mutex lock;
  std::vector<std::string> reported;
  tendril::event one_reported;
  runtime::options options;
  options.threads = 1;
  options.error_handler = [&](const task_base&, std::exception_ptr e) {
    {
      std::lock_guard guard(lock);
      reported.push_back(what_of(e));
    }
    one_reported.set();
  };
  runtime rt{std::move(options)};
  rt.hub(0).post([] { throw std::runtime_error("posted and failed"); });
  std::latch later_ran(1);
  rt.hub(0).post([&] { later_ran.count_down(); });
  later_ran.wait();
  CHECK(one_reported.wait_for(30s));  // a bound, not a timing: the handler runs before the later post
  CHECK(tendril::run_on(rt.hub(0), [] { return 3; }) == 3);
  rt.join();
  std::lock_guard guard(lock);
  CHECK(reported == std::vector<std::string>{"posted and failed"});
}

// --- join and stop ------------------------------------------------------------

TEST_CASE("join waits for a chain of tasks that each spawn the next on another hub") {
  const std::size_t threads = tendril::testing::runtime_threads();
  INFO(threads << " threads");
  runtime rt{threads};
  chain c;
  c.hubs = rt.hubs();
  c.threads.assign(100, 0);
  tendril::spawn_on(c.hubs[0], chain_link{&c, 0});
  rt.join();
  CHECK(c.links == 100);
  for (std::size_t k = 0; k < c.threads.size(); ++k) CHECK(c.threads[k] == c.hubs[k % threads].thread_id());
  for (const hub_ref& h : c.hubs) CHECK_FALSE(h.alive());
}

TEST_CASE("join waits for every task and then runtime::spawn throws tendril::error") {
  runtime rt{2};
  std::atomic<int> finished{0};
  std::vector<task<void>> tasks;
  for (int i = 0; i < 20; ++i)
    tasks.push_back(rt.spawn([&] {
      for (int k = 0; k < 10; ++k) tendril::yield();
      ++finished;
    }));
  rt.join();
  CHECK(finished == 20);
  for (const auto& t : tasks) CHECK(t.successful());
  CHECK_THROWS_AS(rt.spawn([] {}), tendril::error);
}

TEST_CASE("join of a runtime that never ran a task returns and stops its threads") {
  runtime rt{2};
  const std::vector<hub_ref> hubs = rt.hubs();
  rt.join();
  for (const hub_ref& h : hubs) CHECK_FALSE(h.alive());
}

TEST_CASE("join or stop called on a thread of the runtime throws tendril::error") {
  runtime rt{2};
  CHECK_THROWS_AS(tendril::run_on(rt.hub(0), [&] { rt.join(); }), tendril::error);
  CHECK_THROWS_AS(tendril::run_on(rt.hub(1), [&] { rt.stop(0s); }), tendril::error);
  CHECK(rt.hub(0).alive());
  CHECK(tendril::run_on(rt.hub(0), [] { return 1; }) == 1);  // still running, still accepting tasks
  rt.join();
}

TEST_CASE("join called from a fiber of another runtime parks it while its hub runs the others") {
  runtime caller{1};
  runtime joined{1};
  tendril::event release;  // set by a second fiber of caller's hub
  joined.spawn([&] { release.wait(); });
  auto joiner = caller.spawn([&] { joined.join(); });
  auto releaser = caller.spawn([&] { release.set(); });
  CHECK_NOTHROW(joiner.get());  // joined.join() blocking caller's thread would leave releaser unrun
  CHECK(releaser.successful());
  CHECK_FALSE(joined.hub(0).alive());
  caller.join();
}

TEST_CASE("stop returns true when every task finishes by itself within the grace") {
  runtime rt{2};
  parked_tasks group(6);
  for (std::size_t i = 0; i < 6; ++i) group.add(rt.hub(i % rt.size()));
  group.started.wait();
  // The tasks go on waiting until stop() has begun (runtime::spawn then
  // throws), and finish once the helper releases them, during the grace.
  std::atomic<int> spawned{0};
  std::thread helper([&] {
    for (;;) {
      try {
        rt.spawn([] {});
        ++spawned;
      } catch (const tendril::error&) {
        break;
      }
      std::this_thread::yield();
    }
    group.release.set();
  });
  const bool finished_by_themselves = rt.stop(60s);
  helper.join();
  CHECK(finished_by_themselves);
  for (const auto& t : group.tasks) CHECK(t.successful());
  CHECK(group.saw_exit == 0);
}

TEST_CASE("stop kills the tasks still running once the grace has passed and returns false") {
  runtime rt{2};
  parked_tasks group(6);
  for (std::size_t i = 0; i < 6; ++i) group.add(rt.hub(i % rt.size()));
  group.started.wait();
  CHECK_FALSE(rt.stop(10ms));
  for (const auto& t : group.tasks) {
    CHECK(t.ready());
    CHECK(t.killed());
  }
  CHECK(group.unwound == 6);
  CHECK(group.saw_exit == 6);
  CHECK_THROWS_AS(rt.spawn([] {}), tendril::error);
  CHECK_NOTHROW(rt.stop());  // a stopped runtime: returns at once
}

TEST_CASE("destroying a runtime that was neither joined nor stopped kills its tasks") {
  // From a thread without a hub, which blocks, and from a fiber of another
  // hub, which parks.
  const bool from_a_fiber = GENERATE(false, true);
  INFO((from_a_fiber ? "from a fiber of another hub" : "from a thread without a hub"));
  auto group = std::make_unique<parked_tasks>(4);
  auto destroy_a_busy_runtime = [&] {
    runtime rt{2};
    for (std::size_t i = 0; i < 4; ++i) group->add(rt.hub(i % rt.size()));
    group->started.wait();
  };
  if (from_a_fiber) {
    tendril::testing::hub_check hub;
    tendril::run(destroy_a_busy_runtime);
  } else {
    std::thread plain(destroy_a_busy_runtime);
    plain.join();
  }
  for (const auto& t : group->tasks) CHECK(t.killed());
  CHECK(group->unwound == 4);
  CHECK(group->saw_exit == 4);
}

// --- placement ----------------------------------------------------------------

TEST_CASE("round_robin placement spreads spawns evenly over the hubs") {
  runtime::options options;
  options.threads = 4;
  options.place = runtime::placement::round_robin;
  options.steal = false;  // placement alone: a sleeping hub would steal
  runtime rt{std::move(options)};
  std::vector<task<long>> tasks;
  for (int i = 0; i < 400; ++i) tasks.push_back(rt.spawn([] { return this_thread_id(); }));
  std::map<long, int> per_thread;
  for (const auto& t : tasks) ++per_thread[t.get()];
  std::map<long, int> expected;
  for (const hub_ref& h : rt.hubs()) expected[h.thread_id()] = 100;
  CHECK(per_thread == expected);
  rt.join();
}

TEST_CASE("least_loaded placement puts a spawn on the hub with the fewest unfinished tasks") {
  constexpr int busy = 8;
  runtime::options options;
  options.threads = 2;
  options.place = runtime::placement::least_loaded;
  options.steal = false;  // placement alone: a sleeping hub would steal
  runtime rt{std::move(options)};
  parked_tasks on_hub_0(busy);
  for (int i = 0; i < busy; ++i) on_hub_0.add(rt.hub(0));
  on_hub_0.started.wait();
  CHECK(rt.pick() == rt.hub(1));
  // A few more, each parked: hub 1 stays well below hub 0's eight, even
  // counted "as of a moment ago".
  std::vector<task<long>> placed;
  for (int i = 0; i < 3; ++i)
    placed.push_back(rt.spawn([&] {
      const long thread = this_thread_id();
      on_hub_0.release.wait();
      return thread;
    }));
  on_hub_0.release.set();
  for (const auto& t : placed) CHECK(t.get() == rt.hub(1).thread_id());
  rt.join();
}

// --- statistics ---------------------------------------------------------------

TEST_CASE("hub_ref::stats read from another hub counts each hub's unfinished and parked tasks") {
  mode m = tendril::testing::every_mode();
  m.run([&] {
    constexpr std::size_t per_index = 5;
    constexpr std::size_t indexes = 4;
    std::vector<std::size_t> parked(m.size(), 0);
    tendril::event release;
    tendril::wait_group started;
    started.add(static_cast<std::ptrdiff_t>(per_index * indexes));
    std::vector<task<void>> tasks;
    for (std::size_t i = 0; i < indexes; ++i)
      for (std::size_t k = 0; k < per_index; ++k) {
        tasks.push_back(m.spawn_on(i, [&] {
          started.done();
          release.wait();
        }));
        ++parked[i % m.size()];
      }
    started.wait();
    for (std::size_t j = 0; j < m.size(); ++j) {
      INFO("hub " << j);
      const std::size_t body = j == 0 ? 1 : 0;  // the body is a task of hub 0
      CHECK(m.hub(j).stats().tasks == parked[j] + body);
      // parked is "as of a moment ago" from another thread, and may count
      // fibers that are not tasks (a main greenlet): it must reach the
      // number of parked tasks (the body's time limit fails the test if not).
      while (m.hub(j).stats().parked < parked[j]) tendril::yield();
    }
    release.set();
    CHECK(tendril::joinall(tasks));
  });
}

TEST_CASE("hub_ref::stats shows switches and loop polls and blocked time growing on a hub that runs tasks") {
  mode m = tendril::testing::every_mode();
  m.run([&] {
    const tendril::hub_stats before = m.hub(1).stats();
    tendril::run_on(m.hub(1), [] {
      for (int i = 0; i < 10; ++i) tendril::yield();
      tendril::sleep(1ms);  // nothing else to run: the hub blocks in its loop
    });
    const tendril::hub_stats after = m.hub(1).stats();
    CHECK(after.switches > before.switches);
    CHECK(after.loop_iterations > before.loop_iterations);
    CHECK(after.blocked > before.blocked);
  });
}

TEST_CASE("runtime::stats lists every hub's statistics in index order") {
  runtime rt{3};
  parked_tasks on_hub_2(4);
  for (int i = 0; i < 4; ++i) on_hub_2.add(rt.hub(2));
  on_hub_2.started.wait();
  const std::vector<tendril::hub_stats> stats = rt.stats();
  REQUIRE(stats.size() == 3);
  CHECK(stats[0].tasks == 0);
  CHECK(stats[1].tasks == 0);
  CHECK(stats[2].tasks == 4);
  on_hub_2.release.set();
  rt.join();
}

TEST_CASE("hub_ref::stats from a thread without a hub does not give it one") {
  runtime rt{1};
  std::size_t tasks = 99;
  bool has_hub_after = true;
  std::thread plain([&] {
    tasks = rt.hub(0).stats().tasks;
    has_hub_after = tendril::this_thread_has_hub();
  });
  plain.join();
  CHECK(tasks == 0);
  CHECK_FALSE(has_hub_after);
  rt.join();
}

// --- failures nobody observed -------------------------------------------------

TEST_CASE("the error handler receives a failure nobody observed on the failing task's thread") {
  struct report {
    std::string task_name;
    std::string what;
    long thread = 0;
  };
  std::mutex lock;
  std::vector<report> reports;
  tendril::event one_reported;
  runtime::options options;
  options.threads = 2;
  options.error_handler = [&](const task_base& t, std::exception_ptr e) {
    {
      std::lock_guard guard(lock);
      reports.push_back({t.name(), what_of(e), this_thread_id()});
    }
    one_reported.set();
  };
  runtime rt{std::move(options)};
  tendril::spawn_on(rt.hub(1), spawn_options{"doomed"}, [] { throw std::runtime_error("nobody looked"); });
  CHECK(one_reported.wait_for(30s));
  rt.join();
  std::lock_guard guard(lock);
  REQUIRE(reports.size() == 1);
  CHECK(reports[0].task_name == "doomed");
  CHECK(reports[0].what == "nobody looked");
  CHECK(reports[0].thread == rt.hub(1).thread_id());
}

TEST_CASE("a failure observed by get from another thread never reaches the error handler") {
  std::atomic<int> reported{0};
  runtime::options options;
  options.threads = 2;
  options.error_handler = [&](const task_base&, std::exception_ptr) { ++reported; };
  runtime rt{std::move(options)};
  auto failing = tendril::spawn_on(rt.hub(1), [] { throw std::runtime_error("seen"); });
  CHECK_THROWS_WITH(failing.get(), "seen");
  failing = {};
  rt.join();
  CHECK(reported == 0);
}

TEST_CASE("without an error handler a runtime prints a failure nobody observed to stderr") {
  stderr_capture captured;
  {
    runtime rt{1};
    tendril::spawn_on(rt.hub(0), spawn_options{"loud"}, [] { throw std::runtime_error("printed"); });
    rt.join();
  }
  const std::string text = captured.finish();
  CHECK_THAT(text, Catch::Contains("\"loud\"") && Catch::Contains("printed"));
}
