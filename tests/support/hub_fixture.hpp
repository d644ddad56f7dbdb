#pragma once
// hub_check: declare one at the top of every hub test. It brings the
// thread's hub into existence first (the hub's greenlet is started lazily
// and then stays active for the thread's life, so the baseline is taken
// after it), and stands in as the thread's task error handler, recording
// each failure nobody observed. When it goes out of scope it checks that the
// test left the hub clean: no task alive, no fiber parked or ready, no armed
// timer or watcher, no greenlet or stack leaked, and no unobserved failure
// that the test did not take with take_reported().
//
// Also here: gate, an event built on park/waker that tests use to release
// tasks in an order they choose, and stderr_capture.

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <iostream>
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include <tendril/fiber/greenlet.hpp>
#include <tendril/fiber/stack.hpp>
#include <tendril/hub/hub.hpp>
#include <tendril/hub/park.hpp>
#include <tendril/hub/sleep.hpp>
#include <tendril/hub/task.hpp>
#include <tendril/hub/timeout.hpp>

namespace tendril::testing {

/// unwind_flag sets a flag when destroyed: proves a fiber's stack was unwound.
struct unwind_flag {
  bool& flag;
  ~unwind_flag() { flag = true; }
};

/// what_of(e) is e's what(), for std::exception and tendril's interrupts;
/// "unknown exception" for anything else, "no exception" for null.
inline std::string what_of(std::exception_ptr e) {
  if (!e) return "no exception";
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    return x.what();
  } catch (const tendril::greenlet_exit& x) {
    return x.what();
  } catch (const tendril::timeout_error& x) {
    return x.what();
  } catch (...) {
    return "unknown exception";
  }
}

/// A failure handed to the task error handler.
struct reported_failure {
  std::uint64_t task_id = 0;
  std::string task_name;
  std::string what;
  std::exception_ptr error;
};

class hub_check {
 public:
  hub_check() {
    tendril::yield();  // creates the hub and starts its greenlet
    active_ = tendril::active_greenlet_count();
    stacks_ = tendril::current_stack_stats().in_use;
    previous_handler_ =
        tendril::set_task_error_handler([this](const tendril::task_base& t, std::exception_ptr e) {
          reported_.push_back({t.id(), t.name(), what_of(e), e});
        });
  }
  hub_check(const hub_check&) = delete;
  hub_check& operator=(const hub_check&) = delete;

  ~hub_check() {
    tendril::set_task_error_handler(std::move(previous_handler_));
    const tendril::hub_stats s = tendril::this_hub_stats();
    CHECK(s.tasks == 0);
    CHECK(s.parked == 0);
    CHECK(s.ready == 0);
    CHECK(s.watchers == 0);
    CHECK(tendril::active_greenlet_count() == active_);
    CHECK(tendril::current_stack_stats().in_use == stacks_);
    for (const reported_failure& f : reported_)
      FAIL_CHECK("task " << f.task_id << " \"" << f.task_name
                         << "\" failed and nobody observed it: " << f.what);
  }

  /// take_reported() is what reached the task error handler since the last
  /// call, in order; the failures it returns no longer fail the test.
  std::vector<reported_failure> take_reported() { return std::exchange(reported_, {}); }

 private:
  std::size_t active_ = 0;
  std::size_t stacks_ = 0;
  tendril::task_error_handler previous_handler_;
  std::vector<reported_failure> reported_;
};

/// gate is a one-shot event for tests: wait() parks until open(). Fibers
/// released together resume in the order they started waiting.
class gate {
 public:
  /// wait() parks the calling fiber until open() (at once if already open).
  /// Cancellation: a kill or an expired timeout scope raises here.
  void wait() {
    while (!open_) {
      waiters_.push_back(tendril::waker::current());
      tendril::park({"gate", this});
    }
  }
  /// open() wakes every waiting fiber, oldest first; later waits return at once.
  void open() {
    open_ = true;
    for (const tendril::waker& w : std::exchange(waiters_, {})) w.wake();
  }
  bool is_open() const noexcept { return open_; }
  /// waiting() is how many wakers wait() has published (some may be stale).
  std::size_t waiting() const noexcept { return waiters_.size(); }

 private:
  bool open_ = false;
  std::vector<tendril::waker> waiters_;
};

/// parked_until{g, unwound} is a task body that parks until `g` opens,
/// setting `unwound` when its stack unwinds (normally or by a kill).
struct parked_until {
  gate& g;
  bool& unwound;
  void operator()() const {
    unwind_flag f{unwound};
    g.wait();
  }
};

/// stderr_capture redirects file descriptor 2 to a temporary file until
/// finish(), so what the library prints there can be checked.
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

  /// peek() is what has been written so far (other threads may still write).
  std::string peek() const {
    std::string text;
    char buffer[4096];
    for (off_t at = 0;;) {
      ssize_t n = ::pread(::fileno(file_), buffer, sizeof buffer, at);
      if (n <= 0) return text;
      text.append(buffer, static_cast<std::size_t>(n));
      at += n;
    }
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

}  // namespace tendril::testing
