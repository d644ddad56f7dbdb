// fiber_local<T>: one T per greenlet (and per thread's main greenlet),
// default-constructed on first use and destroyed with its greenlet.

#include <any>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include <tendril/fiber/fiber_local.hpp>
#include <tendril/fiber/greenlet.hpp>

#include "support/fiber_leak_check.hpp"

namespace {

using tendril::fiber_local;
using tendril::greenlet;
using tendril::testing::fiber_leak_check;

// Counts its constructions and destructions and remembers which greenlet
// destroyed it, so tests can tell when and where a value died.
struct tracked {
  struct log {
    int constructed = 0;
    int destroyed = 0;
    std::vector<std::uint64_t> destroyed_on;
    std::vector<int> destroyed_values;
    bool record_current = true;  // off where no greenlet is meaningfully current
  };
  static inline log* current_log = nullptr;

  int value = 0;
  tracked() { ++current_log->constructed; }
  explicit tracked(int v) : value(v) { ++current_log->constructed; }
  tracked(const tracked&) = delete;
  tracked& operator=(const tracked&) = delete;
  ~tracked() {
    ++current_log->destroyed;
    if (current_log->record_current) current_log->destroyed_on.push_back(greenlet::current().id());
    current_log->destroyed_values.push_back(value);
  }
};

// Installs a fresh log for one test.
struct tracking {
  tracked::log log;
  tracking() { tracked::current_log = &log; }
  ~tracking() { tracked::current_log = nullptr; }
};

void park() { greenlet::switch_to_parent(); }

}  // namespace

TEST_CASE("fiber_local values are default-constructed on first use") {
  fiber_leak_check leaks;
  tracking t;
  {
    fiber_local<tracked> local;
    greenlet g([&] {
      CHECK_FALSE(local.has_value());
      CHECK(t.log.constructed == 0);
      CHECK(local->value == 0);
      CHECK(local.has_value());
      CHECK(t.log.constructed == 1);
      local.get().value = 5;
      CHECK((*local).value == 5);
      CHECK(t.log.constructed == 1);  // later uses reuse the same object
    });
    g.switch_to();
    CHECK(g.dead());
  }
  CHECK(t.log.destroyed == 1);
}

TEST_CASE("fiber_local holds a separate value per greenlet and per main greenlet") {
  fiber_leak_check leaks;
  fiber_local<std::string> local;
  local.emplace("main");
  greenlet a([&] {
    CHECK(local.get().empty());
    local.get() = "a";
    park();
    CHECK(local.get() == "a");
  });
  greenlet b([&] {
    CHECK(local.get().empty());
    local.get() = "b";
    park();
    CHECK(local.get() == "b");
  });
  a.switch_to();
  b.switch_to();
  CHECK(local.get() == "main");
  a.switch_to();
  b.switch_to();
  CHECK(local.get() == "main");
  local.reset();

  std::string in_thread;
  std::thread([&] { in_thread = local.get() + "<empty in another thread's main greenlet>"; }).join();
  CHECK(in_thread == "<empty in another thread's main greenlet>");
}

TEST_CASE("fiber_local values survive switches") {
  fiber_leak_check leaks;
  fiber_local<std::vector<int>> local;
  std::vector<greenlet> gs;
  for (int i = 0; i < 10; ++i) {
    gs.emplace_back([&local, i] {
      for (int round = 0; round < 5; ++round) {
        local->push_back(i * 100 + round);
        park();
      }
      std::vector<int> expected;
      for (int round = 0; round < 5; ++round) expected.push_back(i * 100 + round);
      CHECK(*local == expected);
    });
  }
  for (int round = 0; round < 6; ++round)
    for (greenlet& g : gs) g.switch_to();
  for (greenlet& g : gs) CHECK(g.dead());
  CHECK_FALSE(local.has_value());
}

TEST_CASE("fiber_local emplace replaces the value and reset destroys it") {
  fiber_leak_check leaks;
  tracking t;
  fiber_local<tracked> local;
  greenlet g([&] {
    local.emplace(1);
    CHECK(local->value == 1);
    local.emplace(2);  // destroys 1
    CHECK(local->value == 2);
    CHECK(t.log.destroyed_values == std::vector<int>{1});
    local.reset();
    CHECK_FALSE(local.has_value());
    CHECK(t.log.destroyed_values == std::vector<int>{1, 2});
    local.reset();  // no value: nothing happens
    CHECK(t.log.destroyed == 2);
    CHECK(local->value == 0);  // default-constructed again
    local->value = 3;
  });
  g.switch_to();
  CHECK(t.log.constructed == 3);
  CHECK(t.log.destroyed_values == std::vector<int>{1, 2, 3});
}

TEST_CASE("fiber_local values are destroyed on their greenlet's stack when it finishes") {
  fiber_leak_check leaks;
  tracking t;
  fiber_local<tracked> first;
  fiber_local<tracked> second;
  greenlet g([&] {
    first.emplace(1);
    second.emplace(2);
    park();
  });
  g.switch_to();
  CHECK(t.log.destroyed == 0);  // suspended: alive
  g.switch_to();
  REQUIRE(g.dead());
  CHECK(t.log.destroyed == 2);
  CHECK(t.log.destroyed_on == std::vector<std::uint64_t>{g.id(), g.id()});

  greenlet thrower([&] {
    first.emplace(3);
    throw std::runtime_error("boom");
  });
  CHECK_THROWS_AS(thrower.switch_to(), std::runtime_error);
  CHECK(t.log.destroyed_values.back() == 3);
  CHECK(t.log.destroyed_on.back() == thrower.id());
}

TEST_CASE("fiber_local values are destroyed when their greenlet is unwound by dropping it") {
  fiber_leak_check leaks;
  tracking t;
  fiber_local<tracked> local;
  greenlet g([&] {
    local.emplace(7);
    park();
  });
  g.switch_to();
  std::uint64_t id = g.id();
  CHECK(t.log.destroyed == 0);
  g = greenlet();
  CHECK(t.log.destroyed_values == std::vector<int>{7});
  CHECK(t.log.destroyed_on == std::vector<std::uint64_t>{id});
}

TEST_CASE("a main greenlet's fiber_local values are destroyed when its thread exits") {
  fiber_leak_check leaks;
  tracking t;
  t.log.record_current = false;  // greenlet::current() is not promised during thread teardown
  fiber_local<tracked> local;
  int destroyed_before_exit = -1;
  std::thread([&] {
    local.emplace(9);
    destroyed_before_exit = t.log.destroyed;
  }).join();
  CHECK(destroyed_before_exit == 0);
  CHECK(t.log.destroyed_values == std::vector<int>{9});
}

TEST_CASE("destroying a fiber_local leaves other greenlets' values to their greenlets") {
  fiber_leak_check leaks;
  tracking t;
  auto local = std::make_unique<fiber_local<tracked>>();
  greenlet g([&] {
    local->emplace(4);
    park();
    // The key is gone; a new fiber_local, which may reuse its slot, starts empty.
    fiber_local<tracked> fresh;
    CHECK_FALSE(fresh.has_value());
    park();
  });
  g.switch_to();
  local.reset();
  CHECK(t.log.destroyed == 0);
  g.switch_to();
  CHECK(t.log.destroyed == 0);
  g.switch_to();
  REQUIRE(g.dead());
  CHECK(t.log.destroyed_values == std::vector<int>{4});
  CHECK(t.log.destroyed_on == std::vector<std::uint64_t>{g.id()});
}

TEST_CASE("many fiber_local keys keep their values apart") {
  fiber_leak_check leaks;
  constexpr int keys = 1000;
  std::vector<std::unique_ptr<fiber_local<int>>> locals;
  for (int k = 0; k < keys; ++k) locals.push_back(std::make_unique<fiber_local<int>>());
  auto fill_and_check = [&](int base) {
    for (int k = 0; k < keys; ++k) locals[k]->emplace(base + k);
    park();
    int wrong = 0;
    for (int k = 0; k < keys; ++k) wrong += locals[k]->get() != base + k;
    CHECK(wrong == 0);
  };
  greenlet a([&] { fill_and_check(10'000); });
  greenlet b([&] { fill_and_check(20'000); });
  a.switch_to();
  b.switch_to();
  for (int k = 0; k < keys; ++k) CHECK_FALSE(locals[k]->has_value());
  a.switch_to();
  b.switch_to();
  CHECK(a.dead());
  CHECK(b.dead());

  // Keys freed and created again do not see values stored under the old ones.
  for (int k = 0; k < keys; ++k) locals[k]->emplace(k);
  locals.clear();
  for (int k = 0; k < keys; ++k) locals.push_back(std::make_unique<fiber_local<int>>());
  int stale = 0;
  for (int k = 0; k < keys; ++k) stale += locals[k]->has_value();
  CHECK(stale == 0);
}
