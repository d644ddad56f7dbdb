// greenlet switching, parents, state and identity: a port of python-greenlet's
// src/greenlet/tests/test_greenlet.py to tendril::greenlet. Cases about
// Python objects (frames, run attributes, subclasses, kwargs, gc) have no C++
// counterpart. Exception propagation and per-greenlet exception state are in
// greenlet_throw_test.cpp; lifetime and thread exit in greenlet_lifetime_test.cpp
// and greenlet_thread_test.cpp.

#include <unistd.h>

#include <any>
#include <cstdint>
#include <latch>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <unordered_set>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include <tendril/error.hpp>
#include <tendril/fiber/greenlet.hpp>
#include <tendril/fiber/stack.hpp>

#include "support/fiber_leak_check.hpp"

using Catch::Matchers::Contains;
using tendril::greenlet;
using tendril::testing::fiber_leak_check;

namespace {

// state(g) summarises the queries the way python-greenlet's repr does.
std::string state(const greenlet& g) {
  std::string text = g.started() ? "started" : "unstarted";
  if (g.active()) text += " active";
  if (g.dead()) text += " dead";
  if (g) text += " true";
  return text;
}

struct apple {};
struct orange {};

}  // namespace

template <>
struct Catch::StringMaker<greenlet> {
  static std::string convert(const greenlet& g) { return g.empty() ? "empty greenlet" : g.describe(); }
};

TEST_CASE("constructing a greenlet neither runs it nor allocates its stack") {
  fiber_leak_check leak_check;
  bool ran = false;
  const std::size_t stacks_before = tendril::current_stack_stats().in_use;
  greenlet g([&] { ran = true; });
  CHECK_FALSE(ran);
  CHECK_FALSE(g.started());
  CHECK(tendril::current_stack_stats().in_use == stacks_before);
  g.switch_to();
  CHECK(ran);
}

TEST_CASE("switches interleave a greenlet with its parent (test_greenlet.py::test_simple)") {
  fiber_leak_check leak_check;
  std::vector<int> order;
  greenlet g([&] {
    order.push_back(1);
    greenlet::switch_to_parent();
    order.push_back(3);
  });
  order.push_back(0);
  g.switch_to();
  order.push_back(2);
  g.switch_to();
  order.push_back(4);
  CHECK(order == std::vector<int>{0, 1, 2, 3, 4});
  CHECK(g.dead());
}

TEST_CASE("two greenlets switching to each other run 12, 56, 34 and never 78 (the greenlet docs' tutorial)") {
  fiber_leak_check leak_check;
  std::vector<int> printed;
  greenlet gr1;
  greenlet gr2;
  gr1 = greenlet([&] {
    printed.push_back(12);
    gr2.switch_to();
    printed.push_back(34);
  });
  gr2 = greenlet([&] {
    printed.push_back(56);
    gr1.switch_to();
    printed.push_back(78);
  });
  gr1.switch_to();
  CHECK(printed == std::vector<int>{12, 56, 34});
  CHECK(gr1.dead());
  CHECK(gr2.active());  // suspended for good; unwound when the test drops it
}

TEST_CASE("two children of one parent progress independently (test_greenlet.py::test_two_children)") {
  fiber_leak_check leak_check;
  int steps = 0;
  auto body = [&] {
    steps += 1;
    greenlet::switch_to_parent();
    steps += 2;
  };
  greenlet g(body);
  greenlet h(body);
  g.switch_to();
  CHECK(steps == 1);
  h.switch_to();
  CHECK(steps == 2);
  h.switch_to();
  CHECK(steps == 4);
  CHECK(h.dead());
  CHECK(g.active());
  g.switch_to();
  CHECK(steps == 6);
  CHECK(g.dead());
}

TEST_CASE(
    "a greenlet created inside another returns to its creator "
    "(test_greenlet.py::test_two_recursive_children)") {
  fiber_leak_check leak_check;
  std::string trail;
  greenlet outer([&] {
    trail += 'a';
    greenlet inner([&] {
      trail += 'b';
      greenlet::switch_to_parent();
    });
    inner.switch_to();
    trail += 'c';
  });
  outer.switch_to();
  CHECK(trail == "abc");
  CHECK(outer.dead());
}

TEST_CASE(
    "values travel in and out of switch_to, and an empty std::any is no value "
    "(test_greenlet.py::test_switch_kwargs_to_parent)") {
  fiber_leak_check leak_check;
  std::any start;
  std::any first_resume = std::string("not resumed");
  std::any second_resume;
  greenlet g([&](std::any value) {
    start = value;
    first_resume = greenlet::switch_to_parent(std::string("to parent"));
    second_resume = greenlet::switch_to_parent();
    return std::any_cast<int>(start) * 3;
  });
  CHECK(greenlet::value_as<std::string>(g.switch_to(3)) == "to parent");
  CHECK(std::any_cast<int>(start) == 3);
  CHECK_FALSE(g.switch_to().has_value());
  CHECK_FALSE(first_resume.has_value());
  CHECK(std::any_cast<int>(g.switch_to(std::string("b"))) == 9);
  CHECK(std::any_cast<std::string>(second_resume) == "b");
  std::any received = 1;
  greenlet returns_void([&](std::any value) { received = std::move(value); });
  CHECK_FALSE(returns_void.switch_to().has_value());
  CHECK_FALSE(received.has_value());
}

TEST_CASE(
    "switch_to<R> returns an R, and throws tendril::error naming both types when the value is not one") {
  fiber_leak_check leak_check;
  greenlet g([] {
    greenlet::switch_to_parent(7);
    greenlet::switch_to_parent(apple{});
  });
  CHECK(g.switch_to<int>() == 7);
  try {
    g.switch_to<orange>();
    FAIL("switch_to<orange> accepted an apple");
  } catch (const tendril::error& e) {
    CHECK_THAT(e.what(), Contains("apple") && Contains("orange"));
  }
  CHECK(g.active());  // the switch itself happened; only the conversion failed
  CHECK_THROWS_AS(g.switch_to<int>(), tendril::error);  // run returns no value, not an int
  CHECK(g.dead());
  CHECK_THROWS_WITH(greenlet::value_as<orange>(std::any(apple{})), Contains("apple") && Contains("orange"));
}

TEST_CASE(
    "a finished greenlet's return value goes to its parent, not to the last switcher "
    "(test_greenlet.py::test_parent_return_failure)") {
  fiber_leak_check leak_check;
  greenlet main = greenlet::current();
  std::any parent_received;
  greenlet parent([&] {
    parent_received = main.switch_to(std::string("parent waiting"));
    return std::string("parent finished");
  });
  greenlet child([] { return 42; }, parent);
  CHECK(parent.switch_to<std::string>() == "parent waiting");
  CHECK(child.switch_to<std::string>() == "parent finished");  // main switched in; parent got the 42
  CHECK(std::any_cast<int>(parent_received) == 42);
  CHECK(child.dead());
  CHECK(parent.dead());
}

TEST_CASE(
    "an unstarted parent is started with its child's return value "
    "(test_greenlet.py::test_falling_off_end_switches_to_unstarted_parent_works)") {
  fiber_leak_check leak_check;
  greenlet never_started([](std::any x) { return std::pair<int, int>(std::any_cast<int>(x), 24); });
  greenlet leaf([] { return 42; }, never_started);
  CHECK(leaf.switch_to<std::pair<int, int>>() == std::pair<int, int>(42, 24));
  CHECK(never_started.dead());
}

TEST_CASE(
    "an unstarted parent failing at once sends the failure on to its own parent "
    "(test_greenlet.py::test_switch_to_dead_greenlet_with_unstarted_perverse_parent)") {
  fiber_leak_check leak_check;
  std::vector<int> seen;
  greenlet parent([](std::any) -> int { throw std::domain_error("parent failed"); });
  greenlet child([&] { seen.push_back(42); }, parent);
  CHECK_THROWS_WITH(child.switch_to(), "parent failed");
  CHECK(seen == std::vector<int>{42});
  CHECK(parent.dead());
  CHECK(std::any_cast<int>(child.switch_to(5)) == 5);  // both dead: the value comes straight back
  CHECK(seen == std::vector<int>{42});
}

TEST_CASE("a greenlet finishing under a dead parent hands its result to the first live ancestor") {
  fiber_leak_check leak_check;
  std::any grandparent_received;
  greenlet grandparent([&] {
    grandparent_received = greenlet::switch_to_parent();
    return std::string("grandparent finished");
  });
  grandparent.switch_to();
  greenlet dead_parent([] {});
  dead_parent.switch_to();
  REQUIRE(dead_parent.dead());
  dead_parent.set_parent(grandparent);
  greenlet child([] { return 9; }, dead_parent);
  CHECK(child.switch_to<std::string>() == "grandparent finished");
  CHECK(std::any_cast<int>(grandparent_received) == 9);
}

TEST_CASE(
    "switching to a dead greenlet goes to its first live ancestor, starting it if needed "
    "(test_greenlet.py::test_switch_to_dead_greenlet_reparent)") {
  fiber_leak_check leak_check;
  std::vector<int> seen;
  greenlet never_started([&](std::any v) {
    seen.push_back(std::any_cast<int>(v));
    return 100;
  });
  greenlet child([&] { seen.push_back(42); });
  child.switch_to();
  CHECK(seen == std::vector<int>{42});
  child.set_parent(never_started);
  CHECK(child.switch_to<int>(24) == 100);
  CHECK(seen == std::vector<int>{42, 24});
  CHECK(child.switch_to<int>(25) == 25);  // every ancestor is dead up to the caller
}

TEST_CASE("switching to a dead greenlet resumes a suspended ancestor with the value") {
  fiber_leak_check leak_check;
  std::any received;
  greenlet ancestor([&] {
    received = greenlet::switch_to_parent();
    return std::string("ancestor done");
  });
  ancestor.switch_to();
  greenlet dead([] {});
  dead.switch_to();
  dead.set_parent(ancestor);
  CHECK(dead.switch_to<std::string>(7) == "ancestor done");
  CHECK(std::any_cast<int>(received) == 7);
}

TEST_CASE("switching to the current greenlet returns the value at once") {
  fiber_leak_check leak_check;
  CHECK(greenlet::current().switch_to<int>(5) == 5);
  greenlet g([] { return greenlet::current().switch_to<std::string>(std::string("self")); });
  CHECK(g.switch_to<std::string>() == "self");
}

TEST_CASE(
    "started, active, dead and operator bool follow a greenlet's life (test_greenlet.py::test_frame, "
    "TestRepr)") {
  fiber_leak_check leak_check;
  greenlet g;
  std::string inside;
  bool current_inside = false;
  g = greenlet([&] {
    inside = state(g);
    current_inside = greenlet::current() == g;
    greenlet::switch_to_parent();
  });
  CHECK(state(g) == "unstarted");
  g.switch_to();
  CHECK(inside == "started active true");
  CHECK(current_inside);
  CHECK(state(g) == "started active true");
  g.switch_to();
  CHECK(state(g) == "started dead");
}

TEST_CASE(
    "each thread has a main greenlet, current, active, parentless and without a stack "
    "(test_greenlet.py::test_main_greenlet_parent_is_none)") {
  fiber_leak_check leak_check;
  greenlet main = greenlet::current();
  REQUIRE_FALSE(main.empty());
  CHECK(main.is_main());
  CHECK(state(main) == "started active true");
  CHECK(main.parent().empty());
  CHECK(main.stack_size() == 0);
  bool main_inside = true;
  greenlet g([&] { main_inside = greenlet::current().is_main(); });
  g.switch_to();
  CHECK_FALSE(main_inside);
  CHECK(greenlet::current() == main);
}

TEST_CASE(
    "the default parent is the greenlet current at construction "
    "(test_greenlet.py::test_parent_equals_None)") {
  fiber_leak_check leak_check;
  greenlet main = greenlet::current();
  greenlet explicit_empty([] {}, greenlet());
  CHECK(greenlet([] {}).parent() == main);
  CHECK(explicit_empty.parent() == main);
  greenlet nested_parent;
  greenlet outer([&] { nested_parent = greenlet([] {}).parent(); });
  outer.switch_to();
  CHECK(nested_parent == outer);
}

TEST_CASE(
    "set_parent rejects a cycle, an empty parent and a main greenlet, changing nothing "
    "(test_greenlet.py::test_trivial_cycle, test_deeper_cycle, test_trivial_cycle_main, "
    "test_set_parent_wrong_types)") {
  fiber_leak_check leak_check;
  greenlet g1([] {});
  greenlet g2([] {});
  greenlet g3([] {});
  CHECK_THROWS_AS(g1.set_parent(g1), tendril::error);
  CHECK(g1.parent() == greenlet::current());
  g1.set_parent(g2);
  g2.set_parent(g3);
  CHECK_THROWS_AS(g3.set_parent(g1), tendril::error);
  CHECK(g3.parent() == greenlet::current());
  CHECK(g1.parent() == g2);
  CHECK_THROWS_AS(g1.set_parent(greenlet()), tendril::error);
  CHECK(g1.parent() == g2);
  CHECK_THROWS_AS(greenlet::current().set_parent(greenlet::current()), tendril::error);
  CHECK_THROWS_AS(greenlet::current().set_parent(g1), tendril::error);
  CHECK(greenlet::current().parent().empty());
}

TEST_CASE("an empty handle throws tendril::error when used") {
  fiber_leak_check leak_check;
  greenlet empty;
  CHECK(empty.empty());
  CHECK_THROWS_AS(empty.switch_to(), tendril::error);
  CHECK_THROWS_AS(empty.set_parent(greenlet::current()), tendril::error);
}

TEST_CASE("ids are unique and never reused, main greenlets included") {
  fiber_leak_check leak_check;
  std::unordered_set<std::uint64_t> ids{greenlet::current().id()};
  std::uint64_t other_main_id = 0;
  std::thread([&] { other_main_id = greenlet::current().id(); }).join();
  CHECK(ids.insert(other_main_id).second);
  for (int i = 0; i < 100; ++i) {
    greenlet g([] {});
    if (i % 2 == 0) g.switch_to();
    CHECK(g.id() == greenlet(g).id());
    CHECK(ids.insert(g.id()).second);
  }
}

TEST_CASE(
    "names come from options or set_name, and describe() is greenlet <id> followed by the quoted name") {
  fiber_leak_check leak_check;
  greenlet unnamed([] {});
  greenlet named([] {}, greenlet::options{.name = "worker"});
  CHECK(unnamed.name().empty());
  CHECK(named.name() == "worker");
  CHECK(named.describe() == "greenlet " + std::to_string(named.id()) + " \"worker\"");
  CHECK_THAT(unnamed.describe(), Catch::Matchers::StartsWith("greenlet " + std::to_string(unnamed.id())));
  greenlet(named).set_name("renamed");  // a copy renames the same greenlet
  CHECK(named.name() == "renamed");
  CHECK(named.describe() == "greenlet " + std::to_string(named.id()) + " \"renamed\"");
}

TEST_CASE("copies compare equal and hash alike, distinct greenlets do not compare equal") {
  fiber_leak_check leak_check;
  greenlet a([] {});
  greenlet b([] {});
  greenlet a_copy = a;
  CHECK(a == a_copy);
  CHECK_FALSE(a == b);
  CHECK(std::hash<greenlet>{}(a) == std::hash<greenlet>{}(a_copy));
  CHECK(greenlet() == greenlet());
  CHECK(greenlet::current() == greenlet::current());
  std::unordered_set<greenlet> set{a, a_copy, b, greenlet::current()};
  CHECK(set.size() == 3);
  CHECK(set.count(a) == 1);
}

TEST_CASE(
    "switching to a greenlet of another thread throws tendril::error naming both threads "
    "(test_greenlet.py::test_switch_to_another_thread)") {
  fiber_leak_check leak_check;
  // How a thread is named is the implementation's choice: its kernel tid or its std::thread::id.
  auto kernel_id = [] { return std::to_string(::gettid()); };
  auto std_id = [] {
    std::ostringstream text;
    text << std::this_thread::get_id();
    return text.str();
  };
  bool ran = false;
  greenlet mine([&] { ran = true; });
  std::string message = "no error";
  std::string other_kernel_id;
  std::string other_std_id;
  std::thread([&] {
    other_kernel_id = kernel_id();
    other_std_id = std_id();
    try {
      mine.switch_to();
    } catch (const tendril::error& e) {
      message = e.what();
    } catch (const std::exception& e) {
      message = std::string("not a tendril::error: ") + e.what();
    }
  }).join();
  CHECK_FALSE(ran);
  CHECK_FALSE(mine.started());
  CHECK_THAT(message, Contains(kernel_id()) || Contains(std_id()));
  CHECK_THAT(message, Contains(other_kernel_id) || Contains(other_std_id));
}

TEST_CASE(
    "a parent on another thread is rejected by the constructor and set_parent "
    "(test_greenlet.py::test_threaded_reparent)") {
  fiber_leak_check leak_check;
  greenlet foreign;
  std::latch handed_over(1);
  std::latch done(1);
  std::thread owner([&] {
    foreign = greenlet::current();
    handed_over.count_down();
    done.wait();
  });
  handed_over.wait();
  greenlet g([] {});
  CHECK_THROWS_AS(g.set_parent(foreign), tendril::error);
  CHECK(g.parent() == greenlet::current());
  CHECK_THROWS_AS(greenlet([] {}, foreign), tendril::error);
  done.count_down();
  owner.join();
}

TEST_CASE("switch_to_parent hands values to the parent and back") {
  fiber_leak_check leak_check;
  greenlet child([](std::any first) {
    int doubled = 2 * greenlet::value_as<int>(std::move(first));
    return 10 * greenlet::value_as<int>(greenlet::switch_to_parent(doubled));
  });
  CHECK(child.switch_to<int>(21) == 42);
  CHECK(child.switch_to<int>(5) == 50);
  CHECK(child.dead());
}

TEST_CASE("a greenlet parked in switch_to_parent is unwound when its last handle goes") {
  fiber_leak_check leak_check;
  bool unwound = false;
  greenlet child([&] {
    try {
      greenlet::switch_to_parent();
    } catch (const tendril::greenlet_exit&) {
      unwound = true;
      throw;
    }
  });
  child.switch_to();
  child = greenlet();
  CHECK(unwound);
}

TEST_CASE("switch_to_parent from a main greenlet throws, naming it") {
  fiber_leak_check leak_check;
  REQUIRE(greenlet::current().is_main());
  CHECK_THROWS_WITH(greenlet::switch_to_parent(), Contains("main greenlet") && Contains("no parent"));
}
