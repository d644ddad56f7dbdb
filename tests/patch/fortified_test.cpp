// The same deadlock tests built with -D_FORTIFY_SOURCE=2 -O2, where libc's
// fortified entry points (__read_chk, __recv_chk, __recvfrom_chk,
// __poll_chk, __ppoll_chk) are called instead of read, recv... A second
// CTest test checks that this program really calls them.

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include <tendril/hub/join.hpp>
#include <tendril/hub/task.hpp>
#include <tendril/patch.hpp>

#include "patch/posix_fds.hpp"
#include "support/fd_count.hpp"
#include "support/hub_fixture.hpp"

#if !defined(_FORTIFY_SOURCE) || _FORTIFY_SOURCE < 2 || !defined(__OPTIMIZE__)
#error "fortified_test must be built with -D_FORTIFY_SOURCE=2 -O2"
#endif

namespace {

using tendril::spawn;
using tendril::task;
using tendril::testing::fd_leak_check;
using tendril::testing::fd_pair;
using tendril::testing::hub_check;

// Sizes the compiler cannot know: the fortified forms check them at run time.
volatile std::size_t one = 1;
volatile nfds_t one_fd = 1;

// read_byte_after_write(p, read_one): wait_then_write, with a waiting call that
// returns the byte it read.
template <class Read>
void read_byte_after_write(fd_pair& p, Read&& read_one) {
  tendril::testing::wait_then_write(p, [&] { CHECK(read_one() == 'x'); });
}

}  // namespace

TEST_CASE("fortified read parks the fiber (__read_chk)") {
  tendril::patch_all();
  hub_check check;
  fd_leak_check fds;
  fd_pair p(fd_pair::pipe);
  read_byte_after_write(p, [&] {
    char buf[8] = {};
    CHECK(::read(p.first, buf, one) == 1);
    return buf[0];
  });
}

TEST_CASE("fortified recv and recvfrom park the fiber (__recv_chk, __recvfrom_chk)") {
  tendril::patch_all();
  hub_check check;
  fd_leak_check fds;
  fd_pair p(fd_pair::socketpair);
  read_byte_after_write(p, [&] {
    char buf[8] = {};
    CHECK(::recv(p.first, buf, one, 0) == 1);
    return buf[0];
  });
  read_byte_after_write(p, [&] {
    char buf[8] = {};
    CHECK(::recvfrom(p.first, buf, one, 0, nullptr, nullptr) == 1);
    return buf[0];
  });
}

TEST_CASE("fortified poll and ppoll park the fiber (__poll_chk, __ppoll_chk)") {
  tendril::patch_all();
  hub_check check;
  fd_leak_check fds;
  fd_pair p(fd_pair::pipe);
  read_byte_after_write(p, [&] {
    pollfd polled[1] = {{p.first, POLLIN, 0}};
    CHECK(::poll(polled, one_fd, -1) == 1);
    char c = 0;
    CHECK(::read(p.first, &c, 1) == 1);
    return c;
  });
  read_byte_after_write(p, [&] {
    pollfd polled[1] = {{p.first, POLLIN, 0}};
    CHECK(::ppoll(polled, one_fd, nullptr, nullptr) == 1);
    char c = 0;
    CHECK(::read(p.first, &c, 1) == 1);
    return c;
  });
}
