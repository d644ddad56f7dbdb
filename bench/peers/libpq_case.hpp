#pragma once
// What the three libpq point-query programs share, so that they differ only
// in how they wait: bench/libpq_bench.cpp (N fibers on one patched hub),
// peers/libpq_threads.cpp (N OS threads) and peers/libpq_async.cpp (one
// thread, libpq's async API). Each is run as
//
//   PROGRAM CONNINFO N
//
// by bench/io_load.py postgres, once per N in a fresh process, against a
// throwaway PostgreSQL on the other CPU. A run:
//
//   1. opens and closes one connection: libpq's one-time setup (its shared
//      libraries' pages, NSS, OpenSSL's and the hub's first allocations) is
//      not anybody's per-connection cost;
//   2. reads the resident set size, opens N connections (each in its fiber
//      or thread, which is part of what a connection costs there), runs one
//      untimed `SELECT 1` on each (the server's backend loads its caches,
//      libpq sizes its buffers), and reads the RSS again: the growth / N is
//      `libpq_n<N>_rss`, in bytes per connection;
//   3. times `queries` (20,000 by default) `SELECT 1`, each connection
//      running one after another until all are started: `libpq_n<N>` in
//      queries per second and `libpq_n<N>_cpu` in the process's CPU-seconds
//      per 10,000 queries (throughput.hpp), every thread's included;
//   4. closes the connections, untimed.
//
// Every answer must be one row holding "1"; anything else ends the program
// with status 1.
//
// Header-only and free of tendril: the peers include it as they include
// ../measure.hpp, and never link tendril.

#include <libpq-fe.h>
#include <malloc.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "../measure.hpp"
#include "../throughput.hpp"

namespace tendril::bench::libpq {

/// The query every case runs: a point query the server answers from no table.
inline constexpr const char* point_query = "SELECT 1";

/// fail(what, detail) reports a failed case and ends the process at once
/// (from any thread: it runs no destructors and no atexit handlers).
[[noreturn]] inline void fail(const char* what, const char* detail) noexcept {
  std::fprintf(stderr, "libpq bench: %s: %s\n", what, detail);
  std::fflush(stderr);
  std::_Exit(1);
}

/// One run's parameters, from the command line.
struct run_case {
  std::string conninfo;
  int connections = 0;
  std::int64_t queries = 0;  ///< timed, all connections together
  std::string bench;         ///< "libpq_n<connections>"

  /// parse(argc, argv) reads `PROGRAM CONNINFO N`; exits with status 2 on a bad command line.
  static run_case parse(int argc, char** argv) {
    if (argc != 3 || std::atoi(argv[2]) < 1) {
      std::fprintf(stderr, "usage: %s CONNINFO CONNECTIONS\n", argv[0]);
      std::exit(2);
    }
    run_case c;
    c.conninfo = argv[1];
    c.connections = std::atoi(argv[2]);
    c.queries = iterations(20'000);
    c.bench = "libpq_n" + std::to_string(c.connections);
    return c;
  }
};

/// connect(conninfo) is an open connection; fails the run otherwise.
inline PGconn* connect(const std::string& conninfo) {
  PGconn* conn = PQconnectdb(conninfo.c_str());
  if (PQstatus(conn) != CONNECTION_OK) fail("cannot connect", PQerrorMessage(conn));
  return conn;
}

/// check(result) fails the run unless `result` is point_query's answer;
/// then clears it.
inline void check(PGresult* result) {
  if (PQresultStatus(result) != PGRES_TUPLES_OK) fail("SELECT 1 failed", PQresultErrorMessage(result));
  if (PQntuples(result) != 1 || std::strcmp(PQgetvalue(result, 0, 0), "1") != 0)
    fail("SELECT 1", "did not answer one row holding 1");
  PQclear(result);
}

/// query(conn) runs point_query with PQexec, libpq's blocking call, and checks the answer.
inline void query(PGconn* conn) { check(PQexec(conn, point_query)); }

/// open_and_close_one(conninfo) does step 1 above.
inline void open_and_close_one(const std::string& conninfo) {
  PGconn* conn = connect(conninfo);
  query(conn);
  PQfinish(conn);
}

/// rss_bytes() is this process's resident set size, after giving back to the
/// kernel what the heap has free (malloc_trim), so that pages freed earlier
/// are not reused unseen by what is measured next.
inline std::int64_t rss_bytes() {
  ::malloc_trim(0);
  long pages = 0;
  if (std::FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%*s %ld", &pages) != 1) pages = 0;
    std::fclose(f);
  }
  return std::int64_t{pages} * ::sysconf(_SC_PAGESIZE);
}

/// report_rss(c, impl, before, after) prints the `<bench>_rss` result line.
inline void report_rss(const run_case& c, std::string_view impl, std::int64_t before, std::int64_t after) {
  const double per_connection = static_cast<double>(after - before) / c.connections;
  std::printf("result bench=%s_rss impl=%.*s value=%.1f unit=B/conn n=%d cpu=1\n", c.bench.c_str(),
              static_cast<int>(impl.size()), impl.data(), per_connection, c.connections);
  std::fflush(stdout);
}

}  // namespace tendril::bench::libpq
