// The crawl (examples/crawler/crawl.hpp) driven in-process against the
// generated site served on loopback, on one hub and on a runtime of two:
// every page fetched exactly once (the site's own counters say so), retries
// of 503s, each trap in its bucket, robots.txt obeyed and ignored, the page
// and depth limits, the per-host limit reached and never exceeded, stop(),
// an unreachable start URL. Then the smaller parts: the memory frontier,
// the robots.txt rules, percentiles and the summary's first line.
//
// Nothing here asserts timing. Where concurrency must be shown (the
// per-host limit is reached), the site's handler holds requests at a
// barrier until enough are inside at once.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdlib>
#include <deque>
#include <functional>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include <tendril/hub/run.hpp>
#include <tendril/hub/runtime.hpp>
#include <tendril/hub/sleep.hpp>
#include <tendril/hub/task.hpp>
#include <tendril/io/http.hpp>
#include <tendril/io/http_server.hpp>
#include <tendril/io/runtime_server.hpp>
#include <tendril/sync/event.hpp>

#include "crawl.hpp"
#include "frontier.hpp"
#include "progress.hpp"
#include "robots.hpp"
#include "site.hpp"
#include "site_check.hpp"
#include "support/hub_fixture.hpp"
#include "support/no_proxy.hpp"

namespace {

using namespace std::chrono_literals;
namespace http = tendril::http;
using crawler::crawl_options;
using crawler::site;
using crawler::site_options;
using tendril::testing::hub_check;

// What a crawl came to.
struct outcome {
  crawler::crawl_summary summary;
  std::optional<crawler::failure> start_failure;
  bool stopped = false;
};

// crawl_at(start, o, max_pages, rt) crawls from `start` in the calling fiber.
outcome crawl_at(const std::string& start, crawl_options o, std::size_t max_pages, tendril::runtime* rt) {
  std::unique_ptr<crawler::frontier> f = crawler::make_memory_frontier(max_pages);
  o.start_url = start;
  o.runtime = rt;
  crawler::crawl c(o, *f);
  c.run();
  return {c.stats().summary(), c.start_failure(), c.stopped()};
}

struct served_crawl {
  crawl_options options{};
  std::size_t threads = 0;  ///< 0: one hub (http::server); else a runtime_server on a runtime of that many
  std::size_t max_pages = crawler::unlimited_pages;
  http::request_handler handler{};  ///< instead of the site's own
};

// crawl_site(s, how) serves `s` on loopback and crawls it, on the test
// thread's hub or on a runtime, and stops the server.
outcome crawl_site(site& s, served_crawl how) {
  if (!how.handler) how.handler = [&s](const http::server_request& r) { return s.handle(r); };
  if (how.threads == 0)
    return tendril::run([&] {
      http::server server(tendril::endpoint::loopback(0), how.handler);
      server.start();
      outcome out = crawl_at(server.url("/"), how.options, how.max_pages, nullptr);
      server.stop(200ms);  // a slow trap may still sleep; the rest have seen their clients leave
      return out;
    });
  tendril::runtime rt{how.threads};
  tendril::runtime_server server(rt, tendril::endpoint::loopback(0), http::connection_handler(how.handler));
  const std::string start = "http://" + server.local_endpoint().to_string() + "/";
  outcome out = tendril::run_on(rt.hub(0), [&] { return crawl_at(start, how.options, how.max_pages, &rt); });
  server.stop(200ms);
  rt.join();
  return out;
}

void check_each_page_served_once(const site& s, std::size_t first, std::size_t end) {
  for (std::size_t i = first; i < end; ++i)
    if (s.served_ok(i) != 1) FAIL_CHECK(s.path_of(i) << " was served " << s.served_ok(i) << " times");
}

std::size_t failures_of_kind(const outcome& o, const std::string& kind) {
  return static_cast<std::size_t>(std::count_if(o.summary.failures.begin(), o.summary.failures.end(),
                                                [&](const crawler::failure& f) { return f.kind == kind; }));
}

// failure_at(o, s, path) is the kind of the failure recorded for `path`, or "".
std::string failure_at(const outcome& o, const site& s, const std::string& path) {
  for (const crawler::failure& f : o.summary.failures)
    if (f.url.ends_with(path) && s.index_of(path)) return f.kind;
  return "";
}

void check_passes(const site& s, const outcome& o, const crawl_options& options, bool limited) {
  const crawler::site_check_result r = crawler::check_site_crawl(s, o.summary, options, limited);
  std::string text = r.line;
  for (const std::string& p : r.problems) text += "\n  " + p;
  INFO(text);
  CHECK(r.passed);
}

// most_concurrent: the largest number of requests a handler was inside at once.
struct concurrency_meter {
  std::atomic<int> inside{0};
  std::atomic<int> most{0};

  void enter() {
    const int now = ++inside;
    for (int seen = most.load(); seen < now && !most.compare_exchange_weak(seen, now);) {
    }
  }
  void leave() { --inside; }
};

}  // namespace

// -- the crawl over the site ---------------------------------------------------

TEST_CASE("a crawl fetches every page of the site exactly once on one hub and on two") {
  const std::size_t threads = GENERATE(0, 2);
  INFO("threads " << threads);
  hub_check check;
  site s({.pages = 2000});
  std::atomic<std::size_t> other_agents{0};
  served_crawl how{.threads = threads};
  how.handler = [&](const http::server_request& r) {
    if (r.header("User-Agent") != crawler::default_user_agent()) ++other_agents;
    return s.handle(r);
  };
  const outcome o = crawl_site(s, how);
  check_each_page_served_once(s, 0, s.pages_ignoring_robots());  // robots.txt is not obeyed by default
  CHECK(s.requests() == s.pages_ignoring_robots());
  CHECK(other_agents.load() == 0);
  CHECK(o.summary.pages == s.pages_ignoring_robots());
  CHECK(o.summary.done == s.pages_ignoring_robots());
  CHECK(o.summary.errors == 0);
  CHECK(o.summary.statuses == std::map<long, std::size_t>{{200, s.pages_ignoring_robots()}});
  CHECK(o.summary.latencies.size() == s.pages_ignoring_robots());
  CHECK_FALSE(o.start_failure);
  check_passes(s, o, how.options, false);
}

TEST_CASE("every page whose first request gets 503 is retried and fetched") {
  const std::size_t threads = GENERATE(0, 2);
  INFO("threads " << threads);
  hub_check check;
  site s({.pages = 500, .error_rate = 0.2});
  REQUIRE(s.failing_pages() == 100);
  const outcome o = crawl_site(s, {.threads = threads});
  check_each_page_served_once(s, 0, s.pages());
  for (std::size_t i = 0; i < s.pages(); ++i) CHECK(s.requests_for(i) == (s.fails_first(i) ? 2u : 1u));
  CHECK(o.summary.errors == 0);
  CHECK(o.summary.retried_urls == s.failing_pages());
  CHECK(o.summary.retries == s.failing_pages());
  CHECK(o.summary.pages == s.pages_ignoring_robots());
  check_passes(s, o, {}, false);
}

TEST_CASE("with no retries a page whose first request gets 503 is an error") {
  hub_check check;
  site s({.pages = 500, .error_rate = 0.1});
  served_crawl how;
  how.options.retries = 0;
  outcome o = crawl_site(s, how);
  CHECK(o.summary.errors == s.failing_pages());
  CHECK(failures_of_kind(o, "HTTP 503") == s.failing_pages());
  CHECK(o.summary.statuses[503] == s.failing_pages());
  CHECK(o.summary.retries == 0);
  for (std::size_t i = 0; i < s.pages(); ++i) CHECK(s.served_ok(i) == (s.fails_first(i) ? 0u : 1u));
  check_passes(s, o, how.options, false);
}

TEST_CASE("each trap lands in its own bucket and the crawl goes on") {
  hub_check check;
  // The slow page outlasts every request for it; the timeout is long
  // enough for the 3 MB many-links page under a sanitizer.
  site s({.pages = 300, .traps = true, .slow_trap_delay = 30s});
  served_crawl how;
  how.options.timeout = 2s;
  how.options.retries = 1;
  how.options.backoff = 1ms;
  how.options.max_links = 100;  // the many-links page links each of the 300 pages
  const outcome o = crawl_site(s, how);

  CHECK(o.summary.not_html == 1);  // /trap/image.png
  CHECK(failure_at(o, s, "/trap/loop/a") == "too many redirects");
  CHECK(failure_at(o, s, "/trap/drop") == "connection dropped");
  CHECK(failure_at(o, s, "/trap/slow") == "timed out");
  CHECK(o.summary.errors == 3);
  CHECK(o.summary.truncated_pages == 1);
  CHECK(o.summary.links_left_out == 300 - 100);
  CHECK(o.summary.retried_urls == 2);  // the drop and the slow page, once each
  const std::size_t slow = *s.index_of("/trap/slow");
  check_each_page_served_once(s, 0, slow);
  check_each_page_served_once(s, slow + 1, s.pages_ignoring_robots());
  CHECK(s.served_ok(*s.index_of("/trap/image.png")) == 1);
  // One request for the loop, followed as far as max_redirects: not retried.
  CHECK(s.requests_for(*s.index_of("/trap/loop/a")) + s.requests_for(*s.index_of("/trap/loop/b")) ==
        1 + static_cast<std::size_t>(how.options.max_redirects));
  CHECK(o.summary.pages == s.pages_ignoring_robots() - 1);
  check_passes(s, o, how.options, false);
}

TEST_CASE("a redirect's target linked later from another page is not fetched again") {
  hub_check check;
  site unused({.pages = 1});
  // "/" links /moved (a redirect to /target) and /deep. /deep answers only
  // once /after, linked from /target alone, has been asked for: by then the
  // crawl has handled /moved's answer, so /deep's link to /target comes late.
  std::atomic<int> target_requests{0};
  tendril::event after_asked{"after asked"};
  const auto page = [](std::string body) {
    return http::server_response{.headers = {{"Content-Type", "text/html"}}, .body = std::move(body)};
  };
  served_crawl how;
  how.handler = [&](const http::server_request& r) {
    const std::string path(r.path());
    if (path == "/") return page(R"(<a href="/moved">moved</a> <a href="/deep">deep</a>)");
    if (path == "/moved") return http::server_response{.status = 301, .headers = {{"Location", "/target"}}};
    if (path == "/target") {
      ++target_requests;
      return page(R"(<a href="/after">after</a>)");
    }
    if (path == "/after") {
      after_asked.set();
      return page("no links");
    }
    if (path == "/deep") {
      after_asked.wait_for(30s);  // on failure the count below says why
      return page(R"(<a href="/target">target</a>)");
    }
    return http::server_response{.status = 404};
  };
  const outcome o = crawl_site(unused, how);
  CHECK(after_asked.is_set());
  CHECK(target_requests.load() == 1);
  CHECK(o.summary.pages == 4);  // /, /moved (answered by /target), /after, /deep
  CHECK(o.summary.errors == 0);
}

TEST_CASE("a page over max_body_bytes is an error of its own and not retried") {
  hub_check check;
  site s({.pages = 300, .traps = true, .slow_trap_delay = 0s});
  served_crawl how;
  how.options.max_body_bytes = 1u << 20;  // the many-links page is about 3 MB; the others are small
  how.options.backoff = 1ms;
  const outcome o = crawl_site(s, how);

  CHECK(failure_at(o, s, "/trap/many-links") == "too large");
  CHECK(s.requests_for(*s.index_of("/trap/many-links")) == 1);
  CHECK(o.summary.truncated_pages == 0);  // its links were never read
}

TEST_CASE("robots.txt is obeyed when asked and ignored otherwise") {
  const bool robots = GENERATE(true, false);
  INFO("robots " << robots);
  hub_check check;
  site s({.pages = 300});
  served_crawl how;
  how.options.robots = robots;
  const outcome o = crawl_site(s, how);
  check_each_page_served_once(s, 0, s.pages());
  for (std::size_t i = s.pages(); i < s.pages_ignoring_robots(); ++i)
    CHECK(s.requests_for(i) == (robots ? 0u : 1u));
  CHECK(s.requests_for(*s.index_of("/robots.txt")) == (robots ? 1u : 0u));
  CHECK(o.summary.robots_blocked == (robots ? site::private_pages : 0));
  CHECK(o.summary.pages == (robots ? s.pages() : s.pages_ignoring_robots()));
  check_passes(s, o, how.options, false);
}

TEST_CASE("an unavailable robots.txt disallows the whole origin") {
  hub_check check;
  site s({.pages = 50});
  served_crawl how;
  how.options.robots = true;
  how.options.retries = 0;
  how.handler = [&s](const http::server_request& r) {
    if (r.path() == "/robots.txt") return http::server_response{.status = 503};
    return s.handle(r);
  };
  const outcome o = crawl_site(s, how);
  CHECK(s.requests() == 0);  // the 503 for robots.txt never reached the site
  CHECK(o.summary.pages == 0);
  CHECK(o.summary.robots_blocked == 1);  // the start URL
  REQUIRE(o.summary.failures.size() == 1);
  CHECK(o.summary.failures[0].kind == "robots.txt unavailable");
  CHECK(o.summary.failures[0].url.ends_with("/robots.txt"));
}

TEST_CASE("max_pages bounds the URLs fetched") {
  hub_check check;
  site s({.pages = 1000});
  const outcome o = crawl_site(s, {.max_pages = 50});
  CHECK(s.requests() == 50);
  CHECK(o.summary.pages == 50);
  for (std::size_t i = 0; i < s.resources(); ++i) CHECK(s.served_ok(i) <= 1);
  check_passes(s, o, {}, true);
}

TEST_CASE("max_depth 2 fetches exactly the pages within two links of the start") {
  hub_check check;
  site s({.pages = 1000});
  // Breadth first over the site's own graph: the depth of each resource.
  std::vector<unsigned> depth(s.resources(), crawler::unlimited_depth);
  std::deque<std::size_t> next{0};
  depth[0] = 0;
  while (!next.empty()) {
    const std::size_t at = next.front();
    next.pop_front();
    for (std::size_t to : s.links_of(at))
      if (depth[to] == crawler::unlimited_depth) {
        depth[to] = depth[at] + 1;
        next.push_back(to);
      }
  }
  served_crawl how;
  how.options.max_depth = 2;
  const outcome o = crawl_site(s, how);
  std::size_t within = 0;
  for (std::size_t i = 0; i < s.resources(); ++i) {
    INFO(s.path_of(i) << " at depth " << depth[i]);
    CHECK(s.served_ok(i) == (depth[i] <= 2 ? 1u : 0u));
    if (depth[i] <= 2) ++within;
  }
  CHECK(within < s.pages());
  CHECK(o.summary.pages == within);
  check_passes(s, o, how.options, true);
}

TEST_CASE("the per-host limit is reached and never exceeded") {
  const std::size_t threads = GENERATE(0, 2);
  INFO("threads " << threads);
  hub_check check;
  constexpr int per_host = 4;
  site s({.pages = 500, .latency = 1ms});  // the latency parks each handler: requests overlap
  concurrency_meter meter;
  // Requests 2 to 5 (those "/" links to) wait at a barrier until all four
  // are inside: the crawl must have per_host requests in flight to pass it.
  std::atomic<int> arrived{0};
  std::atomic<bool> barrier_timed_out{false};
  tendril::event all_inside{"barrier"};
  served_crawl how{.threads = threads};
  how.options.fibers = 16;
  how.options.per_host = per_host;
  how.options.timeout = 60s;
  how.handler = [&](const http::server_request& r) {
    meter.enter();
    struct leaving {
      concurrency_meter& m;
      ~leaving() { m.leave(); }
    } leave{meter};
    const int n = ++arrived;
    if (n >= 2 && n <= 1 + per_host) {
      if (n == 1 + per_host) all_inside.set();
      if (!all_inside.wait_for(30s)) barrier_timed_out = true;
    }
    return s.handle(r);
  };
  const outcome o = crawl_site(s, how);
  CHECK_FALSE(barrier_timed_out.load());
  CHECK(meter.most.load() == per_host);
  CHECK(o.summary.pages == s.pages_ignoring_robots());
  check_each_page_served_once(s, 0, s.pages_ignoring_robots());
}

TEST_CASE("stop ends a crawl early without fetching any page twice") {
  hub_check check;
  site s({.pages = 2000, .latency = 2ms});
  std::unique_ptr<crawler::frontier> f = crawler::make_memory_frontier(crawler::unlimited_pages);
  crawler::crawl_summary summary;
  bool stopped = false;
  tendril::run([&] {
    http::server server(tendril::endpoint::loopback(0),
                        [&s](const http::server_request& r) { return s.handle(r); });
    server.start();
    crawler::crawl c({.start_url = server.url("/"), .fibers = 10}, *f);
    auto interrupt = tendril::spawn([&c] {
      while (c.stats().live().pages < 20) tendril::sleep(1ms);  // waits for progress, whenever it comes
      c.stop();
    });
    c.run();
    interrupt.join();
    summary = c.stats().summary();
    stopped = c.stopped();
    server.stop(200ms);
  });
  CHECK(stopped);
  CHECK(summary.pages >= 20);
  CHECK(summary.pages < s.pages());
  CHECK(f->take() == std::nullopt);  // closed
  for (std::size_t i = 0; i < s.resources(); ++i) CHECK(s.served_ok(i) <= 1);
}

TEST_CASE("an unreachable start url is a failure naming the url and the reason") {
  hub_check check;
  std::string start;
  {
    // A port that was just listening and is closed now: connections are refused.
    http::server closed(tendril::endpoint::loopback(0),
                        [](const http::server_request&) { return http::server_response{}; });
    start = closed.url("/");
  }
  const outcome o = tendril::run([&] { return crawl_at(start, {}, crawler::unlimited_pages, nullptr); });
  REQUIRE(o.start_failure);
  CHECK(o.start_failure->url == start);
  CHECK(o.start_failure->kind == "could not connect");
  CHECK_THAT(o.start_failure->message, Catch::Contains("onnect"));
  CHECK(o.summary.errors == 1);
  CHECK(o.summary.pages == 0);
  CHECK(o.summary.retries == 0);  // a refused connection is not retried
}

// failing_frontier: a memory frontier whose add() throws once `adds` calls have gone through.
class failing_frontier final : public crawler::frontier {
 public:
  explicit failing_frontier(int adds) : adds_left_(adds) {}
  std::size_t add(const std::vector<std::string>& urls, unsigned depth) override {
    if (adds_left_-- == 0) throw std::runtime_error("the frontier's store is gone");
    return inner_->add(urls, depth);
  }
  void mark_seen(const std::string& url) override { inner_->mark_seen(url); }
  std::optional<crawler::frontier_item> take() override { return inner_->take(); }
  void done(const crawler::frontier_item& item) override { inner_->done(item); }
  void close() override { inner_->close(); }
  std::size_t queued() override { return inner_->queued(); }
  std::size_t seen() override { return inner_->seen(); }
  std::size_t in_flight() override { return inner_->in_flight(); }

 private:
  std::atomic<int> adds_left_;
  std::unique_ptr<crawler::frontier> inner_ = crawler::make_memory_frontier(crawler::unlimited_pages);
};

TEST_CASE("a frontier that fails ends the crawl and run rethrows its error") {
  hub_check check;
  site s({.pages = 500});
  failing_frontier f(5);  // the start URL, then four pages' links
  std::string error;
  tendril::run([&] {
    http::server server(tendril::endpoint::loopback(0),
                        [&s](const http::server_request& r) { return s.handle(r); });
    server.start();
    crawler::crawl c({.start_url = server.url("/"), .fibers = 8}, f);
    try {
      c.run();
    } catch (const std::runtime_error& e) {
      error = e.what();
    }
    server.stop(200ms);
  });
  CHECK(error == "the frontier's store is gone");
  CHECK(s.requests() < s.pages());
  CHECK(f.take() == std::nullopt);  // closed by the worker that saw the failure
}

TEST_CASE("a crawl refuses a start url that is not absolute http and zero fibers") {
  std::unique_ptr<crawler::frontier> f = crawler::make_memory_frontier(10);
  CHECK_THROWS_AS(crawler::crawl({.start_url = "ftp://example.org/"}, *f), std::invalid_argument);
  CHECK_THROWS_AS(crawler::crawl({.start_url = "/relative"}, *f), std::invalid_argument);
  CHECK_THROWS_AS(crawler::crawl({.start_url = "http://example.org/", .fibers = 0}, *f),
                  std::invalid_argument);
}

// -- the memory frontier -------------------------------------------------------

TEST_CASE("the memory frontier queues each url once and within its budget") {
  hub_check check;
  std::unique_ptr<crawler::frontier> f = crawler::make_memory_frontier(3);
  CHECK(f->add({"http://a/1", "http://a/2", "http://a/1"}, 0) == 2);
  CHECK(f->add({"http://a/2", "http://a/3", "http://a/4"}, 1) == 1);  // a/4 is over the budget
  CHECK(f->seen() == 3);
  CHECK(f->queued() == 3);
  std::vector<std::string> taken;
  tendril::run([&] {
    while (std::optional<crawler::frontier_item> item = f->take()) {
      taken.push_back(item->url + " " + std::to_string(item->depth));
      f->done(*item);
    }
  });
  CHECK(taken == std::vector<std::string>{"http://a/1 0", "http://a/2 0", "http://a/3 1"});
  CHECK(f->in_flight() == 0);
}

TEST_CASE("a url marked seen in a memory frontier is never queued, even over the budget") {
  hub_check check;
  std::unique_ptr<crawler::frontier> f = crawler::make_memory_frontier(1);
  f->mark_seen("http://a/1");
  f->mark_seen("http://a/2");  // over the budget of 1: marked all the same
  CHECK(f->add({"http://a/1", "http://a/2"}, 0) == 0);
  CHECK(f->seen() == 2);
  CHECK(f->queued() == 0);
}

TEST_CASE("a memory frontier take waits while a url is in flight and ends when none is") {
  hub_check check;
  std::unique_ptr<crawler::frontier> f = crawler::make_memory_frontier(crawler::unlimited_pages);
  f->add({"http://a/"}, 0);
  std::vector<std::string> order;
  tendril::run([&] {
    const crawler::frontier_item first = *f->take();
    auto waiter = tendril::spawn([&] {
      order.push_back("waiting");
      std::optional<crawler::frontier_item> item = f->take();  // parks: `first` may add more
      order.push_back(item ? "got " + item->url : "over");
      if (item) f->done(*item);
      order.push_back(f->take() ? "more" : "over");
    });
    tendril::yield();
    f->add({"http://a/next"}, 1);
    f->done(first);
    waiter.join();
  });
  CHECK(order == std::vector<std::string>{"waiting", "got http://a/next", "over"});
}

TEST_CASE("closing a memory frontier ends every take at once") {
  hub_check check;
  std::unique_ptr<crawler::frontier> f = crawler::make_memory_frontier(crawler::unlimited_pages);
  f->add({"http://a/", "http://a/b"}, 0);
  tendril::run([&] {
    const crawler::frontier_item first = *f->take();
    const crawler::frontier_item second = *f->take();
    auto waiter = tendril::spawn([&] { return f->take().has_value(); });
    tendril::yield();
    f->close();
    CHECK_FALSE(waiter.get());
    f->done(first);
    f->done(second);
  });
  CHECK(f->add({"http://a/c"}, 0) == 0);
}

// -- robots.txt ----------------------------------------------------------------

TEST_CASE("robots rules disallow by prefix for every agent") {
  const auto rules = crawler::robots_rules::parse("User-agent: *\nDisallow: /private/\n", "tendril-crawler");
  CHECK_FALSE(rules.allowed("/private/3"));
  CHECK_FALSE(rules.allowed("/private/"));
  CHECK(rules.allowed("/private"));
  CHECK(rules.allowed("/p/1"));
  CHECK(rules.allowed("/robots.txt"));
}

TEST_CASE("robots rules of a group naming the crawler replace those for every agent") {
  const std::string text =
      "User-agent: *\nDisallow: /\n\n# ours\nuser-agent: Tendril-Crawler/2.0\nDisallow: /no\n";
  const auto rules = crawler::robots_rules::parse(text, "tendril-crawler");
  CHECK(rules.allowed("/yes"));
  CHECK_FALSE(rules.allowed("/no/1"));
  CHECK_FALSE(crawler::robots_rules::parse(text, "other-bot").allowed("/yes"));
}

TEST_CASE("robots rules take the longest match and allow wins a tie") {
  const auto rules = crawler::robots_rules::parse(
      "User-agent: *\nDisallow: /a\nAllow: /a/b\nAllow: /same\nDisallow: /same\n", "tendril-crawler");
  CHECK(rules.allowed("/a/b/c"));
  CHECK_FALSE(rules.allowed("/a/c"));
  CHECK(rules.allowed("/same/x"));
}

TEST_CASE("robots rules match star and dollar") {
  const auto rules = crawler::robots_rules::parse(
      "User-agent: *\nDisallow: /*.png$\nDisallow: /x*y/\nDisallow: /q?s=*&\n", "tendril-crawler");
  CHECK_FALSE(rules.allowed("/img/a.png"));
  CHECK(rules.allowed("/img/a.png?size=2"));
  CHECK_FALSE(rules.allowed("/x123y/z"));
  CHECK(rules.allowed("/x123y"));
  CHECK_FALSE(rules.allowed("/q?s=1&t=2"));
  CHECK(rules.allowed("/q?s=1"));
}

TEST_CASE("robots rules skip what they do not understand and allow without a group") {
  CHECK(crawler::robots_rules::parse("Disallow: /\nnonsense\nSitemap: http://x/s.xml\n", "tendril-crawler")
            .allowed("/a"));
  CHECK(crawler::robots_rules::parse("User-agent: *\nDisallow:\n", "tendril-crawler").allowed("/a"));
  CHECK(crawler::robots_rules::parse("User-agent: other\nDisallow: /\n", "tendril-crawler").allowed("/a"));
  const auto shared = crawler::robots_rules::parse("User-agent: a\r\nUser-agent: *\r\nDisallow: /x # why\r\n",
                                                   "tendril-crawler");
  CHECK_FALSE(shared.allowed("/x"));
  CHECK_FALSE(crawler::robots_rules::disallow_all().allowed("/"));
  CHECK(crawler::robots_rules{}.allowed("/anything"));
}

// -- the summary ---------------------------------------------------------------

TEST_CASE("robots rules compare percent-encoded paths by the octets they mean") {
  const auto rules = crawler::robots_rules::parse(
      "User-agent: *\nDisallow: /%7Ejoe/\nDisallow: /a%2fb\nDisallow: /caf\xC3\xA9\n", "tendril-crawler");
  CHECK_FALSE(rules.allowed("/~joe/index.html"));  // an escaped unreserved character is that character
  CHECK_FALSE(rules.allowed("/%7ejoe/x"));
  CHECK_FALSE(rules.allowed("/a%2Fb"));           // hex digits in any case
  CHECK(rules.allowed("/a/b"));                   // an escaped '/' is not a '/'
  CHECK_FALSE(rules.allowed("/caf%C3%A9/menu"));  // a UTF-8 pattern matches the escaped path
  CHECK(rules.allowed("/cafe"));
  CHECK(rules.allowed("/%"));  // a bare '%' is itself
}

TEST_CASE("percentile is the nearest rank") {
  std::vector<tendril::clock::duration> samples;
  for (int ms = 100; ms >= 1; --ms) samples.push_back(std::chrono::milliseconds(ms));
  CHECK(crawler::percentile(samples, 50) == 50ms);
  CHECK(crawler::percentile(samples, 90) == 90ms);
  CHECK(crawler::percentile(samples, 99) == 99ms);
  CHECK(crawler::percentile(samples, 100) == 100ms);
  CHECK(crawler::percentile({}, 50) == tendril::clock::duration::zero());
  CHECK(crawler::percentile({7ms}, 1) == 7ms);
}

TEST_CASE("the summary's first line gives pages bytes errors seconds and rate") {
  crawler::crawl_summary s;
  s.pages = 3;
  s.bytes = 1234;
  s.errors = 1;
  s.statuses = {{200, 3}, {404, 1}};
  s.failures = {{"http://a/x", "HTTP 404", "the server answered 404", 1}};
  const std::string text = crawler::summary_text(s, 2s);
  CHECK(text.substr(0, text.find('\n')) == "summary: 3 pages, 1234 bytes, 1 errors in 2.0 s (1.5 pages/s)");
  CHECK_THAT(text, Catch::Contains("status codes: 200 x 3, 404 x 1\n"));
  CHECK_THAT(text, Catch::Contains("  HTTP 404: 1, e.g. http://a/x (the server answered 404)\n"));
}
