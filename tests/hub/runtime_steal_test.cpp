// Stealing: a runtime hub about to sleep takes in the tasks runtime::spawn
// queued at a busy hub before that hub started them; spawn_on's stay; and
// every join, kill and link of a task that may be stolen takes effect once.
//
// A hub is made busy by holding its thread in a loop that never parks (a
// held_hub), so its mail waits: whatever of it runs meanwhile was stolen.
// Catch2 assertions are not thread-safe: runtime threads only record, the
// test thread checks after a handshake.

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include <tendril/hub/runtime.hpp>
#include <tendril/hub/task.hpp>
#include <tendril/sync/wait_group.hpp>

namespace {

using namespace std::chrono_literals;
using tendril::hub_ref;
using tendril::runtime;
using tendril::task;
using tendril::task_base;

long this_thread_id() { return static_cast<long>(::gettid()); }

// held_hub(h) holds hub h's thread (a task that spins without parking)
// until it goes out of scope.
class held_hub {
 public:
  explicit held_hub(const hub_ref& h)
      : spinner_(tendril::spawn_on(h, [this] {
          holding_.store(true);
          while (!release_.load()) std::this_thread::yield();
        })) {
    while (!holding_.load()) std::this_thread::yield();
  }
  held_hub(const held_hub&) = delete;
  held_hub& operator=(const held_hub&) = delete;
  ~held_hub() {
    release_.store(true);
    spinner_.join();
  }

 private:
  std::atomic<bool> holding_{false};
  std::atomic<bool> release_{false};
  task<void> spinner_;
};

TEST_CASE("an idle hub steals the tasks runtime::spawn queued at a busy hub") {
  constexpr int n = 100;
  runtime rt{2};
  std::vector<long> ran_on(n, 0);  // written by each task before done(), read after wait
  tendril::wait_group done;
  done.add(n);
  {
    held_hub busy(rt.hub(0));
    for (int i = 0; i < n; ++i)
      rt.spawn([&ran_on, &done, i] {
        ran_on[i] = this_thread_id();
        done.done();
      });
    // Half were placed on hub 0, whose thread is held: all can finish only
    // if hub 1 took them.
    REQUIRE(done.wait_for(60s));
  }
  for (long thread : ran_on) CHECK(thread == rt.hub(1).thread_id());
  CHECK(rt.stats()[1].stolen >= n / 2);
  CHECK(rt.stats()[0].stolen == 0);
  rt.join();
}

TEST_CASE("tasks spawn_on put on a busy hub are not stolen") {
  constexpr int n = 50;
  runtime rt{2};
  std::atomic<int> pinned_started{0};
  std::vector<task<long>> pinned;
  tendril::wait_group done;
  done.add(n);
  {
    held_hub busy(rt.hub(0));
    for (int i = 0; i < n; ++i) {
      pinned.push_back(tendril::spawn_on(rt.hub(0), [&pinned_started] {
        pinned_started.fetch_add(1);
        return this_thread_id();
      }));
      rt.spawn([&done] { done.done(); });
    }
    // Hub 1 took every runtime::spawn task queued at hub 0, from between
    // the pinned ones, and left those.
    REQUIRE(done.wait_for(60s));
    CHECK(pinned_started.load() == 0);
  }
  for (const auto& t : pinned) CHECK(t.get() == rt.hub(0).thread_id());
  rt.join();
}

TEST_CASE("a runtime with steal off leaves a busy hub's tasks where they were placed") {
  constexpr int n = 20;
  runtime::options options;
  options.threads = 2;
  options.steal = false;
  runtime rt{std::move(options)};
  std::vector<task<long>> tasks;
  {
    held_hub busy(rt.hub(0));
    for (int i = 0; i < n; ++i) tasks.push_back(rt.spawn([] { return this_thread_id(); }));
    // Hub 1's half finishes; nothing shows when hub 1 would have stolen,
    // so the check is on where each task ran, after the hold.
    for (std::size_t i = 1; i < tasks.size(); i += 2) tasks[i].join();
  }
  for (std::size_t i = 0; i < tasks.size(); ++i) CHECK(tasks[i].get() == rt.hub(i % 2).thread_id());
  CHECK(rt.stats()[1].stolen == 0);
  rt.join();
}

TEST_CASE("a task stolen before it started reports its value and its failure as any other") {
  runtime rt{2};
  task<int> value;
  task<int> failure;
  {
    held_hub busy(rt.hub(0));
    // Round robin from a fresh runtime: spawns alternate between the hubs,
    // starting at hub 0 (the holder itself went there by spawn_on).
    value = rt.spawn([] { return 42; });
    rt.spawn([] { return 0; });
    failure = rt.spawn([]() -> int { throw std::runtime_error("stolen and failed"); });
    // Joining from here queues a request at their hub, which would pin them
    // there; poll the outcome instead, until hub 1 has run both.
    while (!value.ready() || !failure.ready()) std::this_thread::sleep_for(1ms);
  }
  CHECK(value.get() == 42);
  CHECK_THROWS_WITH(failure.get(), "stolen and failed");
  CHECK(rt.stats()[1].stolen >= 2);
  rt.join();
}

// Joins, kills, links and unlinks sent from a plain thread while hubs steal
// from each other: each request reaches the hub the task runs on, in order.
TEST_CASE("joins kills and links of tasks that may be stolen each take effect exactly once") {
  const std::size_t threads = GENERATE(2, 4);
  constexpr int n = 2000;
  struct record {
    std::atomic<int> ran{0};
    std::atomic<int> link_runs{0};
  };
  std::vector<record> records(n);
  std::vector<task<int>> tasks;
  std::vector<bool> unlinked(n, false);
  std::vector<bool> kill_sent(n, false);
  {
    runtime rt{threads};
    for (int i = 0; i < n; ++i) {
      tasks.push_back(rt.spawn([&records, i] {
        if (i % 10 == 0) {
          // Hold this hub a little without parking, so mail queues behind.
          auto until = std::chrono::steady_clock::now() + 100us;
          while (std::chrono::steady_clock::now() < until) {
          }
        }
        records[i].ran.fetch_add(1);
        return i;
      }));
      const task<int>& t = tasks.back();
      if (i % 5 == 0) {
        auto id = t.link([&records, i](const task_base&) { records[i].link_runs.fetch_add(1); });
        if (i % 3 == 0) unlinked[i] = t.unlink(id);
      }
      if (i % 7 == 0) {
        t.kill(nullptr, /*block=*/false);
        kill_sent[i] = true;
      }
      if (i % 11 == 0) t.join();
    }
    rt.join();
  }
  for (int i = 0; i < n; ++i) {
    INFO("task " << i);
    const task<int>& t = tasks[i];
    REQUIRE(t.ready());
    if (i % 5 == 0) CHECK(records[i].link_runs.load() == (unlinked[i] ? 0 : 1));
    if (kill_sent[i] && !t.successful()) {
      CHECK(records[i].ran.load() == 0);  // killed before it started: it never ran
    } else {
      CHECK(records[i].ran.load() == 1);
      CHECK(t.get() == i);
    }
  }
}

}  // namespace
