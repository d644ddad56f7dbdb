// read_file, write_file, append_file: plain POSIX calls made on the thread
// pool, so a slow disk or network file system blocks a pool thread, not a hub.
//
// Invariants:
// - Each job owns copies of the path and the data: a fiber that is killed
//   while its job runs leaves, and the job must not touch its stack.
// - Every fd opened here is closed on the same job, whatever fails.
//
// Rejected: aio/io_uring (not in the dependency table, and io_uring is
// often disabled); waiting for readiness on a regular file (epoll refuses
// regular files, and they always read as ready anyway).

#include <tendril/io/file.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <system_error>
#include <utility>

#include <tendril/error.hpp>
#include <tendril/io/thread_pool.hpp>

namespace tendril {

namespace {

[[noreturn]] void fail(const char* call, const std::string& path, int err) {
  throw system_error(std::error_code(err, std::generic_category()), std::string(call) + " \"" + path + '"');
}

// file_fd owns an fd opened on a pool thread and closes it there.
class file_fd {
 public:
  file_fd(const std::string& path, int flags)
      : path_(path), fd_(::open(path.c_str(), flags | O_CLOEXEC, 0666)) {
    if (fd_ < 0) fail("open", path_, errno);
  }
  file_fd(const file_fd&) = delete;
  file_fd& operator=(const file_fd&) = delete;
  ~file_fd() {
    if (fd_ >= 0) ::close(fd_);  // an error is already propagating
  }

  int get() const noexcept { return fd_; }

  // close() closes it, reporting what close reports (a deferred write error).
  void close() {
    int fd = std::exchange(fd_, -1);
    if (::close(fd) != 0 && errno != EINTR) fail("close", path_, errno);
  }

 private:
  const std::string& path_;
  int fd_;
};

std::string read_all(const std::string& path) {
  file_fd file(path, O_RDONLY);
  std::string content;
  struct stat st {};
  if (::fstat(file.get(), &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0)
    content.reserve(static_cast<std::size_t>(st.st_size));
  char buffer[64 * 1024];
  for (;;) {
    ssize_t n = ::read(file.get(), buffer, sizeof buffer);
    if (n > 0) {
      content.append(buffer, static_cast<std::size_t>(n));
    } else if (n == 0) {
      break;
    } else if (errno != EINTR) {
      fail("read", path, errno);
    }
  }
  file.close();
  return content;
}

void write_all(const std::string& path, const std::string& data, int flags) {
  file_fd file(path, O_WRONLY | O_CREAT | flags);
  std::size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(file.get(), data.data() + done, data.size() - done);
    if (n >= 0)
      done += static_cast<std::size_t>(n);
    else if (errno != EINTR)
      fail("write", path, errno);
  }
  file.close();
}

}  // namespace

std::string read_file(const std::filesystem::path& path) { return run_in_thread(&read_all, path.string()); }

void write_file(const std::filesystem::path& path, std::string_view data) {
  run_in_thread(&write_all, path.string(), std::string(data), O_TRUNC);
}

void append_file(const std::filesystem::path& path, std::string_view data) {
  run_in_thread(&write_all, path.string(), std::string(data), O_APPEND);
}

}  // namespace tendril
