// poll, ppoll, select, pselect and epoll_wait in a fiber: they park until
// another fiber of the thread makes an fd ready, honour their timeouts,
// never park with a zero timeout, and a close() of a polled fd ends the
// wait with the result libc reports for it.

#include <poll.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include <tendril/hub/join.hpp>
#include <tendril/hub/task.hpp>
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
using tendril::testing::wait_then_write;

}  // namespace

TEST_CASE("poll waits for a pipe another fiber writes to") {
  tendril::patch_all();
  hub_check check;
  fd_leak_check fds;
  fd_pair p(fd_pair::pipe);
  wait_then_write(p, [&] {
    pollfd polled[2] = {{p.first, POLLIN, 0}, {-1, POLLIN, 0}};
    CHECK(::poll(polled, 2, 10000) == 1);
    CHECK(polled[0].revents == POLLIN);
    CHECK(polled[1].revents == 0);
  });
}

TEST_CASE("poll whose timeout passes returns 0, having let the other fibers run") {
  tendril::patch_all();
  hub_check check;
  fd_leak_check fds;
  fd_pair p(fd_pair::pipe);
  bool other_ran = false;
  task<void> waiter = spawn([&] {
    pollfd polled{p.first, POLLIN, 0};
    CHECK(::poll(&polled, 1, 20) == 0);
    CHECK(polled.revents == 0);
    CHECK(other_ran);
  });
  task<void> other = spawn([&] { other_ran = true; });
  tendril::joinall({waiter, other});
  CHECK(waiter.successful());
}

TEST_CASE("poll, ppoll, select and epoll_wait with a zero timeout never park") {
  tendril::patch_all();
  hub_check check;
  fd_leak_check fds;
  fd_pair p(fd_pair::pipe);
  int epfd = ::epoll_create1(0);
  REQUIRE(epfd >= 0);
  epoll_event interest{EPOLLIN, {}};
  REQUIRE(::epoll_ctl(epfd, EPOLL_CTL_ADD, p.first, &interest) == 0);
  bool other_ran = false;
  task<void> other = spawn([&] { other_ran = true; });  // ready, not yet run
  pollfd polled{p.first, POLLIN, 0};
  CHECK(::poll(&polled, 1, 0) == 0);
  const timespec zero{0, 0};
  CHECK(::ppoll(&polled, 1, &zero, nullptr) == 0);
  fd_set readable;
  FD_ZERO(&readable);
  FD_SET(p.first, &readable);
  timeval no_time{0, 0};
  CHECK(::select(p.first + 1, &readable, nullptr, nullptr, &no_time) == 0);
  epoll_event event{};
  CHECK(::epoll_wait(epfd, &event, 1, 0) == 0);
  CHECK_FALSE(other_ran);
  other.join();
  ::close(epfd);
}

TEST_CASE("select waits for a socket another fiber writes to, and reports the time left") {
  tendril::patch_all();
  hub_check check;
  fd_leak_check fds;
  fd_pair p(fd_pair::socketpair);
  wait_then_write(p, [&] {
    fd_set readable;
    FD_ZERO(&readable);
    FD_SET(p.first, &readable);
    timeval limit{100, 0};
    CHECK(::select(p.first + 1, &readable, nullptr, nullptr, &limit) == 1);
    CHECK(FD_ISSET(p.first, &readable));
    CHECK(limit.tv_sec <= 100);
    CHECK(limit.tv_sec > 0);
  });
}

TEST_CASE("select whose timeout passes returns 0 with its sets cleared") {
  tendril::patch_all();
  hub_check check;
  fd_leak_check fds;
  fd_pair p(fd_pair::pipe);
  task<void> waiter = spawn([&] {
    fd_set readable;
    FD_ZERO(&readable);
    FD_SET(p.first, &readable);
    timeval limit{0, 20000};
    CHECK(::select(p.first + 1, &readable, nullptr, nullptr, &limit) == 0);
    CHECK_FALSE(FD_ISSET(p.first, &readable));
    CHECK(limit.tv_sec == 0);
    CHECK(limit.tv_usec == 0);
  });
  waiter.join();
  CHECK(waiter.successful());
}

TEST_CASE("ppoll and pselect wait like poll and select") {
  tendril::patch_all();
  hub_check check;
  fd_leak_check fds;
  fd_pair p(fd_pair::pipe);
  wait_then_write(p, [&] {
    pollfd polled{p.first, POLLIN, 0};
    const timespec limit{100, 0};
    sigset_t mask;
    sigemptyset(&mask);
    CHECK(::ppoll(&polled, 1, &limit, &mask) == 1);
  });
  char c;
  REQUIRE(::read(p.first, &c, 1) == 1);
  wait_then_write(p, [&] {
    fd_set readable;
    FD_ZERO(&readable);
    FD_SET(p.first, &readable);
    CHECK(::pselect(p.first + 1, &readable, nullptr, nullptr, nullptr, nullptr) == 1);
  });
}

TEST_CASE("epoll_wait waits for an event another fiber causes") {
  tendril::patch_all();
  hub_check check;
  fd_leak_check fds;
  fd_pair p(fd_pair::pipe);
  int epfd = ::epoll_create1(EPOLL_CLOEXEC);
  REQUIRE(epfd >= 0);
  epoll_event interest{EPOLLIN, {}};
  interest.data.fd = p.first;
  REQUIRE(::epoll_ctl(epfd, EPOLL_CTL_ADD, p.first, &interest) == 0);
  wait_then_write(p, [&] {
    epoll_event event{};
    CHECK(::epoll_wait(epfd, &event, 1, -1) == 1);
    CHECK(event.data.fd == p.first);
  });
  char c;
  REQUIRE(::read(p.first, &c, 1) == 1);
  task<void> timing_out = spawn([&] {
    epoll_event event{};
    CHECK(::epoll_pwait(epfd, &event, 1, 20, nullptr) == 0);
  });
  timing_out.join();
  CHECK(timing_out.successful());
  ::close(epfd);
}

TEST_CASE("close of an fd a poll waits on ends the wait, and poll reports POLLNVAL") {
  tendril::patch_all();
  hub_check check;
  fd_leak_check fds;
  fd_pair p(fd_pair::pipe);
  int polled_fd = p.first;
  task<void> waiter = spawn([&] {
    pollfd polled{polled_fd, POLLIN, 0};
    CHECK(::poll(&polled, 1, -1) == 1);
    CHECK(polled.revents == POLLNVAL);
  });
  task<void> closer = spawn([&] { CHECK(::close(std::exchange(p.first, -1)) == 0); });
  tendril::joinall({waiter, closer});
  CHECK(waiter.successful());
}

TEST_CASE("poll with no fds and a timeout sleeps the fiber, not the thread") {
  tendril::patch_all();
  hub_check check;
  std::vector<int> order;
  task<void> sleeper = spawn([&] {
    CHECK(::poll(nullptr, 0, 30) == 0);
    order.push_back(1);
  });
  task<void> other = spawn([&] { order.push_back(2); });
  tendril::joinall({sleeper, other});
  CHECK(order == std::vector<int>{2, 1});
}

TEST_CASE("poll reports a hang-up on an fd asked for no events at once, beside an fd that is not ready") {
  tendril::patch_all();
  hub_check check;
  fd_leak_check fds;
  fd_pair quiet(fd_pair::pipe);
  fd_pair hung_up(fd_pair::pipe);
  ::close(std::exchange(hung_up.second, -1));
  // No watcher can see a hang-up asked for with no events, so this poll
  // must look before it parks (parked, it would wait forever on `quiet`).
  pollfd polled[2] = {{quiet.first, POLLIN, 0}, {hung_up.first, 0, 0}};
  CHECK(::poll(polled, 2, -1) == 1);
  CHECK(polled[0].revents == 0);
  CHECK((polled[1].revents & POLLHUP) != 0);
}
