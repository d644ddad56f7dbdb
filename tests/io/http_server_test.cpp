// http::server, driven by raw sockets so each byte on the wire is the
// test's: keep-alive and pipelining, chunked request bodies, HTTP/1.0,
// HEAD, malformed requests (400), oversized bodies (413), failing handlers
// (500), idle and stalled clients, clients that hang up before their
// answer, and stop with idle connections open.

#include <chrono>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include <tendril/error.hpp>
#include <tendril/hub/join.hpp>
#include <tendril/hub/task.hpp>
#include <tendril/io/http.hpp>
#include <tendril/io/http_server.hpp>
#include <tendril/io/socket.hpp>
#include <tendril/sync/event.hpp>

#include "support/fd_count.hpp"
#include "support/hub_fixture.hpp"

namespace {

using namespace std::chrono_literals;
using tendril::endpoint;
using tendril::http::server;
using tendril::http::server_request;
using tendril::http::server_response;
using tendril::testing::fd_leak_check;
using tendril::testing::hub_check;

// Answers "<method> <path> q=<query> body=<body>" for every request.
server_response describe_request(const server_request& r) {
  if (r.path() == "/missing") return {.status = 404, .body = "no such page\n"};
  return {
      .headers = {{"X-Test", "yes"}},
      .body = r.method + " " + std::string(r.path()) + " q=" + std::string(r.query()) + " body=" + r.body};
}

tendril::socket connect_to(const server& s) {
  tendril::socket c = tendril::socket::tcp();
  c.connect(s.local_endpoint());
  return c;
}

// read_until_closed(c) is everything the server sends until it closes.
std::string read_until_closed(tendril::socket& c) {
  std::string text;
  char buffer[4096];
  while (std::size_t n = c.read_some(buffer, sizeof buffer, tendril::deadline_after(10s)))
    text.append(buffer, n);
  return text;
}

// read_response(c) reads one response with a Content-Length body.
std::string read_response(tendril::socket& c) {
  std::string text;
  char buffer[1];
  std::size_t header_end = std::string::npos;
  while ((header_end = text.find("\r\n\r\n")) == std::string::npos) {
    REQUIRE(c.read_some(buffer, 1, tendril::deadline_after(10s)) == 1);
    text += buffer[0];
  }
  std::size_t at = text.find("Content-Length: ");
  REQUIRE(at != std::string::npos);
  std::size_t length = std::stoul(text.substr(at + 16));
  std::string body(length, '\0');
  if (length > 0) c.read_exact(body.data(), length, tendril::deadline_after(10s));
  return text + body;
}

}  // namespace

TEST_CASE("an HTTP server answers a GET with status, headers and a Content-Length body") {
  hub_check check;
  fd_leak_check fds;
  server site(endpoint::loopback(0), describe_request);
  site.start();
  tendril::socket c = connect_to(site);
  c.write_all("GET /hello?x=1 HTTP/1.1\r\nHost: test\r\n\r\n");
  std::string response = read_response(c);
  CHECK_THAT(response, Catch::StartsWith("HTTP/1.1 200 OK\r\n"));
  CHECK_THAT(response, Catch::Contains("X-Test: yes\r\n"));
  CHECK_THAT(response, Catch::EndsWith("\r\n\r\nGET /hello q=x=1 body="));
  CHECK(site.requests() == 1);
  c.close();
  CHECK(site.stop());
}

TEST_CASE("keep-alive and pipelined requests are answered in order on one connection") {
  hub_check check;
  fd_leak_check fds;
  server site(endpoint::loopback(0), describe_request);
  site.start();
  tendril::socket c = connect_to(site);
  c.write_all("GET /one HTTP/1.1\r\nHost: t\r\n\r\nGET /two HTTP/1.1\r\nHost: t\r\n\r\n");
  CHECK_THAT(read_response(c), Catch::EndsWith("GET /one q= body="));
  CHECK_THAT(read_response(c), Catch::EndsWith("GET /two q= body="));
  c.write_all("GET /three HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
  std::string last = read_until_closed(c);
  CHECK_THAT(last, Catch::Contains("Connection: close\r\n"));
  CHECK_THAT(last, Catch::EndsWith("GET /three q= body="));
  CHECK(site.requests() == 3);
  CHECK(site.stop());
}

TEST_CASE("a chunked request body reaches the handler de-chunked") {
  hub_check check;
  fd_leak_check fds;
  server site(endpoint::loopback(0), describe_request);
  site.start();
  tendril::socket c = connect_to(site);
  c.write_all(
      "POST /form HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n "
      "world\r\n0\r\n\r\n");
  CHECK_THAT(read_response(c), Catch::EndsWith("POST /form q= body=hello world"));
  c.close();  // else its idle keep-alive handler would outlive stop's grace
  CHECK(site.stop());
}

TEST_CASE("a request arriving a byte at a time is parsed whole") {
  hub_check check;
  fd_leak_check fds;
  server site(endpoint::loopback(0), describe_request);
  site.start();
  tendril::socket c = connect_to(site);
  std::string request = "PUT /slow HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc";
  for (char byte : request) {
    c.write_all(&byte, 1);
    tendril::yield();  // lets the server read each byte on its own
  }
  CHECK_THAT(read_response(c), Catch::EndsWith("PUT /slow q= body=abc"));
  c.close();  // else its idle keep-alive handler would outlive stop's grace
  CHECK(site.stop());
}

TEST_CASE("a handler's 404 is sent as is") {
  hub_check check;
  fd_leak_check fds;
  server site(endpoint::loopback(0), describe_request);
  site.start();
  tendril::socket c = connect_to(site);
  c.write_all("GET /missing HTTP/1.1\r\nHost: t\r\n\r\n");
  std::string response = read_response(c);
  CHECK_THAT(response, Catch::StartsWith("HTTP/1.1 404 Not Found\r\n"));
  CHECK_THAT(response, Catch::EndsWith("no such page\n"));
  c.close();  // else its idle keep-alive handler would outlive stop's grace
  CHECK(site.stop());
}

TEST_CASE("HTTP/1.0 without keep-alive gets one response and the connection closed") {
  hub_check check;
  fd_leak_check fds;
  server site(endpoint::loopback(0), describe_request);
  site.start();
  tendril::socket c = connect_to(site);
  c.write_all("GET /old HTTP/1.0\r\n\r\n");
  std::string response = read_until_closed(c);
  CHECK_THAT(response, Catch::StartsWith("HTTP/1.0 200 OK\r\n"));
  CHECK_THAT(response, Catch::EndsWith("GET /old q= body="));
  CHECK(site.stop());
}

TEST_CASE("a HEAD response has the length of the body but no body") {
  hub_check check;
  fd_leak_check fds;
  server site(endpoint::loopback(0), describe_request);
  site.start();
  tendril::socket c = connect_to(site);
  c.write_all("HEAD /h HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
  std::string response = read_until_closed(c);
  CHECK_THAT(response,
             Catch::Contains("Content-Length: " + std::to_string(std::string("HEAD /h q= body=").size())));
  CHECK_THAT(response, Catch::EndsWith("\r\n\r\n"));
  CHECK(site.stop());
}

TEST_CASE("a malformed request gets 400 and the connection closed") {
  hub_check check;
  fd_leak_check fds;
  server site(endpoint::loopback(0), describe_request);
  site.start();
  tendril::socket c = connect_to(site);
  c.write_all("NOT HTTP AT ALL\r\n\r\n");
  CHECK_THAT(read_until_closed(c), Catch::StartsWith("HTTP/1.1 400 Bad Request\r\n"));
  CHECK(site.requests() == 0);
  CHECK(site.stop());
}

TEST_CASE("a body over max_body_bytes gets 413") {
  hub_check check;
  fd_leak_check fds;
  server::options o;
  o.max_body_bytes = 10;
  server site(endpoint::loopback(0), describe_request, o);
  site.start();
  tendril::socket c = connect_to(site);
  c.write_all("POST /big HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\n0123456789A");
  CHECK_THAT(read_until_closed(c), Catch::StartsWith("HTTP/1.1 413 Payload Too Large\r\n"));
  CHECK(site.stop());
}

TEST_CASE("a handler that throws gets its client a 500 and is reported") {
  hub_check check;
  fd_leak_check fds;
  server site(endpoint::loopback(0),
              [](const server_request&) -> server_response { throw tendril::error("handler exploded"); });
  site.start();
  tendril::socket c = connect_to(site);
  c.write_all("GET / HTTP/1.1\r\nHost: t\r\n\r\n");
  CHECK_THAT(read_until_closed(c), Catch::StartsWith("HTTP/1.1 500 Internal Server Error\r\n"));
  CHECK(site.stop());
  auto reported = check.take_reported();
  REQUIRE(reported.size() == 1);
  CHECK(reported[0].what == "handler exploded");
}

TEST_CASE("a client that hangs up while its handler runs is not a failure of the server") {
  hub_check check;
  fd_leak_check fds;
  tendril::event entered;
  tendril::event release;
  server site(endpoint::loopback(0), [&](const server_request& r) {
    if (r.path() != "/slow") return describe_request(r);
    entered.set();
    release.wait();
    // More than the socket buffers hold: writing it meets the closed connection.
    return server_response{.body = std::string(8 << 20, 'x')};
  });
  site.start();
  {
    tendril::socket gone = connect_to(site);
    gone.write_all("GET /slow HTTP/1.1\r\nHost: t\r\n\r\n");
    entered.wait();
  }  // closed before the answer
  release.set();
  tendril::socket c = connect_to(site);
  c.write_all("GET /after HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
  CHECK_THAT(read_until_closed(c), Catch::EndsWith("GET /after q= body="));
  CHECK(site.stop());
  CHECK(check.take_reported().empty());
}

TEST_CASE("an idle keep-alive connection is closed after idle_timeout") {
  hub_check check;
  fd_leak_check fds;
  server::options o;
  o.idle_timeout = 20ms;
  server site(endpoint::loopback(0), describe_request, o);
  site.start();
  tendril::socket c = connect_to(site);
  c.write_all("GET /a HTTP/1.1\r\nHost: t\r\n\r\n");
  read_response(c);
  char byte;
  CHECK(c.read_some(&byte, 1, tendril::deadline_after(10s)) == 0);  // the server hung up
  CHECK(site.stop());
}

TEST_CASE("a client that stalls mid-request is dropped after request_timeout") {
  hub_check check;
  fd_leak_check fds;
  server::options o;
  o.request_timeout = 20ms;
  server site(endpoint::loopback(0), describe_request, o);
  site.start();
  tendril::socket c = connect_to(site);
  c.write_all("GET /stall HTTP/1.1\r\nHo");
  char byte;
  CHECK(c.read_some(&byte, 1, tendril::deadline_after(10s)) == 0);
  CHECK(site.requests() == 0);
  CHECK(site.stop());
}

TEST_CASE("stop ends idle keep-alive connections once the grace period passes") {
  hub_check check;
  fd_leak_check fds;
  server site(endpoint::loopback(0), describe_request);
  site.start();
  tendril::socket c = connect_to(site);
  c.write_all("GET / HTTP/1.1\r\nHost: t\r\n\r\n");
  read_response(c);
  CHECK_FALSE(site.stop(10ms));  // the connection was still open: killed
  char byte;
  CHECK(c.read_some(&byte, 1, tendril::deadline_after(10s)) == 0);
}

TEST_CASE("request headers are found whatever their case") {
  server_request r;
  r.headers = {{"Content-Type", "text/plain"}, {"X-A", "1"}};
  r.target = "/p/q?a=b&c";
  CHECK(r.header("content-type") == "text/plain");
  CHECK(r.header("X-a") == "1");
  CHECK(r.header("missing").empty());
  CHECK(r.path() == "/p/q");
  CHECK(r.query() == "a=b&c");
}

// --- with tendril's own HTTP client ---------------------------------------------

TEST_CASE("tendril's HTTP client gets, posts and reuses connections against the server") {
  hub_check check;
  fd_leak_check fds;
  server site(endpoint::loopback(0), describe_request);
  site.start();
  tendril::http::response got = tendril::http::get(site.url("/page?n=1"), 10s);
  CHECK(got.status == 200);
  CHECK(got.body == "GET /page q=n=1 body=");
  CHECK(got.header("x-test") == "yes");
  tendril::http::response posted =
      tendril::http::fetch({.method = "POST", .url = site.url("/form"), .body = "a=b", .timeout = 10s});
  CHECK(posted.body == "POST /form q= body=a=b");
  CHECK(tendril::http::get(site.url("/missing"), 10s).status == 404);

  std::vector<tendril::task<std::string>> clients;
  for (int i = 0; i < 200; ++i)
    clients.push_back(
        tendril::spawn([&, i] { return tendril::http::get(site.url("/c" + std::to_string(i)), 10s).body; }));
  for (int i = 0; i < 200; ++i)
    CHECK(clients[static_cast<std::size_t>(i)].get() == "GET /c" + std::to_string(i) + " q= body=");
  CHECK(site.requests() == 203);
  CHECK(site.accepted() < site.requests());  // keep-alive: connections served several requests
  tendril::http::close_idle_connections();
  CHECK(site.stop());
}
