#pragma once
// What patch knows about each fd, process-wide (fds are shared by threads).
//
// The central fact: a user who asks for a blocking fd gets one that is
// really non-blocking (patch sets O_NONBLOCK, so that a fiber can wait for
// it on the hub instead of blocking the thread), while every answer the
// user can observe (F_GETFL, FIONBIO, EAGAIN or not) stays that of the
// blocking fd they asked for. An fd patch has never seen (inherited,
// opened before patch_all(), opened by a call patch does not interpose) is
// learnt on first use; the calls that create or close fds reset it.

#include <sys/types.h>

#include <atomic>
#include <cstdint>

namespace tendril::patch_detail {

/// fd_kind says how patch waits for an fd.
enum class fd_kind : std::uint8_t {
  unknown,  ///< not learnt yet
  other,    ///< regular file, directory, device, eventfd...: libc's call, always
  socket,   ///< waited for cooperatively, with O_NONBLOCK set by patch
  pipe,     ///< a pipe or FIFO: the same
  tty,      ///< a terminal: waited for cooperatively, but its flags are never
            ///< touched (a shell shares it), so the call after the wait is blocking
};

/// fd_info is a snapshot of one fd's state.
struct fd_info {
  fd_kind kind = fd_kind::unknown;
  bool user_nonblock = false;     ///< the user asked for O_NONBLOCK: they get EAGAIN
  bool patch_nonblock = false;    ///< O_NONBLOCK is set by patch, not by the user
  bool timeouts_known = false;    ///< recv_timeout/send_timeout hold SO_RCVTIMEO/SO_SNDTIMEO
  std::int64_t recv_timeout = 0;  ///< nanoseconds; 0: none
  std::int64_t send_timeout = 0;  ///< nanoseconds; 0: none
  std::uint64_t device = 0;       ///< st_dev/st_ino once a wait has checked them; 0: not yet
  std::uint64_t inode = 0;

  /// cooperative() is true when a blocking call on it should park, not block.
  bool cooperative() const noexcept {
    return (kind == fd_kind::socket || kind == fd_kind::pipe || kind == fd_kind::tty) && !user_nonblock;
  }
};

/// max_tracked_fd bounds the table (Linux's default nr_open); a larger fd
/// is always `other`: libc's call, never made non-blocking.
inline constexpr int max_tracked_fd = 1 << 20;

/// fd_state_of(fd) is fd's state; unknown if never recorded (or beyond the table).
/// Thread-safety: any thread; lock-free. noexcept, never allocates.
fd_info fd_state_of(int fd) noexcept;

/// record_fd_state(fd, info) replaces fd's state (allocating its chunk of
/// the table if needed). False when it could not (an fd beyond the table,
/// no memory): the fd stays unknown.
bool record_fd_state(int fd, const fd_info& info) noexcept;

/// forget_fd_state(fd) makes fd unknown again: it closed, or was replaced
/// by a dup2 or by a call patch does not interpose. Never allocates.
void forget_fd_state(int fd) noexcept;

/// copy_fd_state(from, to): `to` is a dup of `from` (the same open file
/// description, so the same flags); it gets from's state, or none.
void copy_fd_state(int from, int to) noexcept;

/// learn_fd_state(fd) is fd's state, learnt now with fstat and F_GETFL
/// when unknown. An fd that cannot be examined (closed: EBADF) or recorded
/// comes back `other`, so the caller makes libc's call (and gets libc's
/// error): patch never makes non-blocking an fd whose state it cannot keep.
/// Preserves errno.
fd_info learn_fd_state(int fd) noexcept;

/// make_cooperative(fd, info) sets O_NONBLOCK on a socket or pipe that the
/// user wants blocking and records that patch did; false if it could not
/// (then the call goes to libc as is). Preserves errno.
bool make_cooperative(int fd, fd_info& info) noexcept;

/// prepare_wait(fd, info) runs before a call first waits on fd: it checks
/// that fd is still the file its state describes (an fd closed behind
/// patch's back, by fclose say, and reused must not inherit the old
/// state), learning it afresh if not, and reads SO_RCVTIMEO/SO_SNDTIMEO of
/// a socket whose timeouts are unknown. False: the state changed, retry
/// the call as for a new fd. Preserves errno.
bool prepare_wait(int fd, fd_info& info) noexcept;

}  // namespace tendril::patch_detail
