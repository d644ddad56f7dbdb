// Timeout scopes and with_timeout: expiry raised at the park point, nesting
// (each scope raises its own timeout_error, the outermost expired first),
// stickiness, cancellation by leaving the scope, and scopes of killed
// fibers. Ports gevent's test__timeout.py.
//
// Where two scopes race, their deadlines are far apart (1 ms against
// 500 ms): the test checks which one fires, never how fast.

#include <chrono>
#include <exception>
#include <stdexcept>
#include <string>
#include <type_traits>

#include <catch2/catch.hpp>

#include <tendril/error.hpp>
#include <tendril/fiber/greenlet.hpp>
#include <tendril/hub/hub.hpp>
#include <tendril/hub/park.hpp>
#include <tendril/hub/sleep.hpp>
#include <tendril/hub/task.hpp>
#include <tendril/hub/timeout.hpp>

#include "support/hub_fixture.hpp"

namespace {

using namespace std::chrono_literals;
using tendril::clock;
using tendril::spawn;
using tendril::timeout;
using tendril::timeout_error;
using tendril::testing::gate;
using tendril::testing::hub_check;

static_assert(!std::is_base_of_v<std::exception, timeout_error>,
              "a catch (const std::exception&) must not swallow a timeout");
static_assert(!std::is_base_of_v<tendril::error, timeout_error>);

// Parks until something other than a wake ends it.
void park_forever() { tendril::park({"forever"}); }

}  // namespace

TEST_CASE("an expired timeout raises timeout_error at the park point (test__timeout.py: test_expires)") {
  hub_check hub;
  timeout limit(1ms);
  CHECK_FALSE(limit.expired());
  try {
    park_forever();
    FAIL("park returned");
  } catch (const timeout_error& e) {
    CHECK(limit.owns(e));
    CHECK(e.source() == &limit);
    CHECK(std::string(e.what()) == "timeout");
  }
  CHECK(limit.expired());
}

TEST_CASE("catch (const std::exception&) does not swallow a timeout") {
  hub_check hub;
  bool swallowed = false;
  bool propagated = false;
  try {
    timeout limit(1ms);
    try {
      tendril::sleep(1h);
    } catch (const std::exception&) {
      swallowed = true;
    }
  } catch (const timeout_error&) {
    propagated = true;
  }
  CHECK_FALSE(swallowed);
  CHECK(propagated);
}

TEST_CASE("a timeout in a task raises at the task's park point") {
  hub_check hub;
  auto t = spawn([] {
    timeout limit(1ms);
    try {
      park_forever();
    } catch (const timeout_error& e) {
      return limit.owns(e);
    }
    return false;
  });
  CHECK(t.get());
}

TEST_CASE("a timeout with a deadline already past raises at the next park") {
  hub_check hub;
  timeout limit(clock::now() - 1s);
  CHECK_THROWS_AS(park_forever(), timeout_error);
}

TEST_CASE("a timeout with no deadline never fires and arms no timer") {
  hub_check hub;
  timeout limit(tendril::no_deadline);
  CHECK(tendril::this_hub_stats().watchers == 0);
  CHECK_FALSE(tendril::park({"test"}, tendril::deadline_after(2ms)));
  CHECK_FALSE(limit.expired());
}

TEST_CASE("a scope that ends before its deadline never fires (test__timeout.py: test_cancel)") {
  hub_check hub;
  {
    timeout limit(20ms);
    CHECK(tendril::this_hub_stats().watchers == 1);
    tendril::yield();
  }
  CHECK(tendril::this_hub_stats().watchers == 0);
  CHECK_NOTHROW(tendril::sleep(40ms));  // well past the scope's deadline
}

TEST_CASE("an expired timeout is sticky: every later park inside the scope raises") {
  hub_check hub;
  timeout limit(1ms);
  CHECK_THROWS_AS(park_forever(), timeout_error);
  CHECK(limit.expired());
  CHECK_THROWS_AS(park_forever(), timeout_error);
  CHECK_THROWS_AS(tendril::park({"with deadline"}, tendril::deadline_after(1h)), timeout_error);
  CHECK_THROWS_AS(tendril::sleep(1ms), timeout_error);
  CHECK_THROWS_AS(tendril::sleep(0ms), timeout_error);
  CHECK_THROWS_AS(tendril::yield(), timeout_error);
  int attempts = 0;
  for (;;) {  // a retry loop ends
    try {
      ++attempts;
      tendril::sleep(1ms);
      break;
    } catch (const timeout_error& e) {
      if (limit.owns(e) && attempts >= 3) break;
    }
  }
  CHECK(attempts == 3);
}

TEST_CASE("an expired timeout does not raise after its scope ends") {
  hub_check hub;
  {
    timeout limit(1ms);
    CHECK_THROWS_AS(park_forever(), timeout_error);
  }
  CHECK_NOTHROW(tendril::sleep(1ms));
  CHECK_NOTHROW(tendril::yield());
}

TEST_CASE("an inner timeout fires without disturbing the outer one") {
  hub_check hub;
  timeout outer(1h);
  {
    timeout inner(1ms);
    try {
      park_forever();
      FAIL("park returned");
    } catch (const timeout_error& e) {
      CHECK(inner.owns(e));
      CHECK_FALSE(outer.owns(e));
    }
  }
  CHECK_FALSE(outer.expired());
  CHECK_NOTHROW(tendril::sleep(1ms));  // parks inside the outer scope still work
  tendril::waker w = tendril::waker::current();
  auto waking = spawn([&] { w.wake(); });
  CHECK(tendril::park({"test"}));
  waking.join();
}

TEST_CASE("after an inner timeout fired, the outer one's expiry still fires and owns() tells which") {
  hub_check hub;
  timeout outer(500ms);
  {
    timeout inner(1ms);
    try {
      park_forever();
      FAIL("park returned");
    } catch (const timeout_error& e) {
      CHECK(inner.owns(e));
      CHECK_FALSE(outer.owns(e));
    }
  }
  try {
    park_forever();
    FAIL("park returned");
  } catch (const timeout_error& e) {
    CHECK(outer.owns(e));
  }
}

TEST_CASE("an outer timeout expiring inside an inner one propagates past the inner") {
  hub_check hub;
  timeout outer(1ms);
  const timeout* inner_address = nullptr;
  bool inner_owned = true;
  try {
    timeout inner(1h);
    inner_address = &inner;
    try {
      park_forever();
    } catch (const timeout_error& e) {
      inner_owned = inner.owns(e);
      throw;
    }
  } catch (const timeout_error& e) {
    CHECK(outer.owns(e));
    CHECK(e.source() != inner_address);
  }
  CHECK_FALSE(inner_owned);
}

TEST_CASE("when both nested scopes have expired the outermost raises first") {
  hub_check hub;
  timeout outer(clock::now() - 2s);
  timeout inner(clock::now() - 1s);
  try {
    park_forever();
    FAIL("park returned");
  } catch (const timeout_error& e) {
    CHECK(outer.owns(e));
  }
}

TEST_CASE("a timeout of one fiber does not touch another") {
  hub_check hub;
  gate release;
  bool other_raised = false;
  auto other = spawn([&] {
    try {
      release.wait();
    } catch (const timeout_error&) {
      other_raised = true;
      throw;
    }
  });
  {
    timeout limit(1ms);
    CHECK_THROWS_AS(park_forever(), timeout_error);
  }
  CHECK_FALSE(other.ready());
  release.open();
  other.join();
  CHECK_FALSE(other_raised);
  CHECK(other.successful());
}

TEST_CASE("with_timeout returns f's value") {
  hub_check hub;
  CHECK(tendril::with_timeout(1h, [] { return 7; }) == 7);
  CHECK(tendril::with_timeout(1h, [] {
          tendril::sleep(1ms);
          return std::string("slept");
        }) == "slept");
}

TEST_CASE(
    "with_timeout propagates timeout_error when its scope expires (test__timeout.py: test_with_timeout)") {
  hub_check hub;
  CHECK_THROWS_AS(tendril::with_timeout(1ms,
                                        [] {
                                          tendril::sleep(1h);
                                          return 0;
                                        }),
                  timeout_error);
}

TEST_CASE(
    "with_timeout with a fallback returns the fallback when its scope expires (test__timeout.py: "
    "test_with_timeout)") {
  hub_check hub;
  auto slow = [] {
    tendril::sleep(1h);
    return 1;
  };
  CHECK(tendril::with_timeout(1ms, slow, 2) == 2);
  auto fast = [] {
    tendril::sleep(1ms);
    return 1;
  };
  CHECK(tendril::with_timeout(1h, fast, 2) == 1);
  CHECK(tendril::this_hub_stats().watchers == 0);
}

TEST_CASE("with_timeout with a fallback lets an outer scope's expiry propagate") {
  hub_check hub;
  timeout outer(1ms);
  try {
    tendril::with_timeout(
        1h,
        [] {
          tendril::sleep(1h);
          return 1;
        },
        2);
    FAIL("with_timeout returned");
  } catch (const timeout_error& e) {
    CHECK(outer.owns(e));
  }
}

TEST_CASE("a task killed inside a timeout scope gets greenlet_exit and its timer is removed") {
  hub_check hub;
  bool got_exit = false;
  bool got_timeout = false;
  auto t = spawn([&] {
    timeout limit(1h);
    try {
      park_forever();
    } catch (const tendril::greenlet_exit&) {
      got_exit = true;
      throw;
    } catch (const timeout_error&) {
      got_timeout = true;
      throw;
    }
  });
  tendril::yield();
  CHECK(tendril::this_hub_stats().watchers == 1);
  t.kill();
  CHECK(got_exit);
  CHECK_FALSE(got_timeout);
  CHECK(t.killed());
  CHECK(tendril::this_hub_stats().watchers == 0);
}

TEST_CASE("a timeout_error escaping a task fails the task and get rethrows it") {
  hub_check hub;
  const timeout* scope = nullptr;
  auto t = spawn([&] {
    timeout limit(1ms);
    scope = &limit;
    park_forever();
  });
  try {
    t.get();
    FAIL("get returned");
  } catch (const timeout_error& e) {
    CHECK(e.source() == scope);
  }
  CHECK(t.ready());
  CHECK_FALSE(t.killed());
  CHECK_FALSE(t.successful());
}
