// The calls that make sockets or change how they block: socket,
// socketpair, accept, accept4, connect, setsockopt.
//
// A socket is recorded when it is made, with the user's O_NONBLOCK intent,
// and is made non-blocking only by the first cooperative call that needs
// it (so a socket handed to a child process before any fiber used it
// keeps its flags). connect() follows the kernel's blocking connect:
// EINPROGRESS, a wait for writable, then SO_ERROR; SO_SNDTIMEO bounds the
// wait and its expiry gives EINPROGRESS, as socket(7) says.

#include <sys/socket.h>

#include <cerrno>
#include <chrono>

#include <tendril/hub/sleep.hpp>

#include "blocking_call.hpp"
#include "fd_state.hpp"
#include "originals.hpp"
#include "waiting.hpp"

namespace tendril::patch_detail {
namespace {

fd_info new_socket(bool user_nonblock) noexcept {
  return {.kind = fd_kind::socket, .user_nonblock = user_nonblock, .timeouts_known = true};
}

// An accepted socket inherits the listener's SO_RCVTIMEO and SO_SNDTIMEO
// (Linux copies them), not its O_NONBLOCK.
void record_accepted(int listener, int fd, int flags) noexcept {
  fd_info from = fd_state_of(listener);
  fd_info info = new_socket((flags & SOCK_NONBLOCK) != 0);
  info.timeouts_known = from.kind == fd_kind::socket && from.timeouts_known;
  info.recv_timeout = from.recv_timeout;
  info.send_timeout = from.send_timeout;
  record_fd_state(fd, info);
}

// A non-blocking AF_UNIX connect fails with EAGAIN while the listener's
// backlog is full, and its fd polls writable meanwhile: retry on a timer.
wait_status pause_before_retry(clock::time_point deadline, bool park) noexcept {
  auto retry_at = std::min(deadline, deadline_after(std::chrono::milliseconds(1)));
  if (!park) {
    timespec t{0, 1000000};
    real::nanosleep(&t, nullptr);
    return clock::now() >= deadline ? wait_status::timed_out : wait_status::ready;
  }
  wait_status s = guarded([&] {
    sleep_until(retry_at);
    return true;
  });
  if (s == wait_status::ready && clock::now() >= deadline) return wait_status::timed_out;
  return s;
}

int blocking_connect(int fd, const sockaddr* addr, socklen_t length, fd_info info, bool park) noexcept {
  int saved_errno = errno;
  prepare_wait(fd, info);  // SO_SNDTIMEO
  clock::time_point deadline = deadline_in(info.send_timeout);
  int r;
  while ((r = real::connect(fd, addr, length)) != 0 && errno == EAGAIN) {
    wait_status s = pause_before_retry(deadline, park);
    if (s != wait_status::ready) {
      errno = status_errno(s, EAGAIN);
      return -1;
    }
  }
  if (r == 0) return 0;
  if (errno != EINPROGRESS) return -1;
  wait_status s = park ? park_on_fd(fd, true, deadline) : block_on_fd(fd, true, deadline);
  if (s != wait_status::ready) {
    // The attempt goes on in the kernel, as after a blocking connect that
    // a signal or SO_SNDTIMEO interrupted.
    errno = status_errno(s, EINPROGRESS);
    return -1;
  }
  int error = 0;
  socklen_t error_length = sizeof error;
  if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &error_length) != 0) return -1;
  if (error != 0) {
    errno = error;
    return -1;
  }
  errno = saved_errno;
  return 0;
}

template <class Accept>
int patched_accept(int fd, int flags, Accept&& accept) noexcept {
  auto r = blocking_call(fd, {}, [&](std::size_t) { return accept(); });
  if (r >= 0 && patching()) record_accepted(fd, static_cast<int>(r), flags);
  return static_cast<int>(r);
}

}  // namespace
}  // namespace tendril::patch_detail

using namespace tendril::patch_detail;

extern "C" {

int socket(int domain, int type, int protocol) noexcept {
  int fd = real::socket(domain, type, protocol);
  if (fd >= 0 && patching()) record_fd_state(fd, new_socket((type & SOCK_NONBLOCK) != 0));
  return fd;
}

int socketpair(int domain, int type, int protocol, int fds[2]) noexcept {
  int r = real::socketpair(domain, type, protocol, fds);
  if (r == 0 && patching()) {
    record_fd_state(fds[0], new_socket((type & SOCK_NONBLOCK) != 0));
    record_fd_state(fds[1], new_socket((type & SOCK_NONBLOCK) != 0));
  }
  return r;
}

int accept(int fd, sockaddr* __restrict addr, socklen_t* __restrict length) {
  return patched_accept(fd, 0, [&] { return real::accept(fd, addr, length); });
}

int accept4(int fd, sockaddr* __restrict addr, socklen_t* __restrict length, int flags) {
  return patched_accept(fd, flags, [&] { return real::accept4(fd, addr, length, flags); });
}

int connect(int fd, const sockaddr* addr, socklen_t length) {
  if (!patching()) return real::connect(fd, addr, length);
  if (!cooperative()) {
    fd_info info = fd_state_of(fd);
    if (info.kind != fd_kind::socket || !info.patch_nonblock || info.user_nonblock)
      return real::connect(fd, addr, length);
    return blocking_connect(fd, addr, length, info, /*park=*/false);
  }
  if (cancelled()) {
    errno = ECANCELED;
    return -1;
  }
  fd_info info = learn_fd_state(fd);
  if (info.kind != fd_kind::socket || info.user_nonblock || !make_cooperative(fd, info))
    return real::connect(fd, addr, length);
  return blocking_connect(fd, addr, length, info, /*park=*/true);
}

// The kernel keeps the timeouts; patch forgets its copy and reads them
// again before its next wait (exact, whatever the kernel rounded).
int setsockopt(int fd, int level, int name, const void* value, socklen_t length) noexcept {
  int r = real::setsockopt(fd, level, name, value, length);
  bool timeout = name == SO_RCVTIMEO || name == SO_SNDTIMEO;
#if defined(SO_RCVTIMEO_OLD) && defined(SO_RCVTIMEO_NEW)
  timeout = timeout || name == SO_RCVTIMEO_OLD || name == SO_SNDTIMEO_OLD || name == SO_RCVTIMEO_NEW ||
            name == SO_SNDTIMEO_NEW;
#endif
  if (r == 0 && level == SOL_SOCKET && timeout && patching()) {
    fd_info info = fd_state_of(fd);
    if (info.kind == fd_kind::socket && info.timeouts_known) {
      info.timeouts_known = false;
      record_fd_state(fd, info);
    }
  }
  return r;
}

}  // extern "C"
