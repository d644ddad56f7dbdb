#pragma once
// fiber_leak_check: declare one at the top of a test; when it goes out of
// scope it checks that the test left no started, unfinished greenlet and no
// stack in use on this thread.

#include <catch2/catch.hpp>

#include <tendril/fiber/greenlet.hpp>
#include <tendril/fiber/stack.hpp>

namespace tendril::testing {

class fiber_leak_check {
 public:
  fiber_leak_check() : active_(active_greenlet_count()), stacks_(current_stack_stats().in_use) {}
  fiber_leak_check(const fiber_leak_check&) = delete;
  fiber_leak_check& operator=(const fiber_leak_check&) = delete;
  ~fiber_leak_check() {
    CHECK(active_greenlet_count() == active_);
    CHECK(current_stack_stats().in_use == stacks_);
  }

 private:
  std::size_t active_;
  std::size_t stacks_;
};

}  // namespace tendril::testing
