#pragma once
// Helpers for sync tests that cross threads: a std::thread running a body as
// tendril::run's main task (its own hub), or a plain std::thread without a
// hub, each recording what escaped it instead of terminating the process.
// Bodies on a hub run inside a generous timeout scope, so a lost wake-up
// fails the test instead of hanging it.

#include <atomic>
#include <chrono>
#include <exception>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <tendril/hub/run.hpp>
#include <tendril/hub/task.hpp>
#include <tendril/hub/timeout.hpp>

#include "support/hub_fixture.hpp"

namespace tendril::testing {

/// thread_errors collects what escaped the bodies of test threads.
class thread_errors {
 public:
  void add(std::string what) {
    std::lock_guard guard(lock_);
    errors_.push_back(std::move(what));
  }
  std::vector<std::string> take() {
    std::lock_guard guard(lock_);
    return std::exchange(errors_, {});
  }

 private:
  std::mutex lock_;
  std::vector<std::string> errors_;
};

/// hub_thread(errors, f) is a std::thread running f() as the main task of
/// tendril::run on its own hub, inside a 60 s timeout scope.
template <class F>
std::thread hub_thread(thread_errors& errors, F f) {
  return std::thread([&errors, f = std::move(f)]() mutable {
    try {
      tendril::run([&] {
        tendril::timeout limit(std::chrono::seconds(60));
        f();
      });
    } catch (...) {
      errors.add("hub thread: " + what_of(std::current_exception()));
    }
  });
}

/// plain_thread(errors, f) is a std::thread without a hub running f().
template <class F>
std::thread plain_thread(thread_errors& errors, F f) {
  return std::thread([&errors, f = std::move(f)]() mutable {
    try {
      f();
    } catch (...) {
      errors.add("plain thread: " + what_of(std::current_exception()));
    }
  });
}

/// duel_with_hubs(errors, add, fibers_per_hub) runs add(on_hub) at once on
/// `fibers_per_hub` fibers of each of two hubs and on one plain thread (with
/// on_hub false), and returns how many of those calls returned false. For
/// the dueling tests of test__semaphore.py and test__lock.py: `add` bumps a
/// shared counter under the object being tested.
template <class Add>
int duel_with_hubs(thread_errors& errors, Add add, int fibers_per_hub) {
  std::atomic<int> failures{0};
  auto hub_body = [&] {
    std::vector<tendril::task<bool>> fibers;
    for (int i = 0; i < fibers_per_hub; ++i) fibers.push_back(tendril::spawn([&] { return add(true); }));
    for (auto& f : fibers)
      if (!f.get()) ++failures;
  };
  std::thread h1 = hub_thread(errors, hub_body);
  std::thread h2 = hub_thread(errors, hub_body);
  std::thread plain = plain_thread(errors, [&] {
    if (!add(false)) ++failures;
  });
  h1.join();
  h2.join();
  plain.join();
  return failures.load();
}

}  // namespace tendril::testing
