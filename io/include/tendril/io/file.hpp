#pragma once
// Whole-file reads and writes that do not block the hub: each runs on the
// thread pool (run_in_thread) while the calling fiber parks. Regular files
// are always "ready" to epoll, so waiting for readiness cannot help; a
// thread can.
//
//   std::string config = tendril::read_file("/etc/app.conf");
//   tendril::append_file("/var/log/app.log", line + '\n');

#include <filesystem>
#include <string>
#include <string_view>

namespace tendril {

/// read_file(path) is the whole content of the file at `path`.
///
/// Blocking:      parks the calling fiber while a pool thread reads (inline
///                on a thread without a hub); see run_in_thread.
/// Deadline:      none; use a tendril::timeout scope.
/// Cancellation:  a kill or an expired timeout scope raises here at once;
///                the read finishes on its thread and its content is dropped.
/// Thread-safety: any fiber on any hub, or any thread.
/// Errors:        tendril::system_error naming the path and the failed call,
///                e.g. `open "/no/such": No such file or directory`.
std::string read_file(const std::filesystem::path& path);

/// write_file(path, data) replaces the content of the file at `path` with
/// `data`, creating it (mode 0666 less the umask) if it does not exist.
/// `data` is copied first, so the caller's buffer may go at once.
///
/// Blocking:      as read_file.
/// Deadline:      none; use a tendril::timeout scope.
/// Cancellation:  a kill or an expired timeout scope raises here at once;
///                the write still runs to its end on its thread (the file
///                may be left written, truncated or partly written).
/// Thread-safety: any fiber on any hub, or any thread; concurrent writes to
///                one file interleave as the system calls do.
/// Errors:        tendril::system_error naming the path and the failed call
///                (open, write, or close: a deferred write error shows there).
void write_file(const std::filesystem::path& path, std::string_view data);

/// append_file(path, data) adds `data` at the end of the file at `path`
/// (O_APPEND), creating it if it does not exist. Same rules as write_file.
void append_file(const std::filesystem::path& path, std::string_view data);

}  // namespace tendril
