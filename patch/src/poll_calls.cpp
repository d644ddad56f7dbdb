// The multiplexing calls: poll, ppoll, select, pselect, epoll_wait,
// epoll_pwait and the fortified poll forms.
//
// A cooperative call with a non-zero timeout parks on the hub's watchers
// for the fds (for epoll, on the epoll fd itself) until one is ready or the
// timeout passes, and makes the real call with a zero timeout for the
// exact result. poll and ppoll park before they look (see wait_then_check);
// select, pselect and epoll look first. A zero timeout never parks.
//
// Signal masks (ppoll, pselect, epoll_pwait): the mask is applied only
// during the zero-timeout calls. A signal that the mask unblocks and that
// the thread's own mask blocks stays pending while the fiber is parked,
// and the call returns EINTR at its next check; a signal that the thread's
// mask lets through runs its handler on the hub meanwhile and does not end
// the wait.

#include <poll.h>
#include <sys/epoll.h>
#include <sys/select.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <utility>

#include <tendril/hub/detail/event_loop.hpp>

#include "multi_wait.hpp"
#include "originals.hpp"
#include "waiting.hpp"

namespace tendril::patch_detail {
namespace {

constexpr short poll_readable = POLLIN | POLLPRI | POLLRDNORM | POLLRDBAND | POLLRDHUP;
constexpr short poll_writable = POLLOUT | POLLWRNORM | POLLWRBAND;

bool valid(const timespec& t) noexcept { return t.tv_sec >= 0 && t.tv_nsec >= 0 && t.tv_nsec < 1000000000; }
bool is_zero(const timespec& t) noexcept { return t.tv_sec == 0 && t.tv_nsec == 0; }

clock::time_point deadline_of(const timespec& t) noexcept {
  constexpr std::int64_t max_seconds = std::int64_t{100} * 365 * 24 * 3600;  // "forever" enough
  if (t.tv_sec > max_seconds) return no_deadline;
  return deadline_after(std::chrono::seconds(t.tv_sec) + std::chrono::nanoseconds(t.tv_nsec));
}

// Waits until `check` (the zero-timeout real call) reports something or
// `deadline` passes; `interests` says what to wait for in between. With
// `wait_first` it parks before the first check: a library polls after a
// read said EAGAIN, so that check would nearly always find nothing (one
// system call in six of a libpq query), and an fd already ready wakes the
// fiber at the hub's next poll. Only when every fd asks for events a
// watcher reports: a hang-up asked for alone would never wake it.
template <class Check>
int wait_then_check(const interest_list& interests, clock::time_point deadline, Check&& check,
                    bool wait_first = false) noexcept {
  int saved_errno = errno;
  for (;;) {
    if (std::exchange(wait_first, false)) {
      wait_status s = wait_for_any(interests.data(), interests.size(), deadline);
      if (s != wait_status::ready && s != wait_status::timed_out) {
        errno = status_errno(s);
        return -1;
      }
    }
    int r = check();
    if (r < 0) return r;
    if (r > 0 || clock::now() >= deadline) {
      errno = saved_errno;
      return r;
    }
    wait_status s = wait_for_any(interests.data(), interests.size(), deadline);
    if (s != wait_status::ready && s != wait_status::timed_out) {
      errno = status_errno(s);
      return -1;
    }
  }
}

int cooperative_poll(pollfd* fds, nfds_t n, clock::time_point deadline, const sigset_t* mask) noexcept {
  interest_list interests;
  if (!interests.reserve(n)) {
    errno = ENOMEM;
    return -1;
  }
  bool watchable = true;  // every fd asks for something a watcher sees
  for (nfds_t i = 0; i < n; ++i) {
    int events = ((fds[i].events & poll_readable) != 0 ? detail::fd_readable : 0) |
                 ((fds[i].events & poll_writable) != 0 ? detail::fd_writable : 0);
    // A negative fd is ignored by poll; an fd asked only for errors and
    // hang-ups has nothing libev can watch for: the others' wake-ups or the
    // timeout recheck it.
    if (fds[i].fd >= 0 && events != 0) interests.add(fds[i].fd, events);
    if (fds[i].fd >= 0 && events == 0) watchable = false;
  }
  const timespec zero{0, 0};
  return wait_then_check(
      interests, deadline, [&] { return real::ppoll(fds, n, &zero, mask); },
      watchable && interests.size() > 0);
}

struct fd_sets {
  fd_set read, write, except;
};

int cooperative_select(int n, fd_set* r, fd_set* w, fd_set* e, clock::time_point deadline,
                       const sigset_t* mask, timeval* left) noexcept {
  fd_sets asked{};
  if (r != nullptr) asked.read = *r;
  if (w != nullptr) asked.write = *w;
  if (e != nullptr) asked.except = *e;
  interest_list interests;
  if (!interests.reserve(static_cast<std::size_t>(n))) {
    errno = ENOMEM;
    return -1;
  }
  for (int fd = 0; fd < n; ++fd) {
    // Exceptional conditions (out-of-band data) are waited for as readable.
    int events = ((r != nullptr && FD_ISSET(fd, &asked.read)) || (e != nullptr && FD_ISSET(fd, &asked.except))
                      ? detail::fd_readable
                      : 0) |
                 (w != nullptr && FD_ISSET(fd, &asked.write) ? detail::fd_writable : 0);
    if (events != 0) interests.add(fd, events);
  }
  int result = wait_then_check(interests, deadline, [&] {
    // Each try starts from the sets the caller passed in.
    if (r != nullptr) *r = asked.read;
    if (w != nullptr) *w = asked.write;
    if (e != nullptr) *e = asked.except;
    const timespec zero{0, 0};
    return real::pselect(n, r, w, e, &zero, mask);
  });
  if (left != nullptr && result >= 0) {
    // Linux's select reports the time it did not sleep.
    auto rest = std::chrono::duration_cast<std::chrono::microseconds>(deadline - clock::now());
    if (rest.count() < 0 || deadline == no_deadline) rest = std::chrono::microseconds(0);
    left->tv_sec = static_cast<time_t>(rest.count() / 1000000);
    left->tv_usec = static_cast<suseconds_t>(rest.count() % 1000000);
  }
  return result;
}

int cooperative_epoll(int epfd, epoll_event* events, int max, clock::time_point deadline,
                      const sigset_t* mask) noexcept {
  int saved_errno = errno;
  for (;;) {
    int r = real::epoll_pwait(epfd, events, max, 0, mask);
    if (r < 0) return r;
    if (r > 0 || clock::now() >= deadline) {
      errno = saved_errno;
      return r;
    }
    wait_status s = park_on_fd(epfd, false, deadline);
    if (s != wait_status::ready && s != wait_status::timed_out) {
      errno = status_errno(s);
      return -1;
    }
  }
}

int fail_cancelled() noexcept {
  errno = ECANCELED;
  return -1;
}

}  // namespace
}  // namespace tendril::patch_detail

using namespace tendril::patch_detail;

extern "C" {

int poll(pollfd* fds, nfds_t n, int timeout) {
  if (timeout == 0 || !cooperative()) return real::poll(fds, n, timeout);
  if (cancelled()) return fail_cancelled();
  tendril::clock::time_point deadline =
      timeout < 0 ? tendril::no_deadline : tendril::deadline_after(std::chrono::milliseconds(timeout));
  return cooperative_poll(fds, n, deadline, nullptr);
}

int ppoll(pollfd* fds, nfds_t n, const timespec* timeout, const sigset_t* mask) {
  if ((timeout != nullptr && (is_zero(*timeout) || !valid(*timeout))) || !cooperative())
    return real::ppoll(fds, n, timeout, mask);
  if (cancelled()) return fail_cancelled();
  return cooperative_poll(fds, n, timeout != nullptr ? deadline_of(*timeout) : tendril::no_deadline, mask);
}

int select(int n, fd_set* __restrict r, fd_set* __restrict w, fd_set* __restrict e,
           timeval* __restrict timeout) {
  bool zero = timeout != nullptr && timeout->tv_sec == 0 && timeout->tv_usec == 0;
  bool invalid = timeout != nullptr && (timeout->tv_sec < 0 || timeout->tv_usec < 0);
  // Beyond FD_SETSIZE the caller's sets are larger than fd_set: libc's call.
  if (zero || invalid || n < 0 || n > FD_SETSIZE || !cooperative()) return real::select(n, r, w, e, timeout);
  if (cancelled()) return fail_cancelled();
  tendril::clock::time_point deadline = tendril::no_deadline;
  if (timeout != nullptr) {
    // Linux accepts tv_usec beyond a second: it is simply added.
    timespec t{timeout->tv_sec + timeout->tv_usec / 1000000, (timeout->tv_usec % 1000000) * 1000};
    deadline = deadline_of(t);
  }
  return cooperative_select(n, r, w, e, deadline, nullptr, timeout);
}

int pselect(int n, fd_set* __restrict r, fd_set* __restrict w, fd_set* __restrict e,
            const timespec* __restrict timeout, const sigset_t* __restrict mask) {
  if ((timeout != nullptr && (is_zero(*timeout) || !valid(*timeout))) || n < 0 || n > FD_SETSIZE ||
      !cooperative())
    return real::pselect(n, r, w, e, timeout, mask);
  if (cancelled()) return fail_cancelled();
  return cooperative_select(n, r, w, e, timeout != nullptr ? deadline_of(*timeout) : tendril::no_deadline,
                            mask, nullptr);
}

int epoll_wait(int epfd, epoll_event* events, int max, int timeout) {
  if (timeout == 0 || !cooperative()) return real::epoll_wait(epfd, events, max, timeout);
  if (cancelled()) return fail_cancelled();
  tendril::clock::time_point deadline =
      timeout < 0 ? tendril::no_deadline : tendril::deadline_after(std::chrono::milliseconds(timeout));
  return cooperative_epoll(epfd, events, max, deadline, nullptr);
}

int epoll_pwait(int epfd, epoll_event* events, int max, int timeout, const sigset_t* mask) {
  if (timeout == 0 || !cooperative()) return real::epoll_pwait(epfd, events, max, timeout, mask);
  if (cancelled()) return fail_cancelled();
  tendril::clock::time_point deadline =
      timeout < 0 ? tendril::no_deadline : tendril::deadline_after(std::chrono::milliseconds(timeout));
  return cooperative_epoll(epfd, events, max, deadline, mask);
}

// The fortified forms check the array as libc would, letting libc's own
// form report an overflow (it aborts the program).
int __poll_chk(pollfd* fds, nfds_t n, int timeout, size_t fdslen) {
  if (fdslen / sizeof(*fds) < n) return real::__poll_chk(fds, n, timeout, fdslen);
  return poll(fds, n, timeout);
}

int __ppoll_chk(pollfd* fds, nfds_t n, const timespec* timeout, const sigset_t* mask, size_t fdslen) {
  if (fdslen / sizeof(*fds) < n) return real::__ppoll_chk(fds, n, timeout, mask, fdslen);
  return ppoll(fds, n, timeout, mask);
}

}  // extern "C"
