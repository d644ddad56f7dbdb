// sleep, usleep, nanosleep and clock_nanosleep in fibers park the fiber,
// not the thread: the fibers wake in the order of their deadlines (without
// patch, each would block the thread in turn and they would finish in the
// order they started). Invalid requests fail as libc's do.

#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include <tendril/hub/join.hpp>
#include <tendril/hub/task.hpp>
#include <tendril/patch.hpp>

#include "support/hub_fixture.hpp"

namespace {

using tendril::spawn;
using tendril::task;
using tendril::testing::hub_check;

}  // namespace

TEST_CASE("usleep, nanosleep and clock_nanosleep of fibers wake in the order of their deadlines") {
  tendril::patch_all();
  hub_check check;
  std::vector<std::string> woke;
  task<void> longest = spawn([&] {
    CHECK(::usleep(300000) == 0);
    woke.push_back("usleep 300 ms");
  });
  task<void> middle = spawn([&] {
    const timespec t{0, 150000000};
    timespec left{};
    CHECK(::nanosleep(&t, &left) == 0);
    woke.push_back("nanosleep 150 ms");
  });
  task<void> shortest = spawn([&] {
    const timespec t{0, 10000000};
    CHECK(::clock_nanosleep(CLOCK_MONOTONIC, 0, &t, nullptr) == 0);
    woke.push_back("clock_nanosleep 10 ms");
  });
  tendril::joinall({longest, middle, shortest});
  CHECK(woke == std::vector<std::string>{"clock_nanosleep 10 ms", "nanosleep 150 ms", "usleep 300 ms"});
}

TEST_CASE("sleep of a fiber lets the others run first") {
  tendril::patch_all();
  hub_check check;
  std::vector<std::string> woke;
  task<void> sleeper = spawn([&] {
    CHECK(::sleep(1) == 0u);
    woke.push_back("sleep 1 s");
  });
  task<void> other = spawn([&] {
    CHECK(::usleep(1000) == 0);
    woke.push_back("usleep 1 ms");
  });
  tendril::joinall({sleeper, other});
  CHECK(woke == std::vector<std::string>{"usleep 1 ms", "sleep 1 s"});
}

TEST_CASE("clock_nanosleep until an absolute time on CLOCK_MONOTONIC and CLOCK_REALTIME parks the fiber") {
  tendril::patch_all();
  hub_check check;
  std::vector<std::string> woke;
  auto at = [](clockid_t id, long ms) {
    timespec t{};
    ::clock_gettime(id, &t);
    t.tv_nsec += ms * 1000000;
    t.tv_sec += t.tv_nsec / 1000000000;
    t.tv_nsec %= 1000000000;
    return t;
  };
  task<void> realtime = spawn([&] {
    timespec t = at(CLOCK_REALTIME, 200);
    CHECK(::clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &t, nullptr) == 0);
    woke.push_back("realtime 200 ms");
  });
  task<void> monotonic = spawn([&] {
    timespec t = at(CLOCK_MONOTONIC, 20);
    CHECK(::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, nullptr) == 0);
    woke.push_back("monotonic 20 ms");
  });
  task<void> past = spawn([&] {
    timespec t{1, 0};  // long past: returns at once
    CHECK(::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, nullptr) == 0);
    woke.push_back("past");
  });
  tendril::joinall({realtime, monotonic, past});
  CHECK(woke == std::vector<std::string>{"past", "monotonic 20 ms", "realtime 200 ms"});
}

TEST_CASE("an invalid sleep request fails as libc's does, in a fiber too") {
  tendril::patch_all();
  hub_check check;
  task<void> t = spawn([&] {
    const timespec bad{0, 1000000000};
    errno = 0;
    CHECK(::nanosleep(&bad, nullptr) == -1);
    CHECK(errno == EINVAL);
    CHECK(::clock_nanosleep(CLOCK_MONOTONIC, 0, &bad, nullptr) == EINVAL);
    const timespec fine{0, 1000};
    CHECK(::clock_nanosleep(CLOCK_THREAD_CPUTIME_ID, 0, &fine, nullptr) != 0);  // libc: not supported
  });
  t.join();
  CHECK(t.successful());
}
