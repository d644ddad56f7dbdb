// Exceptions and greenlets: a port of python-greenlet's test_throw.py, of the
// exception cases of test_greenlet.py (propagation, test_exc_state) and of
// test_cpp.py. Unlike Python greenlet, any C++ exception escaping run is
// carried to the parent; only greenlet_exit is turned into a value there.

#include <any>
#include <exception>
#include <functional>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include <tendril/error.hpp>
#include <tendril/fiber/greenlet.hpp>

#include "support/fiber_leak_check.hpp"

using tendril::greenlet;
using tendril::greenlet_exit;
using tendril::testing::fiber_leak_check;

namespace {

struct index_error : std::runtime_error {
  index_error() : std::runtime_error("index_error") {}
};
struct some_error : std::runtime_error {
  some_error() : std::runtime_error("some_error") {}
};

std::string as_string(std::any value) { return greenlet::value_as<std::string>(std::move(value)); }

bool holds_greenlet_exit(const std::any& value) { return value.type() == typeid(greenlet_exit); }

// Waits at the parent; a runtime_error thrown in there is caught, and its
// message sent to the parent.
void catch_and_report() {
  try {
    greenlet::switch_to_parent(std::string("ok"));
  } catch (const std::runtime_error& e) {
    greenlet::switch_to_parent(std::string("caught ") + e.what());
    return;
  }
  greenlet::switch_to_parent(std::string("fail"));
}

}  // namespace

TEST_CASE(
    "throw_in raises at the switch point, where the greenlet catches it and continues "
    "(test_throw.py::test_class, test_val)") {
  fiber_leak_check leak_check;
  greenlet g(catch_and_report);
  CHECK(as_string(g.switch_to()) == "ok");
  CHECK(as_string(g.throw_in(std::runtime_error("ciao"))) == "caught ciao");
  CHECK(g.active());
  CHECK_FALSE(g.switch_to().has_value());
  CHECK(g.dead());
}

TEST_CASE("throw_in accepts a std::exception_ptr") {
  fiber_leak_check leak_check;
  greenlet g(catch_and_report);
  g.switch_to();
  CHECK(as_string(g.throw_in(std::make_exception_ptr(std::runtime_error("by pointer")))) ==
        "caught by pointer");
  g.switch_to();
}

TEST_CASE(
    "throw_in(greenlet_exit) kills a suspended greenlet and the parent receives greenlet_exit as a value "
    "(test_throw.py::test_kill)") {
  fiber_leak_check leak_check;
  bool resumed_normally = false;
  greenlet g([&] {
    greenlet::switch_to_parent(std::string("ok"));
    resumed_normally = true;
  });
  CHECK(as_string(g.switch_to()) == "ok");
  std::any result = g.throw_in(greenlet_exit{});
  CHECK(holds_greenlet_exit(result));
  CHECK(g.dead());
  CHECK_FALSE(resumed_normally);
}

TEST_CASE("throw_in(greenlet_exit) at a dead greenlet comes back as a value (test_throw.py::test_kill)") {
  fiber_leak_check leak_check;
  greenlet g([] {});
  g.switch_to();
  REQUIRE(g.dead());
  CHECK(holds_greenlet_exit(g.throw_in(greenlet_exit{})));
}

TEST_CASE("greenlet_exit thrown out of run reaches the parent as a value, not an exception") {
  fiber_leak_check leak_check;
  greenlet g([] { throw greenlet_exit{}; });
  std::any result;
  CHECK_NOTHROW(result = g.switch_to());
  CHECK(holds_greenlet_exit(result));
  CHECK(g.dead());
}

TEST_CASE(
    "throw_in into an unstarted greenlet kills it without running run "
    "(test_throw.py::test_throw_goes_to_original_parent)") {
  fiber_leak_check leak_check;
  bool ran = false;
  greenlet g([&] { ran = true; });
  CHECK_THROWS_AS(g.throw_in(index_error()), index_error);
  CHECK_FALSE(ran);
  CHECK(g.started());
  CHECK(g.dead());
  CHECK_FALSE(g.active());

  greenlet killed([&] { ran = true; });
  CHECK(holds_greenlet_exit(killed.throw_in(greenlet_exit{})));
  CHECK_FALSE(ran);
  CHECK(killed.dead());
}

namespace {
// test_throw_goes_to_original_parent: g2's parent is g1, which waits for an
// index_error at main; both report back to main directly.
struct original_parent_case {
  greenlet main = greenlet::current();
  greenlet g1{[this] {
    try {
      main.switch_to(std::string("f1 ready to catch"));
    } catch (const index_error&) {
      return std::string("caught");
    }
    return std::string("normal exit");
  }};
  greenlet g2{[this] { main.switch_to(std::string("from f2")); }, g1};
};
}  // namespace

TEST_CASE(
    "a throw into an unstarted child of an unstarted parent kills both and reaches main "
    "(test_throw.py::test_throw_goes_to_original_parent)") {
  fiber_leak_check leak_check;
  original_parent_case c;
  CHECK_THROWS_AS(c.g2.throw_in(index_error()), index_error);
  CHECK(c.g2.dead());
  CHECK(c.g1.dead());
}

TEST_CASE(
    "a throw into an unstarted child goes to its waiting parent "
    "(test_throw.py::test_throw_goes_to_original_parent)") {
  fiber_leak_check leak_check;
  original_parent_case c;
  CHECK(as_string(c.g1.switch_to()) == "f1 ready to catch");
  CHECK(as_string(c.g2.throw_in(index_error())) == "caught");
  CHECK(c.g2.dead());
  CHECK(c.g1.dead());
}

TEST_CASE(
    "an exception escaping a child goes to its parent, not to the last switcher "
    "(test_throw.py::test_throw_goes_to_original_parent)") {
  fiber_leak_check leak_check;
  original_parent_case c;
  CHECK(as_string(c.g1.switch_to()) == "f1 ready to catch");
  CHECK(as_string(c.g2.switch_to()) == "from f2");
  CHECK(as_string(c.g2.throw_in(index_error())) == "caught");
  CHECK(c.g2.dead());
  CHECK(c.g1.dead());
}

namespace {
// fmain of test_greenlet.py: waits at the parent, noting any exception that
// arrives there (and letting it go on); resumed normally, throws some_error.
auto fmain(std::vector<std::string>& seen) {
  return [&seen] {
    try {
      greenlet::switch_to_parent();
    } catch (const std::runtime_error& e) {
      seen.emplace_back(e.what());
      throw;
    } catch (const greenlet_exit&) {
      seen.emplace_back("greenlet_exit");
      throw;
    }
    throw some_error();
  };
}
}  // namespace

TEST_CASE(
    "an exception escaping run is rethrown in the parent at its pending switch "
    "(test_greenlet.py::test_send_exception)") {
  fiber_leak_check leak_check;
  std::vector<std::string> seen;
  greenlet g1(fmain(seen));
  g1.switch_to();
  greenlet crasher([] { throw index_error(); }, g1);
  CHECK_THROWS_AS(crasher.switch_to(), index_error);  // through g1, which noted it and let it go on
  CHECK(seen == std::vector<std::string>{"index_error"});
  CHECK(g1.dead());
}

TEST_CASE(
    "an exception escaping a reparented greenlet reaches the new parent, and its dead chain then returns "
    "values (test_greenlet.py::test_exception)") {
  fiber_leak_check leak_check;
  std::vector<std::string> seen;
  greenlet g1(fmain(seen));
  greenlet g2(fmain(seen));
  g1.switch_to();
  g2.switch_to();
  g2.set_parent(g1);
  CHECK(seen.empty());
  CHECK_THROWS_AS(g2.switch_to(), some_error);
  CHECK(seen == std::vector<std::string>{"some_error"});  // g1 saw g2's error pass through it
  CHECK_FALSE(g2.switch_to().has_value());
  CHECK(std::any_cast<int>(g2.switch_to(25)) == 25);
  CHECK(seen == std::vector<std::string>{"some_error"});
}

TEST_CASE("an exception climbs a chain of parents hop by hop") {
  fiber_leak_check leak_check;
  std::vector<std::string> hops;
  // Each level starts the next one (its child) and notes the exception passing through.
  std::function<void(int)> level = [&](int depth) {
    if (depth == 0) throw some_error();
    try {
      greenlet([&] { level(depth - 1); }).switch_to();
    } catch (const some_error&) {
      hops.push_back("level " + std::to_string(depth));
      throw;
    }
  };
  greenlet top([&] { level(3); });
  CHECK_THROWS_AS(top.switch_to(), some_error);
  CHECK(hops == std::vector<std::string>{"level 1", "level 2", "level 3"});
}

TEST_CASE("an exception escaping a greenlet whose parent is dead goes to the first live ancestor") {
  fiber_leak_check leak_check;
  greenlet ancestor([] {
    try {
      greenlet::switch_to_parent();
    } catch (const index_error&) {
      return std::string("ancestor caught");
    }
    return std::string("ancestor resumed normally");
  });
  ancestor.switch_to();
  greenlet dead_parent([] {});
  dead_parent.switch_to();
  dead_parent.set_parent(ancestor);
  greenlet child([] { throw index_error(); }, dead_parent);
  CHECK(as_string(child.switch_to()) == "ancestor caught");
}

TEST_CASE("throw_in at a dead greenlet goes to its first live ancestor") {
  fiber_leak_check leak_check;
  greenlet ancestor(catch_and_report);
  ancestor.switch_to();
  greenlet dead([] {});
  dead.switch_to();
  CHECK_THROWS_AS(dead.throw_in(index_error()), index_error);  // its parent is the caller
  dead.set_parent(ancestor);
  CHECK(as_string(dead.throw_in(index_error())) == "caught index_error");
  CHECK(ancestor.active());
  ancestor.switch_to();
}

TEST_CASE("throw_in aimed at the current greenlet raises at once") {
  fiber_leak_check leak_check;
  CHECK_THROWS_AS(greenlet::current().throw_in(index_error()), index_error);
  greenlet g([] {
    try {
      greenlet::current().throw_in(index_error());
    } catch (const index_error&) {
      return std::string("raised in place");
    }
    return std::string("not raised");
  });
  CHECK(as_string(g.switch_to()) == "raised in place");
}

TEST_CASE("greenlet_exit is not caught by catch (const std::exception&)") {
  fiber_leak_check leak_check;
  STATIC_REQUIRE_FALSE(std::is_base_of_v<std::exception, greenlet_exit>);
  STATIC_REQUIRE_FALSE(std::is_base_of_v<tendril::error, greenlet_exit>);
  bool swallowed = false;
  bool unwound = false;
  greenlet g([&] {
    try {
      greenlet::switch_to_parent();
    } catch (const std::exception&) {
      swallowed = true;
    } catch (...) {
      unwound = true;
      throw;
    }
  });
  g.switch_to();
  CHECK(holds_greenlet_exit(g.throw_in(greenlet_exit{})));
  CHECK_FALSE(swallowed);
  CHECK(unwound);
}

TEST_CASE("exceptions of any type, std::exception or not, are carried to the parent") {
  fiber_leak_check leak_check;
  greenlet throws_int([] { throw 42; });
  CHECK_THROWS_AS(throws_int.switch_to(), int);
  int received = 0;
  greenlet catches_int([&] {
    try {
      greenlet::switch_to_parent();
    } catch (int value) {
      received = value;
    }
  });
  catches_int.switch_to();
  catches_int.throw_in(7);
  CHECK(received == 7);
  CHECK(catches_int.dead());
}

TEST_CASE("throw_in on an empty handle or a greenlet of another thread throws tendril::error") {
  fiber_leak_check leak_check;
  CHECK_THROWS_AS(greenlet().throw_in(index_error()), tendril::error);
  greenlet mine([] {});
  bool rejected = false;
  std::thread([&] {
    try {
      mine.throw_in(index_error());
    } catch (const tendril::error&) {
      rejected = true;
    } catch (const index_error&) {
      rejected = false;
    }
  }).join();
  CHECK(rejected);
  CHECK_FALSE(mine.started());  // not killed by the refused throw
}

namespace {

// handled() rethrows the exception being handled (`throw;`) to read its
// message: "none" when there is none.
std::string handled() {
  if (std::current_exception() == nullptr) return "none";
  try {
    throw;
  } catch (const std::exception& e) {
    return e.what();
  }
}

}  // namespace

TEST_CASE(
    "a catch block that switches away keeps its exception while the other greenlet has none "
    "(test_greenlet.py::test_exc_state)") {
  fiber_leak_check leak_check;
  std::vector<std::string> trail;
  greenlet f([&] {
    try {
      throw std::runtime_error("fun");
    } catch (const std::runtime_error&) {
      greenlet h([&] {
        trail.push_back("h: " + handled());
        try {
          throw std::logic_error("h's own");
        } catch (const std::logic_error&) {
          trail.push_back("h in catch: " + handled());
        }
        trail.push_back("h after catch: " + handled());
      });
      h.switch_to();
      trail.push_back("f back in catch: " + handled());
    }
  });
  f.switch_to();
  CHECK(trail == std::vector<std::string>{"h: none", "h in catch: h's own", "h after catch: none",
                                          "f back in catch: fun"});
  CHECK(handled() == "none");
}

TEST_CASE(
    "a main greenlet inside a catch block switches to a greenlet that sees no exception, then rethrows") {
  fiber_leak_check leak_check;
  std::string in_greenlet;
  std::string after;
  try {
    throw std::runtime_error("main's");
  } catch (const std::runtime_error&) {
    greenlet g([&] { in_greenlet = handled(); });
    g.switch_to();
    after = handled();
  }
  CHECK(in_greenlet == "none");
  CHECK(after == "main's");
}

TEST_CASE("greenlets suspended in catch blocks each rethrow their own exception, in any resume order") {
  fiber_leak_check leak_check;
  std::vector<std::string> rethrown;
  auto body = [&](std::any label) {
    try {
      throw std::runtime_error(std::any_cast<std::string>(label));
    } catch (const std::runtime_error&) {
      greenlet::switch_to_parent();
      rethrown.push_back(handled());
    }
  };
  greenlet a(body);
  greenlet b(body);
  greenlet c(body);
  a.switch_to(std::string("a"));
  b.switch_to(std::string("b"));
  c.switch_to(std::string("c"));
  CHECK(handled() == "none");
  b.switch_to();
  c.switch_to();
  a.switch_to();
  CHECK(rethrown == std::vector<std::string>{"b", "c", "a"});
}

namespace {
struct depth_error {
  int depth;
};

// Recurses `left` frames, switches to the parent inside a try block, then
// throws and catches an exception that must land in this greenlet's handler.
int switch_then_throw(int depth, int left) {
  if (left > 0) return switch_then_throw(depth, left - 1);
  try {
    greenlet::switch_to_parent();
    throw depth_error{depth};
  } catch (const depth_error& e) {
    return e.depth == depth ? depth : -1;
  }
}
}  // namespace

TEST_CASE(
    "an exception thrown after a switch is caught by the greenlet's own handler "
    "(test_cpp.py::test_exception_switch)") {
  fiber_leak_check leak_check;
  std::vector<greenlet> greenlets;
  for (int i = 0; i < 4; ++i) {
    greenlets.emplace_back([](std::any depth) {
      return switch_then_throw(std::any_cast<int>(depth), std::any_cast<int>(depth));
    });
    greenlets.back().switch_to(i);
  }
  for (int i = 0; i < 4; ++i) CHECK(greenlets[i].switch_to<int>() == i);
}

TEST_CASE("std::uncaught_exceptions is per greenlet, seen from a destructor that switches during unwinding") {
  fiber_leak_check leak_check;
  struct switches_in_destructor {
    std::vector<int>* counts;
    ~switches_in_destructor() {
      counts->push_back(std::uncaught_exceptions());
      greenlet::switch_to_parent();
      counts->push_back(std::uncaught_exceptions());
    }
  };
  std::vector<int> in_greenlet;
  int in_main = -1;
  bool caught = false;
  greenlet g([&] {
    try {
      switches_in_destructor guard{&in_greenlet};
      throw std::runtime_error("unwinding");
    } catch (const std::runtime_error&) {
      caught = true;
    }
  });
  g.switch_to();
  in_main = std::uncaught_exceptions();
  g.switch_to();
  CHECK(in_main == 0);
  CHECK(in_greenlet == std::vector<int>{1, 1});
  CHECK(caught);
}
