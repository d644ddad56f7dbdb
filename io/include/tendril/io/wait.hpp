#pragma once
// wait_readable / wait_writable: the primitive every cooperative I/O call in
// tendril is built on, and close(), which wakes the fibers waiting on an fd.
//
//   while ((n = ::read(fd, buf, size)) < 0 && errno == EAGAIN)
//     wait_readable(fd);   // parks this fiber; the hub runs the others

#include <tendril/hub/park.hpp>

namespace tendril {

/// wait_readable(fd, deadline) returns once `fd` is readable (data, end of
/// file, an error or a pending connection to accept), or false once
/// `deadline` passes. `fd` should be non-blocking, as the calls that follow
/// must not block.
///
/// Blocking:      parks the calling fiber; the hub watches `fd` meanwhile.
/// Deadline:      returns false once `deadline` passes.
/// Cancellation:  a kill or an expired timeout scope raises here; the
///                watcher is removed first.
/// Thread-safety: any fiber; the wait belongs to the calling thread's hub,
///                and only close() on that thread wakes it with an error.
/// Errors:        tendril::error for a negative fd; tendril::system_error
///                (EBADF) naming the fd and the fiber when close() closes
///                `fd` while it waits.
bool wait_readable(int fd, clock::time_point deadline = no_deadline);

/// wait_writable(fd, deadline) is wait_readable for room to write (or a
/// finished non-blocking connect). Same rules.
bool wait_writable(int fd, clock::time_point deadline = no_deadline);

/// close(fd) wakes every fiber of this hub waiting on `fd`, each with a
/// tendril::system_error (EBADF) that names the fd and that fiber, then
/// closes it. Use it instead of ::close for fds that fibers may wait on:
/// an fd number is reused at once, so a waiter left on a closed fd could
/// wake for a stranger's data.
///
/// Errors: tendril::system_error naming the fd if ::close fails (EBADF: it
/// was not open). The fd is closed even then (Linux never retries a close).
void close(int fd);

namespace detail {
/// waiters_on(fd) counts this hub's fibers waiting on `fd` (for sockets'
/// misuse checks and tests).
int waiters_on(int fd) noexcept;

/// wake_fd_waiters(fd) is close(fd) without the ::close: for code that
/// closes (or replaces, with dup2) the fd itself, such as patch's close().
void wake_fd_waiters(int fd) noexcept;

/// fd_opened(fd) registers an fd that tendril just opened or adopted, and
/// will close with tendril::close() or give away with fd_released(): its
/// waits may then use wait_owned_*. Errors: std::bad_alloc.
void fd_opened(int fd);
/// fd_released(fd): the owner hands `fd` to code that may close it without
/// tendril::close(); its waits must no longer be wait_owned_*.
void fd_released(int fd) noexcept;

/// wait_owned_readable / wait_owned_writable are wait_readable and
/// wait_writable for an fd registered with fd_opened(): the hub keeps its
/// watcher armed between waits, so a connection's waits after its first
/// cost no epoll_ctl. Same rules otherwise.
bool wait_owned_readable(int fd, clock::time_point deadline);
bool wait_owned_writable(int fd, clock::time_point deadline);
}  // namespace detail

}  // namespace tendril
