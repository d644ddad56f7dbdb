// Greenlet tags (detail/state_access.hpp): the word the hub attaches to a
// fiber's greenlet is the running tag exactly while that greenlet runs,
// however control reaches it: a switch, a return to a suspended switch, a
// finish into a parent (started in place or not), an exception.

#include <any>
#include <stdexcept>
#include <vector>

#include <catch2/catch.hpp>

#include <tendril/fiber/detail/state_access.hpp>
#include <tendril/fiber/greenlet.hpp>

#include "support/fiber_leak_check.hpp"

using tendril::greenlet;
using tendril::detail::current_greenlet_state;
using tendril::detail::current_greenlet_tag;
using tendril::detail::set_greenlet_tag;

namespace {

// Tags the calling greenlet for a scope.
struct scoped_tag {
  explicit scoped_tag(const void* tag) { set_greenlet_tag(current_greenlet_state(), tag); }
  ~scoped_tag() { set_greenlet_tag(current_greenlet_state(), nullptr); }
  scoped_tag(const scoped_tag&) = delete;
  scoped_tag& operator=(const scoped_tag&) = delete;
};

}  // namespace

TEST_CASE("a greenlet's tag is the running tag exactly while it runs") {
  tendril::testing::fiber_leak_check leaks;
  int main_tag = 0, a_tag = 0, b_tag = 0;
  scoped_tag on_main(&main_tag);
  CHECK(current_greenlet_tag() == &main_tag);

  greenlet main = greenlet::current();
  std::vector<const void*> seen_in_a, seen_in_b;
  // b is a's parent and unstarted when a finishes, so a's stack goes on to it.
  greenlet b([&](std::any) {
    seen_in_b.push_back(current_greenlet_tag());  // untagged yet
    set_greenlet_tag(current_greenlet_state(), &b_tag);
    seen_in_b.push_back(current_greenlet_tag());
  });
  greenlet a(
      [&] {
        set_greenlet_tag(current_greenlet_state(), &a_tag);
        seen_in_a.push_back(current_greenlet_tag());
        main.switch_to();
        seen_in_a.push_back(current_greenlet_tag());  // resumed by a switch
      },
      b);

  a.switch_to();
  CHECK(current_greenlet_tag() == &main_tag);  // back by a's switch
  a.switch_to();                               // a finishes into b, b into main
  CHECK(current_greenlet_tag() == &main_tag);
  CHECK(seen_in_a == std::vector<const void*>{&a_tag, &a_tag});
  CHECK(seen_in_b == std::vector<const void*>{nullptr, &b_tag});

  greenlet thrower([&] {
    set_greenlet_tag(current_greenlet_state(), &a_tag);
    throw std::runtime_error("out");
  });
  CHECK_THROWS_AS(thrower.switch_to(), std::runtime_error);
  CHECK(current_greenlet_tag() == &main_tag);  // the exception reached main
}

TEST_CASE("tagging the running greenlet changes the running tag at once, tagging another does not") {
  tendril::testing::fiber_leak_check leaks;
  int main_tag = 0, other_tag = 0;
  CHECK(current_greenlet_tag() == nullptr);
  {
    scoped_tag on_main(&main_tag);
    CHECK(current_greenlet_tag() == &main_tag);
    greenlet other([] { return current_greenlet_tag(); });
    set_greenlet_tag(other.state(), &other_tag);
    CHECK(current_greenlet_tag() == &main_tag);
    CHECK(other.switch_to<const void*>() == &other_tag);
  }
  CHECK(current_greenlet_tag() == nullptr);
}
