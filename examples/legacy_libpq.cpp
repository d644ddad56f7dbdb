// legacy_libpq: 100 blocking libpq queries at once on one thread, libpq
// unmodified.
//
// Each of 100 fibers opens its own connection with PQconnectdb, runs
// `SELECT pg_sleep(0.1)` with PQexec and closes the connection with PQfinish:
// libpq's plain blocking API, as legacy code calls it. The program runs the
// 100 fibers twice on its one thread:
//
//   - without patching, each libpq call blocks the thread, so the fibers
//     take turns: one query in flight at a time, about 10 s in all;
//   - after tendril::patch_all(), the poll() and recv() that libpq blocks in
//     park the calling fiber instead, and the hub runs the others: all 100
//     queries in flight at once, about 0.1 s.
//
// The fibers connect first and start their queries together (a wait_group,
// then an event), so that how many are in flight at once depends only on
// patching, not on how fast the server accepts connections: that count is
// what the program prints on stdout (examples/legacy_libpq.expected). The
// wall times, which vary, go to stderr.
//
//   legacy_libpq [CONNINFO]    e.g. "host=127.0.0.1 port=5432 user=postgres dbname=postgres";
//                              without it, libpq's defaults and PGHOST, PGPORT, PGUSER, ...
//
// The server must accept 100 connections at once (max_connections > 100).
// Link tendril::patch, never also tendril::tendril (see <tendril/patch.hpp>).

#include <libpq-fe.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include <tendril/patch.hpp>
#include <tendril/tendril.hpp>

namespace {

constexpr int fibers = 100;

struct contrast_run {
  int in_flight = 0;  // fibers inside PQexec now; one thread, so a plain int
  int peak = 0;       // the most at once
};

// session(conninfo, run, connected, go) is one fiber's work, in libpq's
// blocking API; the two tendril calls only line the fibers up.
void session(const std::string& conninfo, contrast_run& run, tendril::wait_group& connected,
             tendril::event& go) {
  PGconn* conn = PQconnectdb(conninfo.c_str());
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string why = PQerrorMessage(conn);
    PQfinish(conn);
    connected.done();
    throw tendril::error("legacy_libpq: cannot connect: " + why);
  }
  connected.done();
  go.wait();
  run.peak = std::max(run.peak, ++run.in_flight);
  PGresult* result = PQexec(conn, "SELECT pg_sleep(0.1)");
  --run.in_flight;
  const bool ok = PQresultStatus(result) == PGRES_TUPLES_OK;
  std::string why = ok ? "" : PQresultErrorMessage(result);
  PQclear(result);
  PQfinish(conn);
  if (!ok) throw tendril::error("legacy_libpq: query failed: " + why);
}

// run_fibers(conninfo, label) runs the 100 sessions and prints how many
// queries were in flight at once (stdout) and how long they took (stderr).
void run_fibers(const std::string& conninfo, const char* label) {
  contrast_run run;
  tendril::wait_group connected;
  tendril::event go;
  connected.add(fibers);
  std::vector<tendril::task<void>> tasks;
  for (int i = 0; i < fibers; ++i)
    tasks.push_back(
        tendril::spawn(session, std::cref(conninfo), std::ref(run), std::ref(connected), std::ref(go)));
  connected.wait();
  const auto start = std::chrono::steady_clock::now();
  go.set();
  tendril::joinall(tasks, tendril::clock::duration::max(), /*raise_error=*/true);
  const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
  std::printf("%s: %d blocking libpq queries on one thread, %d in flight at once\n", label, fibers, run.peak);
  std::fflush(stdout);
  std::fprintf(stderr, "%s: the queries took %.2f s\n", label, took.count());
}

}  // namespace

int main(int argc, char** argv) {
  const std::string conninfo = argc > 1 ? argv[1] : "";
  try {
    tendril::run([&] {
      run_fibers(conninfo, "without patching");
      tendril::patch_all();
      run_fibers(conninfo, "with patch_all()");
    });
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
  return 0;
}
