// site_check: a crawl against the site's counters (site_check.hpp).

#include "site_check.hpp"

#include <algorithm>
#include <map>
#include <optional>

namespace crawler {

namespace {

constexpr std::size_t max_problems = 10;

// The failures of the crawl, by the site's resource index.
std::map<std::size_t, const failure*> failures_by_index(const site& s, const crawl_summary& summary,
                                                        std::vector<std::string>& problems) {
  std::map<std::size_t, const failure*> found;
  for (const failure& f : summary.failures) {
    const std::optional<url> u = parse_url(f.url);
    const std::optional<std::size_t> index = u ? s.index_of(u->path) : std::nullopt;
    if (index)
      found[*index] = &f;
    else
      problems.push_back("an error for a URL the site does not have: " + f.url + ": " + f.kind);
  }
  return found;
}

struct checker {
  const site& s;
  const crawl_summary& summary;
  const crawl_options& o;
  bool limited;
  std::vector<std::string> problems{};
  std::map<std::size_t, const failure*> failed{};
  std::optional<std::size_t> slow{};
  bool slow_timed_out = false;
  std::vector<bool> reachable{};  // what a crawl to the end finds, following the pages it fetches

  std::size_t index(std::string_view path) const { return *s.index_of(path); }

  // expected_failure(i) is the kind of error resource i must cause, "" for
  // none; "timed out?" for /trap/slow, which may or may not time out.
  std::string expected_failure(std::size_t i) const {
    if (s.options().traps) {
      if (i == index("/trap/loop/a")) return "too many redirects";
      if (i == index("/trap/drop")) return "connection dropped";
      if (i == *slow) return "timed out?";
    }
    if (o.retries == 0 && i < s.options().pages && s.fails_first(i)) return "HTTP 503";
    return "";
  }

  // find_reachable() walks the site's graph from "/" as the crawl does: a
  // page's links are followed when the page is fetched, so the links of a
  // page that fails (a 503 without retries) or is disallowed are not.
  void find_reachable() {
    reachable.assign(s.resources(), false);
    std::vector<std::size_t> next{0};
    reachable[0] = true;
    while (!next.empty()) {
      const std::size_t at = next.back();
      next.pop_back();
      if (expected_ok(at) == 0) continue;
      for (std::size_t to : s.links_of(at))
        if (!reachable[to]) {
          reachable[to] = true;
          next.push_back(to);
        }
    }
    reachable[index("/robots.txt")] = o.robots;
  }

  void check_errors() {
    for (const auto& [i, f] : failed) {
      const std::string expected = expected_failure(i);
      if (expected != f->kind && expected != f->kind + "?")
        problems.push_back("unexpected error: " + f->url + ": " + f->kind + " (" + f->message + ")");
    }
    if (limited) return;
    for (std::size_t i = 0; i < s.resources(); ++i) {
      const std::string expected = expected_failure(i);
      if (reachable[i] && !expected.empty() && expected.back() != '?' && !failed.contains(i))
        problems.push_back("no error for " + s.path_of(i) + ", where one was due: " + expected);
    }
  }

  // expected_ok(i) is how many 200s resource i serves when a crawl that
  // was not cut short reaches it.
  std::size_t expected_ok(std::size_t i) const {
    if (i < s.pages()) return o.retries == 0 && i < s.options().pages && s.fails_first(i) ? 0 : 1;
    if (i < s.pages_ignoring_robots()) return o.robots ? 0 : 1;
    if (i == index("/robots.txt")) return o.robots ? 1 : 0;
    return s.options().traps && i == index("/trap/image.png") ? 1 : 0;
  }

  void check_served() {
    for (std::size_t i = 0; i < s.resources(); ++i) {
      if (i == slow) continue;  // its late answers are the server's, not the crawler's
      const std::size_t ok = s.served_ok(i);
      if (ok > 1) problems.push_back(s.path_of(i) + " was served " + std::to_string(ok) + " times");
      if (o.robots && i >= s.pages() && i < s.pages_ignoring_robots() && ok > 0)
        problems.push_back(s.path_of(i) + " was fetched although robots.txt disallows it");
      if (!limited && reachable[i] && ok < expected_ok(i))
        problems.push_back(s.path_of(i) + " was never fetched");
    }
  }

  void check_counts() {
    std::size_t pages = 0;
    for (std::size_t i = 0; i < s.pages_ignoring_robots(); ++i)
      if (i != slow || !slow_timed_out) pages += std::min<std::size_t>(s.served_ok(i), 1);
    if (summary.pages != pages)
      problems.push_back("the crawl counted " + std::to_string(summary.pages) + " pages, the site served " +
                         std::to_string(pages));
    const std::size_t images = s.options().traps ? s.served_ok(index("/trap/image.png")) : 0;
    if (summary.not_html != images)
      problems.push_back("the crawl counted " + std::to_string(summary.not_html) +
                         " not-HTML answers, the site served " + std::to_string(images));
  }
};

}  // namespace

site_check_result check_site_crawl(const site& s, const crawl_summary& summary, const crawl_options& o,
                                   bool limited) {
  checker c{s, summary, o, limited};
  c.failed = failures_by_index(s, summary, c.problems);
  if (s.options().traps) {
    c.slow = c.index("/trap/slow");
    c.slow_timed_out = c.failed.contains(*c.slow);
  }
  c.find_reachable();
  c.check_errors();
  c.check_served();
  c.check_counts();

  site_check_result r;
  r.passed = c.problems.empty();
  if (!r.passed) {
    const std::size_t n = c.problems.size();
    r.line = "check: FAILED: the crawl does not match the site's counters (" + std::to_string(n) +
             (n == 1 ? " problem)" : " problems)");
    c.problems.resize(std::min(c.problems.size(), max_problems));
    r.problems = std::move(c.problems);
  } else if (limited) {
    r.line = "check: passed: no page was served twice, and the site served the " +
             std::to_string(summary.pages) + " pages counted (the crawl was limited)";
  } else {
    r.line = "check: passed: each of the site's " + std::to_string(summary.pages) + " pages was served once" +
             (summary.errors > 0 ? "; each of the " + std::to_string(summary.errors) + " errors is a trap's"
                                 : std::string());
  }
  return r;
}

}  // namespace crawler
