// Plain POSIX reads and writes between two fibers of one thread, each of
// which would block the thread without patch: pipes and socketpairs,
// vectored calls, the user's O_NONBLOCK (F_GETFL, FIONBIO), SO_RCVTIMEO,
// close() from another fiber, fd numbers reused and dup'ed fds.

#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include <tendril/hub/join.hpp>
#include <tendril/hub/task.hpp>
#include <tendril/io/wait.hpp>
#include <tendril/patch.hpp>

#include "patch/posix_fds.hpp"
#include "support/fd_count.hpp"
#include "support/hub_fixture.hpp"

namespace {

using tendril::spawn;
using tendril::task;
using tendril::testing::fd_leak_check;
using tendril::testing::fd_pair;
using tendril::testing::hub_check;
using tendril::testing::read_after_write;
using tendril::testing::read_exactly;
using tendril::testing::real_flags;
using tendril::testing::user_flags;

// A reader parks in read(); the writer, started after it, writes.
void reader_then_writer(fd_pair::kind k) {
  fd_pair p(k);
  read_after_write(p);
}

}  // namespace

TEST_CASE("a blocking pipe read parks the fiber until another fiber of the thread writes") {
  tendril::patch_all();
  hub_check check;
  fd_leak_check fds;
  reader_then_writer(fd_pair::pipe);
}

TEST_CASE("a blocking socketpair read parks the fiber until another fiber of the thread writes") {
  tendril::patch_all();
  hub_check check;
  fd_leak_check fds;
  reader_then_writer(fd_pair::socketpair);
}

TEST_CASE("a blocking write larger than the pipe's buffer parks until a reader fiber drains it") {
  tendril::patch_all();
  hub_check check;
  fd_leak_check fds;
  fd_pair p(fd_pair::pipe);
  const std::string sent(1 << 20, 'p');
  task<void> writer =
      spawn([&] { CHECK(::write(p.second, sent.data(), sent.size()) == ssize_t(sent.size())); });
  task<std::string> reader = spawn([&] { return read_exactly(p.first, sent.size()); });
  tendril::joinall({writer, reader});
  CHECK(reader.get() == sent);
}

TEST_CASE("writev and readv move a large buffer between two fibers over a socketpair") {
  tendril::patch_all();
  hub_check check;
  fd_leak_check fds;
  fd_pair p(fd_pair::socketpair);
  std::string a(300000, 'a'), b(500000, 'b');
  task<void> writer = spawn([&] {
    iovec parts[2] = {{a.data(), a.size()}, {b.data(), b.size()}};
    CHECK(::writev(p.second, parts, 2) == ssize_t(a.size() + b.size()));
  });
  task<std::string> reader = spawn([&] {
    std::string got(a.size() + b.size(), '\0');
    std::size_t done = 0;
    while (done < got.size()) {
      iovec part{got.data() + done, got.size() - done};
      ssize_t r = ::readv(p.first, &part, 1);
      REQUIRE(r > 0);
      done += std::size_t(r);
    }
    return got;
  });
  tendril::joinall({writer, reader});
  CHECK(reader.get() == a + b);
}

TEST_CASE("a user who set O_NONBLOCK gets EAGAIN, and F_GETFL shows exactly the flags the user set") {
  tendril::patch_all();
  hub_check check;
  fd_leak_check fds;
  fd_pair p(fd_pair::pipe);
  // A cooperative read makes the pipe non-blocking for patch's waits...
  read_after_write(p);
  CHECK((real_flags(p.first) & O_NONBLOCK) != 0);
  // ...which the user does not see.
  CHECK((user_flags(p.first) & O_NONBLOCK) == 0);
  REQUIRE(::fcntl(p.first, F_SETFL, user_flags(p.first) | O_NONBLOCK) == 0);
  CHECK((user_flags(p.first) & O_NONBLOCK) != 0);
  char c;
  errno = 0;
  CHECK(::read(p.first, &c, 1) == -1);
  CHECK(errno == EAGAIN);
  // Blocking again, for the user and for fibers, which park again.
  REQUIRE(::fcntl(p.first, F_SETFL, user_flags(p.first) & ~O_NONBLOCK) == 0);
  CHECK((user_flags(p.first) & O_NONBLOCK) == 0);
  task<void> second_reader = spawn([&] {
    char c;
    CHECK(::read(p.first, &c, 1) == 1);
  });
  task<void> second_writer = spawn([&] { CHECK(::write(p.second, "y", 1) == 1); });
  tendril::joinall({second_reader, second_writer});
  CHECK((user_flags(p.first) & O_NONBLOCK) == 0);
  CHECK((real_flags(p.first) & O_NONBLOCK) != 0);
}

TEST_CASE("a pipe made with O_NONBLOCK gives EAGAIN at once, in a fiber as in libc") {
  tendril::patch_all();
  hub_check check;
  fd_leak_check fds;
  fd_pair p(fd_pair::pipe, O_NONBLOCK);
  task<void> reader = spawn([&] {
    char c;
    errno = 0;
    CHECK(::read(p.first, &c, 1) == -1);
    CHECK(errno == EAGAIN);
    CHECK((user_flags(p.first) & O_NONBLOCK) != 0);
  });
  reader.join();
  CHECK(reader.successful());
}

TEST_CASE("FIONBIO sets the user's view of O_NONBLOCK as F_SETFL does") {
  tendril::patch_all();
  hub_check check;
  fd_leak_check fds;
  fd_pair p(fd_pair::socketpair);
  task<void> t = spawn([&] {
    int on = 1;
    REQUIRE(::ioctl(p.first, FIONBIO, &on) == 0);
    char c;
    errno = 0;
    CHECK(::recv(p.first, &c, 1, 0) == -1);
    CHECK(errno == EAGAIN);
    int off = 0;
    REQUIRE(::ioctl(p.first, FIONBIO, &off) == 0);
    CHECK((user_flags(p.first) & O_NONBLOCK) == 0);
  });
  t.join();
  CHECK(t.successful());
}

TEST_CASE("SO_RCVTIMEO makes a blocking recv in a fiber fail with EAGAIN once it passes") {
  tendril::patch_all();
  hub_check check;
  fd_leak_check fds;
  fd_pair p(fd_pair::socketpair);
  timeval limit{0, 20000};
  REQUIRE(::setsockopt(p.first, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit) == 0);
  bool other_ran = false;
  task<void> reader = spawn([&] {
    char c;
    errno = 0;
    CHECK(::recv(p.first, &c, 1, 0) == -1);
    CHECK(errno == EAGAIN);
    CHECK(other_ran);  // it parked meanwhile
  });
  task<void> other = spawn([&] { other_ran = true; });
  tendril::joinall({reader, other});
  CHECK(reader.successful());
}

TEST_CASE("close from another fiber wakes a blocked read with EBADF") {
  tendril::patch_all();
  hub_check check;
  fd_leak_check fds;
  fd_pair p(fd_pair::pipe);
  task<void> reader = spawn([&] {
    char c;
    errno = 0;
    CHECK(::read(p.first, &c, 1) == -1);
    CHECK(errno == EBADF);
  });
  task<void> closer = spawn([&] {
    CHECK(tendril::detail::waiters_on(p.first) == 1);
    CHECK(::close(std::exchange(p.first, -1)) == 0);
  });
  tendril::joinall({reader, closer});
  CHECK(reader.successful());
}

TEST_CASE("tendril::close of an fd a patched read waits on wakes the read with EBADF") {
  tendril::patch_all();
  hub_check check;
  fd_leak_check fds;
  fd_pair p(fd_pair::socketpair);
  task<void> reader = spawn([&] {
    char c;
    errno = 0;
    CHECK(::recv(p.first, &c, 1, 0) == -1);
    CHECK(errno == EBADF);
  });
  task<void> closer = spawn([&] { tendril::close(std::exchange(p.first, -1)); });
  tendril::joinall({reader, closer});
  CHECK(reader.successful());
  CHECK(closer.successful());
}

TEST_CASE("an fd number reused after close starts with the state of its new file") {
  tendril::patch_all();
  hub_check check;
  fd_leak_check fds;
  int number = -1;
  {
    fd_pair p(fd_pair::pipe);
    task<void> reader = spawn([&] {
      char c;
      CHECK(::read(p.first, &c, 1) == 1);
    });
    task<void> writer = spawn([&] { CHECK(::write(p.second, "x", 1) == 1); });
    tendril::joinall({reader, writer});
    number = p.first;
  }
  // The same number, now a pipe the user made non-blocking.
  fd_pair reused(fd_pair::pipe, O_NONBLOCK);
  REQUIRE(reused.first == number);
  task<void> reader = spawn([&] {
    char c;
    errno = 0;
    CHECK(::read(reused.first, &c, 1) == -1);
    CHECK(errno == EAGAIN);
  });
  reader.join();
  CHECK(reader.successful());
}

TEST_CASE("an fd closed behind patch's back and reused is recognised as a new file") {
  tendril::patch_all();
  hub_check check;
  fd_leak_check fds;
  fd_pair p(fd_pair::pipe);
  read_after_write(p);
  int number = p.first;
  // Closed by a raw system call, as code patch cannot see would, then the
  // number reused by a pipe the user made non-blocking with the raw call too.
  REQUIRE(::syscall(SYS_close, p.first) == 0);
  int fresh[2];
  REQUIRE(::syscall(SYS_pipe2, fresh, O_NONBLOCK) == 0);
  REQUIRE(fresh[0] == number);
  task<void> second = spawn([&] {
    char c;
    errno = 0;
    CHECK(::read(fresh[0], &c, 1) == -1);  // without the check: parks for ever
    CHECK(errno == EAGAIN);
  });
  second.join();
  CHECK(second.successful());
  p.first = fresh[0];  // closed by p
  ::close(fresh[1]);
}

TEST_CASE("a dup of a patched fd waits cooperatively and shows the user's flags") {
  tendril::patch_all();
  hub_check check;
  fd_leak_check fds;
  fd_pair p(fd_pair::pipe);
  int copy = ::dup(p.first);
  REQUIRE(copy >= 0);
  int copy2 = ::fcntl(p.first, F_DUPFD_CLOEXEC, 100);
  REQUIRE(copy2 >= 100);
  std::string got;
  task<void> reader = spawn([&] {
    char c;
    CHECK(::read(copy, &c, 1) == 1);
    got += c;
    CHECK(::read(copy2, &c, 1) == 1);
    got += c;
  });
  task<void> writer = spawn([&] {
    CHECK(::write(p.second, "a", 1) == 1);
    tendril::yield();
    CHECK(::write(p.second, "b", 1) == 1);
  });
  tendril::joinall({reader, writer});
  CHECK(got == "ab");
  CHECK((user_flags(copy) & O_NONBLOCK) == 0);
  CHECK((user_flags(p.first) & O_NONBLOCK) == 0);
  ::close(copy);
  ::close(copy2);
}

TEST_CASE("dup2 onto an fd a fiber waits on wakes it with EBADF") {
  tendril::patch_all();
  hub_check check;
  fd_leak_check fds;
  fd_pair waited(fd_pair::pipe);
  fd_pair other(fd_pair::pipe);
  task<void> reader = spawn([&] {
    char c;
    errno = 0;
    CHECK(::read(waited.first, &c, 1) == -1);
    CHECK(errno == EBADF);
  });
  task<void> replacer = spawn([&] { CHECK(::dup2(other.first, waited.first) == waited.first); });
  tendril::joinall({reader, replacer});
  CHECK(reader.successful());
}
