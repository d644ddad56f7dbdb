// How a patched call waits: the cooperative park, the emulated block, and
// the one place where a wait's exceptions become errno values.
//
// Invariants:
// - Nothing thrown while a fiber waits leaves a patched call: C frames sit
//   between the interposer and the fiber's C++ code, and unwinding through
//   them would skip their cleanup (or abort, for frames without unwind
//   tables). A kill or a timeout becomes ECANCELED and stays pending on the
//   fiber (hub's defer_interrupt), to be raised at its next tendril park.
// - errno is untouched here except where a status is turned into one.

#include "waiting.hpp"

#include <poll.h>

#include <cerrno>
#include <chrono>
#include <new>
#include <system_error>

#include <tendril/error.hpp>
#include <tendril/io/wait.hpp>

#include "originals.hpp"

namespace tendril::patch_detail {

constinit std::atomic<bool> patching_on{false};
constinit thread_local int unpatched_depth __attribute__((tls_model("initial-exec"))) = 0;

bool cancelled() noexcept {
  try {
    return detail::interrupt_pending();
  } catch (const std::bad_alloc&) {
    return false;  // a plain greenlet's first park would fail the same way: let it try
  }
}

int status_errno(wait_status s, int timed_out) noexcept {
  switch (s) {
    case wait_status::ready:
      return 0;
    case wait_status::timed_out:
      return timed_out;
    case wait_status::closed:
      return EBADF;
    case wait_status::cancelled:
      return ECANCELED;
    case wait_status::interrupted:
      return EINTR;
    case wait_status::no_memory:
      return ENOMEM;
  }
  return EIO;
}

clock::time_point deadline_in(std::int64_t ns) noexcept {
  if (ns <= 0) return no_deadline;
  return deadline_after(std::chrono::nanoseconds(ns));
}

wait_status wait_status_of_current_exception() noexcept {
  try {
    throw;
  } catch (const std::bad_alloc&) {
    return wait_status::no_memory;
  } catch (const system_error& e) {
    // tendril::close() woke the wait: the fd is gone.
    if (e.code() == std::errc::bad_file_descriptor) return wait_status::closed;
    detail::defer_interrupt(std::current_exception());
    return wait_status::cancelled;
  } catch (...) {
    // A kill, an expired timeout scope, or an error a waker delivered: kept
    // pending on the fiber, raised at its next park (not swallowed).
    detail::defer_interrupt(std::current_exception());
    return wait_status::cancelled;
  }
}

wait_status park_on_fd(int fd, bool write, clock::time_point deadline) noexcept {
  int saved_errno = errno;
  wait_status s = guarded([&] { return write ? wait_writable(fd, deadline) : wait_readable(fd, deadline); });
  errno = saved_errno;
  return s;
}

wait_status block_on_fd(int fd, bool write, clock::time_point deadline) noexcept {
  int saved_errno = errno;
  pollfd p{fd, static_cast<short>(write ? POLLOUT : POLLIN), 0};
  for (;;) {
    int ms = -1;
    if (deadline != no_deadline) {
      auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - clock::now());
      if (left.count() <= 0) return wait_status::timed_out;
      ms = left.count() > 1000000000 ? 1000000000 : static_cast<int>(left.count());
    }
    int n = real::poll(&p, nfds_t{1}, ms);
    if (n > 0) {
      errno = saved_errno;
      return wait_status::ready;
    }
    // A signal: a blocking call without SA_RESTART would report it too.
    if (n < 0 && errno == EINTR) return wait_status::interrupted;
    if (n < 0) return wait_status::no_memory;
  }
}

}  // namespace tendril::patch_detail
