// libpq point queries from one thread driving N connections with libpq's
// async API: the hand-written floor under bench/libpq_bench.cpp (N patched
// fibers, each on libpq's blocking calls). Run by bench/io_load.py postgres,
// once per N:
//
//   libpq_async CONNINFO N
//
// The same steps, checks and result lines as libpq_bench
// (peers/libpq_case.hpp), impl=async. The connections are opened one after
// another with PQconnectdb (untimed, as everywhere), then driven by one
// level-triggered epoll set: each connection sends its query with
// PQsendQuery, and on each readable event PQconsumeInput reads what came and
// PQgetResult takes the answers while PQisBusy says they are complete; the
// NULL after the last one ends the query, and the connection sends its next.
// The connections stay in libpq's default blocking mode for sending: a
// 14-byte query on an idle socket always fits its send buffer, so
// PQsendQuery never waits, and the loop needs no EPOLLOUT.

#include <sys/epoll.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <vector>

#include "libpq_case.hpp"

namespace pq = tendril::bench::libpq;

namespace {

void send_query(PGconn* conn) {
  if (PQsendQuery(conn, pq::point_query) == 0) pq::fail("PQsendQuery failed", PQerrorMessage(conn));
}

// on_readable(conn) takes in what arrived; true when conn's query is done.
bool on_readable(PGconn* conn) {
  if (PQconsumeInput(conn) == 0) pq::fail("PQconsumeInput failed", PQerrorMessage(conn));
  while (PQisBusy(conn) == 0) {
    PGresult* result = PQgetResult(conn);
    if (result == nullptr) return true;
    pq::check(result);
  }
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  const pq::run_case c = pq::run_case::parse(argc, argv);
  pq::open_and_close_one(c.conninfo);
  const auto n = static_cast<std::size_t>(c.connections);
  std::vector<PGconn*> conns(n);
  std::vector<epoll_event> events(n);
  const int epoll_fd = ::epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd < 0) pq::fail("epoll_create1", std::strerror(errno));

  const std::int64_t before = pq::rss_bytes();
  for (std::size_t i = 0; i < n; ++i) {
    conns[i] = pq::connect(c.conninfo);
    pq::query(conns[i]);  // warm-up, untimed
    epoll_event e{};
    e.events = EPOLLIN;
    e.data.u64 = i;
    if (::epoll_ctl(epoll_fd, EPOLL_CTL_ADD, PQsocket(conns[i]), &e) != 0)
      pq::fail("epoll_ctl", std::strerror(errno));
  }
  const std::int64_t after = pq::rss_bytes();

  tendril::bench::timed_run run;
  std::int64_t started = 0, finished = 0;
  for (PGconn* conn : conns) {
    if (started == c.queries) break;
    ++started;
    send_query(conn);
  }
  while (finished < c.queries) {
    const int ready = ::epoll_wait(epoll_fd, events.data(), c.connections, -1);
    if (ready < 0 && errno != EINTR) pq::fail("epoll_wait", std::strerror(errno));
    for (int k = 0; k < ready; ++k) {
      PGconn* conn = conns[events[static_cast<std::size_t>(k)].data.u64];
      if (!on_readable(conn)) continue;
      ++finished;
      if (started < c.queries) {
        ++started;
        send_query(conn);
      }
    }
  }
  run.done(c.queries);
  for (PGconn* conn : conns) PQfinish(conn);
  ::close(epoll_fd);
  run.report(c.bench, "async", "query/s");
  pq::report_rss(c, "async", before, after);
}
