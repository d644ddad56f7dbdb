// hiredis 0.14, unmodified, against a real Redis: its blocking API
// (redisConnect, redisCommand) run by fibers of one thread with
// patch_all() on. hiredis connects with a non-blocking connect and poll(),
// then puts the socket back to blocking and talks with plain write() and
// read(): patch parks the fiber in each, so a BLPOP that waits forever
// parks only its own fiber.
//
// These are deadlock tests. Without cooperative I/O the BLPOP would block
// the thread, the fiber that pushes would never run, and the test's timeout
// ends it. Ordering comes from what the server says (INFO's
// blocked_clients), asked from another connection by a fiber whose every
// command parks; never from a sleep or a clock.

#include <hiredis/hiredis.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdarg>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include <tendril/hub/join.hpp>
#include <tendril/hub/task.hpp>
#include <tendril/patch.hpp>
#include <tendril/sync/event.hpp>

#include "patch/plain_thread.hpp"
#include "support/fd_count.hpp"
#include "support/hiredis_client.hpp"
#include "support/hub_fixture.hpp"
#include "support/redis.hpp"

namespace {

using tendril::spawn;
using tendril::task;
using tendril::testing::fd_leak_check;
using tendril::testing::hub_check;

// server() is the Redis server of this process, started by the first test
// that asks and stopped at exit. Each test uses its own keys.
tendril::testing::redis& server() {
  static tendril::testing::redis s;
  return s;
}

using tendril::testing::redis_connection;
using tendril::testing::redis_reply;

redis_connection connect() { return tendril::testing::redis_connect(server()); }
constexpr auto command = &tendril::testing::redis_command;

// strings(r) is an array reply's elements, as strings.
std::vector<std::string> strings(const redis_reply& r) {
  std::vector<std::string> s;
  if (r->type != REDIS_REPLY_ARRAY) return s;
  for (std::size_t i = 0; i < r->elements; ++i) s.emplace_back(r->element[i]->str, r->element[i]->len);
  return s;
}

// blocked_clients(observer) is how many clients the server has blocked in
// a command such as BLPOP (INFO's blocked_clients).
int blocked_clients(redisContext* observer) {
  redis_reply r = command(observer, "INFO clients");
  const std::string info(r->str, r->len);
  const std::size_t at = info.find("blocked_clients:");
  if (at == std::string::npos) throw std::runtime_error("INFO clients without blocked_clients: " + info);
  return std::stoi(info.substr(at + std::strlen("blocked_clients:")));
}

// wait_until_blocked(observer, n) asks until the server has `n` clients
// blocked. Each question is a redisCommand that parks the calling fiber,
// so the others run meanwhile: no sleep is needed.
void wait_until_blocked(redisContext* observer, int n) {
  while (blocked_clients(observer) != n) {
  }
}

}  // namespace

TEST_CASE("a fiber parks in BLPOP until another fiber of its thread pushes on another connection") {
  tendril::patch_all();
  server();
  hub_check check;
  fd_leak_check fds;
  redis_connection observer = connect();
  redis_connection a_connection = connect();
  redis_connection b_connection = connect();
  task<std::vector<std::string>> a = spawn([&] { return strings(command(a_connection.get(), "BLPOP q 0")); });
  wait_until_blocked(observer.get(), 1);
  task<long long> b = spawn([&] { return command(b_connection.get(), "LPUSH q x")->integer; });
  tendril::joinall({a, b});
  CHECK(a.get() == std::vector<std::string>{"q", "x"});
  CHECK(b.get() == 1);
}

TEST_CASE("many fibers make blocking round trips while one fiber of their thread waits in BLPOP") {
  tendril::patch_all();
  server();
  hub_check check;
  fd_leak_check fds;
  constexpr int workers = 50;
  constexpr int round_trips = 100;
  redis_connection observer = connect();
  redis_connection waiter_connection = connect();
  task<std::vector<std::string>> waiter =
      spawn([&] { return strings(command(waiter_connection.get(), "BLPOP jobs 0")); });
  wait_until_blocked(observer.get(), 1);
  // Connected here, one after another, so that the workers start together.
  std::vector<redis_connection> connections;
  for (int i = 0; i < workers; ++i) {
    connections.push_back(connect());
    command(observer.get(), "DEL worker:%d", i);  // the server lives as long as this process
  }
  command(observer.get(), "DEL counter");
  int in_flight = 0;
  int most_in_flight = 0;
  std::vector<task<void>> tasks;
  for (int i = 0; i < workers; ++i)
    tasks.push_back(spawn([&, i] {
      redisContext* c = connections[static_cast<std::size_t>(i)].get();
      const std::string key = "worker:" + std::to_string(i);
      for (int n = 1; n <= round_trips; ++n) {
        most_in_flight = std::max(most_in_flight, ++in_flight);
        command(c, "INCR %s", key.c_str());
        command(c, "INCR counter");
        --in_flight;
      }
      CHECK(command(c, "GET %s", key.c_str())->str == std::to_string(round_trips));
    }));
  tendril::joinall(tasks);
  for (task<void>& t : tasks) t.get();
  // Each worker's first command left before any answer was read: every
  // worker started at once and parked in read() rather than blocking.
  CHECK(most_in_flight == workers);
  CHECK(std::string(command(observer.get(), "GET counter")->str) == std::to_string(workers * round_trips));
  // The BLPOP is still waiting, parked in its own fiber all along.
  CHECK_FALSE(waiter.ready());
  CHECK(blocked_clients(observer.get()) == 1);
  CHECK(command(observer.get(), "LPUSH jobs done")->integer == 1);
  CHECK(waiter.get() == std::vector<std::string>{"jobs", "done"});
}

TEST_CASE("a kill of a fiber in BLPOP fails redisCommand with ECANCELED, and completes at the next park") {
  tendril::patch_all();
  server();
  hub_check check;
  fd_leak_check fds;
  redis_connection observer = connect();
  redisContext* victim_connection = connect().release();  // the victim discards it itself
  bool returned_null = false;
  int error = 0;
  std::string message;
  bool unwound = false;
  task<void> victim = spawn([&] {
    tendril::testing::unwind_flag flag{unwound};
    void* r = redisCommand(victim_connection, "BLPOP never 0");
    returned_null = r == nullptr;
    if (r != nullptr) freeReplyObject(r);
    error = victim_connection->err;
    message = victim_connection->errstr;
    redisFree(victim_connection);
    tendril::yield();  // the kill is raised here
    FAIL("the kill did not end the task");
  });
  wait_until_blocked(observer.get(), 1);
  CHECK(victim.kill());
  CHECK(victim.killed());
  CHECK(unwound);
  CHECK(returned_null);
  CHECK(error == REDIS_ERR_IO);
  CHECK(message == std::strerror(ECANCELED));
  // The server sees the connection closed and unblocks it.
  wait_until_blocked(observer.get(), 0);
}

TEST_CASE("on a plain thread with patching on, BLPOP is libc's: it blocks the thread until the push") {
  tendril::patch_all();
  server();
  hub_check check;
  fd_leak_check fds;
  redis_connection observer = connect();
  std::atomic<pid_t> tid{0};
  bool enabled_there = true;
  std::vector<std::string> popped;
  std::string failure;
  std::thread plain([&] {
    enabled_there = tendril::patch::enabled();
    tid = ::gettid();
    try {
      redis_connection c = connect();
      popped = strings(command(c.get(), "BLPOP plain 0"));
    } catch (const std::exception& e) {
      failure = e.what();
    }
  });
  wait_until_blocked(observer.get(), 1);
  tendril::testing::wait_until_asleep(tid);  // in the real read(): the thread sleeps in the kernel
  CHECK(command(observer.get(), "LPUSH plain y")->integer == 1);
  plain.join();
  CHECK_FALSE(enabled_there);
  CHECK(failure.empty());
  CHECK(popped == std::vector<std::string>{"plain", "y"});
}
