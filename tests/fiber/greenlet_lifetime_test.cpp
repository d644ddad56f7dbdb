// greenlet lifetime: what dropping handles does to unstarted, suspended and
// dead greenlets, weak_greenlet, and leaks of switched values and captures.
// Ports python-greenlet's test_gc.py, test_weakref.py and test_leaks.py (and
// the dealloc cases of test_greenlet.py) to C++'s reference-counted handles.

#include <unistd.h>

#include <any>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include <tendril/fiber/greenlet.hpp>

#include "support/fiber_leak_check.hpp"

namespace {

using tendril::greenlet;
using tendril::greenlet_exit;
using tendril::weak_greenlet;
using tendril::testing::fiber_leak_check;
using strings = std::vector<std::string>;

// Runs a function when it goes out of scope, like Python's `finally`.
template <class F>
struct at_scope_exit {
  F fn;
  ~at_scope_exit() { fn(); }
};
template <class F>
at_scope_exit(F) -> at_scope_exit<F>;

// Redirects file descriptor 2 to a temporary file until finish(), so what the
// library prints there can be checked.
class stderr_capture {
 public:
  stderr_capture() : file_(std::tmpfile()) {
    REQUIRE(file_ != nullptr);
    std::fflush(stderr);
    saved_ = ::dup(2);
    REQUIRE(saved_ >= 0);
    REQUIRE(::dup2(::fileno(file_), 2) == 2);
  }
  stderr_capture(const stderr_capture&) = delete;
  stderr_capture& operator=(const stderr_capture&) = delete;
  ~stderr_capture() {
    restore();
    std::fclose(file_);
  }

  /// finish() restores stderr and returns what was written to it meanwhile.
  std::string finish() {
    restore();
    std::string text;
    std::rewind(file_);
    for (int c; (c = std::fgetc(file_)) != EOF;) text.push_back(static_cast<char>(c));
    return text;
  }

 private:
  void restore() {
    if (saved_ < 0) return;
    std::fflush(stderr);
    std::cerr.flush();
    ::dup2(saved_, 2);
    ::close(saved_);
    saved_ = -1;
  }

  std::FILE* file_;
  int saved_ = -1;
};

// python-greenlet's fmain: parks in its parent, noting what ends it in `seen`.
std::function<void()> fmain(strings& seen, std::string name) {
  return [&seen, name] {
    at_scope_exit unwound{[&] { seen.push_back(name + " unwound"); }};
    try {
      greenlet::switch_to_parent();
    } catch (const greenlet_exit&) {
      seen.push_back(name + " got greenlet_exit");
      throw;
    }
    seen.push_back(name + " resumed");
  };
}

}  // namespace

TEST_CASE("dropping a suspended greenlet unwinds it (test_greenlet.py: test_dealloc)") {
  fiber_leak_check leaks;
  strings seen;
  greenlet g1(fmain(seen, "g1"));
  greenlet g2(fmain(seen, "g2"));
  g1.switch_to();
  g2.switch_to();
  CHECK(seen.empty());
  CHECK(tendril::active_greenlet_count() >= 2);

  g1 = greenlet();
  CHECK(seen == strings{"g1 got greenlet_exit", "g1 unwound"});
  g2 = greenlet();
  CHECK(seen == strings{"g1 got greenlet_exit", "g1 unwound", "g2 got greenlet_exit", "g2 unwound"});
  CHECK(greenlet::current().is_main());
}

TEST_CASE("an unwound greenlet's destructors run on its stack (test_gc.py: test_finalizer_crash)") {
  fiber_leak_check leaks;
  std::uint64_t destroyed_on = 0;
  bool helper_ran = false;
  struct with_finalizer {
    std::uint64_t& destroyed_on;
    bool& helper_ran;
    ~with_finalizer() {
      destroyed_on = greenlet::current().id();
      greenlet([&] { helper_ran = true; }).switch_to();  // a switch in the middle of collection
    }
  };
  greenlet g([&] {
    with_finalizer object{destroyed_on, helper_ran};
    greenlet::switch_to_parent();
  });
  g.switch_to();
  std::uint64_t id = g.id();
  g = greenlet();
  CHECK(destroyed_on == id);
  CHECK(helper_ran);
}

TEST_CASE("the greenlet dropping the last handle is the unwound greenlet's temporary parent") {
  fiber_leak_check leaks;
  greenlet parent_while_unwinding;
  greenlet victim([&] {
    try {
      greenlet::switch_to_parent();
    } catch (const greenlet_exit&) {
      parent_while_unwinding = greenlet::current().parent();
      throw;
    }
  });
  victim.switch_to();
  bool dropper_continued = false;
  greenlet dropper([&] {
    victim = greenlet();  // the victim's greenlet_exit comes back here as a value, not to main
    dropper_continued = true;
  });
  dropper.switch_to();
  CHECK(dropper_continued);
  CHECK(dropper.dead());
  CHECK(parent_while_unwinding == dropper);
}

TEST_CASE("a resurrected greenlet gets its parent back (test_greenlet.py: test_parent_restored_on_kill)") {
  fiber_leak_check leaks;
  greenlet main = greenlet::current();
  greenlet hub([] {});
  greenlet parent_while_unwinding;
  std::optional<greenlet> resurrected;
  int unwound = 0;
  greenlet worker(
      [&] {
        at_scope_exit finally{[&] { ++unwound; }};
        try {
          main.switch_to();
        } catch (const greenlet_exit&) {
          parent_while_unwinding = greenlet::current().parent();
          resurrected = greenlet::current();
          hub.switch_to();  // refuses to die; hub ends and returns to main
        }
      },
      hub);
  worker.switch_to();
  {
    stderr_capture quiet;
    worker = greenlet();
  }
  CHECK(parent_while_unwinding == main);
  REQUIRE(resurrected);
  CHECK(resurrected->parent() == hub);
  CHECK(resurrected->active());
  CHECK(hub.dead());
  CHECK(unwound == 0);

  // Dropping the resurrected handle, now the last one, unwinds it again: the
  // greenlet_exit is raised at hub.switch_to() in its catch block.
  weak_greenlet weak = *resurrected;
  resurrected.reset();
  CHECK(unwound == 1);
  CHECK(weak.expired());
}

TEST_CASE(
    "an exception escaping unwinding is printed (test_greenlet.py: "
    "test_dealloc_catches_GreenletExit_throws_other)") {
  fiber_leak_check leaks;
  greenlet g([] {
    try {
      greenlet::switch_to_parent();
    } catch (const greenlet_exit&) {
      throw std::runtime_error("some_error raised instead of greenlet_exit");
    }
  });
  g.switch_to();
  weak_greenlet weak = g;
  stderr_capture err;
  g = greenlet();  // neither throws here nor terminates
  std::string printed = err.finish();
  CHECK_THAT(printed, Catch::Contains("some_error raised instead of greenlet_exit"));
  CHECK(weak.expired());
  CHECK(greenlet::current().is_main());
}

TEST_CASE("a greenlet that catches greenlet_exit and switches away is reported, not a crash") {
  fiber_leak_check leaks;
  greenlet main = greenlet::current();
  int caught = 0;
  bool finished = false;
  greenlet g([&] {
    try {
      main.switch_to();
    } catch (const greenlet_exit&) {
      ++caught;
      main.switch_to();  // instead of dying
    }
    finished = true;
  });
  g.switch_to();
  weak_greenlet weak = g;
  std::uint64_t id = g.id();
  stderr_capture err;
  g = greenlet();
  std::string printed = err.finish();
  CHECK(caught == 1);
  CHECK(greenlet::current() == main);
  CHECK_THAT(printed, Catch::Contains(std::to_string(id)));

  // Its stack is still live, so it must still exist: finish it by hand.
  greenlet survivor = weak.lock();
  REQUIRE(!survivor.empty());
  CHECK(survivor.active());
  survivor.switch_to();
  CHECK(finished);
  CHECK(survivor.dead());
}

TEST_CASE(
    "an unstarted greenlet is freed without running (test_gc.py: test_inactive_ref, "
    "test_weakref.py: test_inactive_weakref)") {
  fiber_leak_check leaks;
  auto capture = std::make_shared<int>(7);
  bool ran = false;
  greenlet g([capture, &ran] { ran = true; });
  weak_greenlet weak = g;
  CHECK(capture.use_count() == 2);
  CHECK_FALSE(weak.expired());
  CHECK(weak.lock() == g);

  g = greenlet();
  CHECK(weak.expired());
  CHECK(weak.lock().empty());
  CHECK_FALSE(ran);
  CHECK(capture.use_count() == 1);
}

TEST_CASE("a dead greenlet is freed when its last handle goes (test_weakref.py: test_dead_weakref)") {
  fiber_leak_check leaks;
  greenlet g([] {});
  g.switch_to();
  REQUIRE(g.dead());
  weak_greenlet weak = g;
  greenlet copy = g;
  g = greenlet();
  CHECK_FALSE(weak.expired());
  copy = greenlet();
  CHECK(weak.expired());
}

TEST_CASE("a dropped suspended greenlet's weak_greenlet expires") {
  fiber_leak_check leaks;
  greenlet g([] { greenlet::switch_to_parent(); });
  g.switch_to();
  weak_greenlet weak = g;
  greenlet locked = weak.lock();
  CHECK(locked == g);
  CHECK(locked.active());
  locked = greenlet();
  g = greenlet();
  CHECK(weak.expired());
  CHECK(weak.lock().empty());
}

TEST_CASE("a greenlet whose result is a handle to itself is freed (test_gc.py: test_dead_circular_ref)") {
  fiber_leak_check leaks;
  weak_greenlet weak;
  {
    std::any result = greenlet([] { return greenlet::current(); }).switch_to();
    greenlet self = greenlet::value_as<greenlet>(std::move(result));
    CHECK(self.dead());
    weak = self;
  }
  CHECK(weak.expired());
}

TEST_CASE("a weak_greenlet in its own run callable frees it (test_gc.py: test_circular_greenlet)") {
  fiber_leak_check leaks;
  auto self = std::make_shared<weak_greenlet>();
  greenlet g([self] { return self->lock() == greenlet::current(); });
  *self = g;
  weak_greenlet weak = g;
  CHECK(self.use_count() == 2);
  g = greenlet();
  CHECK(weak.expired());
  CHECK(self.use_count() == 1);
}

TEST_CASE("dropping an unstarted child unwinds its parent (test_weakref.py: test_dealloc_weakref)") {
  fiber_leak_check leaks;
  std::vector<bool> child_expired_when_unwound;
  weak_greenlet child_weak;
  greenlet parent([&] {
    at_scope_exit finally{[&] { child_expired_when_unwound.push_back(child_weak.expired()); }};
    greenlet::switch_to_parent();
  });
  parent.switch_to();
  greenlet child([] {}, parent);
  child_weak = child;
  parent = greenlet();  // the child's parent reference keeps it alive
  CHECK(child_expired_when_unwound.empty());
  child = greenlet();
  CHECK(child_expired_when_unwound == std::vector<bool>{true});
}

TEST_CASE(
    "a greenlet dropping itself while running is unwound (test_greenlet.py: "
    "test_dealloc_switch_args_not_lost)") {
  fiber_leak_check leaks;
  strings seen;
  std::optional<greenlet> worker;
  greenlet initiator;
  worker.emplace([&] {
    std::any value = greenlet::switch_to_parent();
    worker.reset();                                      // drop every handle to ourselves...
    initiator.set_parent(greenlet::current().parent());  // ...including the initiator's parent link
    at_scope_exit finally{[&] { seen.push_back("worker unwound"); }};
    greenlet::switch_to_parent(std::move(value));  // the value must still arrive
  });
  worker->switch_to();
  initiator = greenlet([] { return 42; }, *worker);
  std::any value = initiator.switch_to();
  REQUIRE(value.has_value());
  CHECK(std::any_cast<int>(value) == 42);
  CHECK(seen == strings{"worker unwound"});
}

TEST_CASE(
    "a self-kept unwound greenlet is freed later (test_greenlet.py: "
    "test_issue_245_reference_counting_subclass_no_threads)") {
  fiber_leak_check leaks;
  std::vector<greenlet> kept;
  std::vector<weak_greenlet> weak;
  for (int i = 0; i < 10; ++i) {
    greenlet g([&kept] {
      try {
        greenlet::switch_to_parent();
      } catch (const greenlet_exit&) {
        kept.push_back(greenlet::current());
      }
    });
    g.switch_to();
    weak.emplace_back(g);
  }  // each g is dropped here, unwound, and dies normally after keeping a handle
  REQUIRE(kept.size() == 10);
  for (const greenlet& g : kept) CHECK(g.dead());
  for (const weak_greenlet& w : weak) CHECK_FALSE(w.expired());
  kept.clear();
  for (const weak_greenlet& w : weak) CHECK(w.expired());
}

TEST_CASE("a suspended greenlet holding the last handle to another unwinds it while unwinding") {
  fiber_leak_check leaks;
  strings seen;
  greenlet main = greenlet::current();
  greenlet outer([&] {
    at_scope_exit finally{[&] { seen.push_back("outer unwound"); }};
    // Parented to main, not to outer: a parent link back to outer from a
    // handle on outer's own stack would be a cycle, kept until thread exit.
    greenlet inner(fmain(seen, "inner"), main);
    inner.switch_to();  // inner parks in main; outer stays suspended here
  });
  outer.switch_to();
  CHECK(tendril::active_greenlet_count() >= 2);
  outer = greenlet();
  CHECK(seen == strings{"inner got greenlet_exit", "inner unwound", "outer unwound"});
}

TEST_CASE("values switched into a greenlet are not leaked (test_leaks.py: test_arg_refs)") {
  fiber_leak_check leaks;
  auto args = std::make_shared<std::string>("a b c");
  greenlet g([](std::any v) { return greenlet::switch_to_parent(std::move(v)); });
  for (int i = 0; i < 100; ++i) {
    // Starts g, then resumes it so it returns, then goes to its dead self's parent (us).
    std::any back = g.switch_to(args);
    CHECK(std::any_cast<std::shared_ptr<std::string>>(back) == args);
    back.reset();
    CHECK(args.use_count() == 1);
  }
  CHECK(g.dead());
}

TEST_CASE("compound switched values are not leaked (test_leaks.py: test_kwarg_refs)") {
  fiber_leak_check leaks;
  auto payload = std::make_shared<int>(3);
  using kwargs = std::map<std::string, std::shared_ptr<int>>;
  greenlet g([](std::any v) { return greenlet::switch_to_parent(std::move(v)); });
  for (int i = 0; i < 100; ++i) {
    kwargs k{{"x", payload}, {"y", payload}};
    g.switch_to(std::move(k));
    CHECK(payload.use_count() == 1);
  }
}

TEST_CASE("exceptions thrown in or out of a greenlet are not leaked") {
  fiber_leak_check leaks;
  struct payload_error {
    std::shared_ptr<int> payload;
  };
  auto payload = std::make_shared<int>(1);
  greenlet catcher([] {
    try {
      greenlet::switch_to_parent();
    } catch (const payload_error&) {
    }
  });
  catcher.switch_to();
  catcher.throw_in(payload_error{payload});
  CHECK(catcher.dead());
  CHECK(payload.use_count() == 1);

  greenlet thrower([payload] { throw payload_error{payload}; });
  CHECK_THROWS_AS(thrower.switch_to(), payload_error);
  CHECK(payload.use_count() == 1);
}

TEST_CASE("a run callable's captures are destroyed when its greenlet finishes") {
  fiber_leak_check leaks;
  auto capture = std::make_shared<int>(0);

  SECTION("returning") {
    greenlet g([capture] { return *capture; });
    g.switch_to();
    CHECK(g.dead());
    CHECK(capture.use_count() == 1);  // while the handle g still exists
  }
  SECTION("by an escaping exception") {
    greenlet g([capture] { throw std::runtime_error("boom"); });
    CHECK_THROWS_AS(g.switch_to(), std::runtime_error);
    CHECK(capture.use_count() == 1);
  }
  SECTION("unstarted, by throw_in") {
    greenlet g([capture] {});
    CHECK_THROWS_AS(g.throw_in(std::runtime_error("never started")), std::runtime_error);
    CHECK(g.dead());
    CHECK(capture.use_count() == 1);
  }
  SECTION("by greenlet_exit, kept as a value") {
    greenlet g([capture] { throw greenlet_exit(); });
    std::any result = g.switch_to();
    CHECK(std::any_cast<greenlet_exit>(&result) != nullptr);
    CHECK(capture.use_count() == 1);
  }
}
