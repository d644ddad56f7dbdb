#pragma once
// frontier: the URLs a crawl has still to fetch and every URL it has seen,
// shared by all the crawl's fibers, on any hub of the process, and with
// the Redis frontier by every crawler process that names the same key.
//
//   auto f = crawler::make_memory_frontier(max_pages);
//   f->add({start}, 0);
//   while (auto item = f->take()) {   // parks while others may still add
//     ...fetch item->url, f->add(links, item->depth + 1)...
//     f->done(*item);
//   }
//
// The crawl is over when nothing is queued and no fetch is in flight (no
// item taken and not yet done), in this process or, for Redis, in any.
// URLs are compared as given: callers pass normalised URLs (links.hpp).
//
// Thread-safety: every member may be called from fibers on any hub, and
// from plain threads, at once.

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace crawler {

struct frontier_item {
  std::string url;
  unsigned depth = 0;  ///< links followed from the start URL
};

class frontier {
 public:
  virtual ~frontier() = default;

  /// add(urls, depth) queues each URL never seen before, while fewer than
  /// the frontier's max_pages URLs have been seen; returns how many it
  /// queued. The others are dropped silently (seen, or over the budget).
  virtual std::size_t add(const std::vector<std::string>& urls, unsigned depth) = 0;
  /// mark_seen(url) marks a URL seen without queuing it: add() will not
  /// queue it from now on. For a redirect's target, fetched already under
  /// the URL that redirected; not held to max_pages, the fetch is done.
  virtual void mark_seen(const std::string& url) = 0;
  /// take() is the next item to fetch, oldest first. It parks the calling
  /// fiber while nothing is queued but a fetch is in flight (which may add
  /// more); nullopt once the crawl is over or close() was called.
  virtual std::optional<frontier_item> take() = 0;
  /// done(item): the fetch of an item take() returned is over, whatever
  /// its outcome. Every taken item must be done exactly once.
  virtual void done(const frontier_item& item) = 0;
  /// close() ends the crawl early (an interrupt): take() returns nullopt
  /// from now on, in this process.
  virtual void close() = 0;

  /// For the progress line: items queued, URLs ever seen, fetches in flight.
  virtual std::size_t queued() = 0;
  virtual std::size_t seen() = 0;
  virtual std::size_t in_flight() = 0;
};

/// make_memory_frontier(max_pages): a frontier in this process's memory.
std::unique_ptr<frontier> make_memory_frontier(std::size_t max_pages);

/// make_redis_frontier(spec, max_pages, connections, idle_limit): a
/// frontier kept in Redis, shared by every process that names the same
/// key. spec is "redis://host:port/key". It talks to Redis through
/// hiredis's blocking API, which is cooperative once tendril::patch_all()
/// has run (the crawler calls it first). At most `connections`
/// connections are open. A take() that sees no progress anywhere for
/// idle_limit, while fetches of other processes are in flight, reports
/// them (redis_frontier.cpp: a process that died holding items).
/// Errors: tendril::error naming the address when Redis cannot be
/// reached, or the spec when it is malformed.
std::unique_ptr<frontier> make_redis_frontier(
    std::string_view spec, std::size_t max_pages, std::size_t connections,
    std::chrono::steady_clock::duration idle_limit = std::chrono::seconds(60));

}  // namespace crawler
