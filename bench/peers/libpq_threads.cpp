// libpq point queries from N OS threads, each with its own connection and
// libpq's blocking calls: the classic way to run blocking client code
// concurrently, and the peer of bench/libpq_bench.cpp (N patched fibers).
// Run by bench/io_load.py postgres, once per N:
//
//   libpq_threads CONNINFO N
//
// The same steps, checks and result lines as libpq_bench
// (peers/libpq_case.hpp), impl=threads. std::thread with its defaults (an
// 8 MiB stack reserved, touched as used; glibc's per-thread malloc arenas),
// as a user would write it. The timed run ends when the last query is
// answered, before the threads are joined: thread exits are not queries.

#include <atomic>
#include <cstdint>
#include <latch>
#include <thread>
#include <vector>

#include "libpq_case.hpp"

namespace pq = tendril::bench::libpq;

int main(int argc, char** argv) {
  const pq::run_case c = pq::run_case::parse(argc, argv);
  pq::open_and_close_one(c.conninfo);
  const auto n = static_cast<std::size_t>(c.connections);
  std::vector<PGconn*> conns(n);
  std::vector<std::thread> threads;
  threads.reserve(n);
  std::latch ready(c.connections), go(1), finished(c.connections);
  std::atomic<std::int64_t> started{0};

  const std::int64_t before = pq::rss_bytes();
  for (PGconn*& conn : conns) {
    threads.emplace_back([&] {
      conn = pq::connect(c.conninfo);
      pq::query(conn);  // warm-up, untimed
      ready.count_down();
      go.wait();
      while (started.fetch_add(1, std::memory_order_relaxed) < c.queries) pq::query(conn);
      finished.count_down();
    });
  }
  ready.wait();
  const std::int64_t after = pq::rss_bytes();

  tendril::bench::timed_run run;
  go.count_down();
  finished.wait();
  run.done(c.queries);
  for (std::thread& t : threads) t.join();
  for (PGconn* conn : conns) PQfinish(conn);
  run.report(c.bench, "threads", "query/s");
  pq::report_rss(c, "threads", before, after);
}
