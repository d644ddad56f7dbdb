// Misuse the hub reports with a clear error instead of a hang or a crash:
// blocking inside a hub callback, switching to a greenlet of another
// thread's hub, and using a hub after its thread has exited. (Joining
// oneself: task_test.cpp; releasing an unheld lock: sync's tests.)

#include <chrono>
#include <string>
#include <thread>

#include <catch2/catch.hpp>

#include <tendril/error.hpp>
#include <tendril/fiber/greenlet.hpp>
#include <tendril/hub/hub.hpp>
#include <tendril/hub/park.hpp>
#include <tendril/hub/runtime.hpp>
#include <tendril/hub/sleep.hpp>
#include <tendril/hub/task.hpp>

#include "support/hub_fixture.hpp"

namespace {

using namespace std::chrono_literals;
using tendril::testing::hub_check;

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("sleeping in a function posted to the hub throws an error naming the hub") {
  hub_check check;
  const tendril::hub_ref here = tendril::hub_ref::current();
  std::string message;
  bool ran = false;
  here.post([&] {
    ran = true;
    try {
      tendril::sleep(1ms);
    } catch (const tendril::error& e) {
      message = e.what();
    }
  });
  while (!ran) tendril::sleep(0ms);  // the hub runs its mail between two polls
  INFO(message);
  CHECK(contains(message, here.describe() + " cannot block"));
  CHECK(contains(message, "posted function"));
}

TEST_CASE("switching to a greenlet of another hub's thread throws naming both threads") {
  tendril::runtime rt(1);
  tendril::greenlet there = tendril::run_on(rt.hub(0), [] { return tendril::greenlet::current(); });
  std::string message;
  try {
    there.switch_to();
  } catch (const tendril::error& e) {
    message = e.what();
  }
  rt.join();
  INFO(message);
  CHECK(contains(message, there.describe()));
  CHECK(contains(message, "belongs to the thread that created it"));
}

TEST_CASE("a hub whose thread has exited refuses work with an error naming it") {
  tendril::hub_ref gone;
  std::thread([&] {
    tendril::yield();  // gives the thread its hub
    gone = tendril::hub_ref::current();
  }).join();
  CHECK_FALSE(gone.alive());
  std::string message;
  try {
    gone.post([] {});
  } catch (const tendril::error& e) {
    message = e.what();
  }
  CHECK(contains(message, gone.describe()));
  CHECK(contains(message, "exited"));
  CHECK_THROWS_WITH(tendril::spawn_on(gone, [] {}), Catch::Contains(gone.describe()));
}
