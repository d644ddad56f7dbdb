#pragma once
// robots.txt (RFC 9309): the paths a site asks crawlers to leave alone.
//
//   robots_rules rules = robots_rules::parse(body, "tendril-crawler");
//   if (rules.allowed("/private/3")) fetch(...);
//
// A small parser written here: Debian packages no robots.txt library
// (Google's robotstxt is C++ but not packaged), and the format is three
// kinds of line. What it reads: groups of "User-agent:" lines followed by
// "Allow:" and "Disallow:" rules; '#' comments; keys in any case. A crawler
// obeys the groups that name its product token (case-insensitive, what
// follows a '/' ignored), else the groups for "*", else nothing is
// disallowed. Patterns match from the start of the path (and query); '*'
// matches any run of characters and a final '$' anchors the end. The
// longest matching pattern wins, and Allow wins a tie. /robots.txt itself
// is always allowed. Patterns and paths are compared by the octets they
// mean: "%7E" matches "~", hex digits in any case, and a pattern written in
// UTF-8 matches the escaped path. What it does not do: Crawl-delay and
// Sitemap lines (ignored), the 500 KiB parse limit.
//
// Thread-safety: robots_rules is a value; robots_cache may be used by
// fibers of any hub and by plain threads at once.

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "links.hpp"

namespace crawler {

class robots_rules {
 public:
  /// robots_rules() allows everything: what a 404 for robots.txt means.
  robots_rules() = default;
  /// disallow_all() allows nothing: what an unreachable robots.txt means
  /// (RFC 9309 section 2.3.1.4).
  static robots_rules disallow_all();
  /// parse(text, product) is what `text` asks of the crawler whose product
  /// token is `product` ("tendril-crawler"). Never fails: lines it does not
  /// understand are skipped.
  static robots_rules parse(std::string_view text, std::string_view product);

  /// allowed(path) is true when `path` ("/a/b?q", as in a request line)
  /// may be fetched.
  bool allowed(std::string_view path) const;

 private:
  struct rule {
    std::string pattern;
    bool allow = false;
  };
  std::vector<rule> rules_;
};

/// robots_cache holds the rules of each origin, fetched on first use.
class robots_cache {
 public:
  /// fetcher(robots_url) returns the rules of the origin whose robots.txt
  /// is at `robots_url`, deciding itself what a failure means.
  using fetcher = std::function<robots_rules(const std::string& robots_url)>;
  explicit robots_cache(fetcher f);
  robots_cache(const robots_cache&) = delete;
  robots_cache& operator=(const robots_cache&) = delete;
  ~robots_cache();

  /// allowed(u) is true when u's origin's robots.txt lets the crawler fetch u.
  ///
  /// Blocking:      the first call for an origin runs the fetcher; other
  ///                calls for that origin meanwhile park until it is done.
  /// Cancellation:  a kill of the fetching fiber leaves the origin
  ///                disallowed (nothing more is fetched from it), and wakes
  ///                the others.
  /// Thread-safety: any fiber on any hub, or any thread.
  /// Errors:        what the fetcher throws, to the fiber that ran it.
  bool allowed(const url& u);

 private:
  struct entry;
  fetcher fetch_;
  std::mutex lock_;
  std::unordered_map<std::string, std::shared_ptr<entry>> entries_;
};

}  // namespace crawler
