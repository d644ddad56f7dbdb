// Looking into greenlets from outside: the call stack of a suspended one
// (read by running on top of its saved context), and how deep its stack
// has been touched. Dumps and the blocking monitor stand on both.

#include <any>
#include <cstddef>
#include <cstring>
#include <string>
#include <thread>

#include <catch2/catch.hpp>

#include <tendril/fiber/call_stack.hpp>
#include <tendril/fiber/greenlet.hpp>

#include "support/fiber_leak_check.hpp"

namespace {

using tendril::call_stack;
using tendril::greenlet;
using tendril::testing::fiber_leak_check;

// Distinct, never-inlined frames, so a call stack can be checked by name.
[[gnu::noinline]] int waits_in_inner_frame(int v) {
  std::any back = greenlet::switch_to_parent(v);
  return std::any_cast<int>(back) + 1;
}

[[gnu::noinline]] int waits_in_outer_frame(int v) { return waits_in_inner_frame(v * 2) * 3; }

[[gnu::noinline]] std::string where_i_am() { return call_stack::current().to_string(); }

[[gnu::noinline]] std::size_t touch_stack(std::size_t bytes) {
  auto* area = static_cast<volatile char*>(__builtin_alloca(bytes));
  for (std::size_t i = 0; i < bytes; i += 512) area[i] = static_cast<char>(i);
  greenlet::switch_to_parent();
  return bytes;
}

}  // namespace

TEST_CASE("call_stack::current names the calling functions") {
  std::string text = where_i_am();
  INFO(text);
  CHECK(text.find("where_i_am") != std::string::npos);
  CHECK(text.find("#0 ") == 0);
}

TEST_CASE("a suspended greenlet's call stack names the frames it waits in") {
  fiber_leak_check leaks;
  greenlet g([](std::any v) { return waits_in_outer_frame(std::any_cast<int>(v)); });
  CHECK(g.switch_to<int>(5) == 10);
  call_stack where = g.suspended_at();
  std::string text = where.to_string("  ");
  INFO(text);
  REQUIRE_FALSE(where.empty());
  auto inner = text.find("waits_in_inner_frame");
  auto outer = text.find("waits_in_outer_frame");
  CHECK(inner != std::string::npos);
  CHECK(outer != std::string::npos);
  CHECK(inner < outer);  // innermost first
  CHECK(text.find("  #0 ") == 0);
}

TEST_CASE("reading a suspended greenlet's call stack does not disturb it") {
  fiber_leak_check leaks;
  greenlet g([](std::any v) { return waits_in_outer_frame(std::any_cast<int>(v)); });
  CHECK(g.switch_to<int>(1) == 2);
  // Read twice: the second read goes through the frame the first one left.
  std::string first = g.suspended_at().to_string();
  std::string second = g.suspended_at().to_string();
  CHECK(first.find("waits_in_inner_frame") != std::string::npos);
  CHECK(second.find("waits_in_inner_frame") != std::string::npos);
  // It resumes where it waited, with the value sent and its frames intact.
  CHECK(g.switch_to<int>(10) == (10 + 1) * 3);
  CHECK(g.dead());
}

TEST_CASE("a greenlet read while suspended can still be thrown into and unwound") {
  fiber_leak_check leaks;
  bool unwound = false;
  greenlet g([&] {
    struct mark {
      bool* flag;
      ~mark() { *flag = true; }
    } m{&unwound};
    waits_in_outer_frame(1);
  });
  g.switch_to();
  CHECK_FALSE(g.suspended_at().empty());
  CHECK_THROWS_WITH(g.throw_in(std::make_exception_ptr(std::runtime_error("stop"))), "stop");
  CHECK(unwound);
  CHECK(g.dead());

  bool dropped_unwound = false;
  {
    greenlet h([&] {
      struct mark {
        bool* flag;
        ~mark() { *flag = true; }
      } m{&dropped_unwound};
      waits_in_outer_frame(1);
    });
    h.switch_to();
    CHECK_FALSE(h.suspended_at().empty());
  }  // the last handle: greenlet_exit unwinds it through the read frame
  CHECK(dropped_unwound);
}

TEST_CASE("the running, unstarted and dead greenlets have no suspended call stack") {
  fiber_leak_check leaks;
  CHECK(greenlet::current().suspended_at().empty());
  greenlet unstarted([] {});
  CHECK(unstarted.suspended_at().empty());
  greenlet finished([] {});
  finished.switch_to();
  REQUIRE(finished.dead());
  CHECK(finished.suspended_at().empty());
  greenlet inside([] { return greenlet::current().suspended_at().empty(); });
  CHECK(inside.switch_to<bool>());
}

TEST_CASE("a thread's main greenlet suspended in a switch has a call stack") {
  fiber_leak_check leaks;
  greenlet main = greenlet::current();
  greenlet reader([&] { return main.suspended_at().to_string(); });
  std::string text = reader.switch_to<std::string>();
  INFO(text);
  CHECK(text.find("C_A_T_C_H_T_E_S_T") != std::string::npos);  // this test case's function
}

TEST_CASE("another thread's greenlet cannot be read") {
  fiber_leak_check leaks;
  greenlet g([] { waits_in_outer_frame(1); });
  g.switch_to();
  std::string message;
  std::thread([&] {
    try {
      (void)g.suspended_at();
    } catch (const tendril::error& e) {
      message = e.what();
    }
  }).join();
  CHECK(message.find(g.describe()) != std::string::npos);
  CHECK(message.find("another thread") != std::string::npos);
  g.throw_in(std::make_exception_ptr(tendril::greenlet_exit()));
}

TEST_CASE("stack_high_water covers what a greenlet touched and stays within its stack") {
  fiber_leak_check leaks;
  greenlet::options opts;
  opts.stack_size = 256 * 1024;
  greenlet g([] { return touch_stack(96 * 1024); }, opts);
  CHECK(g.stack_high_water() == 0);  // no stack yet
  g.switch_to();
  CHECK(g.stack_high_water() >= 96 * 1024);
  CHECK(g.stack_high_water() <= g.stack_size());
  CHECK(greenlet::current().stack_high_water() == 0);  // the thread's own stack is not measured
  g.switch_to();
  CHECK(g.dead());
}
