#pragma once
// crawl_stats: what a crawl counts, written by its worker fibers on every
// hub at once and read by the progress fiber while they run.
//
// Counters the progress line reads each tick are atomics (relaxed: each is
// a number on its own, no other memory hangs on it). What is kept per item
// (status codes, failures, latency samples) sits behind one std::mutex:
// its critical sections are a map increment or a push_back and never park,
// so a plain mutex is right even between fibers (sync/README.md), and a
// fetch costs far more than the lock. 20,000 latency samples are 160 KB:
// all are kept, and percentiles are exact.
//
// Thread-safety: every member may be called from any fiber or thread.

#include <atomic>
#include <cstddef>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include <tendril/hub/park.hpp>

namespace crawler {

/// One URL the crawl could not fetch, or fetched with an error status.
struct failure {
  std::string url;
  std::string kind;     ///< "timed out", "connection dropped", "HTTP 404": the summary's groups
  std::string message;  ///< what happened (curl's message for a transport error)
  unsigned depth = 0;
};

/// What the progress line shows, read without a lock.
struct live_counts {
  std::size_t done = 0;  ///< URLs finished, whatever the outcome
  std::size_t pages = 0;
  std::size_t errors = 0;
};

/// Everything, copied at the end for the summary and the site check.
struct crawl_summary {
  std::size_t done = 0;
  std::size_t pages = 0;  ///< HTML answered with 2xx
  std::size_t bytes = 0;  ///< body bytes of the final responses
  std::size_t errors = 0;
  std::size_t not_html = 0;              ///< 2xx answers that are not HTML (counted, not parsed)
  std::size_t retried_urls = 0;          ///< URLs fetched more than once
  std::size_t retries = 0;               ///< requests beyond each URL's first
  std::size_t truncated_pages = 0;       ///< pages with more distinct links than max_links
  std::size_t links_left_out = 0;        ///< the links those pages had beyond max_links
  std::size_t robots_blocked = 0;        ///< URLs not fetched because robots.txt disallows them
  std::size_t other_host_links = 0;      ///< links not followed because they leave the start origin
  std::map<long, std::size_t> statuses;  ///< final status code -> URLs
  std::vector<failure> failures;         ///< in the order they happened
  std::vector<tendril::clock::duration> latencies;  ///< one per response received, retries included
};

class crawl_stats {
 public:
  /// response(url, status, bytes, html, depth) records the final response for
  /// `url`: a 2xx is a page (html) or a not-HTML answer; any other status
  /// is a failure of kind "HTTP <status>".
  void response(const std::string& url, long status, std::size_t bytes, bool html, unsigned depth);
  /// failed(f) records a URL that got no response.
  void failed(failure f);
  /// latency(d) records how long one request took to be answered.
  void latency(tendril::clock::duration d);
  /// retry(first) records one more request for a URL; first: its first retry.
  void retry(bool first);
  void truncated(std::size_t left_out);
  void robots_blocked() { robots_blocked_.fetch_add(1, std::memory_order_relaxed); }
  void other_host_links(std::size_t n) { other_host_links_.fetch_add(n, std::memory_order_relaxed); }
  /// finished() counts one URL done, after whatever else was recorded for it.
  void finished() { done_.fetch_add(1, std::memory_order_relaxed); }

  live_counts live() const noexcept;
  /// failures_since(n) is a copy of the failures after the first n.
  std::vector<failure> failures_since(std::size_t n) const;
  crawl_summary summary() const;

 private:
  std::atomic<std::size_t> done_{0}, pages_{0}, bytes_{0}, errors_{0}, not_html_{0};
  std::atomic<std::size_t> retried_urls_{0}, retries_{0}, truncated_pages_{0}, links_left_out_{0};
  std::atomic<std::size_t> robots_blocked_{0}, other_host_links_{0};

  mutable std::mutex lock_;
  std::map<long, std::size_t> statuses_;
  std::vector<failure> failures_;
  std::vector<tendril::clock::duration> latencies_;
};

}  // namespace crawler
