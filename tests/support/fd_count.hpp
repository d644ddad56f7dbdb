#pragma once
// fd_leak_check: counts the process's open file descriptors when made and
// checks, when destroyed, that a test closed every fd it opened. io tests
// declare one after their hub_check (so the hub's own fds are counted).

#include <dirent.h>

#include <cstddef>

#include <catch2/catch.hpp>

namespace tendril::testing {

/// open_fd_count() counts the entries of /proc/self/fd (less the one
/// opendir uses to read it).
inline std::size_t open_fd_count() {
  DIR* dir = ::opendir("/proc/self/fd");
  REQUIRE(dir != nullptr);
  std::size_t count = 0;
  while (::readdir(dir) != nullptr) ++count;
  ::closedir(dir);
  return count - 3;  // ".", ".." and the directory's own fd
}

class fd_leak_check {
 public:
  fd_leak_check() : before_(open_fd_count()) {}
  fd_leak_check(const fd_leak_check&) = delete;
  fd_leak_check& operator=(const fd_leak_check&) = delete;
  ~fd_leak_check() { CHECK(open_fd_count() == before_); }

 private:
  std::size_t before_;
};

}  // namespace tendril::testing
