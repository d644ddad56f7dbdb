#pragma once
// fd generations: which incarnation of an fd number a watcher was armed for.
//
// A hub keeps the watcher of a socket's fd armed between waits (see
// fd_wait.cpp). An fd number is reused the moment it closes, and libev only
// re-registers an fd with epoll when a watcher on it starts or stops, so a
// watcher kept armed across a close and a reuse would never see the new
// file's events. Every fd that tendril opens for kept-armed waits therefore
// gets a new generation when it opens (and when it closes); a hub's
// watcher remembers the generation it was armed for, and a mismatch means
// "restart it". Process-wide, because a socket may be closed on one thread
// and its number reused on another.

#include <cstdint>

namespace tendril::detail {

/// fd_generation(fd) is fd's current generation: 0 while nothing has
/// opened it for kept-armed waits, or when `fd` is beyond the table.
/// Thread-safety: any thread; lock-free.
std::uint32_t fd_generation(int fd) noexcept;

/// advance_fd_generation(fd) starts a new generation for `fd` and returns
/// it (never 0), or returns 0 for an fd beyond the table (4M fds), whose
/// watchers must then not be kept armed. Errors: std::bad_alloc.
std::uint32_t advance_fd_generation(int fd);

/// retire_fd_generation(fd) ends fd's generation when it closes or is
/// handed to code that may close it behind tendril's back.
void retire_fd_generation(int fd) noexcept;

}  // namespace tendril::detail
