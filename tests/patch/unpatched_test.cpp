// Where a patched call must be libc's: in an unpatched scope, and on plain
// threads (without a hub). A blocking read there really blocks the thread,
// proved by another thread that writes only once it sees the reader's
// thread asleep in the kernel; no other fiber runs meanwhile.

#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <string>
#include <thread>

#include <catch2/catch.hpp>

#include <tendril/hub/join.hpp>
#include <tendril/hub/task.hpp>
#include <tendril/patch.hpp>

#include "patch/plain_thread.hpp"
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
using tendril::testing::wait_until_asleep;

// A thread that writes one byte to `fd` once thread `tid` sleeps in the
// kernel; `written` is what its write returned.
std::thread write_when_asleep(pid_t tid, int fd, ssize_t& written) {
  return std::thread([tid, fd, &written] {
    wait_until_asleep(tid);
    written = tendril::patch::original::write(fd, "x", 1);
  });
}

}  // namespace

TEST_CASE("enabled is true in a fiber with patching on, false in an unpatched scope and on plain threads") {
  tendril::patch_all();
  hub_check check;
  task<void> t = spawn([] {
    CHECK(tendril::patch::enabled());
    {
      tendril::patch::unpatched_scope plain;
      CHECK_FALSE(tendril::patch::enabled());
      {
        tendril::patch::unpatched_scope nested;
        CHECK_FALSE(tendril::patch::enabled());
      }
      CHECK_FALSE(tendril::patch::enabled());
    }
    CHECK(tendril::patch::enabled());
  });
  t.join();
  CHECK(t.successful());
  bool on_plain_thread = true;
  std::thread([&] { on_plain_thread = tendril::patch::enabled(); }).join();
  CHECK_FALSE(on_plain_thread);
}

TEST_CASE("in an unpatched scope a blocking read blocks the thread, and no other fiber runs meanwhile") {
  tendril::patch_all();
  hub_check check;
  fd_leak_check fds;
  fd_pair p(fd_pair::pipe);
  bool other_ran = false;
  task<void> reader = spawn([&] {
    tendril::patch::unpatched_scope plain;
    ssize_t written = 0;
    std::thread writer = write_when_asleep(::gettid(), p.second, written);
    char c;
    CHECK(::read(p.first, &c, 1) == 1);
    CHECK_FALSE(other_ran);
    writer.join();
    CHECK(written == 1);
  });
  task<void> other = spawn([&] { other_ran = true; });
  tendril::joinall({reader, other});
  CHECK(reader.successful());
}

TEST_CASE(
    "a plain thread's blocking read on a pipe a fiber made non-blocking still blocks until data comes") {
  tendril::patch_all();
  hub_check check;
  fd_leak_check fds;
  fd_pair p(fd_pair::pipe);
  // A fiber's read makes the pipe non-blocking for patch's waits.
  read_after_write(p);
  REQUIRE((tendril::testing::real_flags(p.first) & O_NONBLOCK) != 0);
  // A thread without a hub reads as from a blocking pipe: no EAGAIN.
  pid_t tid = 0;
  ssize_t got = 0;
  int error = 0;
  std::atomic<bool> started{false};
  std::thread plain([&] {
    tid = ::gettid();
    started = true;
    char c;
    got = ::read(p.first, &c, 1);
    error = errno;
  });
  while (!started) std::this_thread::yield();
  wait_until_asleep(tid);
  REQUIRE(tendril::patch::original::write(p.second, "y", 1) == 1);
  plain.join();
  CHECK(got == 1);
  CHECK(error == 0);
}

TEST_CASE("patched calls on a plain thread fail with libc's errno") {
  tendril::patch_all();
  int error = 0;
  ssize_t r = 0;
  std::thread([&] {
    char c;
    errno = 0;
    r = ::read(-1, &c, 1);
    error = errno;
  }).join();
  CHECK(r == -1);
  CHECK(error == EBADF);
}
