// park/waker: the one way a fiber waits. Wakes, deadlines, wake_with,
// stale wakers, interrupts at the park point, wake-ups from other threads,
// and parking from the main greenlet, a task and a plain greenlet.
//
// Catch2 assertions are not thread-safe: other threads only record what they
// see, and the test thread checks it after joining them.

#include <atomic>
#include <chrono>
#include <exception>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include <tendril/error.hpp>
#include <tendril/fiber/greenlet.hpp>
#include <tendril/hub/park.hpp>
#include <tendril/hub/sleep.hpp>
#include <tendril/hub/task.hpp>
#include <tendril/hub/timeout.hpp>

#include "support/hub_fixture.hpp"

namespace {

using namespace std::chrono_literals;
using tendril::park;
using tendril::spawn_options;
using tendril::wait_reason;
using tendril::waker;
using tendril::testing::hub_check;

// A wait reason another thread may satisfy: the hub keeps waiting for it.
wait_reason remote(const char* what) {
  wait_reason why{what};
  why.remote = true;
  return why;
}

struct custom_error {
  int code;
};

}  // namespace

TEST_CASE("a wake makes park return true") {
  hub_check hub;
  waker w;
  bool woke = false;
  auto waking = tendril::spawn([&] { woke = w.wake(); });  // runs once the main greenlet parks
  w = waker::current();
  CHECK(park({"test"}));
  CHECK(woke);
  waking.join();
}

TEST_CASE("a wake queues the fiber, which runs when the waker parks or yields") {
  hub_check hub;
  bool resumed = false;
  waker w;
  auto sleeper = tendril::spawn([&] {
    w = waker::current();
    park({"test"});
    resumed = true;
  });
  tendril::yield();  // the task runs and parks
  REQUIRE_FALSE(w.empty());
  CHECK(w.wake());
  CHECK_FALSE(resumed);
  tendril::yield();
  CHECK(resumed);
  sleeper.join();
}

TEST_CASE("a deadline makes park return false") {
  hub_check hub;
  CHECK_FALSE(park({"test"}, tendril::deadline_after(1ms)));
}

TEST_CASE("park with a deadline already past returns false") {
  hub_check hub;
  CHECK_FALSE(park({"test"}, tendril::clock::now() - 1s));
}

TEST_CASE("a wake before the deadline wins and the deadline's timer is removed") {
  hub_check hub;
  waker w = waker::current();
  auto waking = tendril::spawn([&] { w.wake(); });
  CHECK(park({"test"}, tendril::deadline_after(1h)));
  CHECK(tendril::this_hub_stats().watchers == 0);
  waking.join();
}

// A fiber's parks with deadlines share one timer, kept armed (idle) between
// them and re-armed lazily (hub::park). A wrong keep would make the cases
// below wait an hour (the test timeout catches it) or time out too soon.

TEST_CASE("a park with an earlier deadline than the last park's still times out at its own") {
  hub_check hub;
  waker w = waker::current();
  auto waking = tendril::spawn([&] { w.wake(); });
  CHECK(park({"first"}, tendril::deadline_after(1h)));
  CHECK_FALSE(park({"second"}, tendril::deadline_after(1ms)));
  waking.join();
}

TEST_CASE("a kept timer that fires during a later park with a later deadline does not end it") {
  hub_check hub;
  const tendril::clock::time_point first_deadline = tendril::deadline_after(5ms);
  waker w = waker::current();
  auto waking = tendril::spawn([&] { w.wake(); });
  CHECK(park({"first"}, first_deadline));  // woken at once; its timer stays armed for first_deadline
  w = waker::current();
  // Timers fire in deadline order: this wake comes after the kept timer fired.
  auto late_waking = tendril::spawn([&] {
    tendril::sleep_until(first_deadline + 1ms);
    w.wake();
  });
  CHECK(park({"second"}, tendril::deadline_after(1h)));
  waking.join();
  late_waking.join();
}

TEST_CASE("a kept deadline timer does not hide a park that would block forever") {
  hub_check hub;
  waker w = waker::current();
  auto waking = tendril::spawn([&] { w.wake(); });
  CHECK(park({"with a deadline"}, tendril::deadline_after(1h)));
  waking.join();
  CHECK(tendril::this_hub_stats().watchers == 0);
  CHECK_THROWS_WITH(park({"forever"}), Catch::Contains("would block forever"));
}

TEST_CASE("wake_with(e) makes park throw e") {
  hub_check hub;
  waker w = waker::current();
  auto waking =
      tendril::spawn([&] { w.wake_with(std::make_exception_ptr(std::runtime_error("handed over"))); });
  CHECK_THROWS_WITH(park({"test"}), "handed over");
  waking.join();

  w = waker::current();
  auto waking_custom = tendril::spawn([&] { w.wake_with(std::make_exception_ptr(custom_error{7})); });
  try {
    park({"test"});
    FAIL("park returned");
  } catch (const custom_error& e) {
    CHECK(e.code == 7);
  }
  waking_custom.join();
}

TEST_CASE("wake_with(nullptr) is a plain wake") {
  hub_check hub;
  waker w = waker::current();
  auto waking = tendril::spawn([&] { w.wake_with(nullptr); });
  CHECK(park({"test"}));
  waking.join();
}

TEST_CASE("a stale waker (its park is over) returns false and wakes nothing") {
  hub_check hub;
  waker w = waker::current();
  auto waking = tendril::spawn([&] { w.wake(); });
  REQUIRE(park({"test"}));
  waking.join();
  CHECK_FALSE(w.wake());  // that park was woken already
  CHECK_FALSE(w.wake());

  waker timed_out = waker::current();
  REQUIRE_FALSE(park({"test"}, tendril::deadline_after(1ms)));
  CHECK_FALSE(timed_out.wake());

  // Neither wakes the next park.
  waker next = waker::current();
  bool stale_woke = true;
  bool next_woke = false;
  auto waking_both = tendril::spawn([&] {
    stale_woke = w.wake() || timed_out.wake();
    next_woke = next.wake();
  });
  CHECK(park({"test"}));
  CHECK_FALSE(stale_woke);
  CHECK(next_woke);
  waking_both.join();
}

TEST_CASE("a wake before the park has started does nothing and is not remembered") {
  hub_check hub;
  waker w = waker::current();
  CHECK_FALSE(w.wake());
  CHECK_FALSE(park({"test"}, tendril::deadline_after(1ms)));
}

TEST_CASE("an empty waker wakes nothing") {
  hub_check hub;
  waker w;
  CHECK(w.empty());
  CHECK_FALSE(w.wake());
  CHECK_FALSE(w.wake_with(std::make_exception_ptr(std::runtime_error("nobody"))));
  CHECK(w.describe() == "no fiber");
  CHECK(w == waker());
}

TEST_CASE("waker::describe names the fiber it wakes") {
  hub_check hub;
  waker main_waker = waker::current();
  CHECK_FALSE(main_waker.empty());
  CHECK(main_waker.describe() == tendril::greenlet::current().describe());

  std::string from_task;
  auto t =
      tendril::spawn(tendril::spawn_options{"describer"}, [&] { from_task = waker::current().describe(); });
  t.join();
  CHECK(from_task == t.describe());
}

TEST_CASE("a task parks and is woken by another task") {
  hub_check hub;
  std::vector<std::string> order;
  waker parked;
  auto sleeper = tendril::spawn([&] {
    parked = waker::current();
    order.push_back("sleeper parks");
    bool woken = park({"test"});
    order.push_back(woken ? "sleeper woken" : "sleeper timed out");
  });
  auto waking = tendril::spawn([&] {
    order.push_back("waker wakes");
    parked.wake();
  });
  sleeper.join();
  waking.join();
  CHECK(order == std::vector<std::string>{"sleeper parks", "waker wakes", "sleeper woken"});
}

TEST_CASE("a plain greenlet (not a task) can park and be woken") {
  hub_check hub;
  waker parked;
  bool woken = false;
  auto waking = tendril::spawn([&] { parked.wake(); });
  tendril::greenlet plain([&] {
    parked = waker::current();
    woken = park({"plain"});
  });
  plain.switch_to();  // parks; the hub runs the task, then resumes it; it ends in its parent, here
  CHECK(woken);
  CHECK(plain.dead());
  waking.join();
}

TEST_CASE("a kill raises greenlet_exit at the park and destructors run") {
  hub_check hub;
  bool unwound = false;
  bool got_exit = false;
  auto victim = tendril::spawn([&] {
    struct guard {
      bool& flag;
      ~guard() { flag = true; }
    } g{unwound};
    try {
      park({"forever"});
    } catch (const tendril::greenlet_exit&) {
      got_exit = true;
      throw;
    }
  });
  tendril::yield();
  CHECK(victim.kill());
  CHECK(got_exit);
  CHECK(unwound);
  CHECK(victim.killed());
}

TEST_CASE("an expired timeout scope raises timeout_error at the park") {
  hub_check hub;
  tendril::timeout limit(1ms);
  try {
    park({"forever"});
    FAIL("park returned");
  } catch (const tendril::timeout_error& e) {
    CHECK(limit.owns(e));
  }
}

TEST_CASE("a kill wins over a wake that arrived while the fiber was queued") {
  hub_check hub;
  waker parked;
  bool returned = false;
  bool got_exit = false;
  auto victim = tendril::spawn([&] {
    parked = waker::current();
    try {
      park({"test"});
      returned = true;
    } catch (const tendril::greenlet_exit&) {
      got_exit = true;
      throw;
    }
  });
  tendril::yield();
  REQUIRE(parked.wake());  // queued, not yet resumed
  victim.kill();
  CHECK(got_exit);
  CHECK_FALSE(returned);
  CHECK(victim.killed());
}

TEST_CASE("a wake from another thread reaches a parked main greenlet") {
  hub_check hub;
  int payload = 0;  // written by the other thread before its wake, read here after park
  bool wake_result = false;
  waker w = waker::current();
  std::thread other([&] {
    payload = 42;
    wake_result = w.wake();
  });
  bool woken = park(remote("other thread"));
  int seen = payload;
  other.join();
  CHECK(woken);
  CHECK(seen == 42);
  CHECK(wake_result);  // from another thread a wake is queued and always returns true
}

TEST_CASE("a wake from another thread reaches a parked task") {
  hub_check hub;
  std::atomic<bool> published{false};
  waker parked;
  int payload = 0;
  int seen = 0;
  bool woken = false;
  auto sleeper = tendril::spawn([&] {
    parked = waker::current();
    published.store(true, std::memory_order_release);
    woken = park(remote("other thread"));
    seen = payload;
  });
  tendril::yield();  // the task publishes its waker and parks
  std::thread other([&] {
    while (!published.load(std::memory_order_acquire)) std::this_thread::yield();
    payload = 7;
    parked.wake();
  });
  sleeper.join();
  other.join();
  CHECK(woken);
  CHECK(seen == 7);
}

TEST_CASE("wake_with from another thread makes park throw") {
  hub_check hub;
  waker w = waker::current();
  // Made here, not in `other`: a runtime_error's message is a reference-
  // counted string, and the copy the throwaway runtime_error leaves behind in
  // `other` could drop the last reference after this thread has caught and
  // released the exception. That count lives in libstdc++, which ThreadSanitizer
  // does not see, so it would report a race on the message.
  std::exception_ptr error = std::make_exception_ptr(std::runtime_error("from afar"));
  std::thread other([&] { w.wake_with(std::move(error)); });
  CHECK_THROWS_WITH(park(remote("other thread")), "from afar");
  other.join();
}

TEST_CASE("a wake from another thread that arrives before the park is not lost") {
  hub_check hub;
  waker w = waker::current();
  std::thread other([&] { w.wake(); });
  other.join();  // the wake is queued before the park starts
  CHECK(park(remote("other thread")));
}

TEST_CASE("a stale wake from another thread does not wake a later park") {
  hub_check hub;
  waker stale = waker::current();
  REQUIRE_FALSE(park(remote("other thread"), tendril::deadline_after(1ms)));
  std::thread other([&] { stale.wake(); });
  other.join();
  CHECK_FALSE(park({"test"}, tendril::deadline_after(5ms)));
}

TEST_CASE("wait_reason::text formats the reason") {
  wait_reason plain{"sleep"};
  CHECK(plain.text() == "sleep");
  wait_reason default_reason;
  CHECK(default_reason.text() == "park");

  int object = 0;
  wait_reason with_object{"mutex", &object};
  CHECK_THAT(with_object.text(), Catch::StartsWith("mutex ") && !Catch::Equals("mutex "));

  wait_reason described{"fd", nullptr, 5, [](const wait_reason& r) {
                          return std::string(r.what) + " " + std::to_string(r.detail) + " readable";
                        }};
  CHECK(described.text() == "fd 5 readable");
}

TEST_CASE("a fiber killed while a wake from another thread is in flight: that wake reaches no other fiber") {
  hub_check hub;
  waker in_flight;
  {
    auto victim = tendril::spawn(spawn_options{"victim"}, [&] {
      in_flight = waker::current();
      park(remote("other thread"));
    });
    tendril::yield();             // the victim parks
    tendril::sleep(1ms);          // the hub has just polled: it will not poll again for a few switches
    victim.kill(nullptr, false);  // ready to raise greenlet_exit
  }                               // fire and forget: the hub holds the last reference
  std::thread other([&] { in_flight.wake(); });
  other.join();      // queued for the hub, not yet handled
  tendril::yield();  // the victim runs and dies with the wake still queued

  // A task spawned now may reuse the victim's memory and parks at the same
  // park number; the queued wake was meant for the victim, not for it.
  bool woken = false;
  bool stuck = false;
  auto bystander = tendril::spawn([&] {
    tendril::timeout limit(2s);  // turns a livelock into a failure
    try {
      woken = park({"bystander"}, tendril::deadline_after(20ms));
    } catch (const tendril::timeout_error&) {
      stuck = true;
    }
  });
  bystander.join();
  CHECK_FALSE(woken);
  CHECK_FALSE(stuck);
}
