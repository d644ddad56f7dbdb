// libpq point queries from N fibers on one patched hub, each fiber with its
// own connection and libpq's plain blocking calls (PQconnectdb, PQexec):
// what patch_all() makes of legacy code. bench/io_load.py postgres runs it
// against a throwaway PostgreSQL on the other CPU, once per N:
//
//   libpq_bench CONNINFO N
//
//   libpq_n<N>        queries per second (wall clock over 20,000 SELECT 1)
//   libpq_n<N>_cpu    the process's CPU-seconds per 10,000 queries
//   libpq_n<N>_rss    resident bytes per connection: its fiber, stack
//                     pages and patch's state included
//
// The case's steps and checks are peers/libpq_case.hpp's, shared with the
// two peers: N OS threads (peers/libpq_threads.cpp) and one thread on
// libpq's async API (peers/libpq_async.cpp).

#include <cstdint>
#include <vector>

#include <tendril/patch.hpp>
#include <tendril/tendril.hpp>

#include "peers/libpq_case.hpp"

namespace pq = tendril::bench::libpq;

int main(int argc, char** argv) {
  const pq::run_case c = pq::run_case::parse(argc, argv);
  tendril::patch_all();
  tendril::run([&] {
    pq::open_and_close_one(c.conninfo);
    // The harness's own storage exists before the baseline.
    std::vector<PGconn*> conns(static_cast<std::size_t>(c.connections));
    std::vector<tendril::task<void>> fibers;
    fibers.reserve(conns.size());
    tendril::wait_group ready;
    tendril::event go;
    std::int64_t started = 0;  // one thread: a plain counter

    const std::int64_t before = pq::rss_bytes();
    ready.add(c.connections);
    for (PGconn*& conn : conns) {
      fibers.push_back(tendril::spawn([&] {
        conn = pq::connect(c.conninfo);
        pq::query(conn);  // warm-up, untimed
        ready.done();
        go.wait();
        while (started < c.queries) {
          ++started;
          pq::query(conn);
        }
      }));
    }
    ready.wait();
    const std::int64_t after = pq::rss_bytes();

    tendril::bench::timed_run run;
    go.set();
    tendril::joinall(fibers, tendril::clock::duration::max(), /*raise_error=*/true);
    run.done(c.queries);
    for (PGconn* conn : conns) PQfinish(conn);
    run.report(c.bench, "tendril", "query/s");
    pq::report_rss(c, "tendril", before, after);
  });
}
