// run_in_thread: values, exceptions and arguments crossing to a pool thread
// and back; the bound (calls run at once up to it, FIFO beyond it, raising
// it starts threads); kills, timeout scopes and deadlines leaving the call
// to finish on its thread with its result dropped there; threads without a
// hub running the call inline; idle threads exiting; many fibers on two
// hubs. Calls block on events the test sets, never on sleeps. Run it under
// TSan and ASan: the hand-back to a fiber that left is the risky part.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include <tendril/error.hpp>
#include <tendril/hub/hub.hpp>
#include <tendril/hub/task.hpp>
#include <tendril/hub/timeout.hpp>
#include <tendril/io/thread_pool.hpp>
#include <tendril/sync/event.hpp>

#include "support/hub_fixture.hpp"
#include "sync/sync_threads.hpp"

namespace {

using namespace std::chrono_literals;
using tendril::event;
using tendril::run_in_thread;
using tendril::spawn;
using tendril::task;
using tendril::testing::hub_check;
using tendril::testing::thread_errors;
using tendril::testing::unwind_flag;
namespace thread_pool = tendril::thread_pool;
using strings = std::vector<std::string>;

// pool_settings restores the pool's bound and idle timeout when a test ends
// (all tests of a binary run share the process's pool).
struct pool_settings {
  ~pool_settings() {
    thread_pool::set_max_threads(thread_pool::default_max_threads());
    thread_pool::set_idle_timeout(thread_pool::default_idle_timeout);
  }
};

// rendezvous: `count` calls each wait until all of them have arrived, which
// only happens if they run at once. arrive() is false if they never meet.
struct rendezvous {
  explicit rendezvous(int count) : count(count) {}
  bool arrive() {
    if (++arrived == count) all_here.set();
    return all_here.wait_for(30s);
  }
  const int count;
  std::atomic<int> arrived{0};
  event all_here;
};

// after_calls_before_it(): with a bound of 1, a call runs only once every
// call queued before it has ended and been dropped by its thread.
void after_calls_before_it() {
  run_in_thread([] {});
}

std::thread::id this_thread_id() { return std::this_thread::get_id(); }

}  // namespace

// --- values and exceptions --------------------------------------------------------

TEST_CASE("run_in_thread returns the value of a call made on another thread") {
  hub_check hub;
  auto [text, ran_on] = run_in_thread(
      [](int n, const std::string& s) { return std::pair(s + std::to_string(n), this_thread_id()); }, 42,
      std::string("answer "));
  CHECK(text == "answer 42");
  CHECK(ran_on != this_thread_id());
}

TEST_CASE("move-only arguments go to the call and a move-only value comes back") {
  hub_check hub;
  auto in = std::make_unique<int>(6);
  std::unique_ptr<int> out =
      run_in_thread([](std::unique_ptr<int> p) { return std::make_unique<int>(*p * 7); }, std::move(in));
  REQUIRE(out != nullptr);
  CHECK(*out == 42);
}

TEST_CASE("arguments are copied into the call unless passed with std::ref") {
  hub_check hub;
  int copied = 1;
  int shared = 1;
  run_in_thread(
      [](int a, int& b) {
        a += 10;  // the call's own copy
        b = a;
      },
      copied, std::ref(shared));
  CHECK(copied == 1);
  CHECK(shared == 11);
}

TEST_CASE("an exception from the call is rethrown on the fiber with its type and message") {
  hub_check hub;
  CHECK_THROWS_AS(run_in_thread([]() -> int { throw std::invalid_argument("bad input 7"); }),
                  std::invalid_argument);
  CHECK_THROWS_WITH(run_in_thread([] { throw tendril::error("from the pool"); }), "from the pool");
  // The fiber goes on normally afterwards.
  CHECK(run_in_thread([] { return 3; }) == 3);
}

TEST_CASE("other fibers of the hub run while one waits for its call") {
  hub_check hub;
  event released;
  auto waiter = spawn([&] { return run_in_thread([&] { return released.wait_for(30s); }); });
  tendril::yield();  // the waiter's call is on its way
  CHECK_FALSE(waiter.ready());
  released.set();  // only this fiber can release the call
  CHECK(waiter.get());
}

TEST_CASE(
    "a fiber waiting for a call is not reported as blocked forever though nothing on its hub wakes it") {
  hub_check hub;
  std::promise<void> go;
  // Runs once the main fiber has parked; then nothing on this hub is ready.
  auto releaser = spawn([&] { go.set_value(); });
  int value = run_in_thread([started = go.get_future()]() mutable {
    started.wait();
    // Not an ordering: it only gives the hub time to poll while the call is
    // still running, which is what this test is about.
    std::this_thread::sleep_for(20ms);
    return 5;
  });
  CHECK(value == 5);
  releaser.join();
}

// --- the bound --------------------------------------------------------------------

TEST_CASE("calls run at once up to the bound: each waits until all have arrived") {
  hub_check hub;
  pool_settings settings;
  thread_pool::set_max_threads(4);
  rendezvous meet(4);
  std::vector<task<bool>> callers;
  for (int i = 0; i < 4; ++i)
    callers.push_back(spawn([&] { return run_in_thread([&] { return meet.arrive(); }); }));
  for (auto& t : callers) CHECK(t.get());
  CHECK(thread_pool::stats().threads <= 4);
}

TEST_CASE("no more calls than the bound run at once, the rest are queued") {
  hub_check hub;
  pool_settings settings;
  thread_pool::set_max_threads(4);
  std::atomic<int> running{0};
  std::atomic<int> peak{0};
  std::atomic<int> arrived{0};
  event four_in;
  event released;
  std::vector<task<bool>> callers;
  for (int i = 0; i < 8; ++i)
    callers.push_back(spawn([&] {
      return run_in_thread([&] {
        int now = ++running;
        for (int seen = peak.load(); now > seen && !peak.compare_exchange_weak(seen, now);) {
        }
        if (++arrived == 4) four_in.set();
        bool ok = released.wait_for(30s);
        --running;
        return ok;
      });
    }));
  REQUIRE(four_in.wait_for(30s));
  tendril::thread_pool_stats s = thread_pool::stats();
  CHECK(s.queued == 4);
  CHECK(s.max_threads == 4);
  CHECK(arrived == 4);
  released.set();
  for (auto& t : callers) CHECK(t.get());
  CHECK(arrived == 8);
  CHECK(peak == 4);
}

TEST_CASE("calls beyond the bound run in the order they were made") {
  hub_check hub;
  pool_settings settings;
  thread_pool::set_max_threads(1);
  event blocker_in;
  event released;
  auto blocker = spawn([&] {
    return run_in_thread([&] {
      blocker_in.set();
      return released.wait_for(30s);
    });
  });
  REQUIRE(blocker_in.wait_for(30s));
  strings order;  // written by the pool's one thread, read after the calls
  std::vector<task<void>> callers;
  for (const char* name : {"a", "b", "c", "d", "e"})
    callers.push_back(spawn([&order, name] { run_in_thread([&order, name] { order.push_back(name); }); }));
  tendril::yield();  // each caller makes its call and parks, in spawn order
  CHECK(thread_pool::stats().queued == 5);
  CHECK(order.empty());
  released.set();
  CHECK(blocker.get());
  for (auto& t : callers) t.get();
  CHECK(order == strings{"a", "b", "c", "d", "e"});
}

TEST_CASE("raising the bound starts threads for calls already queued") {
  hub_check hub;
  pool_settings settings;
  thread_pool::set_max_threads(1);
  rendezvous meet(3);
  event first_in;
  std::vector<task<bool>> callers;
  for (int i = 0; i < 3; ++i)
    callers.push_back(spawn([&] {
      return run_in_thread([&] {
        first_in.set();
        return meet.arrive();
      });
    }));
  REQUIRE(first_in.wait_for(30s));
  CHECK(thread_pool::stats().queued == 2);  // one thread, busy with the first
  thread_pool::set_max_threads(3);
  for (auto& t : callers) CHECK(t.get());
}

TEST_CASE("the bound starts at default_max_threads and cannot be 0") {
  hub_check hub;
  pool_settings settings;
  CHECK(thread_pool::default_max_threads() >= 8);
  CHECK(thread_pool::max_threads() == thread_pool::default_max_threads());
  thread_pool::set_max_threads(3);
  CHECK(thread_pool::max_threads() == 3);
  CHECK(thread_pool::stats().max_threads == 3);
  CHECK_THROWS_WITH(thread_pool::set_max_threads(0), Catch::Contains("at least 1"));
  CHECK(thread_pool::max_threads() == 3);
  CHECK_THROWS_WITH(thread_pool::set_idle_timeout(-1s), Catch::Contains("negative"));
}

TEST_CASE("idle threads exit after the idle timeout, and a later call starts one again") {
  hub_check hub;
  pool_settings settings;
  CHECK(run_in_thread([] { return 1; }) == 1);
  thread_pool::set_idle_timeout(0s);
  // The threads exit on their own; wait for it (bounded, so a thread that
  // never exits fails the test instead of hanging it).
  for (int i = 0; i < 3000 && thread_pool::stats().threads != 0; ++i) std::this_thread::sleep_for(10ms);
  CHECK(thread_pool::stats().threads == 0);
  thread_pool::set_idle_timeout(thread_pool::default_idle_timeout);
  CHECK(thread_pool::idle_timeout() == thread_pool::default_idle_timeout);
  CHECK(run_in_thread([] { return 2; }) == 2);
  CHECK(thread_pool::stats().threads >= 1);
}

// --- kills, timeout scopes, deadlines ----------------------------------------------

namespace {

// A call that blocks until released, returning a value whose destruction
// records the thread it happened on.
struct abandoned_call {
  event started;
  event released;
  std::thread::id ran_on;
  std::thread::id result_freed_on;
  std::atomic<bool> ended{false};

  std::shared_ptr<int> operator()() {
    ran_on = this_thread_id();
    started.set();
    released.wait_for(30s);
    ended = true;
    return std::shared_ptr<int>(new int(7), [this](int* p) {
      result_freed_on = this_thread_id();
      delete p;
    });
  }
};

}  // namespace

TEST_CASE(
    "a kill while the call runs: the fiber leaves at once, the call ends on its thread, dropped there") {
  hub_check hub;
  pool_settings settings;
  thread_pool::set_max_threads(1);
  abandoned_call call;
  bool unwound = false;
  bool went_on = false;
  auto caller = spawn([&] {
    unwind_flag flag{unwound};
    run_in_thread(std::ref(call));
    went_on = true;
  });
  REQUIRE(call.started.wait_for(30s));
  CHECK(caller.kill());
  CHECK(caller.killed());
  CHECK(unwound);
  CHECK_FALSE(went_on);
  CHECK_FALSE(call.ended);  // the fiber did not wait for it
  call.released.set();
  after_calls_before_it();
  CHECK(call.ended);
  CHECK(call.result_freed_on == call.ran_on);
}

TEST_CASE("a call still queued when its fiber is killed runs later and is dropped") {
  hub_check hub;
  pool_settings settings;
  thread_pool::set_max_threads(1);
  event blocker_in;
  event released;
  auto blocker = spawn([&] {
    return run_in_thread([&] {
      blocker_in.set();
      return released.wait_for(30s);
    });
  });
  REQUIRE(blocker_in.wait_for(30s));
  std::atomic<bool> queued_ran{false};
  auto caller = spawn([&] { return run_in_thread([&] { return queued_ran = true; }); });
  tendril::yield();
  CHECK(thread_pool::stats().queued == 1);
  CHECK(caller.kill());
  CHECK(caller.killed());
  released.set();
  CHECK(blocker.get());
  after_calls_before_it();
  CHECK(queued_ran);
}

TEST_CASE("an expired timeout scope raises timeout_error while the call runs on") {
  hub_check hub;
  pool_settings settings;
  thread_pool::set_max_threads(1);
  abandoned_call call;
  bool owned = false;
  try {
    tendril::timeout limit(20ms);
    try {
      run_in_thread(std::ref(call));
    } catch (const tendril::timeout_error& e) {
      owned = limit.owns(e);
      throw;
    }
  } catch (const tendril::timeout_error&) {
  }
  CHECK(owned);
  CHECK_FALSE(call.ended);
  call.released.set();
  after_calls_before_it();
  CHECK(call.ended);
  CHECK(call.result_freed_on == call.ran_on);
}

TEST_CASE("run_in_thread_for returns nullopt once the timeout passes and the call runs on, dropped there") {
  hub_check hub;
  pool_settings settings;
  thread_pool::set_max_threads(1);
  abandoned_call call;
  std::optional<std::shared_ptr<int>> result = tendril::run_in_thread_for(20ms, std::ref(call));
  CHECK_FALSE(result.has_value());
  CHECK(call.started.wait_for(30s));
  CHECK_FALSE(call.ended);
  call.released.set();
  after_calls_before_it();
  CHECK(call.ended);
  CHECK(call.result_freed_on == call.ran_on);
}

TEST_CASE("run_in_thread_until gives the value or the exception of a call that ends in time") {
  hub_check hub;
  std::optional<int> value = tendril::run_in_thread_until(tendril::deadline_after(30s), [] { return 9; });
  CHECK(value == 9);
  CHECK(tendril::run_in_thread_for(30s, [] {}));
  CHECK_THROWS_WITH(tendril::run_in_thread_for(30s, []() -> int { throw std::runtime_error("late boom"); }),
                    "late boom");
}

TEST_CASE("a void call that outlives its deadline returns false") {
  hub_check hub;
  pool_settings settings;
  thread_pool::set_max_threads(1);
  event released;
  std::atomic<bool> ended{false};
  CHECK_FALSE(tendril::run_in_thread_for(10ms, [&] {
    released.wait_for(30s);
    ended = true;
  }));
  released.set();
  after_calls_before_it();
  CHECK(ended);
}

TEST_CASE("a deadline already passed returns at once without making the call") {
  hub_check hub;
  bool called = false;
  CHECK_FALSE(tendril::run_in_thread_until(tendril::clock::now() - 1s, [&] { return called = true; }));
  CHECK_FALSE(tendril::run_in_thread_for(0s, [&] { called = true; }));
  CHECK_FALSE(called);
}

// --- threads without a hub ------------------------------------------------------------

TEST_CASE("a thread without a hub runs the call inline and gets no hub") {
  hub_check hub;
  std::thread::id self;
  std::thread::id ran_on;
  std::string error_text;
  std::optional<int> late;
  bool got_hub = true;
  std::thread plain([&] {
    self = this_thread_id();
    ran_on = run_in_thread(this_thread_id);
    try {
      run_in_thread([] { throw std::runtime_error("inline boom"); });
    } catch (const std::runtime_error& e) {
      error_text = e.what();
    }
    late = tendril::run_in_thread_for(30s, [] { return 4; });
    got_hub = tendril::this_thread_has_hub();
  });
  plain.join();
  CHECK(ran_on == self);
  CHECK(error_text == "inline boom");
  CHECK(late == 4);
  CHECK_FALSE(got_hub);
}

TEST_CASE("a call made from a pool thread runs inline on that thread") {
  hub_check hub;
  auto [outer, inner] =
      run_in_thread([] { return std::pair(this_thread_id(), run_in_thread(this_thread_id)); });
  CHECK(outer == inner);
  CHECK(outer != this_thread_id());
}

// --- many fibers, many hubs ---------------------------------------------------------------

TEST_CASE("200 fibers each get their own call's value") {
  hub_check hub;
  std::vector<task<int>> callers;
  for (int i = 0; i < 200; ++i)
    callers.push_back(spawn([i] { return run_in_thread([i] { return i * i; }); }));
  for (int i = 0; i < 200; ++i) CHECK(callers[i].get() == i * i);
}

namespace {

// Calls that count their ends, shared with the calls so a call outliving
// its fiber (and the test's stack frame) stays safe.
struct call_count {
  std::atomic<int> made{0};
  std::atomic<int> ended{0};
  event changed;

  void end() {
    ++ended;
    changed.set();
  }
  // wait_all_ended() returns true once every call made has ended.
  bool wait_all_ended() {
    for (;;) {
      changed.clear();
      if (ended == made) return true;
      if (!changed.wait_for(30s)) return false;
    }
  }
};

// kill_some_while_calling(count, n): n fibers make short calls while every
// other one is killed at whatever point its call has reached. Returns how
// many fibers that were not killed got a wrong value (no Catch assertions:
// it also runs on other threads).
int kill_some_while_calling(const std::shared_ptr<call_count>& count, int n) {
  std::vector<task<int>> callers;
  for (int i = 0; i < n; ++i)
    callers.push_back(spawn([count, i] {
      ++count->made;
      return run_in_thread([count, i] {
        int x = i;
        for (int k = 0; k < 1000 * (i % 7); ++k) x = x * 31 + k;
        count->end();
        return i + (x & 0);
      });
    }));
  for (int i = 0; i < n; i += 2) {
    tendril::yield();
    callers[i].kill();
  }
  int wrong = 0;
  for (int i = 0; i < n; ++i)
    if (!callers[i].killed() && callers[i].get() != i) ++wrong;
  return wrong;
}

}  // namespace

TEST_CASE("fibers killed at any point of their calls leave nothing behind") {
  hub_check hub;
  pool_settings settings;
  thread_pool::set_max_threads(4);
  auto count = std::make_shared<call_count>();
  CHECK(kill_some_while_calling(count, 200) == 0);
  CHECK(count->wait_all_ended());
}

TEST_CASE("fibers on two hubs share the pool, some of them killed mid-call") {
  hub_check hub;
  thread_errors errors;
  auto count = std::make_shared<call_count>();
  std::atomic<int> wrong{0};
  auto body = [count, &wrong] { wrong += kill_some_while_calling(count, 100); };
  std::thread a = tendril::testing::hub_thread(errors, body);
  std::thread b = tendril::testing::hub_thread(errors, body);
  a.join();
  b.join();
  CHECK(errors.take().empty());
  CHECK(wrong == 0);
  CHECK(count->wait_all_ended());
}
