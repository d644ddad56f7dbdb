#pragma once
// crawl: the crawler itself, written the way a gevent user writes one:
// a fixed set of worker fibers, each looping
//
//   while (auto item = frontier.take()) {   // parks while others may still add
//     fetch item.url; extract its links; frontier.add(links, item.depth + 1);
//     frontier.done(*item);
//   }
//
//   auto f = crawler::make_memory_frontier(unlimited_pages);
//   crawler::crawl c({.start_url = "http://127.0.0.1:8080/"}, *f);
//   c.run();                                // in a fiber: tendril::run(...)
//   crawler::crawl_summary s = c.stats().summary();
//
// The workers run on the calling fiber's hub, or spread over the hubs of a
// tendril::runtime (options.runtime). What they share (the frontier, the
// per-host semaphores, the robots.txt cache, the statistics) is safe across
// hubs. A worker's failure to fetch is a statistic, never an exception.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <exception>
#include <limits>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <tendril/hub/park.hpp>
#include <tendril/hub/runtime.hpp>
#include <tendril/hub/task.hpp>

#include "fetch.hpp"
#include "frontier.hpp"
#include "links.hpp"
#include "robots.hpp"
#include "stats.hpp"

namespace crawler {

/// unlimited_pages: a frontier budget that is never reached.
inline constexpr std::size_t unlimited_pages = std::numeric_limits<std::size_t>::max();
/// unlimited_depth: follow links however far from the start.
inline constexpr unsigned unlimited_depth = std::numeric_limits<unsigned>::max();

/// default_user_agent() is "tendril-crawler/1 (pid <getpid()>)".
std::string default_user_agent();

struct crawl_options {
  /// start_url: an absolute http(s) URL (parse_url's rules).
  std::string start_url;
  /// fibers: how many workers fetch at once, at most.
  std::size_t fibers = 100;
  /// max_depth: links followed from the start; pages at this depth are
  /// fetched but their links are not. A page's depth is that of the first
  /// link to it that was found.
  unsigned max_depth = unlimited_depth;
  /// per_host: requests in flight to one origin (scheme, host, port) at once.
  std::size_t per_host = 16;
  /// timeout: per request, connection to last byte.
  tendril::clock::duration timeout = std::chrono::seconds(10);
  /// retries: requests after the first for a 5xx, 429, timeout or dropped
  /// connection; backoff: the wait before the first one, doubled for each
  /// next, with jitter (a Retry-After of up to 30 s is used instead).
  unsigned retries = 3;
  tendril::clock::duration backoff = std::chrono::milliseconds(250);
  /// robots: obey each origin's robots.txt (fetched once per origin).
  bool robots = false;
  /// all_hosts: follow links to other origins too; by default the crawl
  /// stays on the start URL's origin.
  bool all_hosts = false;
  /// max_links: links taken from one page; more are counted, left out.
  std::size_t max_links = 10000;
  /// max_redirects: redirects followed per request; more is an error.
  long max_redirects = 5;
  /// max_body_bytes: a longer response is an error ("too large").
  std::size_t max_body_bytes = 8u << 20;
  std::string user_agent = default_user_agent();
  /// runtime: spread the workers over its hubs (rt.spawn); null: run them
  /// on the calling fiber's hub.
  tendril::runtime* runtime = nullptr;
};

class crawl {
 public:
  /// crawl(o, f) prepares a crawl of `f` from o.start_url; `f` must
  /// outlive it.
  /// Errors: std::invalid_argument when o.start_url is not an absolute
  /// http(s) URL, or o.fibers or o.per_host is 0.
  crawl(crawl_options o, frontier& f);
  crawl(const crawl&) = delete;
  crawl& operator=(const crawl&) = delete;

  /// run() adds the start URL to the frontier, runs the workers until the
  /// frontier says the crawl is over (or stop()), and returns. At the end
  /// it closes the idle connections of the hubs it used, so a server being
  /// crawled sees its clients leave.
  ///
  /// Blocking:      parks the calling fiber until the workers are done.
  /// Cancellation:  a kill of the caller raises here; the workers are
  ///                killed first.
  /// Thread-safety: once, from a fiber (with options.runtime: of any hub,
  ///                or a plain thread).
  /// Errors:        none from fetching (see stats()); what the frontier
  ///                threw, when it failed (Redis gone): the first worker
  ///                it failed closes the frontier, the others finish the
  ///                URL they hold, and run() rethrows.
  void run();

  /// stop() ends the crawl early (Ctrl-C): closes the frontier and kills
  /// the workers; run() then returns. Thread-safety: any fiber or thread.
  void stop();
  /// stopped() is true once stop() was called.
  bool stopped() const;

  const crawl_stats& stats() const noexcept { return stats_; }
  const crawl_options& options() const noexcept { return options_; }
  /// started() is when run() began; elapsed() how long it ran (so far).
  /// Thread-safety: fibers of the hub that calls run() (the progress fiber).
  tendril::clock::time_point started() const noexcept { return started_; }
  tendril::clock::duration elapsed() const;

  /// start_failure() is why the start URL got no response, if it got none
  /// from this crawl: the crawl could not begin.
  std::optional<failure> start_failure() const;

 private:
  struct visited {
    std::vector<std::string> links;            ///< to follow
    std::optional<std::string> redirected_to;  ///< the URL answered, when a redirect led elsewhere
  };
  void work();
  visited visit(const frontier_item& item);
  std::vector<std::string> links_of(std::string html, const url& base);
  robots_rules fetch_robots(const std::string& robots_url);
  void close_idle_connections();

  crawl_options options_;
  frontier& frontier_;
  url start_;
  std::string start_origin_;
  fetch_policy policy_;
  host_limits limits_;
  robots_cache robots_;
  crawl_stats stats_;
  tendril::clock::time_point started_ = tendril::clock::now();  // set again by run()
  std::atomic<tendril::clock::rep> finished_at_{0};             // since the clock's epoch; 0 while running

  mutable std::mutex lock_;
  std::vector<tendril::task<void>> workers_;
  bool stopping_ = false;
  std::optional<failure> start_failure_;
  std::exception_ptr frontier_error_;
};

}  // namespace crawler
