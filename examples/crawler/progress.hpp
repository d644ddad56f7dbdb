#pragma once
// progress: what the crawler shows while it runs, and the summary at the end.
//
// On a terminal, one line redrawn in place every 100 ms:
//
//   [######----------]  9120/20005  2210 pages/s  queue 310  in flight 100  errors 2  0:04
//
// (URLs done of URLs known, pages fetched per second over the last second,
// URLs queued, URLs being fetched, errors, elapsed). When stdout is not a terminal (a log, a CI
// job), a plain line every second instead. Each new error gets a line of
// its own as it happens, up to max_error_lines; the summary counts all.

#include <cstddef>
#include <ostream>
#include <string>
#include <vector>

#include <tendril/hub/park.hpp>
#include <tendril/sync/event.hpp>

#include "crawl.hpp"
#include "frontier.hpp"
#include "stats.hpp"

namespace crawler {

/// The numbers one progress line shows.
struct progress_view {
  std::size_t done = 0;   ///< URLs finished
  std::size_t known = 0;  ///< URLs seen (queued, in flight or done)
  std::size_t pages = 0;
  std::size_t queued = 0;
  std::size_t in_flight = 0;
  std::size_t errors = 0;
  double pages_per_second = 0;  ///< lately, not since the start: a stall shows
  tendril::clock::duration elapsed{};
};

/// progress_bar(v, columns) is the terminal line, cut to `columns` - 1
/// characters (a line that wraps cannot be redrawn in place).
std::string progress_bar(const progress_view& v, std::size_t columns);
/// progress_line(v) is the plain line for logs.
std::string progress_line(const progress_view& v);

/// percentile(samples, p) is the p-th percentile (0 < p <= 100, nearest
/// rank) of `samples`; zero when there are none.
tendril::clock::duration percentile(std::vector<tendril::clock::duration> samples, double p);

/// summary_text(s, elapsed) is the summary, one line per subject, ending in
/// a newline. Its first line is exactly
/// "summary: <pages> pages, <bytes> bytes, <errors> errors in <seconds> s (<rate> pages/s)".
std::string summary_text(const crawl_summary& s, tendril::clock::duration elapsed);

struct progress_options {
  bool terminal = false;  ///< redraw one line (true) or print log lines
  std::size_t columns = 80;
  std::size_t max_error_lines = 20;
};

/// show_progress(c, f, finished, out, o) prints progress for crawl `c` of
/// frontier `f` until `finished` is set, then clears its line (terminal)
/// and returns: the body of the progress fiber.
///
/// Blocking:      parks on `finished` between two lines; returns as soon
///                as it is set.
/// Cancellation:  a kill raises at that park.
/// Thread-safety: any fiber; `c` and `f` may be running on other hubs.
void show_progress(const crawl& c, frontier& f, tendril::event& finished, std::ostream& out,
                   const progress_options& o);

}  // namespace crawler
