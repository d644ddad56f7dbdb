// Cancellation never unwinds through C frames: a kill or an expired
// timeout scope makes the parked patched call fail with ECANCELED, every
// later patched call of the fiber fails at once the same way (so C retry
// loops end), and the interrupt is raised at the fiber's next tendril park.

#include <poll.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include <catch2/catch.hpp>

#include <tendril/fiber/greenlet.hpp>
#include <tendril/hub/join.hpp>
#include <tendril/hub/sleep.hpp>
#include <tendril/hub/task.hpp>
#include <tendril/hub/timeout.hpp>
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

}  // namespace

TEST_CASE("a kill of a fiber blocked in a patched read gives ECANCELED, and completes at its next park") {
  tendril::patch_all();
  hub_check check;
  fd_leak_check fds;
  fd_pair p(fd_pair::pipe);
  std::vector<int> errors;
  bool reached_park = false;
  bool unwound = false;
  task<void> reader = spawn([&] {
    tendril::testing::unwind_flag flag{unwound};
    char c;
    // A C retry loop: it ends because the failure is sticky.
    for (int tries = 0; tries < 3; ++tries) {
      errno = 0;
      CHECK(::read(p.first, &c, 1) == -1);
      errors.push_back(errno);
    }
    reached_park = true;
    tendril::yield();  // the kill is raised here
    FAIL("the kill did not end the task");
  });
  tendril::yield();  // the reader parks in read()
  CHECK(reader.kill());
  CHECK(reader.killed());
  CHECK(errors == std::vector<int>{ECANCELED, ECANCELED, ECANCELED});
  CHECK(reached_park);
  CHECK(unwound);
}

TEST_CASE("an expired timeout scope makes a patched recv fail with ECANCELED, and raises at the next park") {
  tendril::patch_all();
  hub_check check;
  fd_leak_check fds;
  fd_pair p(fd_pair::socketpair);
  int error = 0;
  bool raised = false;
  task<void> reader = spawn([&] {
    try {
      tendril::timeout limit(std::chrono::milliseconds(20));
      char c;
      errno = 0;
      CHECK(::recv(p.first, &c, 1, 0) == -1);
      error = errno;
      const timespec t{0, 1000};
      CHECK(::nanosleep(&t, nullptr) == -1);  // sticky while the scope is open
      CHECK(errno == ECANCELED);
      tendril::yield();
    } catch (const tendril::timeout_error&) {
      raised = true;
    }
  });
  reader.join();
  CHECK(reader.successful());
  CHECK(error == ECANCELED);
  CHECK(raised);
}

TEST_CASE("a kill of a fiber in a patched nanosleep gives ECANCELED and the time left") {
  tendril::patch_all();
  hub_check check;
  timespec left{};
  int error = 0;
  task<void> sleeper = spawn([&] {
    const timespec t{100, 0};
    errno = 0;
    CHECK(::nanosleep(&t, &left) == -1);
    error = errno;
    tendril::yield();
  });
  tendril::yield();
  CHECK(sleeper.kill());
  CHECK(error == ECANCELED);
  CHECK(left.tv_sec > 0);
  CHECK(left.tv_sec <= 100);
}

TEST_CASE("a kill of a fiber in a patched poll gives ECANCELED") {
  tendril::patch_all();
  hub_check check;
  fd_leak_check fds;
  fd_pair p(fd_pair::pipe);
  int error = 0;
  task<void> poller = spawn([&] {
    pollfd polled{p.first, POLLIN, 0};
    errno = 0;
    CHECK(::poll(&polled, 1, -1) == -1);
    error = errno;
    tendril::yield();
  });
  tendril::yield();
  CHECK(poller.kill());
  CHECK(error == ECANCELED);
}
