// The blocking monitor: a fiber (or the hub itself) that holds its thread
// past the threshold is reported once, by name, with its call stack; the
// threshold and the handler are settings.

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include <tendril/error.hpp>
#include <tendril/hub/hub.hpp>
#include <tendril/hub/monitor.hpp>
#include <tendril/hub/run.hpp>
#include <tendril/hub/runtime.hpp>
#include <tendril/hub/sleep.hpp>
#include <tendril/hub/task.hpp>

#include "support/hub_fixture.hpp"

namespace {

using namespace std::chrono_literals;
using tendril::blocking_report;
using tendril::spawn_options;

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// Collects reports; held() spins its thread until the first one arrives.
class report_log {
 public:
  report_log() {
    previous_ = tendril::set_blocking_handler([this](const blocking_report& r) {
      std::lock_guard lock(mutex_);
      reports_.push_back(r);
      arrived_ = true;
    });
  }
  ~report_log() { tendril::set_blocking_handler(previous_); }
  report_log(const report_log&) = delete;
  report_log& operator=(const report_log&) = delete;

  bool arrived() const { return arrived_.load(); }
  std::vector<blocking_report> reports() const {
    std::lock_guard lock(mutex_);
    return reports_;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<blocking_report> reports_;
  std::atomic<bool> arrived_{false};
  tendril::blocking_handler previous_;
};

// Blocks the calling thread (a sleep tendril does not see) until the
// monitor has reported; the frame the report's call stack must show.
[[gnu::noinline]] void hold_the_thread_until(const report_log& log) {
  auto give_up = std::chrono::steady_clock::now() + 60s;
  while (!log.arrived() && std::chrono::steady_clock::now() < give_up) std::this_thread::sleep_for(1ms);
  asm volatile("");
}

struct threshold_scope {
  std::chrono::milliseconds saved = tendril::blocking_threshold();
  explicit threshold_scope(std::chrono::milliseconds t) { tendril::set_blocking_threshold(t); }
  ~threshold_scope() { tendril::set_blocking_threshold(saved); }
};

}  // namespace

TEST_CASE("a task that holds its hub past the threshold is reported with its call stack") {
  threshold_scope threshold(50ms);
  report_log log;
  tendril::runtime rt(1);
  auto hog = tendril::spawn_on(rt.hub(0), spawn_options{.name = "hog"}, [&] { hold_the_thread_until(log); });
  hog.join();
  rt.join();

  std::vector<blocking_report> reports = log.reports();
  REQUIRE(reports.size() >= 1);
  const blocking_report& r = reports.front();
  INFO(r.to_string());
  CHECK(r.hub == rt.hub(0));
  CHECK(r.fiber == hog.describe());
  CHECK(r.held >= 50ms);
  CHECK(contains(r.where.to_string(), "hold_the_thread_until"));
  CHECK(contains(r.to_string(), hog.describe() + " has held " + rt.hub(0).describe() + " for "));
  CHECK(reports.size() == 1);  // one stall, one report
}

TEST_CASE("a posted function that holds the hub is reported as the hub itself") {
  threshold_scope threshold(50ms);
  report_log log;
  tendril::runtime rt(1);
  // Something must wait for the hub for it to count as held: a parked task.
  auto sleeper = tendril::spawn_on(rt.hub(0), [] { tendril::sleep(1h); });
  std::atomic<bool> done{false};
  rt.hub(0).post([&] {
    hold_the_thread_until(log);
    done = true;
  });
  while (!done.load()) std::this_thread::yield();
  sleeper.kill();
  rt.join();

  std::vector<blocking_report> reports = log.reports();
  REQUIRE(reports.size() >= 1);
  INFO(reports.front().to_string());
  CHECK(contains(reports.front().fiber, "the hub itself"));
  CHECK(contains(reports.front().where.to_string(), "hold_the_thread_until"));
}

TEST_CASE("the blocking threshold is a setting and rejects negative values") {
  threshold_scope threshold(250ms);
  CHECK(tendril::blocking_threshold() == 250ms);
  tendril::set_blocking_threshold(0ms);
  CHECK(tendril::blocking_threshold() == 0ms);
  CHECK_THROWS_AS(tendril::set_blocking_threshold(-1ms), tendril::error);
}

TEST_CASE("without a handler a report goes to stderr") {
  blocking_report r;
  r.hub = tendril::hub_ref::current();
  r.fiber = "task 7 \"crunch\"";
  r.held = 120ms;
  std::string text = r.to_string();
  CHECK(text == "tendril: task 7 \"crunch\" has held " + r.hub.describe() +
                    " for 120 ms without yielding (its thread did not answer the monitor's signal)\n");
}
