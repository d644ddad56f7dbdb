// Task handles across hubs and threads: join, get, kill, link and unlink
// of a task on another hub from a fiber (which parks) and from a thread
// without a hub (which blocks); joinall, wait, iwait and killall over tasks
// of several hubs; deadlines on each. Completion order is set by releasing
// events in a chosen order, never by racing sleeps.
//
// Catch2 assertions are not thread-safe. Tasks on other hubs and plain
// threads only record what they see; a mode's body (see support/modes.hpp)
// or the test thread checks it after a handshake.

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <exception>
#include <latch>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include <tendril/error.hpp>
#include <tendril/fiber/greenlet.hpp>
#include <tendril/hub/hub.hpp>
#include <tendril/hub/join.hpp>
#include <tendril/hub/park.hpp>
#include <tendril/hub/runtime.hpp>
#include <tendril/hub/sleep.hpp>
#include <tendril/hub/task.hpp>
#include <tendril/sync/event.hpp>
#include <tendril/sync/wait_group.hpp>

#include "support/hub_fixture.hpp"
#include "support/modes.hpp"

namespace {

using namespace std::chrono_literals;
using tendril::event;
using tendril::runtime;
using tendril::task;
using tendril::task_base;
using tendril::testing::mode;
using tendril::testing::unwind_flag;
using tendril::testing::what_of;

long this_thread_id() { return static_cast<long>(::gettid()); }

/// gated_tasks: task i runs on hub i (of a mode or a runtime), waits for its
/// own event, then returns i. Releasing events in some order finishes the
/// tasks in that order.
struct gated_tasks {
  std::vector<std::unique_ptr<event>> gates;
  std::vector<task<std::size_t>> tasks;

  template <class Spawn>
  gated_tasks(std::size_t count, Spawn spawn_on) {
    for (std::size_t i = 0; i < count; ++i) gates.push_back(std::make_unique<event>());
    for (std::size_t i = 0; i < count; ++i)
      tasks.push_back(spawn_on(i, [g = gates[i].get(), i] {
        g->wait();
        return i;
      }));
  }

  void release(std::size_t i) { gates[i]->set(); }
  void release_all() {
    for (auto& g : gates) g->set();
  }
};

gated_tasks gated_on(mode& m, std::size_t count) {
  return gated_tasks(count, [&m](std::size_t i, auto f) { return m.spawn_on(i, std::move(f)); });
}

gated_tasks gated_on(runtime& rt, std::size_t count) {
  return gated_tasks(
      count, [&rt](std::size_t i, auto f) { return tendril::spawn_on(rt.hub(i % rt.size()), std::move(f)); });
}

/// stubborn: a task body that catches every kill and goes on waiting for
/// `release`, counting the kills it saw.
struct stubborn {
  event* started;
  event* release;
  std::atomic<int>* kills;
  void operator()() const {
    started->set();
    for (;;) {
      try {
        release->wait();
        return;
      } catch (const tendril::greenlet_exit&) {
        ++*kills;
      }
    }
  }
};

/// parked_forever: waits on an event nobody sets, counting how many unwound
/// and how many saw greenlet_exit.
struct parked_forever {
  tendril::wait_group* started;
  std::atomic<int>* unwound;
  std::atomic<int>* saw_exit;
  void operator()() const {
    struct count_unwind {
      std::atomic<int>& n;
      ~count_unwind() { ++n; }
    } guard{*unwound};
    event never;
    started->done();
    try {
      never.wait();
    } catch (const tendril::greenlet_exit&) {
      ++*saw_exit;
      throw;
    }
  }
};

std::vector<std::size_t> values_of(const std::vector<task_base>& finished, const gated_tasks& group) {
  std::vector<std::size_t> out;
  for (const task_base& t : finished)
    for (std::size_t i = 0; i < group.tasks.size(); ++i)
      if (group.tasks[i] == t) out.push_back(i);
  return out;
}

}  // namespace

// --- join and get from a fiber of another hub -----------------------------------

TEST_CASE("join_for on a task of another hub returns false until it finishes and join then returns") {
  mode m = tendril::testing::every_mode();
  m.run([&] {
    event release;
    auto t = m.spawn_on(1, [&] {
      release.wait();
      return 5;
    });
    CHECK_FALSE(t.join_for(5ms));
    CHECK_FALSE(t.ready());
    release.set();
    t.join();
    CHECK(t.ready());
    CHECK(t.successful());
    CHECK(t.get() == 5);
  });
}

TEST_CASE("joining a task of another hub parks only the joining fiber: its hub runs the others") {
  mode m = tendril::testing::every_mode();
  m.run([&] {
    event release;
    auto remote = m.spawn_on(1, [&] { release.wait(); });
    auto local = tendril::spawn([&] { release.set(); });  // on the joiner's own hub
    remote.join();
    CHECK(remote.successful());
    CHECK(local.ready());
  });
}

TEST_CASE("get returns the value of a task on another hub or rethrows its exception") {
  mode m = tendril::testing::every_mode();
  m.run([&] {
    auto value = m.spawn_on(1, [] { return std::string("from hub 1"); });
    auto failure = m.spawn_on(2, [] { throw std::runtime_error("failed on hub 2"); });
    CHECK(value.get() == "from hub 1");
    CHECK_THROWS_WITH(failure.get(), "failed on hub 2");
    CHECK_FALSE(failure.successful());
    CHECK(what_of(failure.exception()) == "failed on hub 2");
  });
}

// --- kill from a fiber of another hub ---------------------------------------------

TEST_CASE("a kill from another hub raises greenlet_exit at the task's park and waits for it to finish") {
  mode m = tendril::testing::every_mode();
  m.run([&] {
    tendril::wait_group started;
    started.add();
    std::atomic<int> unwound{0};
    std::atomic<int> saw_exit{0};
    auto t = m.spawn_on(1, parked_forever{&started, &unwound, &saw_exit});
    started.wait();
    CHECK(t.kill());
    CHECK(t.ready());
    CHECK(t.killed());
    CHECK(unwound == 1);
    CHECK(saw_exit == 1);
    CHECK_THROWS_AS(t.get(), tendril::task_killed);
  });
}

TEST_CASE("a kill from another hub with an exception of the caller's choosing raises that exception") {
  mode m = tendril::testing::every_mode();
  m.run([&] {
    event started;
    event release;
    bool unwound = false;  // written on the task's hub, read after kill has waited for it
    auto t = m.spawn_on(1, [&] {
      unwind_flag f{unwound};
      started.set();
      release.wait();
    });
    started.wait();
    CHECK(t.kill(std::make_exception_ptr(std::runtime_error("stop now"))));
    CHECK(unwound);
    CHECK_THROWS_WITH(t.get(), "stop now");
  });
}

TEST_CASE("a kill from another hub of a task that has not started makes it die without running") {
  mode m = tendril::testing::every_mode();
  m.run([&] {
    // The busy task holds hub 1's thread without parking, so the victim,
    // queued after it, cannot start before it has been killed. (On the
    // body's own hub the busy task starts only once the body parks, when
    // it may already go.)
    std::atomic<bool> go{false};
    std::atomic<bool> victim_ran{false};
    auto busy = m.spawn_on(1, [&] {
      while (!go) std::this_thread::yield();
    });
    auto victim = m.spawn_on(1, [&] { victim_ran = true; });
    victim.kill(nullptr, false);
    go = true;
    victim.join();
    busy.join();
    CHECK(victim.killed());
    CHECK_FALSE(victim_ran);
    CHECK_THROWS_AS(victim.get(), tendril::task_killed);
  });
}

TEST_CASE("a kill with a deadline returns false while a task on another hub ignores it") {
  mode m = tendril::testing::every_mode();
  m.run([&] {
    event started;
    event release;
    std::atomic<int> kills{0};
    auto t = m.spawn_on(1, stubborn{&started, &release, &kills});
    started.wait();
    CHECK_FALSE(t.kill(nullptr, true, 5ms));
    CHECK_FALSE(t.ready());
    release.set();
    t.join();
    CHECK(t.successful());
    CHECK(kills == 1);  // one kill raises once
  });
}

TEST_CASE("killing a finished task of another hub does nothing and returns true") {
  mode m = tendril::testing::every_mode();
  m.run([&] {
    auto t = m.spawn_on(1, [] { return 3; });
    t.join();
    CHECK(t.kill());
    CHECK(t.successful());
    CHECK_FALSE(t.killed());
    CHECK(t.get() == 3);
  });
}

// --- link from a fiber of another hub ----------------------------------------------

TEST_CASE("a link on a task of another hub runs on that task's thread once it has finished") {
  mode m = tendril::testing::every_mode();
  m.run([&] {
    event release;
    event linked;
    std::atomic<long> ran_on{0};
    std::atomic<bool> was_ready{false};
    auto t = m.spawn_on(1, [&] {
      release.wait();
      return 1;
    });
    t.link([&](const task_base& finished) {
      was_ready = finished.ready();
      ran_on = this_thread_id();
      linked.set();
    });
    CHECK_FALSE(linked.is_set());
    release.set();
    CHECK(linked.wait_for(30s));
    CHECK(was_ready);
    CHECK(ran_on == m.hub(1).thread_id());
    CHECK(t.get() == 1);
  });
}

TEST_CASE("a link on a task of another hub that has already finished still runs") {
  mode m = tendril::testing::every_mode();
  m.run([&] {
    auto t = m.spawn_on(1, [] {});
    t.join();
    event linked;
    t.link([&](const task_base&) { linked.set(); });
    CHECK(linked.wait_for(30s));
  });
}

TEST_CASE("unlink removes a link on a task of another hub before it runs") {
  mode m = tendril::testing::every_mode();
  m.run([&] {
    event release;
    std::atomic<bool> removed_ran{false};
    std::atomic<bool> kept_ran{false};
    auto t = m.spawn_on(1, [&] { release.wait(); });
    const task_base::link_id removed = t.link([&](const task_base&) { removed_ran = true; });
    t.link([&](const task_base&) { kept_ran = true; });
    CHECK(t.unlink(removed));
    CHECK_FALSE(t.unlink(removed));
    release.set();
    t.join();
    // Links run on hub 1 right after the task finished: a task spawned
    // there after that runs after them.
    tendril::run_on(m.hub(1), [] {});
    CHECK(kept_ran);
    CHECK_FALSE(removed_ran);
  });
}

// --- joinall, wait, iwait, killall over several hubs ---------------------------------

TEST_CASE("joinall over tasks of several hubs returns false at its deadline and true once all finish") {
  mode m = tendril::testing::every_mode();
  m.run([&] {
    gated_tasks group = gated_on(m, 4);
    for (std::size_t i = 0; i < 3; ++i) group.release(i);
    CHECK_FALSE(tendril::joinall(group.tasks, 5ms));
    CHECK_FALSE(group.tasks[3].ready());
    group.release(3);
    CHECK(tendril::joinall(group.tasks));
    for (std::size_t i = 0; i < 4; ++i) CHECK(group.tasks[i].get() == i);
  });
}

TEST_CASE("joinall with raise_error rethrows the failure of a task on another hub") {
  mode m = tendril::testing::every_mode();
  m.run([&] {
    gated_tasks group = gated_on(m, 3);
    std::vector<task_base> tasks(group.tasks.begin(), group.tasks.end());
    tasks.push_back(m.spawn_on(3, [] { throw std::runtime_error("hub 3 failed"); }));
    CHECK_THROWS_WITH(tendril::joinall(tasks, tendril::clock::duration::max(), true), "hub 3 failed");
    group.release_all();
    CHECK(tendril::joinall(tasks));
  });
}

TEST_CASE("wait over tasks of several hubs returns the finished ones in completion order") {
  mode m = tendril::testing::every_mode();
  m.run([&] {
    gated_tasks group = gated_on(m, 3);
    group.release(0);
    CHECK(values_of(tendril::wait(group.tasks, 1), group) == std::vector<std::size_t>{0});
    group.release(1);
    CHECK(values_of(tendril::wait(group.tasks, 2), group) == std::vector<std::size_t>{0, 1});
    CHECK(values_of(tendril::wait(group.tasks, 0, 5ms), group) == std::vector<std::size_t>{0, 1});
    group.release(2);
    CHECK(tendril::wait(group.tasks).size() == 3);
  });
}

TEST_CASE("iwait yields tasks of several hubs in the order they finish") {
  mode m = tendril::testing::every_mode();
  m.run([&] {
    gated_tasks group = gated_on(m, 4);
    const std::vector<std::size_t> order{2, 0, 3, 1};
    std::vector<std::size_t> yielded;
    group.release(order[0]);
    for (task_base& t : tendril::iwait(group.tasks)) {
      yielded.push_back(values_of({t}, group).at(0));
      if (yielded.size() < order.size()) group.release(order[yielded.size()]);
    }
    CHECK(yielded == order);
  });
}

TEST_CASE("iwait with a timeout stops at its deadline while tasks of other hubs still run") {
  mode m = tendril::testing::every_mode();
  m.run([&] {
    gated_tasks group = gated_on(m, 3);
    group.release(1);
    group.tasks[1].join();
    std::vector<std::size_t> yielded;
    for (task_base& t : tendril::iwait(group.tasks, 5ms)) yielded.push_back(values_of({t}, group).at(0));
    CHECK(yielded == std::vector<std::size_t>{1});
    group.release_all();
    CHECK(tendril::joinall(group.tasks));
  });
}

TEST_CASE("killall kills tasks parked on several hubs and waits for all of them") {
  mode m = tendril::testing::every_mode();
  m.run([&] {
    constexpr std::size_t count = 8;
    tendril::wait_group started;
    started.add(count);
    std::atomic<int> unwound{0};
    std::atomic<int> saw_exit{0};
    std::vector<task<void>> tasks;
    for (std::size_t i = 0; i < count; ++i)
      tasks.push_back(m.spawn_on(i, parked_forever{&started, &unwound, &saw_exit}));
    started.wait();
    tendril::killall(tasks);
    for (const auto& t : tasks) CHECK(t.killed());
    CHECK(unwound == count);
    CHECK(saw_exit == count);
  });
}

TEST_CASE("killall with a deadline returns while a task on another hub ignores the kill") {
  mode m = tendril::testing::every_mode();
  m.run([&] {
    event started;
    event release;
    std::atomic<int> kills{0};
    tendril::wait_group parked;
    parked.add();
    std::atomic<int> unwound{0};
    std::atomic<int> saw_exit{0};
    std::vector<task_base> tasks{m.spawn_on(1, stubborn{&started, &release, &kills}),
                                 m.spawn_on(2, parked_forever{&parked, &unwound, &saw_exit})};
    started.wait();
    parked.wait();
    tendril::killall(tasks, nullptr, true, 5ms);
    CHECK_FALSE(tasks[0].ready());
    tasks[1].join();
    CHECK(tasks[1].killed());
    release.set();
    tasks[0].join();
    CHECK(tasks[0].successful());
    CHECK(kills == 1);
  });
}

// --- from a thread without a hub ----------------------------------------------------

TEST_CASE(
    "a thread without a hub joins a task of a runtime: join_for times out then join blocks until it ends") {
  runtime rt{2};
  event release;
  auto t = tendril::spawn_on(rt.hub(1), [&] {
    release.wait();
    return 9;
  });
  bool timed_out_early = false;
  int value = 0;
  bool has_hub = true;
  std::thread plain([&] {
    timed_out_early = !t.join_for(5ms);
    release.set();
    t.join();
    value = t.get();
    has_hub = tendril::this_thread_has_hub();
  });
  plain.join();
  CHECK(timed_out_early);
  CHECK(value == 9);
  CHECK_FALSE(has_hub);
  rt.join();
}

TEST_CASE("a thread without a hub gets the exception of a task of a runtime") {
  runtime rt{1};
  auto t = tendril::spawn_on(rt.hub(0), [] { throw std::runtime_error("seen by a plain thread"); });
  std::string thrown;
  std::string stored;
  std::thread plain([&] {
    try {
      t.get();
    } catch (const std::exception& e) {
      thrown = e.what();
    }
    stored = what_of(t.exception());
  });
  plain.join();
  CHECK(thrown == "seen by a plain thread");
  CHECK(stored == "seen by a plain thread");
  rt.join();
}

TEST_CASE("a thread without a hub kills a parked task of a runtime and waits for it") {
  runtime rt{2};
  tendril::wait_group started;
  started.add();
  std::atomic<int> unwound{0};
  std::atomic<int> saw_exit{0};
  auto t = tendril::spawn_on(rt.hub(1), parked_forever{&started, &unwound, &saw_exit});
  bool killed = false;
  std::thread plain([&] {
    started.wait();
    killed = t.kill();
  });
  plain.join();
  CHECK(killed);
  CHECK(t.killed());
  CHECK(unwound == 1);
  CHECK(saw_exit == 1);
  rt.join();
}

TEST_CASE("a thread without a hub kills a task that has not started: it dies without running") {
  runtime rt{2};
  std::atomic<bool> go{false};
  std::atomic<bool> victim_ran{false};
  auto busy = tendril::spawn_on(rt.hub(1), [&] {
    while (!go) std::this_thread::yield();
  });
  auto victim = tendril::spawn_on(rt.hub(1), [&] { victim_ran = true; });
  bool killed = false;
  std::thread plain([&] {
    victim.kill(nullptr, false);
    go = true;
    victim.join();
    killed = victim.killed();
  });
  plain.join();
  CHECK(killed);
  CHECK_FALSE(victim_ran);
  rt.join();
}

TEST_CASE("a link made from a thread without a hub runs on the task's thread") {
  runtime rt{2};
  event release;
  auto t = tendril::spawn_on(rt.hub(1), [&] { release.wait(); });
  std::latch linked(1);
  long ran_on = 0;  // written by the link, read after the latch
  bool unlinked = false;
  std::thread plain([&] {
    const task_base::link_id spare = t.link([](const task_base&) {});
    unlinked = t.unlink(spare);
    t.link([&](const task_base&) {
      ran_on = this_thread_id();
      linked.count_down();
    });
    release.set();
    linked.wait();
  });
  plain.join();
  CHECK(unlinked);
  CHECK(ran_on == rt.hub(1).thread_id());
  rt.join();
}

TEST_CASE("joinall wait iwait and killall work from a thread without a hub on tasks of several hubs") {
  runtime rt{2};
  gated_tasks joined = gated_on(rt, 3);
  gated_tasks waited = gated_on(rt, 3);
  gated_tasks iterated = gated_on(rt, 3);
  tendril::wait_group started;
  started.add(3);
  std::atomic<int> unwound{0};
  std::atomic<int> saw_exit{0};
  std::vector<task<void>> doomed;
  for (std::size_t i = 0; i < 3; ++i)
    doomed.push_back(tendril::spawn_on(rt.hub(i % 2), parked_forever{&started, &unwound, &saw_exit}));

  bool joinall_timed_out = false;
  bool joinall_done = false;
  std::vector<std::size_t> first_waited;
  std::vector<std::size_t> iterated_order;
  std::thread plain([&] {
    joinall_timed_out = !tendril::joinall(joined.tasks, 5ms);
    joined.release_all();
    joinall_done = tendril::joinall(joined.tasks);

    waited.release(2);
    first_waited = values_of(tendril::wait(waited.tasks, 1), waited);
    waited.release_all();
    tendril::wait(waited.tasks);

    iterated.release(1);
    for (task_base& t : tendril::iwait(iterated.tasks)) {
      iterated_order.push_back(values_of({t}, iterated).at(0));
      iterated.release_all();
    }

    started.wait();
    tendril::killall(doomed);
  });
  plain.join();
  CHECK(joinall_timed_out);
  CHECK(joinall_done);
  CHECK(first_waited == std::vector<std::size_t>{2});
  REQUIRE(iterated_order.size() == 3);
  CHECK(iterated_order[0] == 1);
  for (const auto& t : doomed) CHECK(t.killed());
  CHECK(unwound == 3);
  CHECK(saw_exit == 3);
  rt.join();
}
