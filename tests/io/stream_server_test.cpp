// stream_server: a handler task per connection, the connection limit,
// graceful stop (wait up to a grace period, then kill), serve_forever,
// failing handlers, and misuse. Every case checks it leaves no fd open.

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include <tendril/error.hpp>
#include <tendril/hub/join.hpp>
#include <tendril/hub/task.hpp>
#include <tendril/io/socket.hpp>
#include <tendril/io/stream_server.hpp>

#include "support/fd_count.hpp"
#include "support/hub_fixture.hpp"

namespace {

using namespace std::chrono_literals;
using tendril::endpoint;
using tendril::spawn;
using tendril::stream_server;
using tendril::task;
using tendril::testing::fd_leak_check;
using tendril::testing::gate;
using tendril::testing::hub_check;

void echo(tendril::socket connection, const endpoint&) {
  char buffer[256];
  while (std::size_t n = connection.read_some(buffer, sizeof buffer)) connection.write_all(buffer, n);
}

// ask(where, text) connects, sends `text`, half-closes and returns the reply.
std::string ask(const endpoint& where, const std::string& text) {
  tendril::socket s = tendril::socket::tcp(where.family());
  s.connect(where);
  s.write_all(text);
  s.shutdown(SHUT_WR);
  std::string reply;
  char buffer[256];
  while (std::size_t n = s.read_some(buffer, sizeof buffer)) reply.append(buffer, n);
  return reply;
}

}  // namespace

TEST_CASE("a stream server runs a handler per connection for many concurrent clients") {
  hub_check check;
  fd_leak_check fds;
  stream_server server(endpoint::loopback(0), echo);
  server.start();
  std::vector<task<std::string>> clients;
  for (int i = 0; i < 50; ++i)
    clients.push_back(spawn([&, i] { return ask(server.local_endpoint(), "client " + std::to_string(i)); }));
  for (int i = 0; i < 50; ++i)
    CHECK(clients[static_cast<std::size_t>(i)].get() == "client " + std::to_string(i));
  CHECK(server.accepted() == 50);
  CHECK(server.stop());
}

TEST_CASE("with max_connections, no more handlers run at once than the limit") {
  hub_check check;
  fd_leak_check fds;
  gate release;
  std::size_t running = 0;
  std::size_t most_running = 0;
  std::size_t served = 0;
  stream_server server(endpoint::loopback(0),
                       [&](tendril::socket connection, const endpoint&) {
                         ++running;
                         most_running = std::max(most_running, running);
                         release.wait();
                         connection.write_all("ok");
                         --running;
                         ++served;
                       },
                       {.max_connections = 2});
  server.start();
  std::vector<task<std::string>> clients;
  for (int i = 0; i < 5; ++i) clients.push_back(spawn([&] { return ask(server.local_endpoint(), ""); }));
  // Wait until the server is saturated: two handlers parked on the gate.
  while (release.waiting() < 2) tendril::yield();
  CHECK(server.connections() == 2);
  release.open();
  for (auto& c : clients) CHECK(c.get() == "ok");
  CHECK(served == 5);
  CHECK(most_running == 2);
  CHECK(server.stop());
}

TEST_CASE("stop waits for handlers that finish within the grace period") {
  hub_check check;
  fd_leak_check fds;
  gate finish;
  bool finished = false;
  stream_server server(endpoint::loopback(0), [&](tendril::socket, const endpoint&) {
    finish.wait();
    finished = true;
  });
  server.start();
  tendril::socket client = tendril::socket::tcp();
  client.connect(server.local_endpoint());
  while (server.connections() == 0) tendril::yield();
  // Opens the gate once stop() has parked waiting for the handler.
  task<void> opener = spawn([&] { finish.open(); });
  CHECK(server.stop(10s));
  CHECK(finished);
  opener.get();
}

TEST_CASE("stop kills the handlers still running after the grace period and refuses new connections") {
  hub_check check;
  fd_leak_check fds;
  gate never;
  bool unwound = false;
  stream_server server(endpoint::loopback(0), [&](tendril::socket, const endpoint&) {
    tendril::testing::unwind_flag flag{unwound};
    never.wait();
  });
  server.start();
  endpoint where = server.local_endpoint();
  tendril::socket client = tendril::socket::tcp();
  client.connect(where);
  while (server.connections() == 0) tendril::yield();
  CHECK_FALSE(server.stop(10ms));
  CHECK(unwound);
  CHECK(server.connections() == 0);
  CHECK_FALSE(server.serving());
  tendril::socket late = tendril::socket::tcp();
  CHECK_THROWS_AS(late.connect(where), tendril::system_error);
  // The killed handler closed its connection: the client reads end of stream.
  char c;
  CHECK(client.read_some(&c, 1) == 0);
}

TEST_CASE("serve_forever returns once another fiber stops the server") {
  hub_check check;
  fd_leak_check fds;
  stream_server server(endpoint::loopback(0), echo);
  task<std::string> client = spawn([&] {
    std::string reply = ask(server.local_endpoint(), "once");
    server.stop();
    return reply;
  });
  server.serve_forever();
  CHECK(client.get() == "once");
  CHECK(server.accepted() == 1);
}

TEST_CASE("a failing handler is reported and the server goes on serving") {
  hub_check check;
  fd_leak_check fds;
  int calls = 0;
  stream_server server(endpoint::loopback(0), [&](tendril::socket connection, const endpoint& peer) {
    if (++calls == 1) throw tendril::error("handler failed for " + peer.to_string());
    echo(std::move(connection), peer);
  });
  server.start();
  CHECK(ask(server.local_endpoint(), "first").empty());  // its handler failed and closed it
  CHECK(ask(server.local_endpoint(), "second") == "second");
  CHECK(server.stop());
  auto reported = check.take_reported();
  REQUIRE(reported.size() == 1);
  CHECK_THAT(reported[0].what, Catch::Contains("handler failed for 127.0.0.1:"));
  CHECK_THAT(reported[0].task_name, Catch::Contains("stream_server handler for 127.0.0.1:"));
}

TEST_CASE("a stream server serves a Unix socket") {
  hub_check check;
  fd_leak_check fds;
  endpoint where =
      endpoint::unix_path(std::string("\0tendril-server-test-", 21) + std::to_string(::getpid()));
  stream_server server(where, echo);
  server.start();
  tendril::socket s = tendril::socket::unix_stream();
  s.connect(where);
  s.write_all("local");
  s.shutdown(SHUT_WR);
  char buffer[5];
  s.read_exact(buffer, 5);
  CHECK(std::string(buffer, 5) == "local");
  CHECK(server.stop());
}

TEST_CASE("starting a server twice is an error naming its address") {
  hub_check check;
  fd_leak_check fds;
  stream_server server(endpoint::loopback(0), echo);
  server.start();
  CHECK_THROWS_WITH(server.start(),
                    Catch::Contains(server.local_endpoint().to_string() + " was started already"));
  CHECK(server.stop());
}

TEST_CASE("a server on an address in use fails at construction naming the address") {
  hub_check check;
  fd_leak_check fds;
  stream_server first(endpoint::loopback(0), echo);
  endpoint taken = first.local_endpoint();
  CHECK_THROWS_WITH(stream_server(taken, echo), Catch::Contains(taken.to_string()));
}

TEST_CASE("destroying a running server kills its handlers") {
  hub_check check;
  fd_leak_check fds;
  gate never;
  bool unwound = false;
  tendril::socket client = tendril::socket::tcp();
  {
    stream_server server(endpoint::loopback(0), [&](tendril::socket, const endpoint&) {
      tendril::testing::unwind_flag flag{unwound};
      never.wait();
    });
    server.start();
    client.connect(server.local_endpoint());
    while (server.connections() == 0) tendril::yield();
  }
  CHECK(unwound);
}
