#pragma once
// Helpers for patch's tests: fd pairs made with plain POSIX calls (which
// patch interposes), closed with plain close(), as legacy code does.

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include <tendril/hub/join.hpp>
#include <tendril/hub/task.hpp>
#include <tendril/patch.hpp>

namespace tendril::testing {

/// fd_pair is a pipe (kind pipe) or a socketpair (kind socketpair), made
/// blocking unless `flags` say otherwise; first reads, second writes (a
/// socketpair's ends do both).
struct fd_pair {
  enum kind { pipe, socketpair };
  int first = -1;
  int second = -1;

  explicit fd_pair(kind k, int flags = 0) {
    int fds[2];
    if (k == pipe)
      REQUIRE(::pipe2(fds, flags) == 0);
    else
      REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | flags, 0, fds) == 0);
    first = fds[0];
    second = fds[1];
  }
  fd_pair(const fd_pair&) = delete;
  fd_pair& operator=(const fd_pair&) = delete;
  ~fd_pair() {
    if (first >= 0) ::close(first);
    if (second >= 0) ::close(second);
  }
};

/// wait_then_write(p, wait) runs `wait` in a fiber, which must come back
/// once p.first has a byte to read, and in a fiber started after it writes
/// 'x' to p.second. The recorded order proves that the waiting call parked
/// its fiber rather than blocking the thread (blocked, the writer could
/// never have run, and the test would hang).
template <class Wait>
void wait_then_write(fd_pair& p, Wait&& wait) {
  std::vector<std::string> order;
  task<void> waiter = spawn([&] {
    order.push_back("waiting");
    wait();
    order.push_back("ready");
  });
  task<void> writer = spawn([&] {
    order.push_back("writing");
    CHECK(::write(p.second, "x", 1) == 1);
  });
  tendril::joinall({waiter, writer});
  CHECK(order == std::vector<std::string>{"waiting", "writing", "ready"});
}

/// read_after_write(p) is wait_then_write with a plain read() of the byte:
/// a cooperative read, which also leaves p.first non-blocking for
/// patch's waits.
inline void read_after_write(fd_pair& p) {
  wait_then_write(p, [&] {
    char c = 0;
    CHECK(::read(p.first, &c, 1) == 1);
    CHECK(c == 'x');
  });
}

/// user_flags(fd) is F_GETFL as the user sees it; real_flags(fd) as the
/// kernel has it.
inline int user_flags(int fd) { return ::fcntl(fd, F_GETFL); }
inline int real_flags(int fd) { return tendril::patch::original::fcntl(fd, F_GETFL); }

/// read_exactly(fd, n) reads n bytes with plain read() calls (each may park).
inline std::string read_exactly(int fd, std::size_t n) {
  std::string data(n, '\0');
  std::size_t done = 0;
  while (done < n) {
    ssize_t r = ::read(fd, data.data() + done, n - done);
    REQUIRE(r > 0);
    done += static_cast<std::size_t>(r);
  }
  return data;
}

}  // namespace tendril::testing
