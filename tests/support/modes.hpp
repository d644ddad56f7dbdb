#pragma once
// Scheduling modes as parameters of one test (STYLE.md: one hub; M:N with 1,
// 2 and 4 threads; "parameters of the same test, not copies of it"):
//
//   TEST_CASE("get returns the value of a task on another hub") {
//     tendril::testing::mode m = tendril::testing::every_mode();  // the case runs once per mode
//     m.run([&] {
//       auto t = m.spawn_on(1, [] { return 42; });  // on hub 1 % m.size()
//       CHECK(t.get() == 42);
//     });
//   }
//
// - one hub: every index names the test thread's own hub, and run() is
//   tendril::run(body) under a hub_check, so leftovers fail the test as in
//   the other hub tests.
// - M:N: a tendril::runtime with 1, 2 or 4 threads; index i names its hub
//   i % threads. run() runs the body as a task on hub 0 and waits for it,
//   then runtime::join() waits for every task left on every hub, and every
//   hub's thread must have exited.
//
// In both the body runs on m.hub(0) inside a timeout scope (a lost wake-up
// fails the test instead of hanging it), and a failure that nobody observed
// fails the test.
//
// Catch2 assertions are not thread-safe. Assert in the body's own fiber
// (the test thread waits meanwhile, so one thread asserts at a time) or on
// the test thread after run(); tasks on other hubs return or record what
// they see for the body to check.

#include <chrono>
#include <cstddef>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include <tendril/error.hpp>
#include <tendril/hub/hub.hpp>
#include <tendril/hub/run.hpp>
#include <tendril/hub/runtime.hpp>
#include <tendril/hub/task.hpp>
#include <tendril/hub/timeout.hpp>

#include "support/hub_fixture.hpp"

namespace tendril::testing {

/// failure_log collects, from any thread, the failures a runtime's error
/// handler received.
class failure_log {
 public:
  void add(const tendril::task_base& t, std::exception_ptr e) {
    std::lock_guard guard(lock_);
    failures_.push_back(t.describe() + ": " + what_of(e));
  }
  std::vector<std::string> take() {
    std::lock_guard guard(lock_);
    return std::exchange(failures_, {});
  }

 private:
  std::mutex lock_;
  std::vector<std::string> failures_;
};

/// mode is where a test's fibers run: one hub, or a runtime's hubs.
class mode {
 public:
  /// mode(threads): 0 is one hub, the test thread's; n > 0 is a runtime
  /// with n threads (so n hubs).
  explicit mode(std::size_t threads) : threads_(threads) {
    if (threads_ == 0) {
      one_hub_ = tendril::hub_ref::current();
      return;
    }
    tendril::runtime::options options;
    options.threads = threads_;
    options.name = "mode";
    options.error_handler = [log = &failures_](const tendril::task_base& t, std::exception_ptr e) {
      log->add(t, e);
    };
    runtime_ = std::make_unique<tendril::runtime>(std::move(options));
  }
  mode(const mode&) = delete;
  mode& operator=(const mode&) = delete;

  /// name() is "one hub" or "M:N with <n> threads".
  std::string name() const {
    return threads_ == 0 ? "one hub" : "M:N with " + std::to_string(threads_) + " threads";
  }
  /// size() is the number of distinct hubs (1 for one hub).
  std::size_t size() const noexcept { return threads_ == 0 ? 1 : threads_; }
  /// hub(i) is hub i % size().
  tendril::hub_ref hub(std::size_t i) const { return runtime_ ? runtime_->hub(i % size()) : one_hub_; }
  /// runtime() is the runtime, or null for one hub.
  tendril::runtime* runtime() const noexcept { return runtime_.get(); }

  /// spawn_on(i, f, args...) is tendril::spawn_on(hub(i), f, args...).
  template <class F, class... Args>
    requires tendril::detail::spawnable<F, Args...>
  auto spawn_on(std::size_t i, F&& f, Args&&... args) {
    return tendril::spawn_on(hub(i), std::forward<F>(f), std::forward<Args>(args)...);
  }
  template <class F, class... Args>
  auto spawn_on(std::size_t i, tendril::spawn_options options, F&& f, Args&&... args) {
    return tendril::spawn_on(hub(i), std::move(options), std::forward<F>(f), std::forward<Args>(args)...);
  }
  /// spawn(f) lets the mode place the task: runtime::spawn, or tendril::spawn.
  template <class F>
  auto spawn(F&& f) {
    return runtime_ ? runtime_->spawn(std::forward<F>(f)) : tendril::spawn(std::forward<F>(f));
  }

  /// run(body, limit) runs body() as a task on hub(0) and waits until it
  /// and every task on every hub have finished (see the file comment).
  /// After `limit` the body's parks raise, and the test fails.
  template <class F>
  void run(F&& body, tendril::clock::duration limit = std::chrono::seconds(60)) {
    INFO("mode: " << name());
    auto limited = [&body, limit] {
      tendril::timeout scope(limit);
      try {
        body();
      } catch (const tendril::timeout_error& e) {
        if (e.source() != &scope) throw;
        throw tendril::error("the test body was still waiting when its time limit passed");
      }
    };
    if (!runtime_) {
      hub_check check;
      tendril::run(limited);
      return;
    }
    auto main = tendril::spawn_on(runtime_->hub(0), tendril::spawn_options{"main"}, limited);
    try {
      main.get();
    } catch (...) {
      runtime_->stop(std::chrono::seconds(0));
      throw;
    }
    runtime_->join();
    for (std::size_t i = 0; i < size(); ++i) CHECK_FALSE(hub(i).alive());
    for (const std::string& failure : failures_.take()) FAIL_CHECK(failure << " and nobody observed it");
  }

 private:
  std::size_t threads_;
  tendril::hub_ref one_hub_;
  failure_log failures_;
  std::unique_ptr<tendril::runtime> runtime_;  // after failures_: its handler writes there
};

/// every_mode() is a Catch2 generator: the test case runs once in each of
/// one hub, M:N with 1, 2 and 4 threads. Call it once per test case.
inline mode every_mode() { return mode(GENERATE(as<std::size_t>{}, 0, 1, 2, 4)); }

/// runtime_threads() is a Catch2 generator of the thread counts 1, 2 and 4,
/// for tests of the runtime itself. Call it once per test case.
inline std::size_t runtime_threads() { return GENERATE(as<std::size_t>{}, 1, 2, 4); }

}  // namespace tendril::testing
