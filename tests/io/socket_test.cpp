// socket: TCP over IPv4 and IPv6, UDP, Unix sockets; end of stream,
// half-close, resets, refused connections, deadlines, kills, closing under
// a waiting fiber, one reader at a time, sendfile; and endpoint's text forms.
// Every case checks that it leaves no fd open.

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include <tendril/error.hpp>
#include <tendril/hub/hub.hpp>
#include <tendril/hub/join.hpp>
#include <tendril/hub/task.hpp>
#include <tendril/hub/timeout.hpp>
#include <tendril/io/dns.hpp>
#include <tendril/io/socket.hpp>
#include <tendril/io/wait.hpp>

#include "support/dnsmasq.hpp"
#include "support/fd_count.hpp"
#include "support/hub_fixture.hpp"

namespace {

using namespace std::chrono_literals;
using tendril::endpoint;
using tendril::spawn;
using tendril::spawn_options;
using tendril::task;
using tendril::testing::fd_leak_check;
using tendril::testing::hub_check;

// A connected TCP pair over loopback: a listener on a free port, a client
// connected to it, and the accepted server side.
struct tcp_pair {
  tendril::socket client;
  tendril::socket server;
  explicit tcp_pair(const endpoint& where = endpoint::loopback(0)) {
    tendril::socket listener = tendril::listen(where);
    client = tendril::socket::tcp(where.family());
    client.connect(listener.local_endpoint());
    server = listener.accept();
  }
};

// read_after_wait(reader, writer) has a fiber read one byte from `reader`
// that `writer` sends only once the read is parked, so the read waits on
// the hub. Returns the byte.
char read_after_wait(tendril::socket& reader, tendril::socket& writer) {
  char c = 0;
  task<void> read = spawn([&] { reader.read_exact(&c, 1); });
  task<void> write = spawn([&] {
    REQUIRE(tendril::detail::waiters_on(reader.fd()) == 1);
    writer.write_all("w");
  });
  tendril::joinall({read, write});
  read.get();
  write.get();
  return c;
}

std::string read_all(tendril::socket& s) {
  std::string text;
  char buffer[1024];
  while (std::size_t n = s.read_some(buffer, sizeof buffer)) text.append(buffer, n);
  return text;
}

template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "no error";
}

bool has_ipv6_loopback() {
  try {
    tendril::socket s = tendril::socket::tcp(AF_INET6);
    s.bind(endpoint::parse("::1", 0));
    return true;
  } catch (const tendril::error&) {
    return false;
  }
}

}  // namespace

// --- endpoints ----------------------------------------------------------------

TEST_CASE("endpoint parses and prints IPv4, IPv6 and Unix addresses") {
  CHECK(endpoint::parse("127.0.0.1", 80).to_string() == "127.0.0.1:80");
  CHECK(endpoint::parse("::1", 443).to_string() == "[::1]:443");
  CHECK(endpoint::parse("[::1]", 443) == endpoint::parse("::1", 443));
  CHECK(endpoint::parse("10.0.0.1", 1).family() == AF_INET);
  CHECK(endpoint::parse("fe80::1", 1).family() == AF_INET6);
  CHECK(endpoint::loopback(8080).port() == 8080);
  CHECK(endpoint::loopback(1).with_port(2).port() == 2);
  CHECK(endpoint::unix_path("/tmp/x.sock").to_string() == "unix:/tmp/x.sock");
  CHECK(endpoint::unix_path(std::string("\0tendril", 8)).to_string() == "unix:@tendril");
  CHECK(endpoint().empty());
}

TEST_CASE("endpoint refuses names and overlong Unix paths, naming them") {
  CHECK_THROWS_WITH(endpoint::parse("example.test", 80),
                    Catch::Contains("\"example.test\" is not a numeric"));
  CHECK_THROWS_WITH(endpoint::unix_path(std::string(200, 'x')), Catch::Contains("longer than"));
}

// --- streams ------------------------------------------------------------------

TEST_CASE("a TCP client and server exchange data over IPv4 loopback") {
  hub_check check;
  fd_leak_check fds;
  tcp_pair pair;
  task<std::string> server = spawn([&] {
    char request[5];
    pair.server.read_exact(request, sizeof request);
    pair.server.write_all("echo:" + std::string(request, sizeof request));
    pair.server.shutdown(SHUT_WR);
    return std::string(request, sizeof request);
  });
  pair.client.write_all("hello");
  CHECK(read_all(pair.client) == "echo:hello");
  CHECK(server.get() == "hello");
  CHECK(pair.client.peer_endpoint() == pair.server.local_endpoint());
}

TEST_CASE("a TCP client and server exchange data over IPv6 loopback") {
  hub_check check;
  fd_leak_check fds;
  if (!has_ipv6_loopback()) FAIL("this machine has no IPv6 loopback; the IPv6 case cannot run");
  tcp_pair pair(endpoint::parse("::1", 0));
  pair.client.write_all("six");
  pair.client.shutdown();
  CHECK(read_all(pair.server) == "six");
  CHECK(pair.server.peer_endpoint().family() == AF_INET6);
}

TEST_CASE("a megabyte written by one fiber arrives whole at another, through many waits") {
  hub_check check;
  fd_leak_check fds;
  tcp_pair pair;
  std::string payload(1 << 20, '\0');
  for (std::size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>('a' + i % 26);
  task<void> writer = spawn([&] {
    pair.client.write_all(payload);
    pair.client.shutdown();
  });
  CHECK(read_all(pair.server) == payload);
  writer.get();
}

TEST_CASE("a half-closed tendril::socket still carries data the other way") {
  hub_check check;
  fd_leak_check fds;
  tcp_pair pair;
  pair.client.write_all("question");
  pair.client.shutdown(SHUT_WR);
  CHECK(read_all(pair.server) == "question");  // end of stream after the data
  pair.server.write_all("answer");
  pair.server.shutdown(SHUT_WR);
  CHECK(read_all(pair.client) == "answer");
}

TEST_CASE("read_exact names how many bytes came when the stream ends early") {
  hub_check check;
  fd_leak_check fds;
  tcp_pair pair;
  pair.client.write_all("abc");
  pair.client.close();
  char buffer[10];
  CHECK_THAT(error_of([&] { pair.server.read_exact(buffer, sizeof buffer); }),
             Catch::Contains("ended after 3 of 10 bytes"));
}

TEST_CASE("a peer reset during a read gives ECONNRESET naming the fd") {
  hub_check check;
  fd_leak_check fds;
  tcp_pair pair;
  task<void> reader = spawn([&] {
    char buffer[16];
    pair.server.read_some(buffer, sizeof buffer);
  });
  tendril::yield();  // the reader parks on the empty tendril::socket
  pair.client.set_option(SOL_SOCKET, SO_LINGER, linger{.l_onoff = 1, .l_linger = 0});
  pair.client.close();  // RST instead of FIN
  tendril::joinall({reader});
  try {
    reader.get();
    FAIL("the read did not fail");
  } catch (const tendril::system_error& e) {
    CHECK(e.code() == std::errc::connection_reset);
    CHECK_THAT(e.what(), Catch::Contains("read on fd "));
  }
}

TEST_CASE("writing to a peer that has gone gives EPIPE, not SIGPIPE") {
  hub_check check;
  fd_leak_check fds;
  tcp_pair pair;
  pair.server.close();
  std::string block(64 * 1024, 'x');
  try {
    for (int i = 0; i < 100; ++i) pair.client.write_all(block);  // the first writes may still be buffered
    FAIL("writing to a closed peer never failed");
  } catch (const tendril::system_error& e) {
    CHECK((e.code() == std::errc::broken_pipe || e.code() == std::errc::connection_reset));
  }
}

TEST_CASE("connecting to a port nobody listens on gives ECONNREFUSED naming the address") {
  hub_check check;
  fd_leak_check fds;
  endpoint unused;
  {
    tendril::socket probe = tendril::listen(endpoint::loopback(0));
    unused = probe.local_endpoint();
  }  // closed: nothing listens there now
  tendril::socket s = tendril::socket::tcp();
  try {
    s.connect(unused);
    FAIL("connect succeeded");
  } catch (const tendril::system_error& e) {
    CHECK(e.code() == std::errc::connection_refused);
    CHECK_THAT(e.what(), Catch::Contains(unused.to_string()));
  }
}

TEST_CASE("a read from a peer that never answers times out at its deadline") {
  hub_check check;
  fd_leak_check fds;
  tcp_pair pair;
  char buffer[4];
  try {
    pair.client.read_some(buffer, sizeof buffer, tendril::deadline_after(20ms));
    FAIL("the read returned");
  } catch (const tendril::system_error& e) {
    CHECK(e.code() == std::errc::timed_out);
    CHECK_THAT(e.what(), Catch::Contains("read on fd " + std::to_string(pair.client.fd())));
  }
  // The tendril::socket is still usable afterwards.
  pair.server.write_all("late");
  pair.client.read_exact(buffer, sizeof buffer);
  CHECK(std::string(buffer, 4) == "late");
}

TEST_CASE("read_exact's timeout says how much had arrived") {
  hub_check check;
  fd_leak_check fds;
  tcp_pair pair;
  pair.server.write_all("ab");
  char buffer[5];
  CHECK_THAT(error_of([&] { pair.client.read_exact(buffer, sizeof buffer, tendril::deadline_after(20ms)); }),
             Catch::Contains("timed out after 2 of 5 bytes"));
}

TEST_CASE("accept times out at its deadline") {
  hub_check check;
  fd_leak_check fds;
  tendril::socket listener = tendril::listen(endpoint::loopback(0));
  try {
    listener.accept(tendril::deadline_after(10ms));
    FAIL("accept returned");
  } catch (const tendril::system_error& e) {
    CHECK(e.code() == std::errc::timed_out);
  }
}

TEST_CASE("a killed reader leaves the tendril::socket usable") {
  hub_check check;
  fd_leak_check fds;
  tcp_pair pair;
  task<void> reader = spawn([&] {
    char buffer[4];
    pair.client.read_some(buffer, sizeof buffer);
    FAIL("the read returned instead of raising the kill");
  });
  tendril::yield();
  reader.kill();
  CHECK(reader.killed());
  CHECK(tendril::detail::waiters_on(pair.client.fd()) == 0);
  pair.server.write_all("next");
  char buffer[4];
  pair.client.read_exact(buffer, sizeof buffer);  // a new reader is welcome
  CHECK(std::string(buffer, 4) == "next");
}

TEST_CASE("an expired timeout scope raises at a tendril::socket read") {
  hub_check check;
  fd_leak_check fds;
  tcp_pair pair;
  char buffer[4];
  tendril::timeout scope(10ms);
  CHECK_THROWS_AS(pair.client.read_some(buffer, sizeof buffer), tendril::timeout_error);
}

TEST_CASE("a second concurrent reader gets an error naming the fiber already reading") {
  hub_check check;
  fd_leak_check fds;
  tcp_pair pair;
  task<std::string> first = spawn(spawn_options{.name = "first-reader"}, [&] {
    char buffer[3];
    pair.client.read_exact(buffer, sizeof buffer);
    return std::string(buffer, 3);
  });
  tendril::yield();  // first parks inside read_exact
  char buffer[3];
  std::string what = error_of([&] { pair.client.read_some(buffer, sizeof buffer); });
  CHECK_THAT(what, Catch::Contains("first-reader"));
  CHECK_THAT(what, Catch::Contains("one fiber reads and one writes at a time"));
  pair.server.write_all("xyz");
  CHECK(first.get() == "xyz");  // the first reader got every byte
}

TEST_CASE("closing a tendril::socket wakes the fiber reading it with an error naming the fd") {
  hub_check check;
  fd_leak_check fds;
  tcp_pair pair;
  int fd = pair.client.fd();
  task<void> reader = spawn(spawn_options{.name = "blocked-reader"}, [&] {
    char buffer[4];
    pair.client.read_some(buffer, sizeof buffer);
  });
  tendril::yield();
  pair.client.close();
  CHECK_FALSE(pair.client.is_open());
  tendril::joinall({reader});
  std::string what = error_of([&] { reader.get(); });
  CHECK_THAT(what, Catch::Contains("fd " + std::to_string(fd) + " was closed while"));
  CHECK_THAT(what, Catch::Contains("blocked-reader"));
}

TEST_CASE("calls on a closed tendril::socket throw tendril::error saying so") {
  hub_check check;
  tendril::socket s;
  char buffer[1];
  CHECK_THROWS_WITH(s.read_some(buffer, 1), Catch::Contains("read on a closed socket"));
  CHECK_THROWS_WITH(s.write_all("x"), Catch::Contains("write on a closed socket"));
  CHECK_THROWS_AS(s.accept(), tendril::error);
}

TEST_CASE("a moved-from tendril::socket owns nothing and the moved-to one closes the fd") {
  hub_check check;
  fd_leak_check fds;
  tendril::socket a = tendril::socket::tcp();
  int fd = a.fd();
  tendril::socket b = std::move(a);
  CHECK_FALSE(a.is_open());
  CHECK(b.fd() == fd);
  tendril::socket c = tendril::socket::tcp();
  c = std::move(b);  // closes c's own fd
  CHECK(c.fd() == fd);
}

TEST_CASE("tendril::socket options can be set and read back") {
  hub_check check;
  fd_leak_check fds;
  tendril::socket s = tendril::socket::tcp();
  s.set_no_delay();
  s.set_keep_alive();
  CHECK(s.option<int>(IPPROTO_TCP, TCP_NODELAY) == 1);
  CHECK(s.option<int>(SOL_SOCKET, SO_KEEPALIVE) == 1);
  CHECK_THROWS_WITH(s.set_option<int>(SOL_SOCKET, -12345, 1), Catch::Contains("setsockopt"));
}

TEST_CASE("binding an address in use names it") {
  hub_check check;
  fd_leak_check fds;
  tendril::socket first = tendril::listen(endpoint::loopback(0));
  endpoint taken = first.local_endpoint();
  tendril::socket second = tendril::socket::tcp();
  CHECK_THROWS_WITH(second.bind(taken), Catch::Contains("to " + taken.to_string()));
}

// --- the watcher kept between waits ------------------------------------------
// A socket's watcher stays armed between its waits (io/src/fd_wait.cpp).
// These cases would hang, caught by the test timeout, if a kept watcher
// kept the loop alive or were trusted for a reused fd number.

TEST_CASE("a watcher kept between reads does not hide a fiber that would block forever") {
  hub_check check;
  fd_leak_check fds;
  auto [left, right] = tendril::socket::pair();
  CHECK(read_after_wait(right, left) == 'w');
  CHECK(tendril::this_hub_stats().watchers == 0);  // kept, idle: not counted
  // A wait only this hub could end, and nothing on it will.
  CHECK_THROWS_WITH(tendril::park({.what = "a wake that never comes"}),
                    Catch::Contains("would block forever"));
  CHECK(read_after_wait(right, left) == 'w');  // and the kept watcher still serves the next wait
}

TEST_CASE("an fd number closed on another thread and reused here wakes its new reader") {
  hub_check check;
  fd_leak_check fds;
  auto [old_left, old_right] = tendril::socket::pair();
  CHECK(read_after_wait(old_right, old_left) == 'w');  // the hub keeps old_right's watcher
  int number = old_right.fd();
  std::thread([closing = std::move(old_right)]() mutable { closing.close(); }).join();
  old_left.close();
  auto [left, right] = tendril::socket::pair();
  REQUIRE((left.fd() == number || right.fd() == number));
  tendril::socket& reused = left.fd() == number ? left : right;
  tendril::socket& other = left.fd() == number ? right : left;
  CHECK(read_after_wait(reused, other) == 'w');
}

TEST_CASE("a plain wait on a socket's fd number does not trust the socket's kept watcher") {
  hub_check check;
  fd_leak_check fds;
  auto [left, right] = tendril::socket::pair();
  CHECK(read_after_wait(right, left) == 'w');
  int p[2];
  REQUIRE(::pipe2(p, O_NONBLOCK | O_CLOEXEC) == 0);
  // right's fd now names the pipe's read end: closed and reopened behind tendril's back.
  REQUIRE(::dup2(p[0], right.fd()) == right.fd());
  task<void> reader = spawn([&] { CHECK(tendril::wait_readable(right.fd())); });
  task<void> writer = spawn([&] { REQUIRE(::write(p[1], "x", 1) == 1); });
  tendril::joinall({reader, writer});
  reader.get();
  writer.get();
  tendril::close(p[0]);
  tendril::close(p[1]);
}

// --- other kinds --------------------------------------------------------------

TEST_CASE("UDP datagrams go to and come from the right endpoints") {
  hub_check check;
  fd_leak_check fds;
  tendril::socket a = tendril::socket::udp();
  tendril::socket b = tendril::socket::udp();
  a.bind(endpoint::loopback(0));
  b.bind(endpoint::loopback(0));
  task<std::string> receiver = spawn([&] {
    char buffer[64];
    endpoint from;
    std::size_t n = b.receive_from(buffer, sizeof buffer, &from);
    CHECK(from == a.local_endpoint());
    return std::string(buffer, n);
  });
  tendril::yield();  // the receiver parks first
  a.send_to("ping", 4, b.local_endpoint());
  CHECK(receiver.get() == "ping");
}

TEST_CASE("a Unix stream tendril::socket in the abstract namespace connects and carries data") {
  hub_check check;
  fd_leak_check fds;
  endpoint where =
      endpoint::unix_path(std::string("\0tendril-socket-test-", 21) + std::to_string(::getpid()));
  tendril::socket listener = tendril::listen(where);
  tendril::socket client = tendril::socket::unix_stream();
  client.connect(where);
  tendril::socket server = listener.accept();
  client.write_all("unix");
  client.shutdown();
  CHECK(read_all(server) == "unix");
}

TEST_CASE("a tendril::socket pair carries data both ways") {
  hub_check check;
  fd_leak_check fds;
  auto [left, right] = tendril::socket::pair();
  task<void> echo = spawn([&] {
    char buffer[8];
    std::size_t n = right.read_some(buffer, sizeof buffer);
    right.write_all(buffer, n);
  });
  left.write_all("both");
  char buffer[4];
  left.read_exact(buffer, 4);
  CHECK(std::string(buffer, 4) == "both");
  echo.get();
}

TEST_CASE("adopt makes an fd non-blocking and owns it") {
  hub_check check;
  fd_leak_check fds;
  int raw[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, raw) == 0);
  tendril::socket a = tendril::socket::adopt(raw[0]);
  tendril::socket b = tendril::socket::adopt(raw[1]);
  CHECK((::fcntl(a.fd(), F_GETFL) & O_NONBLOCK) != 0);
  char c;
  CHECK_THROWS_AS(a.read_some(&c, 1, tendril::deadline_after(5ms)),
                  tendril::system_error);  // would have blocked
  CHECK_THROWS_WITH(tendril::socket::adopt(-1), Catch::Contains("invalid fd -1"));
}

TEST_CASE("sendfile sends a file's bytes from an offset") {
  hub_check check;
  fd_leak_check fds;
  char path[] = "/tmp/tendril-sendfile-XXXXXX";
  int file = ::mkstemp(path);
  REQUIRE(file >= 0);
  ::unlink(path);
  std::string content(300000, '\0');
  for (std::size_t i = 0; i < content.size(); ++i) content[i] = static_cast<char>(i % 251);
  REQUIRE(::write(file, content.data(), content.size()) == static_cast<ssize_t>(content.size()));
  tcp_pair pair;
  task<std::size_t> sender = spawn([&] {
    std::size_t sent = pair.client.sendfile(file, 100, content.size());  // asks for more than there is
    pair.client.shutdown();
    return sent;
  });
  CHECK(read_all(pair.server) == content.substr(100));
  CHECK(sender.get() == content.size() - 100);
  ::close(file);
}

// --- connect by name ----------------------------------------------------------

TEST_CASE("connect by host name resolves localhost and connects") {
  hub_check check;
  fd_leak_check fds;
  tendril::socket listener = tendril::listen(endpoint::loopback(0));
  tendril::socket client = tendril::connect("localhost", listener.local_endpoint().port(), 10s);
  tendril::socket server = listener.accept();
  client.write_all("by name");
  client.shutdown();
  CHECK(read_all(server) == "by name");
}

TEST_CASE("connect by a numeric address needs no lookup") {
  hub_check check;
  fd_leak_check fds;
  tendril::socket listener = tendril::listen(endpoint::loopback(0));
  tendril::socket client = tendril::connect("127.0.0.1", listener.local_endpoint().port());
  CHECK(client.peer_endpoint() == listener.local_endpoint());
}

TEST_CASE("connect names the host and port when every address refuses") {
  hub_check check;
  fd_leak_check fds;
  std::uint16_t port = 0;
  {
    tendril::socket probe = tendril::listen(endpoint::loopback(0));
    port = probe.local_endpoint().port();
  }
  try {
    tendril::connect("127.0.0.1", port, 10s);
    FAIL("connect succeeded");
  } catch (const tendril::system_error& e) {
    CHECK(e.code() == std::errc::connection_refused);
    CHECK_THAT(e.what(), Catch::Contains("connect to \"127.0.0.1\" port " + std::to_string(port)));
  }
}

TEST_CASE("connect by a name from a real DNS server, and an unknown name gives an error naming it") {
  hub_check check;
  fd_leak_check fds;
  tendril::testing::dnsmasq server({"host-record=service.test,127.0.0.1"});
  tendril::dns::set_servers(server.address());
  tendril::socket listener = tendril::listen(endpoint::loopback(0));
  tendril::socket client = tendril::connect("service.test", listener.local_endpoint().port(), 10s);
  CHECK(client.peer_endpoint() == listener.local_endpoint());
  CHECK_THROWS_WITH(tendril::connect("nosuch.test", 80, 10s),
                    Catch::Contains("unknown host \"nosuch.test\""));
  tendril::dns::set_servers("");
}
