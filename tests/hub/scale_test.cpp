// Stacks at scale, the issue's requirement: "Parking 1,000,000 tasks on one
// event, releasing them and joining them all works on a stock kernel"
// (vm.max_map_count 65530, so most of those stacks must be compact ones).
// There is no event type yet (sync/ comes later): the event here is a
// vector of wakers, each task publishing its own before it parks.

#include <cstddef>
#include <vector>

#include <catch2/catch.hpp>

#include <tendril/fiber/stack.hpp>
#include <tendril/hub/hub.hpp>
#include <tendril/hub/join.hpp>
#include <tendril/hub/park.hpp>
#include <tendril/hub/sleep.hpp>
#include <tendril/hub/task.hpp>

#include "support/hub_fixture.hpp"

namespace {

using tendril::testing::hub_check;

#if defined(__SANITIZE_THREAD__)
// ThreadSanitizer tracks every greenlet as a fiber and dies past 8128
// threads and fibers together.
constexpr std::size_t task_count = 4'000;
#elif defined(__SANITIZE_ADDRESS__)
// AddressSanitizer maps shadow memory for every stack and keeps freed
// memory in quarantine: a million stacks would need tens of GiB.
constexpr std::size_t task_count = 20'000;
#else
constexpr std::size_t task_count = 1'000'000;
#endif

}  // namespace

TEST_CASE("parking 1,000,000 tasks on one event, releasing them and joining them all works") {
  hub_check hub;
  std::vector<tendril::waker> event;
  event.reserve(task_count);
  std::vector<tendril::task<void>> tasks;
  tasks.reserve(task_count);
  std::size_t resumed = 0;
  for (std::size_t i = 0; i < task_count; ++i)
    tasks.push_back(tendril::spawn([&event, &resumed] {
      event.push_back(tendril::waker::current());
      if (tendril::park({"scale test event"})) ++resumed;
    }));

  tendril::yield();  // every task starts, publishes its waker and parks before the main greenlet runs again
  REQUIRE(event.size() == task_count);
  const tendril::hub_stats parked = tendril::this_hub_stats();
  CHECK(parked.tasks == task_count);
  CHECK(parked.parked == task_count);
  CHECK(tendril::current_stack_stats().in_use >= task_count);

  std::size_t woken = 0;
  for (const tendril::waker& w : event) woken += w.wake() ? 1 : 0;
  CHECK(woken == task_count);
  CHECK(tendril::joinall(tasks));
  CHECK(resumed == task_count);
  std::size_t successful = 0;
  for (const auto& t : tasks) successful += t.successful() ? 1 : 0;
  CHECK(successful == task_count);

  tasks.clear();
  tendril::trim_stack_pool();
}
