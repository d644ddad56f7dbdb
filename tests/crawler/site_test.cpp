// crawler::site, served by tendril::http::server on loopback and fetched
// with tendril::http: the same seed gives the same bytes; every page is
// reachable from "/" and a walk over HTTP fetches exactly pages(); 404s;
// the 503-then-200 of error_rate; each trap; robots.txt and the private
// pages; the latency parks only the handler's fiber; the counters stay
// exact with hubs on two threads serving at once.
//
// Links are pulled out of the bodies here with a plain search for href="
// and resolved by a small RFC 3986 path merge: enough for the four forms
// the site writes, and independent of the crawler's own link extraction
// (links.cpp), which has its own test.

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdlib>
#include <deque>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include <tendril/error.hpp>
#include <tendril/hub/run.hpp>
#include <tendril/hub/runtime.hpp>
#include <tendril/hub/sleep.hpp>
#include <tendril/hub/task.hpp>
#include <tendril/io/http.hpp>
#include <tendril/io/http_server.hpp>
#include <tendril/io/runtime_server.hpp>

#include "site.hpp"
#include "support/hub_fixture.hpp"
#include "support/no_proxy.hpp"

namespace {

using namespace std::chrono_literals;
namespace http = tendril::http;
using crawler::site;
using crawler::site_options;
using tendril::testing::hub_check;

// serving(s, body) serves `s` on 127.0.0.1 (a free port) in tendril::run,
// calls body(server), then stops the server, checking that no handler
// was left running.
template <class Body>
void serving(site& s, Body&& body) {
  tendril::run([&] {
    http::server server(tendril::endpoint::loopback(0),
                        [&s](const http::server_request& r) { return s.handle(r); });
    server.start();
    body(server);
    http::close_idle_connections();  // so each connection's handler sees its client leave
    CHECK(server.stop());
  });
}

http::response get(const http::server& server, const std::string& path, bool follow_redirects = true) {
  return http::fetch({.url = server.url(path), .timeout = 30s, .follow_redirects = follow_redirects});
}

// request_for(path, host) is a GET as curl would send it to `host`.
http::server_request request_for(std::string path, std::string host = "127.0.0.1:8080") {
  http::server_request r;
  r.method = "GET";
  r.target = std::move(path);
  r.headers = {{"Host", std::move(host)}};
  return r;
}

// hrefs(html) is every href="..." value, in order.
std::vector<std::string> hrefs(const std::string& html) {
  std::vector<std::string> found;
  for (std::size_t at = html.find("href=\""); at != std::string::npos; at = html.find("href=\"", at)) {
    at += 6;
    std::size_t end = html.find('"', at);
    found.push_back(html.substr(at, end - at));
    at = end;
  }
  return found;
}

// without_dot_segments(path) is RFC 3986's remove_dot_segments.
std::string without_dot_segments(std::string in) {
  std::string out;
  auto drop_last_segment = [&out] { out.erase(std::min(out.size(), out.rfind('/'))); };
  while (!in.empty()) {
    if (in.starts_with("/./")) {
      in.erase(0, 2);
    } else if (in == "/.") {
      in = "/";
    } else if (in.starts_with("/../")) {
      in.erase(0, 3);
      drop_last_segment();
    } else if (in == "/..") {
      in = "/";
      drop_last_segment();
    } else {
      std::size_t next = in.find('/', 1);
      out += in.substr(0, next);
      in.erase(0, next);
    }
  }
  return out;
}

// resolve(from, ref) is the path `ref` names on the page at path `from`,
// or "" for another scheme (mailto:).
std::string resolve(const std::string& from, const std::string& ref) {
  std::string r = ref.substr(0, ref.find('#'));
  if (r.starts_with("mailto:")) return "";
  if (r.starts_with("http://")) {
    std::size_t slash = r.find('/', 7);
    return slash == std::string::npos ? "/" : r.substr(slash);
  }
  if (r.starts_with("/")) return without_dot_segments(r);
  return without_dot_segments(from.substr(0, from.rfind('/') + 1) + r);
}

// paths_of(s, indexes) is s.path_of() of each.
std::vector<std::string> paths_of(const site& s, const std::vector<std::size_t>& indexes) {
  std::vector<std::string> paths;
  for (std::size_t i : indexes) paths.push_back(s.path_of(i));
  return paths;
}

// reachable(s) counts the resources reachable from "/" through links_of().
std::size_t reachable(const site& s) {
  std::vector<bool> seen(s.resources(), false);
  std::deque<std::size_t> frontier{0};
  seen[0] = true;
  std::size_t count = 1;
  while (!frontier.empty()) {
    std::size_t page = frontier.front();
    frontier.pop_front();
    for (std::size_t next : s.links_of(page)) {
      if (seen[next]) continue;
      seen[next] = true;
      ++count;
      frontier.push_back(next);
    }
  }
  return count;
}

// What walk() met.
struct walk_outcome {
  std::size_t html = 0;       // 200 text/html responses
  std::size_t other = 0;      // 200 of another type
  std::size_t redirects = 0;  // 3xx, whose Location was walked to
  std::size_t failures = 0;   // no response at all
};

// walk(server, s) is a breadth-first crawl of `s` from "/" as a crawler
// that obeys robots.txt does it, one fetch at a time, not following
// redirects itself; it checks that the links of every HTML page resolve
// to the pages links_of() names.
walk_outcome walk(const http::server& server, const site& s) {
  walk_outcome out;
  std::set<std::string> seen{"/"};
  std::deque<std::string> frontier{"/"};
  auto follow = [&](const std::string& to) {
    if (!to.empty() && !to.starts_with("/private/") && seen.insert(to).second) frontier.push_back(to);
  };
  while (!frontier.empty()) {
    const std::string path = frontier.front();
    frontier.pop_front();
    INFO(path);
    http::response r;
    try {
      r = get(server, path, false);
    } catch (const http::http_error&) {
      ++out.failures;
      continue;
    }
    if (r.status == 302) {
      ++out.redirects;
      follow(resolve(path, r.header("Location")));
      continue;
    }
    REQUIRE(r.status == 200);
    if (r.header("Content-Type") != "text/html; charset=utf-8") {
      ++out.other;
      continue;
    }
    ++out.html;
    std::vector<std::string> links;
    for (const std::string& ref : hrefs(r.body))
      if (std::string to = resolve(path, ref); !to.empty()) links.push_back(to);
    CHECK(links == paths_of(s, s.links_of(*s.index_of(path))));  // every form resolves to its page
    for (const std::string& to : links) follow(to);
  }
  return out;
}

}  // namespace

TEST_CASE("a site with the same seed serves the same bytes and another seed serves another site") {
  hub_check check;
  site_options o{.pages = 300, .traps = true, .slow_trap_delay = 0s, .seed = 7};
  site a(o), b(o);
  o.seed = 8;
  site other(o);
  std::size_t differing = 0;
  for (std::size_t i = 0; i < a.resources(); ++i) {
    if (a.path_of(i) == "/trap/drop") continue;  // answers nothing
    INFO(a.path_of(i));
    http::server_response first = a.handle(request_for(a.path_of(i)));
    http::server_response again = b.handle(request_for(b.path_of(i)));
    CHECK(first.status == again.status);
    CHECK(first.headers == again.headers);
    CHECK(first.body == again.body);
    CHECK(a.links_of(i) == b.links_of(i));
    if (other.handle(request_for(a.path_of(i))).body != first.body) ++differing;
  }
  CHECK(differing > 250);  // every generated page but a rare twin
}

TEST_CASE("every generated page is reachable from the root for any links_per_page") {
  const std::size_t links = GENERATE(0, 1, 2, 3, 10, 25);
  const std::size_t pages = GENERATE(1, 2, 7, 1000);
  site s({.pages = pages, .links_per_page = links});
  INFO("pages " << pages << " links_per_page " << links);
  CHECK(reachable(s) == s.pages_ignoring_robots());
  for (std::size_t i = 0; i < pages; ++i) {
    std::vector<std::size_t> to = s.links_of(i);
    const auto generated = std::count_if(to.begin(), to.end(), [&s](std::size_t t) { return t < s.pages(); });
    const std::size_t children = (2 * i + 1 < pages ? 1 : 0) + (2 * i + 2 < pages ? 1 : 0);
    CHECK(static_cast<std::size_t>(generated) == std::max(links, children));
  }
}

TEST_CASE("the default graph has back-links and duplicate links and reaches all of its pages") {
  site s({});
  REQUIRE(s.pages() == 20000);
  CHECK(reachable(s) == s.pages_ignoring_robots());
  std::size_t back_links = 0;
  std::size_t pages_with_duplicates = 0;
  for (std::size_t i = 0; i < s.pages(); ++i) {
    std::vector<std::size_t> links = s.links_of(i);
    back_links += static_cast<std::size_t>(
        std::count_if(links.begin(), links.end(), [i](std::size_t t) { return t < i; }));
    std::set<std::size_t> distinct(links.begin(), links.end());
    if (distinct.size() < links.size()) ++pages_with_duplicates;
  }
  CHECK(back_links > s.pages());
  CHECK(pages_with_duplicates > s.pages() / 4);
}

TEST_CASE("a walk over HTTP from the root fetches exactly pages() pages each once") {
  hub_check check;
  site s({});
  walk_outcome walked;
  serving(s, [&](http::server& server) { walked = walk(server, s); });
  CHECK(walked.html == s.pages());
  CHECK(walked.other + walked.redirects + walked.failures == 0);
  CHECK(s.requests() == s.pages());
  for (std::size_t i = 0; i < s.pages(); ++i)
    if (s.served_ok(i) != 1) FAIL_CHECK(s.path_of(i) << " served " << s.served_ok(i) << " times");
  for (std::size_t i = s.pages(); i < s.resources(); ++i) CHECK(s.requests_for(i) == 0);
}

TEST_CASE("a walk through the traps that obeys robots fetches pages() HTML pages") {
  hub_check check;
  site s({.pages = 300, .traps = true, .slow_trap_delay = 50ms});
  walk_outcome walked;
  serving(s, [&](http::server& server) { walked = walk(server, s); });
  CHECK(walked.html == s.pages());
  CHECK(walked.other == 1);      // the image
  CHECK(walked.redirects == 2);  // loop a to b, and b back to a
  CHECK(walked.failures == 1);   // the drop
  for (std::size_t i = 0; i < s.pages(); ++i) CHECK(s.served_ok(i) == 1);
  for (const char* trap : {"/trap/image.png", "/trap/loop/a", "/trap/loop/b"})
    CHECK(s.requests_for(*s.index_of(trap)) == 1);
  for (std::size_t i = s.pages(); i < s.pages_ignoring_robots(); ++i) CHECK(s.requests_for(i) == 0);
}

TEST_CASE("unknown paths and page numbers out of range get 404 and still count as requests") {
  hub_check check;
  site s({.pages = 100});
  const std::vector<std::string> missing = {
      "/p/100",     "/p/0",       "/p/05",      "/p/-1",
      "/p/",        "/p/5/",      "/p/5x",      "/p/99999999999999999999",
      "/nothing",   "/private/5", "/trap/drop", "/trap/loop/a",
      "/index.html"};
  serving(s, [&](http::server& server) {
    for (const std::string& path : missing) {
      INFO(path);
      http::response r = get(server, path);
      CHECK(r.status == 404);
      CHECK(r.header("Content-Type") == "text/html; charset=utf-8");
    }
    http::response with_query = get(server, "/p/5?utm=1");
    CHECK(with_query.status == 200);
    CHECK(with_query.body == get(server, "/p/5").body);
    CHECK(http::fetch({.method = "POST", .url = server.url("/p/5"), .timeout = 30s}).status == 405);
  });
  CHECK(s.requests() == missing.size() + 3);
  CHECK(s.served_ok(5) == 2);
  CHECK(s.requests_for(5) == 3);
  for (std::size_t i = 0; i < s.resources(); ++i)
    if (i != 5) CHECK(s.requests_for(i) == 0);
}

TEST_CASE("a site refuses zero pages and an error rate outside zero to one") {
  CHECK_THROWS_AS(site({.pages = 0}), std::invalid_argument);
  CHECK_THROWS_AS(site({.error_rate = -0.1}), std::invalid_argument);
  CHECK_THROWS_AS(site({.error_rate = 1.5}), std::invalid_argument);
}

TEST_CASE("with an error rate the chosen pages answer 503 once and then 200") {
  hub_check check;
  site s({.pages = 1000, .error_rate = 0.1, .seed = 3});
  CHECK(s.failing_pages() == 100);
  std::vector<std::size_t> failing;
  for (std::size_t i = 0; i < s.resources(); ++i)
    if (s.fails_first(i)) failing.push_back(i);
  CHECK(failing.size() == 100);
  CHECK(failing.back() < s.pages());  // generated pages only
  site same({.pages = 1000, .error_rate = 0.1, .seed = 3});
  site other({.pages = 1000, .error_rate = 0.1, .seed = 4});
  std::size_t same_choice = 0;
  std::size_t other_choice = 0;
  for (std::size_t i : failing) {
    same_choice += same.fails_first(i) ? 1 : 0;
    other_choice += other.fails_first(i) ? 1 : 0;
  }
  CHECK(same_choice == 100);
  CHECK(other_choice < 50);
  std::size_t healthy = 0;
  while (s.fails_first(healthy)) ++healthy;
  serving(s, [&](http::server& server) {
    http::response first = get(server, s.path_of(failing[0]));
    CHECK(first.status == 503);
    CHECK(first.header("Retry-After") == "0");
    http::response retry = get(server, s.path_of(failing[0]));
    CHECK(retry.status == 200);
    site without_errors({.pages = 1000, .seed = 3});
    const std::string host = server.local_endpoint().to_string();
    CHECK(retry.body == without_errors.handle(request_for(s.path_of(failing[0]), host)).body);
    CHECK(get(server, s.path_of(healthy)).status == 200);
  });
  CHECK(s.requests_for(failing[0]) == 2);
  CHECK(s.served_ok(failing[0]) == 1);
  CHECK(s.requests_for(healthy) == 1);
  CHECK(s.served_ok(healthy) == 1);
  CHECK(site({.pages = 10, .error_rate = 1}).failing_pages() == 10);
}

TEST_CASE("with traps on the root links five traps and pages() counts the two HTML ones") {
  site s({.pages = 50, .traps = true});
  site plain({.pages = 50});
  CHECK(s.pages() == 52);
  CHECK(s.pages_ignoring_robots() == 57);
  CHECK(s.resources() == 62);
  CHECK(plain.pages() == 50);
  CHECK(plain.resources() == 56);
  std::vector<std::string> root = paths_of(s, s.links_of(0));
  const std::vector<std::string> traps = {"/trap/many-links", "/trap/slow", "/trap/image.png", "/trap/loop/a",
                                          "/trap/drop"};
  REQUIRE(root.size() > traps.size());
  CHECK(std::vector<std::string>(root.end() - 5, root.end()) == traps);
  CHECK(s.path_of(50) == "/trap/many-links");
  CHECK(s.path_of(51) == "/trap/slow");
  CHECK(s.path_of(57) == "/robots.txt");
  for (std::size_t i = 0; i < s.resources(); ++i) CHECK(s.index_of(s.path_of(i)) == i);
  for (const std::string& trap : traps) CHECK_FALSE(plain.index_of(trap).has_value());
  CHECK(reachable(s) ==
        s.resources() - 2);  // all but /robots.txt and /trap/loop/b, which only a redirect names
}

TEST_CASE("the redirect loop trap bounces between two paths") {
  hub_check check;
  site s({.pages = 10, .traps = true});
  serving(s, [&](http::server& server) {
    http::response a = get(server, "/trap/loop/a", false);
    CHECK(a.status == 302);
    CHECK(a.header("Location") == "/trap/loop/b");
    http::response b = get(server, "/trap/loop/b", false);
    CHECK(b.status == 302);
    CHECK(b.header("Location") == "/trap/loop/a");
    CHECK_THROWS_AS(get(server, "/trap/loop/a"), http::http_error);  // too many redirects
  });
  CHECK(s.requests_for(*s.index_of("/trap/loop/a")) > 2);
  CHECK(s.served_ok(*s.index_of("/trap/loop/a")) == 0);
}

TEST_CASE("the image trap is a PNG and not HTML") {
  hub_check check;
  site s({.pages = 10, .traps = true});
  serving(s, [&](http::server& server) {
    http::response r = get(server, "/trap/image.png");
    CHECK(r.status == 200);
    CHECK(r.header("Content-Type") == "image/png");
    CHECK(r.body.size() == 67);
    CHECK(r.body.starts_with("\x89PNG\r\n\x1a\n"));
  });
  CHECK(s.served_ok(*s.index_of("/trap/image.png")) == 1);
  CHECK(s.links_of(*s.index_of("/trap/image.png")).empty());
}

TEST_CASE("the many-links trap links 100000 pages that all exist") {
  hub_check check;
  site s({.pages = 300, .traps = true});
  serving(s, [&](http::server& server) {
    http::response r = get(server, "/trap/many-links");
    REQUIRE(r.status == 200);
    std::vector<std::string> links = hrefs(r.body);
    REQUIRE(links.size() == site::many_links);
    for (std::size_t k = 0; k < links.size(); ++k)
      if (resolve("/trap/many-links", links[k]) != s.path_of(k % s.options().pages))
        FAIL_CHECK("link " << k << " is " << links[k]);
  });
  CHECK(s.links_of(*s.index_of("/trap/many-links")).size() == site::many_links);
}

TEST_CASE("the drop trap closes the connection without an answer and the server goes on") {
  hub_check check;
  site s({.pages = 10, .traps = true});
  const std::size_t drop = *s.index_of("/trap/drop");
  serving(s, [&](http::server& server) {
    CHECK(get(server, "/").status == 200);  // leaves a connection for curl to reuse
    try {
      get(server, "/trap/drop");
      FAIL("a dropped connection gave a response");
    } catch (const http::http_error& e) {
      CHECK_FALSE(e.timed_out());
    }
    CHECK(get(server, "/").status == 200);
  });
  // curl tries again on a fresh connection when a reused one closes unanswered.
  CHECK(s.requests_for(drop) >= 1);
  CHECK(s.requests_for(drop) <= 2);
  CHECK(s.served_ok(drop) == 0);
  CHECK(s.served_ok(0) == 2);
}

TEST_CASE("the drop trap called outside any task throws tendril::error") {
  hub_check check;
  site s({.pages = 10, .traps = true});
  CHECK_THROWS_WITH(s.handle(request_for("/trap/drop")), Catch::Contains("outside any task"));
}

TEST_CASE("the slow trap outlasts a shorter client timeout and answers after its delay") {
  hub_check check;
  CHECK(site_options{}.slow_trap_delay == 5s);
  site slow({.pages = 10, .traps = true});
  serving(slow, [&](http::server& server) {
    try {
      http::fetch({.url = server.url("/trap/slow"), .timeout = 200ms});
      FAIL("the slow page answered within 200 ms");
    } catch (const http::http_error& e) {
      CHECK(e.timed_out());
    }
    server.stop(0s);  // its handler still sleeps: killed there
  });
  CHECK(slow.served_ok(*slow.index_of("/trap/slow")) == 0);
  site quick({.pages = 10, .traps = true, .slow_trap_delay = 50ms});
  serving(quick, [&](http::server& server) {
    http::response r = get(server, "/trap/slow");
    CHECK(r.status == 200);
    CHECK(r.header("Content-Type") == "text/html; charset=utf-8");
  });
  CHECK(quick.served_ok(*quick.index_of("/trap/slow")) == 1);
}

TEST_CASE("robots.txt disallows /private/ whose pages are linked and served") {
  hub_check check;
  site s({.pages = 500});
  CHECK(s.pages_ignoring_robots() - s.pages() == site::private_pages);
  std::vector<std::size_t> linked(site::private_pages, 0);
  for (std::size_t i = 0; i < s.pages(); ++i)
    for (std::size_t to : s.links_of(i))
      if (to >= s.pages()) ++linked.at(to - s.pages());
  CHECK(linked == std::vector<std::size_t>(site::private_pages, 1));
  serving(s, [&](http::server& server) {
    http::response robots = get(server, "/robots.txt");
    CHECK(robots.status == 200);
    CHECK(robots.header("Content-Type") == "text/plain; charset=utf-8");
    CHECK(robots.body == site::robots_txt);
    CHECK_THAT(robots.body, Catch::Contains("User-agent: *\nDisallow: /private/\n"));
    for (std::size_t k = 0; k < site::private_pages; ++k) {
      http::response r = get(server, "/private/" + std::to_string(k));
      CHECK(r.status == 200);
      CHECK(hrefs(r.body).size() == 1);
    }
  });
  for (std::size_t i = s.pages(); i < s.pages_ignoring_robots(); ++i) CHECK(s.served_ok(i) == 1);
  CHECK(s.served_ok(*s.index_of("/robots.txt")) == 1);
}

TEST_CASE("a site's latency parks the handler's fiber so a second request is taken meanwhile") {
  hub_check check;
  site s({.pages = 10, .latency = 500ms});
  serving(s, [&](http::server& server) {
    tendril::task<long> one = tendril::spawn([&] { return get(server, "/p/1").status; });
    tendril::task<long> two = tendril::spawn([&] { return get(server, "/p/2").status; });
    // A thread sleep in the handler would answer the first request before
    // the hub could even read the second: both counted and neither served
    // shows both handlers parked at once.
    while (s.requests() < 2) tendril::sleep(1ms);
    CHECK(s.served_ok(1) + s.served_ok(2) == 0);
    CHECK(one.get() == 200);
    CHECK(two.get() == 200);
  });
}

TEST_CASE("the counters stay exact when hubs on two threads serve the site at once") {
  hub_check check;
  site s({.pages = 100, .error_rate = 1});  // every page: one 503, then 200s
  tendril::runtime rt{2};
  tendril::runtime_server server(
      rt, tendril::endpoint::loopback(0),
      http::connection_handler([&s](const http::server_request& r) { return s.handle(r); }));
  const std::string base = "http://" + server.local_endpoint().to_string();
  std::vector<long> statuses = tendril::run([&] {
    std::vector<tendril::task<long>> fetches;
    for (std::size_t round = 0; round < 2; ++round)
      for (std::size_t i = 0; i < s.pages(); ++i)
        fetches.push_back(tendril::spawn([&, i] { return http::get(base + s.path_of(i), 30s).status; }));
    std::vector<long> out;
    for (const auto& t : fetches) out.push_back(t.get());
    return out;
  });
  http::close_idle_connections();
  CHECK(server.stop());
  rt.join();
  CHECK(std::count(statuses.begin(), statuses.end(), 503) == 100);
  CHECK(std::count(statuses.begin(), statuses.end(), 200) == 100);
  CHECK(s.requests() == 200);
  for (std::size_t i = 0; i < s.pages(); ++i) {
    CHECK(s.requests_for(i) == 2);
    CHECK(s.served_ok(i) == 1);
  }
}
