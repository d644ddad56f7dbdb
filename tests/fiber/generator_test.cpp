// generator<T>: ports python-greenlet's test_generator.py and
// test_generator_nested.py (genlets: generators built on greenlets), plus
// the C++ contract: laziness, exceptions, abandoning, move-only values.

#include <algorithm>
#include <any>
#include <iterator>
#include <memory>
#include <optional>
#include <ranges>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include <tendril/error.hpp>
#include <tendril/fiber/generator.hpp>
#include <tendril/fiber/greenlet.hpp>

#include "support/fiber_leak_check.hpp"

namespace {

using tendril::generator;
using tendril::greenlet;
using tendril::greenlet_exit;
using tendril::testing::fiber_leak_check;
using ints = std::vector<int>;

static_assert(std::input_iterator<generator<int>::iterator>);
static_assert(std::ranges::input_range<generator<int>>);
static_assert(std::sentinel_for<std::default_sentinel_t, generator<int>::iterator>);

template <class T>
std::vector<T> collect(generator<T>&& g) {
  std::vector<T> out;
  for (T& v : g) out.push_back(std::move(v));
  return out;
}

// test_generator_nested.py's g2: note, then yield.
generator<int> g2(int n, ints& seen) {
  return generator<int>([n, &seen](auto yield) {
    for (int i = 0; i < n; ++i) {
      seen.push_back(i + 1);
      yield(i);
    }
  });
}

// g3 yields from a function it calls.
void nested(generator<int>::yield_fn yield, int i) { yield(i); }
generator<int> g3(int n, ints& seen) {
  return generator<int>([n, &seen](auto yield) {
    for (int i = 0; i < n; ++i) {
      seen.push_back(i + 1);
      nested(yield, i);
    }
  });
}

// ax(n) yields 1..n by iterating ax(n - 1) first: a recursive nest.
generator<int> ax(int n) {
  return generator<int>([n](auto yield) {
    if (n == 0) return;
    for (int v : ax(n - 1)) yield(v);
    yield(n);
  });
}

// perms(l) yields every permutation of l, by recursion through nested generators.
generator<ints> perms(ints l) {
  return generator<ints>([l = std::move(l)](auto yield) {
    if (l.size() <= 1) {
      yield(l);
      return;
    }
    for (int e : l) {
      ints rest;
      for (int x : l)
        if (x != e) rest.push_back(x);
      int produced = 0;
      for (ints& p : perms(rest)) {
        p.insert(p.begin(), e);
        yield(std::move(p));
        ++produced;
      }
      CHECK(produced > 0);
    }
  });
}

// gr1 yields ii to its consumer and ii*ii to its consumer's consumer (genlet's Yield(v, 2)).
generator<int> gr1(int n, generator<int>::yield_fn outer_yield) {
  return generator<int>([n, outer_yield](auto yield) {
    for (int ii = 1; ii < n; ++ii) {
      yield(ii);
      outer_yield(ii * ii);
    }
  });
}

generator<int> gr2(int n, ints& seen) {
  return generator<int>([n, &seen](auto yield) {
    for (int ii : gr1(n, yield)) seen.push_back(ii);
  });
}

// Records how a body ended: RAII ran, greenlet_exit seen.
struct ending {
  bool unwound = false;
  bool got_greenlet_exit = false;
};

generator<int> counting(ending& e, int limit = 1'000'000) {
  return generator<int>([&e, limit](auto yield) {
    struct guard {
      ending& e;
      ~guard() { e.unwound = true; }
    } g{e};
    try {
      for (int i = 0; i < limit; ++i) yield(i);
    } catch (const greenlet_exit&) {
      e.got_greenlet_exit = true;
      throw;
    }
  });
}

}  // namespace

TEST_CASE("a generator yields its body's values in order (test_generator.py: test_generator)") {
  fiber_leak_check leaks;
  ints seen;
  auto g = [&seen](int n) {
    return generator<int>([n, &seen](auto yield) {
      for (int i = 0; i < n; ++i) {
        seen.push_back(i);
        yield(i);
      }
    });
  };
  for (int round = 0; round < 3; ++round)
    for (int j : g(5)) seen.push_back(j);
  ints once{0, 0, 1, 1, 2, 2, 3, 3, 4, 4};
  ints expected;
  for (int round = 0; round < 3; ++round) expected.insert(expected.end(), once.begin(), once.end());
  CHECK(seen == expected);
}

TEST_CASE("yield works from functions the body calls (test_generator_nested.py: test_genlet_simple)") {
  fiber_leak_check leaks;
  ints once{1, 0, 2, 1, 3, 2, 4, 3, 5, 4};
  ints expected;
  for (int round = 0; round < 3; ++round) expected.insert(expected.end(), once.begin(), once.end());
  for (auto* make : {&g2, &g3}) {
    ints seen;
    for (int round = 0; round < 3; ++round)
      for (int j : make(5, seen)) seen.push_back(j);
    CHECK(seen == expected);
  }
}

TEST_CASE("yield outside a running generator throws (test_generator_nested.py: test_genlet_bad)") {
  fiber_leak_check leaks;
  std::optional<generator<int>::yield_fn> kept;
  generator<int> g([&kept](generator<int>::yield_fn yield) {
    kept = yield;
    yield(1);
  });
  auto it = g.begin();
  REQUIRE(kept);
  CHECK_THROWS_AS((*kept)(10), tendril::error);  // between steps
  ++it;
  CHECK(it == g.end());
  CHECK_THROWS_AS((*kept)(10), tendril::error);  // after the body returned
}

TEST_CASE("generators nest recursively (test_generator_nested.py: test_nested_genlets)") {
  fiber_leak_check leaks;
  CHECK(collect(ax(5)) == ints{1, 2, 3, 4, 5});
}

TEST_CASE("a nested generator can yield two levels up (test_generator_nested.py: test_layered_genlets)") {
  fiber_leak_check leaks;
  ints seen;
  for (int ii : gr2(5, seen)) seen.push_back(ii);
  CHECK(seen == ints{1, 1, 2, 4, 3, 9, 4, 16});
}

TEST_CASE("permutations by recursive generators (test_generator_nested.py: test_permutations)") {
  fiber_leak_check leaks;
  std::vector<ints> all = collect(perms({0, 1, 2, 3}));
  CHECK(all.size() == 4 * 3 * 2 * 1);
  CHECK(std::find(all.begin(), all.end(), ints{0, 1, 2, 3}) != all.end());
  CHECK(std::find(all.begin(), all.end(), ints{3, 2, 1, 0}) != all.end());

  // zip(perms(range(4)), perms(range(3))): stops with the shorter one and
  // abandons the longer one, nested generators and all, mid-iteration.
  std::vector<std::pair<ints, ints>> zipped;
  {
    generator<ints> four = perms({0, 1, 2, 3});
    generator<ints> three = perms({0, 1, 2});
    for (auto a = four.begin(), b = three.begin(); a != four.end() && b != three.end(); ++a, ++b)
      zipped.emplace_back(*a, *b);
  }
  std::vector<std::pair<ints, ints>> expected{
      {{0, 1, 2, 3}, {0, 1, 2}}, {{0, 1, 3, 2}, {0, 2, 1}}, {{0, 2, 1, 3}, {1, 0, 2}},
      {{0, 2, 3, 1}, {1, 2, 0}}, {{0, 3, 1, 2}, {2, 0, 1}}, {{0, 3, 2, 1}, {2, 1, 0}},
  };
  CHECK(zipped == expected);
}

TEST_CASE("a generator's body does not run before begin()") {
  fiber_leak_check leaks;
  bool ran = false;
  generator<int> g([&ran](auto yield) {
    ran = true;
    yield(1);
  });
  CHECK_FALSE(ran);
  auto it = g.begin();
  CHECK(ran);
  CHECK(*it == 1);
  CHECK(*g.begin() == 1);  // begin() again does not advance
}

TEST_CASE("an empty generator's begin() is its end()") {
  fiber_leak_check leaks;
  generator<int> g([](auto) {});
  CHECK(g.begin() == g.end());
  CHECK(collect(generator<int>([](auto) {})).empty());
}

TEST_CASE("an exception escaping the body is rethrown to the consumer") {
  fiber_leak_check leaks;
  SECTION("before the first value") {
    generator<int> g([](auto) { throw std::runtime_error("at once"); });
    CHECK_THROWS_WITH(g.begin(), "at once");
  }
  SECTION("after some values; the generator is then finished") {
    generator<int> g([](auto yield) {
      yield(1);
      yield(2);
      throw std::runtime_error("later");
    });
    ints seen;
    auto it = g.begin();
    seen.push_back(*it);
    ++it;
    seen.push_back(*it);
    CHECK_THROWS_WITH(++it, "later");
    CHECK(seen == ints{1, 2});
    CHECK(it == g.end());
    ++it;  // stays finished
    CHECK(it == g.end());
  }
  SECTION("from a nested generator, through the outer body") {
    generator<int> outer([](auto yield) {
      generator<int> inner([](auto inner_yield) {
        inner_yield(1);
        throw std::logic_error("inner failed");
      });
      for (int v : inner) yield(v);
    });
    auto it = outer.begin();
    CHECK(*it == 1);
    CHECK_THROWS_AS(++it, std::logic_error);
  }
}

TEST_CASE("abandoning a generator mid-iteration unwinds its body with greenlet_exit") {
  fiber_leak_check leaks;
  ending e;
  {
    generator<int> g = counting(e);
    for (int v : g)
      if (v == 3) break;
    CHECK_FALSE(e.unwound);
  }
  CHECK(e.got_greenlet_exit);
  CHECK(e.unwound);

  ending unstarted;
  { generator<int> g = counting(unstarted); }
  CHECK_FALSE(unstarted.unwound);  // never ran: nothing to unwind

  ending finished;
  CHECK(collect(counting(finished, 3)) == ints{0, 1, 2});
  CHECK(finished.unwound);
  CHECK_FALSE(finished.got_greenlet_exit);
}

TEST_CASE("abandoning nested generators unwinds every body") {
  fiber_leak_check leaks;
  ending inner_end, outer_end;
  {
    generator<int> outer([&](auto yield) {
      struct guard {
        ending& e;
        ~guard() { e.unwound = true; }
      } g{outer_end};
      for (int v : counting(inner_end)) yield(v * 10);
    });
    auto it = outer.begin();
    ++it;
    CHECK(*it == 10);
  }
  CHECK(inner_end.got_greenlet_exit);
  CHECK(inner_end.unwound);
  CHECK(outer_end.unwound);

  // Abandoned right after a value that skipped a level (gr1 -> main).
  ints seen;
  {
    generator<int> g = gr2(100, seen);
    auto it = g.begin();
    CHECK(*it == 1);
    CHECK(seen == ints{1});
  }
}

TEST_CASE("a generator can yield from a greenlet its body started (test_generator.py's Yield)") {
  fiber_leak_check leaks;
  generator<std::string> g([](auto yield) {
    yield("from the body");
    greenlet helper([yield] {
      yield("from a helper greenlet");
      yield("again from the helper");
    });
    helper.switch_to();
    yield("from the body again");
  });
  CHECK(collect(std::move(g)) == std::vector<std::string>{"from the body", "from a helper greenlet",
                                                          "again from the helper", "from the body again"});

  generator<int> abandoned([](auto yield) {
    greenlet helper([yield] { yield(1); });
    helper.switch_to();
  });
  CHECK(*abandoned.begin() == 1);
}

TEST_CASE("a generator yields move-only values") {
  fiber_leak_check leaks;
  generator<std::unique_ptr<int>> g([](auto yield) {
    for (int i = 0; i < 3; ++i) yield(std::make_unique<int>(i));
  });
  ints seen;
  for (std::unique_ptr<int>& p : g) seen.push_back(*p);
  CHECK(seen == ints{0, 1, 2});
}

TEST_CASE("a suspended generator can be moved, and its iterators stay valid") {
  fiber_leak_check leaks;
  generator<int> g = ax(3);
  auto it = g.begin();
  CHECK(*it == 1);
  generator<int> moved = std::move(g);
  ++it;
  CHECK(*it == 2);
  generator<int> assigned = ax(1);
  assigned = std::move(moved);
  ++it;
  CHECK(*it == 3);
  ++it;
  CHECK(it == assigned.end());
}

TEST_CASE("advancing a generator from inside its own body throws") {
  fiber_leak_check leaks;
  generator<int>::iterator* consumer_iterator = nullptr;
  bool threw = false;
  generator<int> g([&](auto yield) {
    yield(1);
    try {
      ++*consumer_iterator;
    } catch (const tendril::error&) {
      threw = true;
    }
    yield(2);
  });
  auto it = g.begin();
  consumer_iterator = &it;
  ++it;
  CHECK(threw);
  CHECK(*it == 2);
}

TEST_CASE("a generator may be consumed by a greenlet other than its creator") {
  fiber_leak_check leaks;
  ending e;
  generator<int> g = counting(e, 4);
  ints seen;
  greenlet consumer([&] {
    for (int v : g) {
      seen.push_back(v);
      greenlet::switch_to_parent();  // interleave with main
    }
    return std::string("consumer done");
  });
  int rounds = 0;
  std::any last;
  while (!consumer.dead()) {
    last = consumer.switch_to();
    ++rounds;
  }
  CHECK(seen == ints{0, 1, 2, 3});
  CHECK(rounds == 5);
  CHECK(std::any_cast<std::string>(last) == "consumer done");
  CHECK(e.unwound);
}

TEST_CASE("a generator's options name its greenlet") {
  fiber_leak_check leaks;
  generator<std::string> g(
      [](auto yield) {
        // Not yield(greenlet::current().name()): that temporary handle would
        // live through the yield and keep the body's greenlet alive.
        std::string name = greenlet::current().name();
        yield(std::move(name));
      },
      {.name = "producer", .stack_size = 0});
  CHECK(*g.begin() == "producer");
}
