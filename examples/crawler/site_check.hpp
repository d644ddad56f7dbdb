#pragma once
// site_check: a crawl of the built-in site checked against the site's own
// counters. This is what proves the de-duplication: the site counts every
// 200 it serves per page, so a URL fetched twice under two spellings, or
// never, shows.
//
// What is expected of a crawl that ran to its end:
// - no page answered 200 twice (whatever the limits);
// - the crawl's page count is the number of HTML pages the site served,
//   and its not-HTML count the images it served;
// - without --max-pages and --max-depth: every page the crawl can reach
//   was served exactly once (the private pages: never with --robots,
//   once without), robots.txt once with --robots and never without. A
//   page is reachable when a page that links it was fetched: with no
//   retries, a page whose only link is on a page that failed is not;
// - every error is one a trap causes, and each trap causes its own:
//   /trap/loop/a "too many redirects", /trap/drop "connection dropped",
//   /trap/slow "timed out" (or nothing, when the timeout is longer than
//   its delay); with no retries, the pages whose first answer is a 503.
//
// /trap/slow is left out of the per-page counts when it timed out: the
// site serves it after the crawler has given up, and how often depends on
// the retries and on when the server stops.

#include <string>
#include <vector>

#include "crawl.hpp"
#include "site.hpp"
#include "stats.hpp"

namespace crawler {

struct site_check_result {
  bool passed = true;
  /// line: "check: passed: ..." or "check: FAILED: ...", one line.
  std::string line;
  /// problems: each thing that did not match, for the lines after it.
  std::vector<std::string> problems;
};

/// check_site_crawl(s, summary, o, limited) checks a finished crawl of `s`
/// made with options `o`; `limited`: max_pages or max_depth may have cut it
/// short. Call it once the crawl's run() has returned.
site_check_result check_site_crawl(const site& s, const crawl_summary& summary, const crawl_options& o,
                                   bool limited);

}  // namespace crawler
