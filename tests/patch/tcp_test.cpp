// Plain POSIX TCP over loopback between two fibers of one thread: blocking
// connect, accept, read, write, send/recv (MSG_WAITALL), sendmsg/recvmsg,
// and a refused connect, whose error comes through SO_ERROR as the
// kernel's blocking connect reports it; and a Unix stream connect to a full
// listener, which waits for an accept or until SO_SNDTIMEO passes.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <string>
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
using tendril::testing::hub_check;
using tendril::testing::read_exactly;

// A blocking TCP listener on 127.0.0.1 and a free port.
struct listener {
  int fd = -1;
  sockaddr_in address{};
  listener() {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
    socklen_t length = sizeof address;
    REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0);
    REQUIRE(::listen(fd, 8) == 0);
  }
  listener(const listener&) = delete;
  listener& operator=(const listener&) = delete;
  ~listener() { ::close(fd); }
  const sockaddr* addr() const { return reinterpret_cast<const sockaddr*>(&address); }
};

int connected_socket(const listener& l) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  REQUIRE(::connect(fd, l.addr(), sizeof l.address) == 0);
  return fd;
}

}  // namespace

TEST_CASE("blocking accept, connect, read and write over TCP loopback between two fibers") {
  tendril::patch_all();
  hub_check check;
  fd_leak_check fds;
  listener l;
  // The server starts first and parks in accept; the client connects.
  task<std::string> server = spawn([&] {
    int fd = ::accept(l.fd, nullptr, nullptr);
    REQUIRE(fd >= 0);
    std::string request = read_exactly(fd, 5);
    CHECK(::write(fd, "pong!", 5) == 5);
    ::close(fd);
    return request;
  });
  task<std::string> client = spawn([&] {
    int fd = connected_socket(l);
    CHECK(::write(fd, "ping!", 5) == 5);
    std::string reply = read_exactly(fd, 5);
    char c;
    CHECK(::read(fd, &c, 1) == 0);  // the server closed: end of stream
    ::close(fd);
    return reply;
  });
  tendril::joinall({server, client});
  CHECK(server.get() == "ping!");
  CHECK(client.get() == "pong!");
}

TEST_CASE("accept4 returns a socket with the flags asked for, which then waits cooperatively") {
  tendril::patch_all();
  hub_check check;
  fd_leak_check fds;
  listener l;
  task<void> server = spawn([&] {
    int fd = ::accept4(l.fd, nullptr, nullptr, SOCK_CLOEXEC);
    REQUIRE(fd >= 0);
    CHECK((::fcntl(fd, F_GETFL) & O_NONBLOCK) == 0);
    CHECK((::fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);
    CHECK(read_exactly(fd, 2) == "hi");
    ::close(fd);
  });
  task<void> client = spawn([&] {
    int fd = connected_socket(l);
    tendril::yield();  // the server parks in read first
    CHECK(::send(fd, "hi", 2, 0) == 2);
    ::close(fd);
  });
  tendril::joinall({server, client});
  CHECK(server.successful());
  CHECK(client.successful());
}

TEST_CASE("recv with MSG_WAITALL waits for the whole message, sent in parts by another fiber") {
  tendril::patch_all();
  hub_check check;
  fd_leak_check fds;
  tendril::testing::fd_pair p(tendril::testing::fd_pair::socketpair);
  task<std::string> reader = spawn([&] {
    std::string got(6, '\0');
    CHECK(::recv(p.first, got.data(), got.size(), MSG_WAITALL) == 6);
    return got;
  });
  task<void> writer = spawn([&] {
    CHECK(::send(p.second, "abc", 3, 0) == 3);
    tendril::yield();
    CHECK(::send(p.second, "def", 3, 0) == 3);
  });
  tendril::joinall({reader, writer});
  CHECK(reader.get() == "abcdef");
}

TEST_CASE("sendmsg and recvmsg pass data between two fibers") {
  tendril::patch_all();
  hub_check check;
  fd_leak_check fds;
  tendril::testing::fd_pair p(tendril::testing::fd_pair::socketpair);
  task<std::string> reader = spawn([&] {
    char buf[16] = {};
    iovec part{buf, sizeof buf};
    msghdr msg{};
    msg.msg_iov = &part;
    msg.msg_iovlen = 1;
    ssize_t n = ::recvmsg(p.first, &msg, 0);
    REQUIRE(n > 0);
    return std::string(buf, std::size_t(n));
  });
  task<void> writer = spawn([&] {
    char text[] = "hello";
    iovec part{text, 5};
    msghdr msg{};
    msg.msg_iov = &part;
    msg.msg_iovlen = 1;
    CHECK(::sendmsg(p.second, &msg, 0) == 5);
  });
  tendril::joinall({reader, writer});
  CHECK(reader.get() == "hello");
}

TEST_CASE("a blocking connect to a port nobody listens on fails with ECONNREFUSED") {
  tendril::patch_all();
  hub_check check;
  fd_leak_check fds;
  sockaddr_in nowhere{};
  {
    listener l;  // a free port, closed again
    nowhere = l.address;
  }
  task<void> client = spawn([&] {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    errno = 0;
    CHECK(::connect(fd, reinterpret_cast<sockaddr*>(&nowhere), sizeof nowhere) == -1);
    CHECK(errno == ECONNREFUSED);
    ::close(fd);
  });
  client.join();
  CHECK(client.successful());
}

// A Unix stream listener whose backlog (0) one connection fills: a second
// blocking connect then waits for the listener to accept, as the kernel's
// does, which makes the wait deterministic.
struct full_unix_listener {
  int fd = -1;
  int first_client = -1;
  sockaddr_un address{};
  socklen_t length = 0;
  full_unix_listener() {
    fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    address.sun_family = AF_UNIX;
    length = sizeof(sa_family_t);  // autobind: an abstract name of the kernel's choosing
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&address), length) == 0);
    length = sizeof address;
    REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0);
    REQUIRE(::listen(fd, 0) == 0);
    first_client = ::socket(AF_UNIX, SOCK_STREAM, 0);
    REQUIRE(::connect(first_client, addr(), length) == 0);
  }
  full_unix_listener(const full_unix_listener&) = delete;
  full_unix_listener& operator=(const full_unix_listener&) = delete;
  ~full_unix_listener() {
    ::close(first_client);
    ::close(fd);
  }
  const sockaddr* addr() const { return reinterpret_cast<const sockaddr*>(&address); }
};

TEST_CASE("a blocking connect to a full listener parks until the listener accepts") {
  tendril::patch_all();
  hub_check check;
  fd_leak_check fds;
  full_unix_listener l;
  std::vector<std::string> order;
  task<void> client = spawn([&] {
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    order.push_back("connecting");
    CHECK(::connect(fd, l.addr(), l.length) == 0);
    order.push_back("connected");
    ::close(fd);
  });
  task<void> server = spawn([&] {
    order.push_back("accepting");
    int accepted = ::accept(l.fd, nullptr, nullptr);  // the first client's: room for the second
    CHECK(accepted >= 0);
    ::close(accepted);
    accepted = ::accept(l.fd, nullptr, nullptr);  // the second's, once its connect is through
    CHECK(accepted >= 0);
    ::close(accepted);
  });
  tendril::joinall({client, server});
  CHECK(client.successful());
  CHECK(server.successful());
  CHECK(order == std::vector<std::string>{"connecting", "accepting", "connected"});
}

TEST_CASE("SO_SNDTIMEO bounds a blocking connect, which fails with EAGAIN while the other fibers run") {
  tendril::patch_all();
  hub_check check;
  fd_leak_check fds;
  full_unix_listener l;
  std::vector<std::string> order;
  task<void> client = spawn([&] {
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    timeval timeout{0, 20000};  // 20 ms
    REQUIRE(::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout) == 0);
    order.push_back("connecting");
    errno = 0;
    CHECK(::connect(fd, l.addr(), l.length) == -1);
    CHECK(errno == EAGAIN);  // what the kernel's blocking connect says when SO_SNDTIMEO passes
    order.push_back("gave up");
    ::close(fd);
  });
  task<void> other = spawn([&] { order.push_back("another fiber ran"); });
  tendril::joinall({client, other});
  CHECK(client.successful());
  CHECK(order == std::vector<std::string>{"connecting", "another fiber ran", "gave up"});
}
