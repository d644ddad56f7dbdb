// progress: the live line, the log lines and the summary (progress.hpp).

#include "progress.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <deque>
#include <map>
#include <utility>

namespace crawler {

namespace {

using namespace std::chrono_literals;
using tendril::clock;

std::string printf_string(const char* format, auto... args) {
  char buffer[256];
  const int n = std::snprintf(buffer, sizeof buffer, format, args...);
  return std::string(buffer, static_cast<std::size_t>(std::clamp(n, 0, int(sizeof buffer) - 1)));
}

double seconds(clock::duration d) { return std::chrono::duration<double>(d).count(); }

double per_second(std::size_t n, clock::duration d) { return d > 0s ? double(n) / seconds(d) : 0.0; }

// "m:ss", or "h:mm:ss" past an hour.
std::string clock_time(clock::duration d) {
  const auto s = std::chrono::duration_cast<std::chrono::seconds>(d).count();
  if (s >= 3600) return printf_string("%lld:%02lld:%02lld", s / 3600, s / 60 % 60, s % 60);
  return printf_string("%lld:%02lld", s / 60, s % 60);
}

std::string milliseconds(clock::duration d) {
  const double ms = std::chrono::duration<double, std::milli>(d).count();
  return ms >= 1000 ? printf_string("%.2f s", ms / 1000) : printf_string("%.1f ms", ms);
}

std::string error_line(const failure& f) {
  return "error: " + f.url + ": " + f.kind + " (" + f.message + ")";
}

// rate_meter: pages per second over about the last second, from the
// samples of the lines drawn in that time.
class rate_meter {
 public:
  /// rate_meter(start): the first line's rate counts from the start.
  explicit rate_meter(clock::time_point start) { samples_.push_back({start, 0}); }

  double pages_per_second(std::size_t pages, clock::time_point now) {
    samples_.push_back({now, pages});
    while (samples_.size() > 2 && now - samples_[1].at >= 1s) samples_.pop_front();
    const sample& first = samples_.front();
    return now > first.at ? double(pages - first.pages) / seconds(now - first.at) : 0.0;
  }

 private:
  struct sample {
    clock::time_point at;
    std::size_t pages;
  };
  std::deque<sample> samples_;
};

progress_view look(const crawl& c, frontier& f, rate_meter& rate) {
  const live_counts live = c.stats().live();
  return {live.done,
          f.seen(),
          live.pages,
          f.queued(),
          f.in_flight(),
          live.errors,
          rate.pages_per_second(live.pages, clock::now()),
          c.elapsed()};
}

// The summary's groups of failures: count and the first one, by kind.
struct failure_group {
  std::size_t count = 0;
  const failure* sample = nullptr;
};

std::string failures_text(const std::vector<failure>& failures) {
  std::map<std::string, failure_group> groups;
  for (const failure& f : failures) {
    failure_group& g = groups[f.kind];
    if (g.count++ == 0) g.sample = &f;
  }
  std::string text = "errors by kind:\n";
  for (const auto& [kind, g] : groups)
    text += "  " + kind + ": " + std::to_string(g.count) + ", e.g. " + g.sample->url + " (" +
            g.sample->message + ")\n";
  return text;
}

}  // namespace

std::string progress_bar(const progress_view& v, std::size_t columns) {
  // The rate is padded: it changes on every line, and the bar takes the
  // columns the numbers leave.
  const std::string numbers =
      printf_string("  %zu/%zu  %5.0f pages/s  queue %zu  in flight %zu  errors %zu  ", v.done, v.known,
                    v.pages_per_second, v.queued, v.in_flight, v.errors) +
      clock_time(v.elapsed);
  const std::size_t room = columns > numbers.size() + 3 ? columns - numbers.size() - 3 : 0;
  const std::size_t width = std::clamp<std::size_t>(room, 6, 30);
  const std::size_t filled = v.known > 0 ? std::min(width, width * v.done / v.known) : 0;
  std::string line = '[' + std::string(filled, '#') + std::string(width - filled, '-') + ']' + numbers;
  if (columns > 1 && line.size() >= columns) line.resize(columns - 1);
  return line;
}

std::string progress_line(const progress_view& v) {
  return printf_string(
      "progress: %zu of %zu URLs done, %.0f pages/s, queue %zu, in flight %zu, errors %zu, %.1f s", v.done,
      v.known, v.pages_per_second, v.queued, v.in_flight, v.errors, seconds(v.elapsed));
}

clock::duration percentile(std::vector<clock::duration> samples, double p) {
  if (samples.empty()) return clock::duration::zero();
  const auto rank = static_cast<std::size_t>(std::ceil(p / 100 * double(samples.size())));
  const std::size_t index = std::clamp<std::size_t>(rank, 1, samples.size()) - 1;
  std::nth_element(samples.begin(), samples.begin() + std::ptrdiff_t(index), samples.end());
  return samples[index];
}

std::string summary_text(const crawl_summary& s, clock::duration elapsed) {
  std::string text =
      printf_string("summary: %zu pages, %zu bytes, %zu errors in %.1f s (%.1f pages/s)\n", s.pages, s.bytes,
                    s.errors, seconds(elapsed), per_second(s.pages, elapsed));
  text += "status codes:";
  for (const auto& [status, count] : s.statuses) text += printf_string(" %ld x %zu,", status, count);
  if (s.statuses.empty()) text += " none";
  if (text.back() == ',') text.pop_back();
  text += '\n';
  if (!s.failures.empty()) text += failures_text(s.failures);
  if (s.latencies.empty())
    text += "latency: no responses\n";
  else
    text += "latency: p50 " + milliseconds(percentile(s.latencies, 50)) + ", p90 " +
            milliseconds(percentile(s.latencies, 90)) + ", p99 " + milliseconds(percentile(s.latencies, 99)) +
            " (" + std::to_string(s.latencies.size()) + " responses)\n";
  text += printf_string("not HTML: %zu\n", s.not_html);
  text += printf_string("retried: %zu URLs (%zu retries)\n", s.retried_urls, s.retries);
  if (s.robots_blocked > 0)
    text += printf_string("robots.txt: %zu URLs disallowed, not fetched\n", s.robots_blocked);
  if (s.truncated_pages > 0)
    text += printf_string("links: %zu pages had too many; %zu links left out\n", s.truncated_pages,
                          s.links_left_out);
  if (s.other_host_links > 0)
    text += printf_string("links to other hosts, not followed: %zu (--all-hosts follows them)\n",
                          s.other_host_links);
  return text;
}

void show_progress(const crawl& c, frontier& f, tendril::event& finished, std::ostream& out,
                   const progress_options& o) {
  const clock::duration interval = o.terminal ? 100ms : 1s;
  std::size_t errors_seen = 0;
  // new_errors() is a line for each failure since the last call, the first max_error_lines of them.
  const auto new_errors = [&] {
    std::string text;
    for (const failure& e : c.stats().failures_since(errors_seen)) {
      if (errors_seen < o.max_error_lines) text += error_line(e) + '\n';
      if (errors_seen == o.max_error_lines) text += "error: more errors; the summary counts them all\n";
      ++errors_seen;
    }
    return text;
  };
  const std::string clear_line = o.terminal ? "\r\x1b[K" : "";
  rate_meter rate(clock::now());
  while (!finished.wait_for(interval)) {
    const progress_view v = look(c, f, rate);
    out << clear_line << new_errors() << (o.terminal ? progress_bar(v, o.columns) : progress_line(v) + '\n')
        << std::flush;
  }
  out << clear_line << new_errors() << std::flush;
}

}  // namespace crawler
