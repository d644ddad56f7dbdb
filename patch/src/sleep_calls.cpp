// sleep, usleep, nanosleep, clock_nanosleep: on a fiber, tendril::sleep_until.
//
// POSIX's rules where they mean something here: an invalid request is
// libc's (EINVAL, EFAULT); an interrupted sleep reports the time left
// (nanosleep's rem, sleep's return value). The interruption is a kill or an
// expired timeout scope, which gives ECANCELED rather than EINTR, so that a
// `while (nanosleep(&t, &t) == -1 && errno == EINTR)` loop ends.
// clock_nanosleep sleeps cooperatively on CLOCK_REALTIME, CLOCK_MONOTONIC
// and CLOCK_BOOTTIME; an absolute time is turned into a steady-clock
// deadline once, so a later change of the wall clock does not move it.
// CPU-time clocks are libc's.

#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>

#include <tendril/hub/sleep.hpp>

#include "originals.hpp"
#include "waiting.hpp"

namespace tendril::patch_detail {
namespace {

using nanoseconds = std::chrono::nanoseconds;

bool valid(const timespec* t) noexcept {
  return t != nullptr && t->tv_sec >= 0 && t->tv_nsec >= 0 && t->tv_nsec < 1000000000;
}

constexpr std::int64_t max_seconds = std::int64_t{100} * 365 * 24 * 3600;  // beyond: no deadline

clock::time_point deadline_after_timespec(const timespec& t) noexcept {
  if (t.tv_sec > max_seconds) return no_deadline;
  return deadline_after(std::chrono::seconds(t.tv_sec) + nanoseconds(t.tv_nsec));
}

timespec time_left(clock::time_point deadline) noexcept {
  if (deadline == no_deadline) return {static_cast<time_t>(max_seconds), 0};
  auto left = std::chrono::duration_cast<nanoseconds>(deadline - clock::now()).count();
  if (left < 0) left = 0;
  return {static_cast<time_t>(left / 1000000000), static_cast<long>(left % 1000000000)};
}

// Sleeps the calling fiber until `deadline`; errno is preserved.
wait_status sleep_fiber(clock::time_point deadline) noexcept {
  int saved_errno = errno;
  wait_status s = guarded([&] {
    sleep_until(deadline);
    return true;
  });
  errno = saved_errno;
  return s;
}

bool cooperative_clock(clockid_t id) noexcept {
  return id == CLOCK_REALTIME || id == CLOCK_MONOTONIC || id == CLOCK_BOOTTIME;
}

}  // namespace
}  // namespace tendril::patch_detail

using namespace tendril::patch_detail;

extern "C" {

int nanosleep(const timespec* request, timespec* remaining) {
  if (!cooperative() || !valid(request)) return real::nanosleep(request, remaining);
  tendril::clock::time_point deadline = deadline_after_timespec(*request);
  wait_status s = cancelled() ? wait_status::cancelled : sleep_fiber(deadline);
  if (s == wait_status::ready) return 0;
  if (remaining != nullptr) *remaining = time_left(deadline);
  errno = status_errno(s);
  return -1;
}

int clock_nanosleep(clockid_t id, int flags, const timespec* request, timespec* remaining) {
  if (!cooperative() || !cooperative_clock(id) || !valid(request))
    return real::clock_nanosleep(id, flags, request, remaining);
  tendril::clock::time_point deadline;
  if ((flags & TIMER_ABSTIME) != 0) {
    timespec now{};
    ::clock_gettime(id, &now);
    auto left =
        std::chrono::seconds(request->tv_sec - now.tv_sec) + nanoseconds(request->tv_nsec - now.tv_nsec);
    deadline = left.count() <= 0 ? tendril::clock::now() : tendril::deadline_after(left);
  } else {
    deadline = deadline_after_timespec(*request);
  }
  wait_status s = cancelled() ? wait_status::cancelled : sleep_fiber(deadline);
  if (s == wait_status::ready) return 0;
  // The time left is reported for a relative sleep only, as POSIX says.
  if (remaining != nullptr && (flags & TIMER_ABSTIME) == 0) *remaining = time_left(deadline);
  return status_errno(s);
}

unsigned sleep(unsigned seconds) {
  if (!cooperative()) return real::sleep(seconds);
  tendril::clock::time_point deadline = tendril::deadline_after(std::chrono::seconds(seconds));
  wait_status s = cancelled() ? wait_status::cancelled : sleep_fiber(deadline);
  if (s == wait_status::ready) return 0;
  timespec left = time_left(deadline);
  errno = status_errno(s);
  return static_cast<unsigned>(left.tv_sec) + (left.tv_nsec > 0 ? 1 : 0);
}

int usleep(useconds_t microseconds) {
  if (!cooperative()) return real::usleep(microseconds);
  tendril::clock::time_point deadline = tendril::deadline_after(std::chrono::microseconds(microseconds));
  wait_status s = cancelled() ? wait_status::cancelled : sleep_fiber(deadline);
  if (s == wait_status::ready) return 0;
  errno = status_errno(s);
  return -1;
}

}  // extern "C"
