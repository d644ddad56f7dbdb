// The per-thread switch hook: a port of python-greenlet's test_tracing.py
// (the settrace part; the sys.setprofile interplay is Python-only).

#include <any>
#include <functional>
#include <ostream>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include <tendril/fiber/greenlet.hpp>
#include <tendril/fiber/trace.hpp>

#include "support/fiber_leak_check.hpp"

using tendril::greenlet;
using tendril::trace_event;
using tendril::testing::fiber_leak_check;

namespace {

struct some_error : std::runtime_error {
  some_error() : std::runtime_error("some_error") {}
};

struct traced {
  trace_event event;
  greenlet origin;
  greenlet target;
  friend bool operator==(const traced&, const traced&) = default;
};

std::ostream& operator<<(std::ostream& out, const traced& t) {
  return out << (t.event == trace_event::switched ? "switched " : "thrown ") << t.origin.describe() << " -> "
             << t.target.describe();
}

// recording_tracer installs a hook that records every call (and, if asked,
// throws some_error from it), and puts the previous hook back when it goes.
class recording_tracer {
 public:
  explicit recording_tracer(bool throw_from_hook = false)
      : previous_(
            tendril::settrace([this, throw_from_hook](trace_event e, const greenlet& o, const greenlet& t) {
              calls.push_back({e, o, t});
              current_was_origin.push_back(greenlet::current() == o);
              if (throw_from_hook) throw some_error();
            })) {}
  recording_tracer(const recording_tracer&) = delete;
  recording_tracer& operator=(const recording_tracer&) = delete;
  // The hook goes first, so that greenlets the records keep alive are not traced as they unwind.
  ~recording_tracer() { tendril::settrace(std::move(previous_)); }

  std::vector<traced> calls;
  std::vector<bool> current_was_origin;

 private:
  tendril::trace_function previous_;
};

}  // namespace

TEST_CASE("settrace installs a hook and returns the previous one, gettrace reads it") {
  fiber_leak_check leak_check;
  std::string called;
  auto named = [&](std::string name) {
    return [&called, name](trace_event, const greenlet&, const greenlet&) { called = name; };
  };
  CHECK_FALSE(tendril::gettrace());
  CHECK_FALSE(tendril::settrace(named("first")));
  tendril::trace_function previous = tendril::settrace(named("second"));
  REQUIRE(previous);
  previous(trace_event::switched, greenlet::current(), greenlet::current());
  CHECK(called == "first");
  REQUIRE(tendril::gettrace());
  tendril::gettrace()(trace_event::switched, greenlet::current(), greenlet::current());
  CHECK(called == "second");
  CHECK(tendril::settrace({}));
  CHECK_FALSE(tendril::gettrace());
}

TEST_CASE(
    "the hook sees each switch in order, and thrown for a child's escaping exception "
    "(test_tracing.py::test_a_greenlet_tracing)") {
  fiber_leak_check leak_check;
  greenlet main = greenlet::current();
  greenlet g1([] {});
  greenlet g2([] { throw some_error(); });
  recording_tracer tracer;
  g1.switch_to();
  CHECK_THROWS_AS(g2.switch_to(), some_error);
  CHECK(tracer.calls == std::vector<traced>{{trace_event::switched, main, g1},
                                            {trace_event::switched, g1, main},
                                            {trace_event::switched, main, g2},
                                            {trace_event::thrown, g2, main}});
}

TEST_CASE("throw_in is traced as thrown from the thrower to the target") {
  fiber_leak_check leak_check;
  greenlet main = greenlet::current();
  greenlet g([] {
    try {
      greenlet::switch_to_parent();
    } catch (const some_error&) {
      greenlet::switch_to_parent(std::string("caught"));
    }
  });
  g.switch_to();
  recording_tracer tracer;
  g.throw_in(some_error());
  g.switch_to();
  CHECK(tracer.calls == std::vector<traced>{{trace_event::thrown, main, g},
                                            {trace_event::switched, g, main},
                                            {trace_event::switched, main, g},
                                            {trace_event::switched, g, main}});
}

TEST_CASE("killing with greenlet_exit is traced as thrown in, then switched out with the value") {
  fiber_leak_check leak_check;
  greenlet main = greenlet::current();
  greenlet g([] { greenlet::switch_to_parent(); });
  g.switch_to();
  recording_tracer tracer;
  g.throw_in(tendril::greenlet_exit{});
  CHECK(tracer.calls ==
        std::vector<traced>{{trace_event::thrown, main, g}, {trace_event::switched, g, main}});
}

TEST_CASE("the hook names the real origin and target of switches between non-main greenlets") {
  fiber_leak_check leak_check;
  greenlet main = greenlet::current();
  greenlet a;
  greenlet b;
  a = greenlet([&] { b.switch_to(); });
  b = greenlet([&] { return 1; }, a);
  recording_tracer tracer;
  a.switch_to();  // main -> a -> b; b returns to its parent a, which returns to main
  CHECK(tracer.calls == std::vector<traced>{{trace_event::switched, main, a},
                                            {trace_event::switched, a, b},
                                            {trace_event::switched, b, a},
                                            {trace_event::switched, a, main}});
}

TEST_CASE("the hook runs in the origin greenlet, before control leaves it") {
  fiber_leak_check leak_check;
  greenlet a;
  greenlet b;
  a = greenlet([&] { b.switch_to(); });
  b = greenlet([] {});
  recording_tracer tracer;
  a.switch_to();  // main -> a -> b -> main (b's parent) -> a -> main
  a.switch_to();
  REQUIRE(tracer.calls.size() == 5);
  CHECK(tracer.current_was_origin == std::vector<bool>(5, true));
}

TEST_CASE(
    "an exception from the hook disables tracing and is raised by switch_to, and no switch happens "
    "(test_tracing.py::test_b_exception_disables_tracing)") {
  fiber_leak_check leak_check;
  greenlet main = greenlet::current();
  int resumed = 0;
  greenlet g([&] {
    greenlet::switch_to_parent();
    ++resumed;
  });
  g.switch_to();
  greenlet unstarted([] {});
  {
    recording_tracer tracer(/*throw_from_hook=*/true);
    CHECK_THROWS_AS(g.switch_to(), some_error);
    CHECK_FALSE(tendril::gettrace());
    CHECK(tracer.calls == std::vector<traced>{{trace_event::switched, main, g}});
    CHECK(resumed == 0);
    CHECK(g.active());
  }
  {
    recording_tracer tracer(/*throw_from_hook=*/true);
    CHECK_THROWS_AS(unstarted.switch_to(), some_error);
    CHECK_FALSE(unstarted.started());
  }
  g.switch_to();
  CHECK(resumed == 1);
}

TEST_CASE("an exception from the hook is raised by throw_in, and the target is not reached") {
  fiber_leak_check leak_check;
  greenlet main = greenlet::current();
  bool target_saw_exception = false;
  greenlet g([&] {
    try {
      greenlet::switch_to_parent();
    } catch (const std::invalid_argument&) {
      target_saw_exception = true;
    }
  });
  g.switch_to();
  {
    recording_tracer tracer(/*throw_from_hook=*/true);
    CHECK_THROWS_AS(g.throw_in(std::invalid_argument("aimed at g")), some_error);
    CHECK(tracer.calls == std::vector<traced>{{trace_event::thrown, main, g}});
    CHECK_FALSE(tendril::gettrace());
  }
  CHECK(g.active());
  g.switch_to();
  CHECK_FALSE(target_saw_exception);
  CHECK(g.dead());
}

TEST_CASE("an exception from the hook as a greenlet dies replaces its result in the parent") {
  fiber_leak_check leak_check;
  greenlet g([] { return 5; });
  recording_tracer tracer;
  tendril::trace_function recorder = tendril::gettrace();
  tendril::settrace([&](trace_event e, const greenlet& origin, const greenlet& target) {
    recorder(e, origin, target);
    if (origin == g) throw some_error();
  });
  CHECK_THROWS_AS(g.switch_to(), some_error);
  CHECK(g.dead());
  CHECK_FALSE(tendril::gettrace());
  CHECK(tracer.calls.size() == 2);
}

TEST_CASE("installing the same hook twice keeps it working (test_tracing.py::test_set_same_tracer_twice)") {
  fiber_leak_check leak_check;
  recording_tracer tracer;
  tendril::settrace(tendril::gettrace());
  greenlet([] {}).switch_to();
  CHECK(tracer.calls.size() == 2);
}

TEST_CASE("the hook belongs to its thread, so another thread's switches are not traced") {
  fiber_leak_check leak_check;
  recording_tracer tracer;
  bool other_thread_had_hook = true;
  std::thread([&] {
    other_thread_had_hook = static_cast<bool>(tendril::gettrace());
    greenlet([] {}).switch_to();
  }).join();
  CHECK_FALSE(other_thread_had_hook);
  CHECK(tracer.calls.empty());
}
