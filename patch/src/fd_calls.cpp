// The calls that make, copy, close or configure fds: pipe, pipe2, dup,
// dup2, dup3, close, fcntl (and fcntl64), ioctl(FIONBIO).
//
// The user's view: F_GETFL and FIONBIO report the O_NONBLOCK the user set,
// whatever patch set for its own waits; F_SETFL and FIONBIO change the
// user's intent and leave patch's flag in place. A dup shares the open file
// description, so it copies the state (and patch's O_NONBLOCK with it).
//
// close() wakes this thread's fibers waiting on the fd (with EBADF, as
// tendril::close() does: io's detail::wake_fd_waiters) before libc's close.

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>

#include <tendril/io/wait.hpp>

#include "fd_state.hpp"
#include "multi_wait.hpp"
#include "originals.hpp"
#include "waiting.hpp"

namespace tendril::patch_detail {
namespace {

fd_info new_pipe_end(int flags) noexcept {
  return {.kind = fd_kind::pipe, .user_nonblock = (flags & O_NONBLOCK) != 0, .timeouts_known = true};
}

// still_same(fd, info): fd is the file its recorded state describes (or
// patch cannot tell); an fd reused behind patch's back is forgotten.
bool still_same(int fd, const fd_info& info) noexcept {
  if (info.inode == 0) return true;
  int saved_errno = errno;
  struct stat st {};
  bool same = ::fstat(fd, &st) != 0 || (st.st_dev == info.device && st.st_ino == info.inode);
  errno = saved_errno;
  if (!same) forget_fd_state(fd);
  return same;
}

bool has_flags(fd_kind kind) noexcept {
  return kind == fd_kind::socket || kind == fd_kind::pipe || kind == fd_kind::tty;
}

int patched_close(int fd) noexcept {
  wake_waits_on(fd);
  detail::wake_fd_waiters(fd);
  forget_fd_state(fd);
  return real::close(fd);
}

int patched_fcntl(int fd, int cmd, void* arg) noexcept {
  if (!patching()) return real::fcntl(fd, cmd, arg);
  switch (cmd) {
    case F_GETFL: {
      // The open file description's O_NONBLOCK may have been set by patch
      // through this fd or through a dup of it: what the user sees is the
      // intent recorded for this fd.
      int flags = real::fcntl(fd, cmd);
      fd_info info = fd_state_of(fd);
      if (flags >= 0 && has_flags(info.kind) && still_same(fd, info))
        flags = (flags & ~O_NONBLOCK) | (info.user_nonblock ? O_NONBLOCK : 0);
      return flags;
    }
    case F_SETFL: {
      fd_info info = fd_state_of(fd);
      if (!has_flags(info.kind)) return real::fcntl(fd, cmd, arg);
      int flags = static_cast<int>(reinterpret_cast<std::intptr_t>(arg));
      bool user_nonblock = (flags & O_NONBLOCK) != 0;
      bool keep_patch_flag = info.patch_nonblock && !user_nonblock;
      int r = real::fcntl(fd, cmd, keep_patch_flag ? flags | O_NONBLOCK : flags);
      if (r == 0) {
        info.user_nonblock = user_nonblock;
        info.patch_nonblock = keep_patch_flag;
        record_fd_state(fd, info);
      }
      return r;
    }
    case F_DUPFD:
    case F_DUPFD_CLOEXEC: {
      int r = real::fcntl(fd, cmd, arg);
      if (r >= 0) copy_fd_state(fd, r);
      return r;
    }
    default:
      return real::fcntl(fd, cmd, arg);
  }
}

int patched_dup_to(int fd, int to, int flags, bool is_dup3) noexcept {
  if (!patching() || fd == to) return is_dup3 ? real::dup3(fd, to, flags) : real::dup2(fd, to);
  // `to` is closed by the dup: wake what waits on it first (the dup then
  // replaces it at once, so no other thread can take the number between).
  wake_waits_on(to);
  detail::wake_fd_waiters(to);
  int r = is_dup3 ? real::dup3(fd, to, flags) : real::dup2(fd, to);
  if (r >= 0) copy_fd_state(fd, r);
  return r;
}

}  // namespace
}  // namespace tendril::patch_detail

using namespace tendril::patch_detail;

extern "C" {

int pipe(int fds[2]) noexcept {
  int r = real::pipe(fds);
  if (r == 0 && patching()) {
    record_fd_state(fds[0], new_pipe_end(0));
    record_fd_state(fds[1], new_pipe_end(0));
  }
  return r;
}

int pipe2(int fds[2], int flags) noexcept {
  int r = real::pipe2(fds, flags);
  if (r == 0 && patching()) {
    record_fd_state(fds[0], new_pipe_end(flags));
    record_fd_state(fds[1], new_pipe_end(flags));
  }
  return r;
}

int close(int fd) {
  if (!patching()) return real::close(fd);
  return patched_close(fd);
}

int dup(int fd) noexcept {
  int r = real::dup(fd);
  if (r >= 0 && patching()) copy_fd_state(fd, r);
  return r;
}

int dup2(int fd, int to) noexcept { return patched_dup_to(fd, to, 0, /*is_dup3=*/false); }

int dup3(int fd, int to, int flags) noexcept { return patched_dup_to(fd, to, flags, /*is_dup3=*/true); }

// Every fcntl argument fits in a pointer; glibc reads it the same way.
int fcntl(int fd, int cmd, ...) {
  va_list args;
  va_start(args, cmd);
  void* arg = va_arg(args, void*);
  va_end(args);
  return patched_fcntl(fd, cmd, arg);
}

int fcntl64(int fd, int cmd, ...) {
  va_list args;
  va_start(args, cmd);
  void* arg = va_arg(args, void*);
  va_end(args);
  return patched_fcntl(fd, cmd, arg);
}

int ioctl(int fd, unsigned long request, ...) noexcept {
  va_list args;
  va_start(args, request);
  void* arg = va_arg(args, void*);
  va_end(args);
  if (request != FIONBIO || !patching()) return real::ioctl(fd, request, arg);
  fd_info info = fd_state_of(fd);
  if (!has_flags(info.kind) || arg == nullptr) return real::ioctl(fd, request, arg);
  bool user_nonblock = *static_cast<const int*>(arg) != 0;
  bool keep_patch_flag = info.patch_nonblock && !user_nonblock;
  int on = 1;
  int r = real::ioctl(fd, request, keep_patch_flag ? &on : arg);
  if (r == 0) {
    info.user_nonblock = user_nonblock;
    info.patch_nonblock = keep_patch_flag;
    record_fd_state(fd, info);
  }
  return r;
}

}  // extern "C"
