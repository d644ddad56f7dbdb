// tendril's HTTP client under load: 10,000 GETs of a 2 KB page with 100 and
// with 1000 fibers, each fetching one page after another with
// tendril::http::get. bench/io_load.py nginx runs it against nginx-light on
// the other CPU:
//
//   http_client_bench URL
//
//   http_get_c100, http_get_c1000   GETs per second (wall clock), and
//   http_get_c100_cpu, ..._cpu      the process's CPU-seconds per 10,000 GETs
//
// Each case first fetches 1000 pages at its concurrency (untimed), which
// opens its connections; the timed 10,000 then reuse them (keep-alive), as
// they do in every peer. Every response must be a 200 with the whole page.

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <tendril/tendril.hpp>

#include "measure.hpp"
#include "throughput.hpp"

namespace {

constexpr std::size_t page_bytes = 2048;

// fetch(url, concurrency, total): `concurrency` tasks GET `url` until `total`
// GETs have been started; rethrows the first failure.
void fetch(const std::string& url, int concurrency, std::int64_t total) {
  std::int64_t started = 0;
  std::vector<tendril::task<void>> workers;
  workers.reserve(static_cast<std::size_t>(concurrency));
  for (int i = 0; i < concurrency; ++i) {
    workers.push_back(tendril::spawn([&] {
      while (started < total) {
        ++started;
        tendril::http::response r = tendril::http::get(url);
        if (r.status != 200 || r.body.size() != page_bytes)
          throw tendril::error("GET " + url + ": status " + std::to_string(r.status) + ", " +
                               std::to_string(r.body.size()) + " bytes");
      }
    }));
  }
  tendril::joinall(workers, tendril::clock::duration::max(), /*raise_error=*/true);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s URL\n", argv[0]);
    return 2;
  }
  const std::string url = argv[1];
  tendril::run([&] {
    for (int concurrency : {100, 1000}) {
      fetch(url, concurrency, 1000);  // warm-up: opens `concurrency` connections
      const std::int64_t total = tendril::bench::iterations(10'000);
      tendril::bench::timed_run run;
      fetch(url, concurrency, total);
      run.done(total);
      run.report("http_get_c" + std::to_string(concurrency), "tendril", "req/s");
    }
  });
}
