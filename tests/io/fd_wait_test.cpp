// wait_readable / wait_writable and close(): readiness wakes the waiter,
// deadlines, kills and timeout scopes remove the watcher, and closing an fd
// wakes every fiber waiting on it with an error naming the fd and the fiber.

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include <tendril/error.hpp>
#include <tendril/hub/join.hpp>
#include <tendril/hub/task.hpp>
#include <tendril/hub/timeout.hpp>
#include <tendril/io/wait.hpp>

#include "support/fd_count.hpp"
#include "support/hub_fixture.hpp"

namespace {

using namespace std::chrono_literals;
using tendril::spawn;
using tendril::spawn_options;
using tendril::task;
using tendril::testing::fd_leak_check;
using tendril::testing::hub_check;

// A non-blocking pipe, closed through tendril::close when it goes.
struct pipe_pair {
  int read_end = -1;
  int write_end = -1;
  pipe_pair() {
    int fds[2];
    REQUIRE(::pipe2(fds, O_NONBLOCK | O_CLOEXEC) == 0);
    read_end = fds[0];
    write_end = fds[1];
  }
  ~pipe_pair() {
    if (read_end >= 0) tendril::close(read_end);
    if (write_end >= 0) tendril::close(write_end);
  }
  void write_byte(char c = 'x') const { REQUIRE(::write(write_end, &c, 1) == 1); }
};

}  // namespace

TEST_CASE("wait_readable returns once another fiber writes to the pipe") {
  hub_check check;
  fd_leak_check fds;
  pipe_pair p;
  std::vector<std::string> order;
  task<void> reader = spawn([&] {
    order.push_back("waiting");
    CHECK(tendril::wait_readable(p.read_end));
    char c = 0;
    CHECK(::read(p.read_end, &c, 1) == 1);
    order.push_back(std::string("read ") + c);
  });
  task<void> writer = spawn([&] {
    order.push_back("writing");
    p.write_byte('a');
  });
  tendril::joinall({reader, writer});
  CHECK(order == std::vector<std::string>{"waiting", "writing", "read a"});
}

TEST_CASE("wait_readable is true at once for an fd that already has data") {
  hub_check check;
  fd_leak_check fds;
  pipe_pair p;
  p.write_byte();
  CHECK(tendril::wait_readable(p.read_end, tendril::deadline_after(10s)));
}

TEST_CASE("wait_writable is true for a pipe with room") {
  hub_check check;
  fd_leak_check fds;
  pipe_pair p;
  CHECK(tendril::wait_writable(p.write_end));
}

TEST_CASE("wait_writable waits until a full pipe is drained") {
  hub_check check;
  fd_leak_check fds;
  pipe_pair p;
  char block[4096] = {};
  while (::write(p.write_end, block, sizeof block) > 0) {
  }
  REQUIRE(errno == EAGAIN);
  bool drained = false;
  task<void> writer = spawn([&] {
    CHECK(tendril::wait_writable(p.write_end));
    CHECK(drained);
  });
  task<void> drainer = spawn([&] {
    while (::read(p.read_end, block, sizeof block) > 0) {
    }
    drained = true;
  });
  tendril::joinall({writer, drainer});
  CHECK(writer.successful());
}

TEST_CASE("wait_readable returns false when its deadline passes first") {
  hub_check check;
  fd_leak_check fds;
  pipe_pair p;
  CHECK_FALSE(tendril::wait_readable(p.read_end, tendril::deadline_after(20ms)));
  // The watcher is gone (hub_check counts armed watchers); data later is still there.
  p.write_byte();
  CHECK(tendril::wait_readable(p.read_end));
}

TEST_CASE("two fibers waiting on one fd both wake when it becomes readable") {
  hub_check check;
  fd_leak_check fds;
  pipe_pair p;
  int woken = 0;
  auto wait = [&] {
    CHECK(tendril::wait_readable(p.read_end));
    ++woken;
  };
  task<void> a = spawn(wait);
  task<void> b = spawn(wait);
  tendril::yield();  // both start and park
  CHECK(tendril::detail::waiters_on(p.read_end) == 2);
  p.write_byte();
  tendril::joinall({a, b});
  CHECK(woken == 2);
  CHECK(tendril::detail::waiters_on(p.read_end) == 0);
}

TEST_CASE("close wakes every fiber waiting on the fd with an error naming the fd and the fiber") {
  hub_check check;
  fd_leak_check fds;
  pipe_pair p;
  auto wait = [&] { tendril::wait_readable(p.read_end); };
  task<void> a = spawn(spawn_options{.name = "reader-a"}, wait);
  task<void> b = spawn(spawn_options{.name = "reader-b"}, wait);
  tendril::yield();
  int fd = std::exchange(p.read_end, -1);
  tendril::close(fd);
  tendril::joinall({a, b});
  for (auto [t, name] : {std::pair{a, "reader-a"}, std::pair{b, "reader-b"}}) {
    REQUIRE_THROWS_AS(t.get(), tendril::system_error);
    try {
      t.get();
    } catch (const tendril::system_error& e) {
      CHECK(e.code() == std::errc::bad_file_descriptor);
      std::string what = e.what();
      CHECK_THAT(what, Catch::Contains("fd " + std::to_string(fd) + " was closed while"));
      CHECK_THAT(what, Catch::Contains(name));
    }
  }
}

TEST_CASE("close of an fd that is not open throws naming it") {
  hub_check check;
  pipe_pair p;
  int fd = std::exchange(p.read_end, -1);
  tendril::close(fd);
  try {
    tendril::close(fd);
    FAIL("closing a closed fd did not throw");
  } catch (const tendril::system_error& e) {
    CHECK(e.code() == std::errc::bad_file_descriptor);
    CHECK_THAT(e.what(), Catch::Contains("fd " + std::to_string(fd)));
  }
}

TEST_CASE("a kill while waiting on an fd removes the watcher") {
  hub_check check;
  fd_leak_check fds;
  pipe_pair p;
  bool unwound = false;
  task<void> reader = spawn([&] {
    tendril::testing::unwind_flag flag{unwound};
    tendril::wait_readable(p.read_end);
    FAIL("the wait returned instead of raising the kill");
  });
  tendril::yield();
  CHECK(tendril::detail::waiters_on(p.read_end) == 1);
  reader.kill();
  CHECK(reader.killed());
  CHECK(unwound);
  CHECK(tendril::detail::waiters_on(p.read_end) == 0);
}

TEST_CASE("an expired timeout scope raises timeout_error at an fd wait") {
  hub_check check;
  fd_leak_check fds;
  pipe_pair p;
  tendril::timeout scope(10ms);
  CHECK_THROWS_AS(tendril::wait_readable(p.read_end), tendril::timeout_error);
  CHECK(tendril::detail::waiters_on(p.read_end) == 0);
}

TEST_CASE("waiting on a negative fd is an error") {
  hub_check check;
  CHECK_THROWS_WITH(tendril::wait_readable(-1), Catch::Contains("invalid fd -1"));
  CHECK_THROWS_WITH(tendril::wait_writable(-5), Catch::Contains("invalid fd -5"));
}
