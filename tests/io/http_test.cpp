// http: requests against a real nginx on loopback (tests/support/nginx.hpp):
// statuses, headers, redirects, chunked and streamed bodies, POST, 500
// concurrent tasks, connection reuse, HTTPS; and the failures: refused
// connections, a server that never answers (deadline, timeout scope, kill),
// malformed URLs, an exception from on_body. Every case checks that the hub
// is left with nothing armed and, once idle connections are closed, no fd
// open.

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include <tendril/error.hpp>
#include <tendril/fiber/greenlet.hpp>
#include <tendril/hub/hub.hpp>
#include <tendril/hub/join.hpp>
#include <tendril/hub/run.hpp>
#include <tendril/hub/sleep.hpp>
#include <tendril/hub/task.hpp>
#include <tendril/hub/timeout.hpp>
#include <tendril/io/http.hpp>
#include <tendril/io/wait.hpp>

#include "support/fd_count.hpp"
#include "support/hub_fixture.hpp"
#include "support/nginx.hpp"
#include "support/no_proxy.hpp"

namespace {

using namespace std::chrono_literals;
namespace http = tendril::http;
using tendril::spawn;
using tendril::task;
using tendril::testing::fd_leak_check;
using tendril::testing::hub_check;
using tendril::testing::open_fd_count;

const char* const locations = R"(
    location = /hello { add_header X-Tendril-Test yes; return 200 "hello, world\n"; }
    location = /redirect { return 302 /hello; }
    location = /redirect-twice { return 301 /redirect; }
    location = /loop { return 302 /loop; }
    location = /chunked { echo "first part"; echo_flush; echo "second part"; }
    location = /echo { echo_read_request_body; echo -n "$request_method $request_body"; }
    location = /header { echo -n "$http_x_tendril"; }
    location = /connection { echo -n "$connection $connection_requests"; }
    location = /slow { echo_sleep 0.1; echo -n "$connection"; }
)";

tendril::testing::nginx start_nginx(bool tls = false) { return tendril::testing::nginx({locations, tls}); }

// Declared after an fd_leak_check, closes this hub's idle connections
// before that check counts.
struct close_idle_at_end {
  ~close_idle_at_end() { http::close_idle_connections(); }
};

// silent_server listens on a free port and never answers: connections
// complete in the kernel's backlog, and requests sent on them wait forever.
struct silent_server {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  std::uint16_t port = 0;
  silent_server() {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof addr;
    REQUIRE(fd >= 0);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(fd, 16) == 0);
    REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &length) == 0);
    port = ntohs(addr.sin_port);
  }
  ~silent_server() { ::close(fd); }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port) + "/never"; }
};

// closed_port holds a port that nothing listens on (bound, so no one else
// takes it): connecting to it is refused.
struct closed_port {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  std::uint16_t port = 0;
  closed_port() {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof addr;
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &length) == 0);
    port = ntohs(addr.sin_port);
  }
  ~closed_port() { ::close(fd); }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port) + "/"; }
};

// A byte of the streamed file at `offset`: every shift of the data changes it.
char pattern_at(std::size_t offset) {
  return static_cast<char>((offset ^ (offset >> 8) ^ (offset >> 16) ^ (offset >> 24)) & 0xff);
}

void write_pattern_file(const std::filesystem::path& path, std::size_t size) {
  std::ofstream out(path, std::ios::binary);
  std::string block(1 << 20, '\0');
  for (std::size_t at = 0; at < size; at += block.size()) {
    for (std::size_t i = 0; i < block.size(); ++i) block[i] = pattern_at(at + i);
    out.write(block.data(), static_cast<std::streamsize>(std::min(block.size(), size - at)));
  }
  REQUIRE(out.good());
}

// expect_http_error(f) runs f, which must throw http_error, and returns it.
template <class F>
http::http_error expect_http_error(F&& f) {
  try {
    f();
  } catch (const http::http_error& e) {
    return e;
  }
  FAIL("no http_error was thrown");
  throw std::logic_error("unreachable");
}

}  // namespace

TEST_CASE("get returns the status, headers and body of a page") {
  hub_check check;
  auto server = start_nginx();
  fd_leak_check fds;
  close_idle_at_end idle;
  http::response r = http::get(server.url("/hello"), 10s);
  CHECK(r.status == 200);
  CHECK(r.body == "hello, world\n");
  CHECK(r.effective_url == server.url("/hello"));
  CHECK(r.header("X-Tendril-Test") == "yes");
  CHECK(r.header("x-tendril-test") == "yes");  // names match case-insensitively
  CHECK(r.header("Content-Length") == "13");
  CHECK(r.header("X-Not-There").empty());
  CHECK(std::find(r.headers.begin(), r.headers.end(),
                  std::pair<std::string, std::string>{"X-Tendril-Test", "yes"}) != r.headers.end());
}

TEST_CASE("a 404 is a response, not an error") {
  hub_check check;
  auto server = start_nginx();
  fd_leak_check fds;
  close_idle_at_end idle;
  http::response r = http::get(server.url("/no/such/page"), 10s);
  CHECK(r.status == 404);
  CHECK(r.body.find("404 Not Found") != std::string::npos);
}

TEST_CASE("a HEAD response has the headers and no body") {
  hub_check check;
  auto server = start_nginx();
  fd_leak_check fds;
  close_idle_at_end idle;
  http::response r = http::fetch({.method = "HEAD", .url = server.url("/hello")});
  CHECK(r.status == 200);
  CHECK(r.header("Content-Length") == "13");
  CHECK(r.body.empty());
}

TEST_CASE("redirects are followed and effective_url is the last URL") {
  hub_check check;
  auto server = start_nginx();
  fd_leak_check fds;
  close_idle_at_end idle;
  http::response r = http::get(server.url("/redirect-twice"), 10s);
  CHECK(r.status == 200);
  CHECK(r.body == "hello, world\n");
  CHECK(r.effective_url == server.url("/hello"));
  CHECK(r.header("Location").empty());  // the headers are the last response's
}

TEST_CASE("with follow_redirects false a redirect is the response") {
  hub_check check;
  auto server = start_nginx();
  fd_leak_check fds;
  close_idle_at_end idle;
  http::response r = http::fetch({.url = server.url("/redirect"), .follow_redirects = false});
  CHECK(r.status == 302);
  CHECK(r.header("Location") == server.url("/hello"));
  CHECK(r.effective_url == server.url("/redirect"));
}

TEST_CASE("more redirects than max_redirects is an http_error naming the URL") {
  hub_check check;
  auto server = start_nginx();
  fd_leak_check fds;
  close_idle_at_end idle;
  const std::string url = server.url("/loop");
  http::http_error e = expect_http_error([&] { http::fetch({.url = url, .max_redirects = 3}); });
  CHECK(e.url() == url);
  CHECK_THAT(e.what(), Catch::Contains("GET \"" + url + "\"") && Catch::Contains("Maximum (3) redirects"));
  CHECK_FALSE(e.timed_out());
}

TEST_CASE("a chunked body is decoded") {
  hub_check check;
  auto server = start_nginx();
  fd_leak_check fds;
  close_idle_at_end idle;
  http::response r = http::get(server.url("/chunked"), 10s);
  CHECK(r.status == 200);
  CHECK(r.header("Transfer-Encoding") == "chunked");
  CHECK(r.body == "first part\nsecond part\n");
}

TEST_CASE("a POST sends its body and other methods keep their name") {
  hub_check check;
  auto server = start_nginx();
  fd_leak_check fds;
  close_idle_at_end idle;
  http::response post =
      http::fetch({.method = "POST", .url = server.url("/echo"), .body = "name=tendril&x=1"});
  CHECK(post.status == 200);
  CHECK(post.body == "POST name=tendril&x=1");
  http::response put = http::fetch({.method = "PUT", .url = server.url("/echo"), .body = "all of it"});
  CHECK(put.body == "PUT all of it");
  http::response empty_post = http::fetch({.method = "POST", .url = server.url("/echo")});
  CHECK(empty_post.body == "POST ");
}

TEST_CASE("request headers are sent") {
  hub_check check;
  auto server = start_nginx();
  fd_leak_check fds;
  close_idle_at_end idle;
  http::response r = http::fetch({.url = server.url("/header"), .headers = {{"X-Tendril", "sent along"}}});
  CHECK(r.body == "sent along");
}

TEST_CASE("a 50 MB body streams through on_body in bounded chunks in the requesting fiber") {
  hub_check check;
  auto server = start_nginx();
  constexpr std::size_t size = 50u << 20;
  write_pattern_file(server.www() / "big.bin", size);
  fd_leak_check fds;
  close_idle_at_end idle;
  std::size_t received = 0;
  std::size_t largest = 0;
  std::size_t chunks = 0;
  bool in_order = true;
  bool in_requester = true;
  task<http::response> download = spawn([&] {
    const tendril::greenlet requester = tendril::greenlet::current();
    http::request r{.url = server.url("/big.bin"), .timeout = 120s};
    r.on_body = [&](std::string_view chunk) {
      in_requester = in_requester && tendril::greenlet::current() == requester;
      for (std::size_t i = 0; i < chunk.size() && in_order; ++i)
        in_order = chunk[i] == pattern_at(received + i);
      received += chunk.size();
      largest = std::max(largest, chunk.size());
      if (++chunks % 64 == 0) tendril::yield();  // on_body may park
    };
    return http::fetch(r);
  });
  http::response r = download.get();
  CHECK(r.status == 200);
  CHECK(r.body.empty());
  CHECK(received == size);
  CHECK(in_order);
  CHECK(in_requester);
  CHECK(chunks > 1);
  INFO("largest chunk " << largest << " bytes in " << chunks << " chunks");
  CHECK(largest <= http::stream_chunk_limit + 16 * 1024);
}

TEST_CASE("an exception from on_body aborts the transfer and propagates") {
  hub_check check;
  auto server = start_nginx();
  write_pattern_file(server.www() / "big.bin", 4u << 20);
  fd_leak_check fds;
  close_idle_at_end idle;
  int calls = 0;
  http::request r{.url = server.url("/big.bin"), .timeout = 60s};
  r.on_body = [&](std::string_view) {
    if (++calls == 2) throw std::runtime_error("enough");
  };
  CHECK_THROWS_WITH(http::fetch(r), "enough");
  CHECK(calls == 2);
  CHECK(tendril::this_hub_stats().watchers == 0);
}

TEST_CASE("the deadline also bounds the time on_body takes") {
  hub_check check;
  auto server = start_nginx();
  write_pattern_file(server.www() / "big.bin", 50u << 20);
  fd_leak_check fds;
  close_idle_at_end idle;
  std::size_t received = 0;
  http::request r{.url = server.url("/big.bin"), .timeout = 200ms};
  r.on_body = [&](std::string_view chunk) {
    received += chunk.size();
    tendril::sleep(20ms);  // a slow consumer: the buffer is full again each time it returns
  };
  http::http_error e = expect_http_error([&] { http::fetch(r); });
  CHECK(e.timed_out());
  CHECK(received < (50u << 20));
}

TEST_CASE("500 tasks fetch concurrently") {
  hub_check check;
  auto server = start_nginx();
  fd_leak_check fds;
  close_idle_at_end idle;
  int in_flight = 0;
  int most_in_flight = 0;
  std::vector<task<std::string>> tasks;
  for (int i = 0; i < 500; ++i)
    tasks.push_back(spawn([&] {
      most_in_flight = std::max(most_in_flight, ++in_flight);
      http::response r = http::get(server.url("/slow"), 60s);
      --in_flight;
      CHECK(r.status == 200);
      return r.body;  // the server's connection number
    }));
  tendril::joinall(tasks);
  std::set<std::string> connections;
  for (const task<std::string>& t : tasks) connections.insert(t.get());
  INFO(most_in_flight << " requests in flight at most, over " << connections.size() << " connections");
  CHECK(most_in_flight > 1);
  CHECK(connections.size() > 1);
}

TEST_CASE("sequential requests reuse one connection until close_idle_connections") {
  hub_check check;
  auto server = start_nginx();
  fd_leak_check fds;
  close_idle_at_end idle;
  auto connection_and_count = [&] { return http::get(server.url("/connection"), 10s).body; };
  const std::string first = connection_and_count();
  const std::string connection = first.substr(0, first.find(' '));
  CHECK(first == connection + " 1");
  CHECK(connection_and_count() == connection + " 2");
  CHECK(connection_and_count() == connection + " 3");
  http::close_idle_connections();
  const std::string fresh = connection_and_count();
  CHECK(fresh != connection + " 4");
  CHECK(fresh.ends_with(" 1"));
}

TEST_CASE("an idle hub keeps its connections with nothing armed until close_idle_connections") {
  hub_check check;
  auto server = start_nginx();
  fd_leak_check fds;
  const std::size_t before = open_fd_count();
  for (int i = 0; i < 3; ++i) CHECK(http::get(server.url("/hello"), 10s).status == 200);
  tendril::joinall(
      std::vector<task<long>>{spawn([&] { return http::get(server.url("/slow"), 10s).status; }),
                              spawn([&] { return http::get(server.url("/slow"), 10s).status; })});
  CHECK(tendril::this_hub_stats().watchers == 0);
  CHECK(open_fd_count() > before);  // kept alive for reuse
  http::close_idle_connections();
  CHECK(open_fd_count() == before);
}

TEST_CASE("close_idle_connections during a transfer closes the connections once it ends") {
  hub_check check;
  auto server = start_nginx();
  fd_leak_check fds;
  const std::size_t before = open_fd_count();
  tendril::testing::gate started;
  task<long> slow = spawn([&] {
    started.open();
    return http::get(server.url("/slow"), 10s).status;
  });
  started.wait();
  http::close_idle_connections();  // the transfer keeps its multi handle meanwhile
  CHECK(slow.get() == 200);
  CHECK(open_fd_count() == before);
}

TEST_CASE("a refused connection is an http_error naming the URL") {
  hub_check check;
  fd_leak_check fds;
  close_idle_at_end idle;
  closed_port nobody;
  http::http_error e = expect_http_error([&] { http::get(nobody.url(), 10s); });
  CHECK(e.url() == nobody.url());
  CHECK_THAT(e.what(), Catch::Contains("GET \"" + nobody.url() + "\"") && Catch::Contains("onnect"));
  CHECK_FALSE(e.timed_out());
}

TEST_CASE("a server that never answers times out at the deadline") {
  hub_check check;
  fd_leak_check fds;
  close_idle_at_end idle;
  silent_server silent;
  http::http_error e = expect_http_error([&] { http::get(silent.url(), 200ms); });
  CHECK(e.timed_out());
  CHECK(e.url() == silent.url());
  CHECK_THAT(e.what(), Catch::Contains("GET \"" + silent.url() + "\"") && Catch::Contains("deadline"));
  CHECK(tendril::this_hub_stats().watchers == 0);
}

TEST_CASE("the earlier of the deadline and the request's timeout applies") {
  hub_check check;
  fd_leak_check fds;
  close_idle_at_end idle;
  silent_server silent;
  http::http_error e = expect_http_error(
      [&] { http::fetch({.url = silent.url(), .timeout = 1h}, tendril::deadline_after(100ms)); });
  CHECK(e.timed_out());
}

TEST_CASE("a timeout scope interrupts a request") {
  hub_check check;
  fd_leak_check fds;
  close_idle_at_end idle;
  silent_server silent;
  bool interrupted = false;
  try {
    tendril::timeout scope(100ms);
    try {
      http::get(silent.url());
    } catch (const tendril::timeout_error& e) {
      interrupted = scope.owns(e);
    }
  } catch (const tendril::timeout_error&) {
    FAIL("the scope's timeout_error escaped it");
  }
  CHECK(interrupted);
  CHECK(tendril::this_hub_stats().watchers == 0);
}

TEST_CASE("a kill during a transfer closes its connection and leaves nothing armed") {
  hub_check check;
  fd_leak_check fds;
  close_idle_at_end idle;
  silent_server silent;
  task<long> fetcher = spawn([&] { return http::get(silent.url()).status; });
  // The request arrives: the transfer is in flight, waiting for an answer.
  REQUIRE(tendril::wait_readable(silent.fd, tendril::deadline_after(10s)));
  int conn = ::accept4(silent.fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
  REQUIRE(conn >= 0);
  std::string received;
  char buffer[4096];
  while (received.find("\r\n\r\n") == std::string::npos) {
    REQUIRE(tendril::wait_readable(conn, tendril::deadline_after(10s)));
    const ssize_t n = ::read(conn, buffer, sizeof buffer);
    REQUIRE(n > 0);
    received.append(buffer, static_cast<std::size_t>(n));
  }
  CHECK(received.starts_with("GET /never HTTP/1.1\r\n"));
  CHECK(fetcher.kill());
  CHECK(fetcher.killed());
  CHECK(tendril::this_hub_stats().watchers == 0);
  // The client closed its end: the server reads end of stream.
  REQUIRE(tendril::wait_readable(conn, tendril::deadline_after(10s)));
  CHECK(::read(conn, buffer, sizeof buffer) == 0);
  ::close(conn);
}

TEST_CASE("a kill while on_body parks ends a paused transfer") {
  hub_check check;
  auto server = start_nginx();
  write_pattern_file(server.www() / "big.bin", 4u << 20);
  fd_leak_check fds;
  close_idle_at_end idle;
  tendril::testing::gate in_body;
  tendril::testing::gate never;
  bool unwound = false;
  task<void> reader = spawn([&] {
    tendril::testing::unwind_flag flag{unwound};
    http::request r{.url = server.url("/big.bin"), .timeout = 60s};
    r.on_body = [&](std::string_view) {
      in_body.open();
      never.wait();
    };
    http::fetch(r);
  });
  in_body.wait();
  CHECK(reader.kill());
  CHECK(unwound);
  CHECK(tendril::this_hub_stats().watchers == 0);
}

TEST_CASE("malformed URLs, methods and headers are rejected before any I/O") {
  hub_check check;
  fd_leak_check fds;
  const std::uint64_t polls = tendril::this_hub_stats().loop_iterations;
  for (const std::string url : {"", "not a url", "http://exa mple.com/", "http://[::1/",
                                "127.0.0.1/no-scheme", "http://127.0.0.1:99999/"}) {
    http::http_error e = expect_http_error([&] { http::get(url, 10s); });
    CHECK(e.url() == url);
    CHECK_THAT(e.what(), Catch::Contains("\"" + url + "\": malformed URL"));
  }
  http::http_error ftp = expect_http_error([] { http::get("ftp://127.0.0.1/file", 10s); });
  CHECK_THAT(ftp.what(), Catch::Contains("unsupported URL scheme \"ftp\""));
  http::http_error method =
      expect_http_error([] { http::fetch({.method = "GE T", .url = "http://127.0.0.1/"}); });
  CHECK_THAT(method.what(), Catch::Contains("invalid method \"GE T\""));
  http::http_error value = expect_http_error([] {
    http::fetch({.url = "http://127.0.0.1/", .headers = {{"X-Evil", "a\r\nInjected: yes"}}});
  });
  CHECK_THAT(value.what(), Catch::Contains("header \"X-Evil\" has a CR, LF or NUL"));
  http::http_error name = expect_http_error([] {
    http::fetch({.url = "http://127.0.0.1/", .headers = {{"Bad Name", "x"}}});
  });
  CHECK_THAT(name.what(), Catch::Contains("invalid header name \"Bad Name\""));
  CHECK(tendril::this_hub_stats().loop_iterations == polls);  // nothing parked, nothing polled
}

TEST_CASE("https works with the server's certificate trusted") {
  hub_check check;
  auto server = start_nginx(/*tls=*/true);
  fd_leak_check fds;
  close_idle_at_end idle;
  http::response r =
      http::fetch({.url = server.tls_url("/hello"), .timeout = 10s, .ca_file = server.cert_file()});
  CHECK(r.status == 200);
  CHECK(r.body == "hello, world\n");
  http::response unverified =
      http::fetch({.url = server.tls_url("/hello"), .timeout = 10s, .verify_tls = false});
  CHECK(unverified.status == 200);
}

TEST_CASE("https to an untrusted self-signed certificate is an http_error naming the URL") {
  hub_check check;
  auto server = start_nginx(/*tls=*/true);
  fd_leak_check fds;
  close_idle_at_end idle;
  const std::string url = server.tls_url("/hello");
  http::http_error e = expect_http_error([&] { http::get(url, 10s); });
  CHECK(e.url() == url);
  CHECK_THAT(e.what(), Catch::Contains("GET \"" + url + "\"") && Catch::Contains("certificate"));
}

TEST_CASE("each thread's hub has its own connections, closed when the thread exits") {
  hub_check check;
  auto server = start_nginx();
  fd_leak_check fds;
  close_idle_at_end idle;
  CHECK(http::get(server.url("/connection"), 10s).body.ends_with(" 1"));
  std::string on_thread;
  std::thread([&] {
    on_thread = tendril::run([&] { return http::get(server.url("/connection"), 10s).body; });
  }).join();
  CHECK(on_thread.ends_with(" 1"));  // not this hub's idle connection
}
