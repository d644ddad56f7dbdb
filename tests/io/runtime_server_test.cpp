// runtime_server: one address served on every hub of a runtime, by a
// stream_server per hub (SO_REUSEPORT) or by one acceptor handing the
// connections out; every case runs with both. Clients run on the test
// thread's own hub.

#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <mutex>
#include <numeric>
#include <set>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include <tendril/error.hpp>
#include <tendril/hub/join.hpp>
#include <tendril/hub/run.hpp>
#include <tendril/hub/runtime.hpp>
#include <tendril/hub/task.hpp>
#include <tendril/io/runtime_server.hpp>
#include <tendril/io/socket.hpp>
#include <tendril/sync/event.hpp>

#include "support/hub_fixture.hpp"

namespace {

using namespace std::chrono_literals;
using tendril::endpoint;
using tendril::runtime;
using tendril::runtime_server;
using tendril::testing::hub_check;

// Replies with the id of the thread that runs the handler.
void tell_thread(tendril::socket connection, const endpoint&) {
  connection.write_all(std::to_string(::gettid()));
}

std::string read_all(tendril::socket& s) {
  std::string reply;
  char buffer[64];
  while (std::size_t n = s.read_some(buffer, sizeof buffer)) reply.append(buffer, n);
  return reply;
}

std::string ask(const endpoint& where) {
  tendril::socket s = tendril::socket::tcp();
  s.connect(where);
  return read_all(s);
}

// each_spreading() makes the case run once per way of spreading connections.
runtime_server::options each_spreading() {
  runtime_server::options o;
  o.spread = GENERATE(runtime_server::spreading::reuseport, runtime_server::spreading::one_acceptor);
  INFO((o.spread == runtime_server::spreading::reuseport ? "SO_REUSEPORT per hub" : "one acceptor"));
  return o;
}

}  // namespace

TEST_CASE("a runtime server accepts on every hub and runs each handler where it was accepted") {
  hub_check hub;
  runtime rt{2};
  runtime_server server(rt, endpoint::loopback(0), tell_thread, each_spreading());
  REQUIRE(server.local_endpoint().port() != 0);
  // 64 connections from 64 source ports: the kernel's SO_REUSEPORT hash
  // leaves a hub without one with probability 2^-63; one acceptor deals
  // them out in turn.
  constexpr int clients = 64;
  std::vector<std::string> replies = tendril::run([&] {
    std::vector<tendril::task<std::string>> asks;
    for (int i = 0; i < clients; ++i) asks.push_back(tendril::spawn(ask, server.local_endpoint()));
    std::vector<std::string> out;
    for (const auto& t : asks) out.push_back(t.get());
    return out;
  });
  std::set<std::string> threads(replies.begin(), replies.end());
  std::set<std::string> runtime_threads;
  for (const tendril::hub_ref& h : rt.hubs()) runtime_threads.insert(std::to_string(h.thread_id()));
  CHECK(threads == runtime_threads);
  std::vector<std::size_t> accepted = server.accepted();
  CHECK(accepted.size() == 2);
  CHECK(std::accumulate(accepted.begin(), accepted.end(), std::size_t{0}) == clients);
  CHECK(server.stop());
  CHECK_THROWS_AS(ask(server.local_endpoint()), tendril::system_error);  // refused: nobody listens
  rt.join();
}

TEST_CASE("stopping the runtime stops its server and kills the handlers still running after the grace") {
  hub_check hub;
  runtime rt{2};
  std::atomic<int> handlers_unwound{0};
  std::atomic<int> handlers_returned{0};
  tendril::event handler_reading;
  runtime_server::options o = each_spreading();
  runtime_server server(
      rt, endpoint::loopback(0),
      [&](tendril::socket connection, const endpoint&) {
        struct count_unwind {
          std::atomic<int>& n;
          ~count_unwind() { ++n; }
        } guard{handlers_unwound};
        handler_reading.set();
        char byte;
        (void)connection.read_some(&byte, 1);  // the client never writes, nor closes
        ++handlers_returned;
      },
      o);
  tendril::socket idle = tendril::run([&] {
    tendril::socket s = tendril::socket::tcp();
    s.connect(server.local_endpoint());
    handler_reading.wait();
    return s;
  });
  rt.stop(10ms);
  CHECK(handlers_unwound == 1);
  CHECK(handlers_returned == 0);  // killed in its read
  CHECK_THROWS_AS(tendril::run([&] { return ask(server.local_endpoint()); }), tendril::system_error);
  CHECK(server.stop());  // stopped already
}

TEST_CASE("a runtime server's stop returns true when every handler finishes within the grace") {
  hub_check hub;
  runtime rt{2};
  runtime_server server(rt, endpoint::loopback(0), tell_thread, each_spreading());
  std::string reply = tendril::run([&] { return ask(server.local_endpoint()); });
  CHECK_FALSE(reply.empty());
  CHECK(server.stop(1s));
  rt.join();  // nothing left: the servers' tasks are gone
}

TEST_CASE("a runtime server on an address in use throws tendril::system_error naming it") {
  hub_check hub;
  runtime rt{2};
  tendril::socket taken = tendril::listen(endpoint::loopback(0));  // without SO_REUSEPORT
  runtime_server::options o = each_spreading();
  CHECK_THROWS_WITH(runtime_server(rt, taken.local_endpoint(), tell_thread, o),
                    Catch::Contains(taken.local_endpoint().to_string()));
  rt.join();
}

TEST_CASE("one acceptor's max_connections holds across hubs: a handler starts only when another has ended") {
  hub_check hub;
  runtime rt{2};
  std::mutex lock;
  std::vector<std::string> steps;  // "start" and "end" of each handler, in order
  tendril::event first_started;
  tendril::event release;
  runtime_server::options o;
  o.spread = runtime_server::spreading::one_acceptor;
  o.connections.max_connections = 1;
  runtime_server server(
      rt, endpoint::loopback(0),
      [&](tendril::socket connection, const endpoint&) {
        {
          std::lock_guard guard(lock);
          steps.push_back("start");
        }
        first_started.set();
        release.wait();
        connection.write_all("done");
        std::lock_guard guard(lock);
        steps.push_back("end");
      },
      o);
  std::vector<std::string> replies = tendril::run([&] {
    auto first = tendril::spawn(ask, server.local_endpoint());
    first_started.wait();
    auto second = tendril::spawn(ask, server.local_endpoint());  // waits in the backlog
    tendril::yield();                                            // let it connect
    release.set();
    return std::vector<std::string>{first.get(), second.get()};
  });
  CHECK(replies == std::vector<std::string>{"done", "done"});
  std::vector<std::string> seen;
  {
    // A handler records its end before its connection closes, which is
    // what ends the client's read; the lock makes that order visible.
    std::lock_guard guard(lock);
    seen = steps;
  }
  CHECK(seen == std::vector<std::string>{"start", "end", "start", "end"});
  CHECK(server.stop());
  rt.join();
}
