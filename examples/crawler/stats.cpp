// crawl_stats: the crawl's counters (stats.hpp).

#include "stats.hpp"

#include <utility>

namespace crawler {

namespace {
constexpr auto relaxed = std::memory_order_relaxed;
}

void crawl_stats::response(const std::string& url, long status, std::size_t bytes, bool html,
                           unsigned depth) {
  bytes_.fetch_add(bytes, relaxed);
  {
    std::lock_guard guard(lock_);
    ++statuses_[status];
  }
  if (status < 200 || status > 299) {
    failed({url, "HTTP " + std::to_string(status), "the server answered " + std::to_string(status), depth});
  } else if (html) {
    pages_.fetch_add(1, relaxed);
  } else {
    not_html_.fetch_add(1, relaxed);
  }
}

void crawl_stats::failed(failure f) {
  std::lock_guard guard(lock_);
  failures_.push_back(std::move(f));
  // Under the lock, so that a reader that sees the count sees the failure.
  errors_.fetch_add(1, relaxed);
}

void crawl_stats::latency(tendril::clock::duration d) {
  std::lock_guard guard(lock_);
  latencies_.push_back(d);
}

void crawl_stats::retry(bool first) {
  retries_.fetch_add(1, relaxed);
  if (first) retried_urls_.fetch_add(1, relaxed);
}

void crawl_stats::truncated(std::size_t left_out) {
  truncated_pages_.fetch_add(1, relaxed);
  links_left_out_.fetch_add(left_out, relaxed);
}

live_counts crawl_stats::live() const noexcept {
  return {done_.load(relaxed), pages_.load(relaxed), errors_.load(relaxed)};
}

std::vector<failure> crawl_stats::failures_since(std::size_t n) const {
  std::lock_guard guard(lock_);
  if (n >= failures_.size()) return {};
  return {failures_.begin() + static_cast<std::ptrdiff_t>(n), failures_.end()};
}

crawl_summary crawl_stats::summary() const {
  crawl_summary s;
  s.done = done_.load(relaxed);
  s.pages = pages_.load(relaxed);
  s.bytes = bytes_.load(relaxed);
  s.not_html = not_html_.load(relaxed);
  s.retried_urls = retried_urls_.load(relaxed);
  s.retries = retries_.load(relaxed);
  s.truncated_pages = truncated_pages_.load(relaxed);
  s.links_left_out = links_left_out_.load(relaxed);
  s.robots_blocked = robots_blocked_.load(relaxed);
  s.other_host_links = other_host_links_.load(relaxed);
  std::lock_guard guard(lock_);
  s.errors = errors_.load(relaxed);
  s.statuses = statuses_;
  s.failures = failures_;
  s.latencies = latencies_;
  return s;
}

}  // namespace crawler
