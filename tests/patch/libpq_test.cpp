// libpq, unmodified, against a real PostgreSQL: its blocking API
// (PQconnectdb, PQexec) run by fibers of one thread with patch_all() on.
// libpq makes its socket non-blocking itself and waits in poll(); patch's
// poll parks the fiber there, so the other fibers' queries go on.
//
// These are deadlock tests. Without cooperative I/O the first PQexec that
// waits on the server would block the thread: the fiber that could end the
// wait (release the lock, observe the sleepers) would never run, and the
// test's timeout ends it. Ordering comes from what the server says
// (pg_locks, pg_stat_activity), asked from another connection by a fiber
// whose every query parks; never from a sleep or a clock.

#include <libpq-fe.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include <tendril/hub/join.hpp>
#include <tendril/hub/sleep.hpp>
#include <tendril/hub/task.hpp>
#include <tendril/hub/timeout.hpp>
#include <tendril/patch.hpp>
#include <tendril/sync/event.hpp>
#include <tendril/sync/wait_group.hpp>

#include "patch/plain_thread.hpp"
#include "support/fd_count.hpp"
#include "support/hub_fixture.hpp"
#include "support/postgres.hpp"

namespace {

using namespace std::chrono_literals;
using Catch::Matchers::Contains;
using tendril::spawn;
using tendril::task;
using tendril::testing::fd_leak_check;
using tendril::testing::hub_check;

// server() is the PostgreSQL server of this process, started by the first
// test that asks (initdb: about a second) and stopped at exit. Under CTest
// each test case is its own process, so each starts its own.
tendril::testing::postgres& server() {
  static tendril::testing::postgres s;
  return s;
}

using pg_connection = std::unique_ptr<PGconn, decltype(&PQfinish)>;

// connect() opens a connection with libpq's blocking PQconnectdb.
// Errors: std::runtime_error with libpq's message.
pg_connection connect() {
  pg_connection c(PQconnectdb(server().conninfo().c_str()), &PQfinish);
  if (c == nullptr) throw std::runtime_error("PQconnectdb: out of memory");
  if (PQstatus(c.get()) != CONNECTION_OK) throw std::runtime_error(PQerrorMessage(c.get()));
  return c;
}

// value(c, sql) runs `sql` with the blocking PQexec and returns the first
// column of its first row ("" when it has none, or for a void result).
// Errors: std::runtime_error with the server's or libpq's message.
std::string value(PGconn* c, const std::string& sql) {
  std::unique_ptr<PGresult, decltype(&PQclear)> r(PQexec(c, sql.c_str()), &PQclear);
  const ExecStatusType status = PQresultStatus(r.get());
  if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK)
    throw std::runtime_error(sql + ": " + PQerrorMessage(c));
  return PQntuples(r.get()) > 0 ? PQgetvalue(r.get(), 0, 0) : "";
}

// waits_for_advisory_lock(observer, pid) is true when the backend `pid`
// waits for an advisory lock: pg_locks has its request, not granted, and
// pg_stat_activity shows it waiting on a heavyweight lock.
bool waits_for_advisory_lock(PGconn* observer, int pid) {
  return value(observer,
               "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE a.pid = " +
                   std::to_string(pid) +
                   " AND l.locktype = 'advisory' AND NOT l.granted AND a.wait_event_type = 'Lock'") == "1";
}

// wait_until_waiting_for_lock(observer, pid) asks until the backend `pid`
// waits for an advisory lock. Each question is a PQexec that parks the
// calling fiber, so the others run meanwhile: no sleep is needed.
void wait_until_waiting_for_lock(PGconn* observer, int pid) {
  while (!waits_for_advisory_lock(observer, pid)) {
  }
}

// wait_until_gone(observer, pid) asks until the backend `pid` has exited.
void wait_until_gone(PGconn* observer, int pid) {
  while (value(observer, "SELECT count(*) FROM pg_stat_activity WHERE pid = " + std::to_string(pid)) != "0") {
  }
}

// The text of ECANCELED, which libpq puts in its message when the poll()
// it waits in fails: a kill or an expired timeout scope.
std::string cancelled_text() { return std::strerror(ECANCELED); }

// PQcancel is async-signal-safe, so it cannot call strerror: for an errno
// it has no text of its own for, it writes the number ("error 125").
std::string cancelled_number() { return "error " + std::to_string(ECANCELED); }

}  // namespace

TEST_CASE("PQexec parks a fiber on an advisory lock another fiber of its thread holds, until it releases") {
  tendril::patch_all();
  server();
  hub_check check;
  fd_leak_check fds;
  pg_connection observer = connect();
  pg_connection a_connection = connect();
  pg_connection b_connection = connect();
  const int a_pid = PQbackendPID(a_connection.get());
  tendril::event b_holds("B holds lock 1");
  tendril::event a_waits("A waits for lock 1");
  std::vector<std::string> order;
  task<void> b = spawn([&] {
    value(b_connection.get(), "SELECT pg_advisory_lock(1)");
    order.push_back("B holds");
    b_holds.set();
    a_waits.wait();
    order.push_back("B releases");
    CHECK(value(b_connection.get(), "SELECT pg_advisory_unlock(1)") == "t");
  });
  task<void> a = spawn([&] {
    b_holds.wait();
    value(a_connection.get(), "SELECT pg_advisory_lock(1)");  // parks until B releases
    order.push_back("A holds");
    CHECK(value(a_connection.get(), "SELECT pg_advisory_unlock(1)") == "t");
  });
  b_holds.wait();
  wait_until_waiting_for_lock(observer.get(), a_pid);
  a_waits.set();
  tendril::joinall({a, b});
  a.get();
  b.get();
  CHECK(order == std::vector<std::string>{"B holds", "B releases", "A holds"});
}

namespace {

constexpr int sleepers = 200;

// most_sleepers_seen(observer) connects `sleepers` fibers (each with the
// blocking PQconnectdb, all at once), then lets each run the blocking
// `SELECT pg_sleep(0.2)` at the same moment, while this fiber counts, on
// `observer`, the backends that pg_stat_activity shows sleeping in that
// query. It returns the highest count seen before every sleeper finished.
int most_sleepers_seen(PGconn* observer) {
  tendril::wait_group connected("sleepers connected");
  tendril::event go("sleepers go");
  int finished = 0;
  connected.add(sleepers);
  std::vector<task<void>> tasks;
  for (int i = 0; i < sleepers; ++i)
    tasks.push_back(spawn([&] {
      pg_connection c = connect();
      connected.done();
      go.wait();
      value(c.get(), "SELECT pg_sleep(0.2)");
      ++finished;
    }));
  connected.wait();
  go.set();
  int most = 0;
  while (most < sleepers && finished < sleepers)
    most = std::max(most, std::stoi(value(observer,
                                          "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' "
                                          "AND wait_event = 'PgSleep' AND query = 'SELECT pg_sleep(0.2)'")));
  tendril::joinall(tasks);
  for (task<void>& t : tasks) t.get();
  return most;
}

}  // namespace

TEST_CASE("200 fibers of one thread each run a blocking pg_sleep on their own connection, all at once") {
  tendril::patch_all();
  server();
  hub_check check;
  fd_leak_check fds;
  pg_connection observer = connect();
  // The 200 queries leave within one turn of the hub, so the server starts
  // them all well within 0.2 s of one another. Only a machine too loaded
  // to start 200 backends' queries in 0.2 s could hide the moment they all
  // sleep; then the round runs again rather than fail on the load.
  int most = 0;
  for (int round = 1; round <= 3 && most < sleepers; ++round) {
    most = most_sleepers_seen(observer.get());
    if (most < sleepers) WARN("round " << round << ": at most " << most << " sleepers seen at once");
  }
  CHECK(most == sleepers);
}

TEST_CASE("a kill of a fiber in PQexec makes it fail with ECANCELED, and completes at the next park") {
  tendril::patch_all();
  server();
  hub_check check;
  fd_leak_check fds;
  pg_connection holder = connect();  // holds lock 2 and watches the victim's backend
  value(holder.get(), "SELECT pg_advisory_lock(2)");
  PGconn* victim_connection = connect().release();  // the victim discards it itself
  const int victim_pid = PQbackendPID(victim_connection);
  ExecStatusType status = PGRES_EMPTY_QUERY;
  std::string message;
  bool discarded = false;
  bool unwound = false;
  task<void> victim = spawn([&] {
    tendril::testing::unwind_flag flag{unwound};
    PGresult* r = PQexec(victim_connection, "SELECT pg_advisory_lock(2)");  // parks: holder has it
    status = PQresultStatus(r);
    message = PQresultErrorMessage(r);
    PQclear(r);
    // Out of step with its backend (which still waits for the lock): the
    // connection is only good for discarding. PQfinish's goodbye fails with
    // ECANCELED like every patched call of a fiber with a kill pending, and
    // libpq closes the socket anyway.
    PQfinish(victim_connection);
    discarded = true;
    tendril::yield();  // the kill is raised here
    FAIL("the kill did not end the task");
  });
  wait_until_waiting_for_lock(holder.get(), victim_pid);
  CHECK(victim.kill());
  CHECK(victim.killed());
  CHECK(unwound);
  CHECK(discarded);
  CHECK(status == PGRES_FATAL_ERROR);
  CHECK_THAT(message, Contains(cancelled_text()));
  // The server knows nothing of the kill: the victim's backend still waits
  // for the lock. End it, as an application that kills queries' fibers
  // would (or send PQcancel first, as the timeout case below does).
  CHECK(value(holder.get(), "SELECT pg_terminate_backend(" + std::to_string(victim_pid) + ", 10000)") == "t");
  wait_until_gone(holder.get(), victim_pid);
  CHECK(value(holder.get(), "SELECT pg_advisory_unlock(2)") == "t");
}

// What the user sees when a tendril::timeout scope expires while a fiber
// is blocked in PQexec (a kill looks the same, with greenlet_exit):
// - PQexec returns a PGRES_FATAL_ERROR result, and PQerrorMessage names
//   the failed wait: "select() failed: Operation canceled" (libpq calls its
//   poll() wrapper select);
// - PQstatus still says CONNECTION_OK, yet the connection is out of step
//   with its backend, which still runs the query and will answer it later:
//   discard it (PQfinish), after PQcancel if the server should stop;
// - while the expired scope is open every patched call fails at once with
//   ECANCELED, PQcancel's connect included: cancel after the scope;
// - timeout_error is raised at the fiber's next tendril park inside the
//   scope (here a yield), not by PQexec, which never throws.
TEST_CASE("an expired timeout scope fails a fiber's PQexec with ECANCELED, and raises at the next park") {
  tendril::patch_all();
  server();
  hub_check check;
  fd_leak_check fds;
  pg_connection holder = connect();  // holds lock 3 until the end: only the timeout ends the wait
  value(holder.get(), "SELECT pg_advisory_lock(3)");
  pg_connection c = connect();
  const int pid = PQbackendPID(c.get());
  ExecStatusType status = PGRES_EMPTY_QUERY;
  std::string message;
  ConnStatusType connection_status = CONNECTION_BAD;
  std::string cancel_inside_scope;
  int cancel_after_scope = 0;
  bool raised = false;
  task<void> t = spawn([&] {
    char error[256] = "";
    try {
      tendril::timeout limit(50ms);
      // The scope's timer can only fire while this fiber is parked, and
      // the first park is PQexec's wait for the answer, which cannot come:
      // the scope always expires inside PQexec, however loaded the machine.
      PGresult* r = PQexec(c.get(), "SELECT pg_advisory_lock(3)");
      status = PQresultStatus(r);
      message = PQerrorMessage(c.get());
      connection_status = PQstatus(c.get());
      PQclear(r);
      PGcancel* cancel = PQgetCancel(c.get());
      if (PQcancel(cancel, error, sizeof error) == 0) cancel_inside_scope = error;
      PQfreeCancel(cancel);
      tendril::yield();  // timeout_error is raised here
      FAIL("the expired scope did not raise");
    } catch (const tendril::timeout_error&) {
      raised = true;
    }
    PGcancel* cancel = PQgetCancel(c.get());
    cancel_after_scope = PQcancel(cancel, error, sizeof error);
    PQfreeCancel(cancel);
    c.reset();  // PQfinish
  });
  t.join();
  CHECK(t.successful());
  CHECK(raised);
  CHECK(status == PGRES_FATAL_ERROR);
  CHECK_THAT(message, Contains(cancelled_text()));
  CHECK(connection_status == CONNECTION_OK);
  CHECK_THAT(cancel_inside_scope,
             Contains("connect() failed") && (Contains(cancelled_text()) || Contains(cancelled_number())));
  CHECK(cancel_after_scope == 1);
  // The cancel ended the query; the backend, its client gone, exits.
  wait_until_gone(holder.get(), pid);
  CHECK(value(holder.get(), "SELECT pg_advisory_unlock(3)") == "t");
}

TEST_CASE("on a plain thread with patching on, PQexec is libc's: it blocks the thread until answered") {
  tendril::patch_all();
  server();
  hub_check check;
  fd_leak_check fds;
  pg_connection holder = connect();
  value(holder.get(), "SELECT pg_advisory_lock(4)");
  std::atomic<pid_t> tid{0};
  std::atomic<int> backend_pid{0};
  bool enabled_there = true;
  std::string outcome;
  tendril::event connected("plain thread connected");
  std::thread plain([&] {
    enabled_there = tendril::patch::enabled();
    tid = ::gettid();
    try {
      pg_connection c = connect();
      backend_pid = PQbackendPID(c.get());
      connected.set();
      outcome = value(c.get(), "SELECT pg_advisory_lock(4)");
      outcome += "/" + value(c.get(), "SELECT pg_advisory_unlock(4)");
    } catch (const std::exception& e) {
      outcome = e.what();
      connected.set();
    }
  });
  connected.wait();
  REQUIRE(backend_pid != 0);
  wait_until_waiting_for_lock(holder.get(), backend_pid);
  // Its query waits on the server, and the thread sleeps in the kernel (in
  // the real poll), not parked on a hub nor spinning.
  tendril::testing::wait_until_asleep(tid);
  CHECK(value(holder.get(), "SELECT pg_advisory_unlock(4)") == "t");
  plain.join();
  CHECK_FALSE(enabled_there);
  CHECK(outcome == "/t");
}
