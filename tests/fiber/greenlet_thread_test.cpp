// greenlets and OS threads: one main greenlet per thread, greenlets bound to
// the thread that created them, cross-thread drops deferred to the owning
// thread, and unwinding at thread exit. Ports the thread cases of
// python-greenlet's test_greenlet.py and test_leaks.py.
//
// Catch2 assertions are not thread-safe, so other threads only record what
// they see and the test thread checks it after a latch or join. No test
// sleeps: every hand-off is a latch or a promise.

#include <unistd.h>

#include <any>
#include <atomic>
#include <cstdint>
#include <future>
#include <latch>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include <tendril/error.hpp>
#include <tendril/fiber/fiber_local.hpp>
#include <tendril/fiber/greenlet.hpp>

#include "support/fiber_leak_check.hpp"

namespace {

using tendril::greenlet;
using tendril::greenlet_exit;
using tendril::weak_greenlet;
using tendril::testing::fiber_leak_check;

// What a parked greenlet saw when it was unwound, written on its own thread.
struct unwind_record {
  bool got_greenlet_exit = false;
  bool destructors_ran = false;
  std::thread::id thread;
};

// A run function that parks in its parent until it is unwound.
auto park_until_unwound(unwind_record& record) {
  return [&record] {
    struct on_unwind {
      unwind_record& r;
      ~on_unwind() {
        r.destructors_ran = true;
        r.thread = std::this_thread::get_id();
      }
    } guard{record};
    try {
      greenlet::switch_to_parent();
    } catch (const greenlet_exit&) {
      record.got_greenlet_exit = true;
      throw;
    }
  };
}

std::string thread_name(long tid) { return "thread " + std::to_string(tid); }

}  // namespace

TEST_CASE("each thread has its own main greenlet (test_greenlet.py: test_threads)") {
  fiber_leak_check leaks;
  struct seen_by_thread {
    bool is_main = false;
    bool has_parent = true;
    std::uint64_t main_id = 0;
    std::vector<int> order;
  };
  std::vector<seen_by_thread> seen(10);
  std::vector<std::thread> threads;
  for (seen_by_thread& s : seen) {
    threads.emplace_back([&s] {
      greenlet main = greenlet::current();
      s.is_main = main.is_main();
      s.has_parent = !main.parent().empty();
      s.main_id = main.id();
      greenlet g([&s] {
        s.order.push_back(1);
        greenlet::switch_to_parent();
        s.order.push_back(3);
      });
      s.order.push_back(0);
      g.switch_to();
      s.order.push_back(2);
      g.switch_to();
      s.order.push_back(4);
    });
  }
  for (std::thread& t : threads) t.join();
  std::uint64_t here = greenlet::current().id();
  for (std::size_t i = 0; i < seen.size(); ++i) {
    CHECK(seen[i].is_main);
    CHECK_FALSE(seen[i].has_parent);
    CHECK(seen[i].main_id != here);
    for (std::size_t j = 0; j < i; ++j) CHECK(seen[i].main_id != seen[j].main_id);
    CHECK(seen[i].order == std::vector<int>{0, 1, 2, 3, 4});
  }
}

TEST_CASE("a cross-thread drop unwinds at the next switch (test_greenlet.py: test_dealloc_other_thread)") {
  fiber_leak_check leaks;
  unwind_record record;
  std::promise<greenlet> published;
  std::latch dropped{1}, switched{1}, may_exit{1};
  std::thread owner([&] {
    greenlet g(park_until_unwound(record));
    g.switch_to();
    published.set_value(std::move(g));  // this thread keeps no handle
    dropped.wait();
    greenlet([] {}).switch_to();
    switched.count_down();
    may_exit.wait();
  });
  greenlet g = published.get_future().get();
  weak_greenlet weak = g;
  CHECK(g.active());
  g = greenlet();
  // The owner is blocked in dropped.wait(), so nothing may have unwound yet;
  // unwinding here, on the wrong thread, would show up in `record`.
  CHECK_FALSE(record.got_greenlet_exit);
  CHECK_FALSE(record.destructors_ran);
  dropped.count_down();
  switched.wait();
  CHECK(record.got_greenlet_exit);
  CHECK(record.destructors_ran);
  CHECK(record.thread == owner.get_id());
  CHECK(weak.expired());
  may_exit.count_down();
  owner.join();
}

TEST_CASE(
    "a queued unwinding runs at thread exit (test_leaks.py: "
    "test_issue251_issue252_need_to_collect_in_background)") {
  fiber_leak_check leaks;
  unwind_record record;
  std::promise<greenlet> published;
  std::latch dropped{1};
  std::thread owner([&] {
    greenlet g(park_until_unwound(record));
    g.switch_to();
    published.set_value(std::move(g));
    dropped.wait();  // then exits without another greenlet call
  });
  greenlet g = published.get_future().get();
  weak_greenlet weak = g;
  g = greenlet();
  std::thread::id owner_id = owner.get_id();
  dropped.count_down();
  owner.join();
  CHECK(record.got_greenlet_exit);
  CHECK(record.destructors_ran);
  CHECK(record.thread == owner_id);
  CHECK(weak.expired());
}

TEST_CASE(
    "thread exit unwinds its suspended greenlets (test_leaks.py: "
    "test_untracked_memory_doesnt_increase_unfinished_thread_dealloc_in_thread)") {
  fiber_leak_check leaks;
  constexpr int count = 1000;
  std::atomic<int> exits{0};
  std::atomic<int> exits_before_thread_end{-1};
  std::vector<greenlet> outliving;  // handles the test thread keeps past the thread's exit
  std::promise<std::vector<greenlet>> published;
  std::thread owner([&] {
    auto parked = [&exits] {
      try {
        greenlet::switch_to_parent();
      } catch (const greenlet_exit&) {
        ++exits;
        throw;
      }
    };
    std::vector<greenlet> dropped_here, kept_elsewhere;
    for (int i = 0; i < count; ++i) {
      dropped_here.emplace_back(parked).switch_to();
      kept_elsewhere.emplace_back(parked).switch_to();
    }
    // A greenlet whose only handle is on its own stack is a cycle; thread exit breaks it.
    greenlet([&exits] {
      greenlet self = greenlet::current();
      try {
        self.parent().switch_to();
      } catch (const greenlet_exit&) {
        ++exits;
        throw;
      }
    }).switch_to();
    dropped_here.clear();
    exits_before_thread_end = exits.load();
    published.set_value(std::move(kept_elsewhere));
  });
  outliving = published.get_future().get();
  owner.join();
  CHECK(exits_before_thread_end == count);
  CHECK(exits == 2 * count + 1);
  for (const greenlet& g : outliving) CHECK(g.dead());
}

TEST_CASE("set_parent to another thread's greenlet throws (test_greenlet.py: test_threaded_reparent)") {
  fiber_leak_check leaks;
  std::promise<greenlet> published;
  std::latch done{1};
  std::thread other([&] {
    published.set_value(greenlet([] {}));
    done.wait();
  });
  greenlet foreign = published.get_future().get();
  greenlet g([] { greenlet::switch_to_parent(); });
  g.switch_to();
  CHECK_THROWS_AS(g.set_parent(foreign), tendril::error);
  CHECK(g.parent() == greenlet::current());
  CHECK_THROWS_AS(greenlet([] {}, foreign), tendril::error);
  g.switch_to();
  CHECK(g.dead());
  foreign = greenlet();
  done.count_down();
  other.join();
}

TEST_CASE("switching across threads throws, naming both (test_greenlet.py: test_switch_to_another_thread)") {
  fiber_leak_check leaks;
  bool ran = false;
  std::promise<std::pair<greenlet, long>> published;
  std::latch done{1};
  std::thread other([&] {
    published.set_value({greenlet([&ran] { ran = true; }), static_cast<long>(::gettid())});
    done.wait();
  });
  auto [foreign, other_tid] = published.get_future().get();
  long my_tid = ::gettid();
  try {
    foreign.switch_to();
    FAIL("switch_to another thread's greenlet returned");
  } catch (const tendril::error& e) {
    CHECK_THAT(e.what(), Catch::Contains(thread_name(my_tid)) && Catch::Contains(thread_name(other_tid)));
  }
  CHECK_THROWS_AS(foreign.throw_in(std::runtime_error("nope")), tendril::error);
  CHECK_FALSE(ran);
  CHECK_FALSE(foreign.started());
  foreign = greenlet();
  done.count_down();
  other.join();
}

TEST_CASE(
    "switching to an exited thread's greenlet throws (test_greenlet.py: "
    "test_throw_to_dead_thread_doesnt_crash_wait)") {
  fiber_leak_check leaks;
  greenlet foreign;
  std::thread other([&] {
    greenlet g([] { greenlet::switch_to_parent(); });
    g.switch_to();
    foreign = g;
  });
  other.join();
  CHECK(foreign.dead());
  CHECK_THROWS_AS(foreign.throw_in(std::runtime_error("to a dead thread")), tendril::error);
  CHECK_THROWS_AS(foreign.switch_to(), tendril::error);
  greenlet g([] {});
  CHECK_THROWS_AS(g.set_parent(foreign), tendril::error);  // test_unexpected_reparenting
}

TEST_CASE("a main greenlet is dead after its thread exits (test_greenlet.py: test_main_from_other_thread)") {
  fiber_leak_check leaks;
  std::promise<greenlet> published;
  std::latch checked{1};
  std::thread other([&] {
    published.set_value(greenlet::current());
    checked.wait();
  });
  greenlet other_main = published.get_future().get();
  CHECK(other_main.is_main());
  CHECK(other_main.started());
  CHECK(other_main.active());
  CHECK_FALSE(other_main.dead());
  CHECK(other_main.parent().empty());
  CHECK_FALSE(other_main == greenlet::current());
  checked.count_down();
  other.join();
  CHECK(other_main.dead());
  CHECK_FALSE(other_main.active());
  CHECK_THROWS_AS(other_main.switch_to(), tendril::error);
}

TEST_CASE("a thread's main greenlet is freed when it exits (test_leaks.py: test_threaded_leak)") {
  fiber_leak_check leaks;
  std::vector<weak_greenlet> mains;
  for (int i = 0; i < 2; ++i) {
    std::thread t([&mains] { mains.emplace_back(greenlet::current()); });
    t.join();
  }
  for (const weak_greenlet& w : mains) CHECK(w.expired());
}

TEST_CASE("an exited thread's finished greenlets are freed (test_leaks.py: test_threaded_adv_leak)") {
  fiber_leak_check leaks;
  std::vector<weak_greenlet> weak;
  for (int i = 0; i < 2; ++i) {
    std::thread t([&weak] {
      // Like greenlet.getcurrent().ll: a list hung on the thread's main greenlet.
      static tendril::fiber_local<std::vector<greenlet>> kept_by_main;
      std::vector<greenlet>& ll = kept_by_main.get();
      for (int j = 0; j < 2; ++j) greenlet([&ll] { ll.push_back(greenlet::current()); }).switch_to();
      for (const greenlet& g : ll) weak.emplace_back(g);
      weak.emplace_back(greenlet::current());
    });
    t.join();
  }
  REQUIRE(weak.size() == 6);
  for (const weak_greenlet& w : weak) CHECK(w.expired());
}

TEST_CASE("greenlets may be inspected, copied and compared from any thread") {
  fiber_leak_check leaks;
  greenlet g([] { greenlet::switch_to_parent(); }, greenlet(), {.name = "inspected"});
  g.switch_to();
  struct seen_there {
    std::uint64_t id = 0;
    std::string name, describe;
    bool started = false, active = false, dead = true, is_main = true, equal = false;
    std::size_t hash = 0, stack_size = 0;
  } there;
  std::thread([&there, copy = g]() mutable {
    there = {copy.id(),
             copy.name(),
             copy.describe(),
             copy.started(),
             copy.active(),
             copy.dead(),
             copy.is_main(),
             greenlet(copy) == copy,
             std::hash<greenlet>{}(copy),
             copy.stack_size()};
    copy = greenlet();  // not the last handle: nothing to queue
  }).join();
  CHECK(there.id == g.id());
  CHECK(there.name == "inspected");
  CHECK(there.describe == g.describe());
  CHECK(there.started);
  CHECK(there.active);
  CHECK_FALSE(there.dead);
  CHECK_FALSE(there.is_main);
  CHECK(there.equal);
  CHECK(there.hash == std::hash<greenlet>{}(g));
  CHECK(there.stack_size == g.stack_size());
  g.switch_to();
  CHECK(g.dead());
}

TEST_CASE(
    "a deferred unwinding races another thread safely (test_greenlet.py: test_threaded_updatecurrent)") {
  fiber_leak_check leaks;
  greenlet main = greenlet::current();
  std::latch first_dropped{1}, other_done{1};
  std::atomic<bool> finalizer_running{false};  // not a latch: the test may have to release it itself
  std::uint64_t current_in_finalizer = 0;
  std::thread::id finalized_on;
  struct bomb {
    std::atomic<bool>& running;
    std::latch& done;
    std::uint64_t& current_id;
    std::thread::id& thread;
    ~bomb() {
      running = true;
      running.notify_all();
      done.wait();  // the other thread acts while this thread is mid-unwinding
      current_id = greenlet::current().id();
      thread = std::this_thread::get_id();
    }
  };
  greenlet g1([&] {
    bomb b{finalizer_running, other_done, current_in_finalizer, finalized_on};
    greenlet::switch_to_parent();
  });
  g1.switch_to();
  std::uint64_t g1_id = g1.id();
  unwind_record second;
  greenlet g2(park_until_unwound(second));
  g2.switch_to();

  bool other_saw_own_main = false;
  std::thread other([&, h1 = std::move(g1), h2 = std::move(g2)]() mutable {
    h1 = greenlet();  // queued for the test thread
    first_dropped.count_down();
    finalizer_running.wait(false);
    other_saw_own_main = greenlet::current().is_main() && !(greenlet::current() == main);
    greenlet([] {}).switch_to();
    h2 = greenlet();  // queued while the test thread is draining its queue
    other_done.count_down();
  });
  first_dropped.wait();
  CHECK(greenlet::current() == main);
  greenlet([] {}).switch_to();  // drains the queue: g1 unwinds, its bomb waits for `other`
  CHECK(greenlet::current() == main);
  CHECK(finalizer_running);
  if (!finalizer_running) {  // g1 was not unwound: release `other` so the test fails instead of hanging
    finalizer_running = true;
    finalizer_running.notify_all();
  }
  other.join();
  CHECK(current_in_finalizer == g1_id);
  CHECK(finalized_on == std::this_thread::get_id());
  CHECK(other_saw_own_main);
  greenlet([] {}).switch_to();  // g2's unwinding, if the first drain did not already run it
  CHECK(second.got_greenlet_exit);
  CHECK(second.thread == std::this_thread::get_id());
}

TEST_CASE(
    "drops from many threads unwind on each owner (test_greenlet.py: "
    "test_issue_245_reference_counting_subclass_threads)") {
  fiber_leak_check leaks;
  constexpr int thread_count = 8;
  std::vector<unwind_record> records(thread_count);
  std::vector<std::promise<greenlet>> published(thread_count);
  std::latch all_dropped{1};
  std::vector<std::thread> threads;
  for (int i = 0; i < thread_count; ++i) {
    threads.emplace_back([&, i] {
      greenlet g(park_until_unwound(records[i]));
      g.switch_to();
      published[i].set_value(std::move(g));
      all_dropped.wait();
      greenlet([] {}).switch_to();
    });
  }
  std::vector<weak_greenlet> weak;
  for (auto& p : published) weak.emplace_back(p.get_future().get());  // each temporary is the last handle
  std::vector<std::thread::id> ids;
  for (const std::thread& t : threads) ids.push_back(t.get_id());
  all_dropped.count_down();
  for (std::thread& t : threads) t.join();
  for (int i = 0; i < thread_count; ++i) {
    CHECK(records[i].got_greenlet_exit);
    CHECK(records[i].thread == ids[i]);
    CHECK(weak[i].expired());
  }
}
