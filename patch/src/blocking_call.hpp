#pragma once
// blocking_call(): the shape of every patched call on one fd that can
// block (read, write, recv*, send*, accept, sendfile).
//
//   try the real call ─ EAGAIN ─> wait (park the fiber, or for a caller
//   that may not park, block in the real poll) ─> try again
//
// A blocking write or a MSG_WAITALL receive moves everything before it
// returns, as the kernel's blocking call would; a timeout, a close or a
// cancellation after some bytes moved returns their count, as the kernel
// does after a signal. errno is the entry value on success.

#include <poll.h>

#include <cerrno>
#include <cstddef>

#include "fd_state.hpp"
#include "originals.hpp"
#include "waiting.hpp"

namespace tendril::patch_detail {

/// A direction and how much a call must move before it returns.
struct call_shape {
  bool write = false;     ///< waits for writable rather than readable
  bool all = false;       ///< keep going until `total` bytes moved
  std::size_t total = 0;  ///< bytes asked for (with `all`)
};

namespace call_detail {

// A terminal: never made non-blocking (a shell shares it), so wait for it
// first, then make the blocking call.
template <class Op>
ssize_t tty_call(int fd, bool write, Op& op) noexcept {
  int saved_errno = errno;
  pollfd p{fd, static_cast<short>(write ? POLLOUT : POLLIN), 0};
  if (real::poll(&p, nfds_t{1}, 0) == 0) {
    wait_status s = park_on_fd(fd, write, no_deadline);
    if (s != wait_status::ready) {
      errno = status_errno(s);
      return -1;
    }
  }
  errno = saved_errno;
  return op(std::size_t{0});
}

// The retry loop; `park` chooses between parking and the real poll.
template <class Op>
ssize_t drive(int fd, const call_shape& shape, fd_info info, bool park, Op& op) noexcept {
  int saved_errno = errno;
  std::size_t done = 0;
  bool prepared = false;
  clock::time_point deadline = no_deadline;
  for (;;) {
    ssize_t r = op(done);
    if (r >= 0) {
      if (!shape.all) {
        errno = saved_errno;
        return r;
      }
      done += static_cast<std::size_t>(r);
      if (r == 0 || done >= shape.total) {
        errno = saved_errno;
        return static_cast<ssize_t>(done);
      }
      continue;
    }
    if (errno != EAGAIN) {
      if (done == 0) return -1;
      errno = saved_errno;
      return static_cast<ssize_t>(done);
    }
    if (!prepared) {
      prepared = true;
      if (!prepare_wait(fd, info)) {
        // Not the fd patch knew (closed and reused behind its back): its
        // new owner may well have asked for O_NONBLOCK.
        info = learn_fd_state(fd);
        if (!info.cooperative() || !info.patch_nonblock) {
          if (done == 0) return -1;  // errno: EAGAIN, as for the user's non-blocking fd
          errno = saved_errno;
          return static_cast<ssize_t>(done);
        }
      }
      deadline = deadline_in(shape.write ? info.send_timeout : info.recv_timeout);
    }
    wait_status s = park ? park_on_fd(fd, shape.write, deadline) : block_on_fd(fd, shape.write, deadline);
    if (s != wait_status::ready) {
      if (done > 0) {
        errno = saved_errno;
        return static_cast<ssize_t>(done);
      }
      errno = status_errno(s);
      return -1;
    }
  }
}

}  // namespace call_detail

/// blocking_call(fd, shape, op): op(done) makes the real call for what is
/// left after `done` bytes (done is 0 unless shape.all) and returns its result.
template <class Op>
ssize_t blocking_call(int fd, const call_shape& shape, Op&& op) noexcept {
  if (!patching()) return op(std::size_t{0});
  if (!cooperative()) {
    fd_info info = fd_state_of(fd);
    if (!info.patch_nonblock || info.user_nonblock) return op(std::size_t{0});
    return call_detail::drive(fd, shape, info, /*park=*/false, op);
  }
  if (cancelled()) {
    errno = ECANCELED;
    return -1;
  }
  fd_info info = learn_fd_state(fd);
  if (!info.cooperative() || !make_cooperative(fd, info)) return op(std::size_t{0});
  if (info.kind == fd_kind::tty) return call_detail::tty_call(fd, shape.write, op);
  return call_detail::drive(fd, shape, info, /*park=*/true, op);
}

}  // namespace tendril::patch_detail
