#pragma once
// site: the web site the crawler crawls by default, generated from a seed
// and served by a tendril HTTP server in the crawler's own process.
//
//   crawler::site s({.pages = 2000, .error_rate = 0.05});
//   tendril::http::server server(tendril::endpoint::loopback(0),
//                                [&s](const tendril::http::server_request& r) { return s.handle(r); });
//   server.start();
//   ...  // crawl server.url("/"), then compare s.served_ok(i) with what was fetched
//
// The pages. Page 0 is "/", page i is "/p/i" (only that spelling: "/p/0",
// "/p/05" and "/p/5/" are 404s; a query string is ignored). Page i links
// its spanning-tree children 2i+1 and 2i+2 (those below `pages`), so every
// page is reachable from "/", then, up to links_per_page links, a mix of:
// its tree parent, "/", a second link to a page it already links (a
// duplicate within the page), and pages drawn at random (most of them
// linked from elsewhere too). Each link is written in one of four forms,
// all resolving to the same URL: an absolute path ("/p/7"), a full URL
// ("http://<Host header>/p/7", only when the request carried a plain
// host[:port]), a relative reference ("7" from /p/3, "p/7" from "/") or a
// dotted one ("../p/7", "./p/7"); about one link in six carries a fragment
// ("#top", "#section-2", both ids on the page). "/" also links a mailto:
// address, which a crawler must skip. Bodies are small HTML5 documents in
// UTF-8 (a title, two paragraphs of text, a list of links), served as
// "text/html; charset=utf-8". Everything is a function of the seed (and of
// the Host header, for the full-URL form): the same options give the same
// bytes on every run and platform.
//
// robots.txt. "/robots.txt" answers "User-agent: *" / "Disallow: /private/".
// The generated pages link private_pages pages "/private/0" ...
// "/private/4" (each from one page; each links "/" only), which answer 200
// like any page: a crawler that obeys robots.txt never asks for them.
//
// Errors. With error_rate > 0, round(error_rate * pages) of the generated
// pages, chosen from the seed (fails_first()), answer their first request
// with 503 and "Retry-After: 0"; every later request is served.
//
// The traps (traps = true): "/" also links the first five, in this order.
//
//   /trap/many-links   200 HTML with many_links (100,000) links, link k to
//                      generated page k % pages (absolute, full-URL and
//                      "../p/k" forms): nothing new to fetch, a lot to parse
//                      and de-duplicate. Counts in pages().
//   /trap/slow         200 HTML ("/" its only link), answered after
//                      slow_trap_delay (5 s): for the crawler's timeouts.
//                      Counts in pages(), so a crawler whose timeout is
//                      shorter fetches pages() - 1 pages.
//   /trap/image.png    200 image/png, a 67-byte 1x1 PNG: not HTML.
//   /trap/loop/a       302 to /trap/loop/b, which is 302 to /trap/loop/a:
//                      a redirect loop (curl following redirects fails
//                      with "too many redirects" after max_redirects).
//   /trap/drop         closes the connection without answering: the
//                      handler kills the connection's task (see handle()).
//                      curl retries a request once on a fresh connection
//                      when a reused one closes before any byte comes back,
//                      so a crawler's one fetch counts 1 or 2 requests here.
//
// Resource indexes. Every path the site answers (other than with 404) has
// an index, and the counters are kept per index:
//
//   [0, pages)                                 generated pages ("/" is 0)
//   then, with traps: /trap/many-links, /trap/slow
//                     ...................... = [0, pages()): what a complete
//                                              crawl that obeys robots fetches
//   [pages(), pages_ignoring_robots())         /private/0 ... /private/4
//   pages_ignoring_robots()                    /robots.txt
//   then, with traps: /trap/image.png, /trap/loop/a, /trap/loop/b, /trap/drop
//                     ...................... = resources()
//
// Thread-safety: after construction a site is read-only but for its
// counters (atomics): handle() may run on fibers of several hubs (threads)
// at once, and every other member may be called from any thread meanwhile.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <tendril/hub/park.hpp>
#include <tendril/io/http_server.hpp>

namespace crawler {

struct site_options {
  /// pages in the generated graph, page 0 is "/"; at least 1.
  std::size_t pages = 20000;
  /// links_per_page is how many links a generated page has, its tree
  /// children included (a page always links its children, so a page may
  /// have more when this is under 2).
  std::size_t links_per_page = 10;
  /// latency: each response waits this long first (tendril::sleep: the
  /// handler's fiber parks; the hub serves others meanwhile).
  tendril::clock::duration latency{};
  /// error_rate: the fraction of generated pages whose first request gets
  /// 503; in [0, 1].
  double error_rate = 0;
  /// traps: serve the trap resources and link them from "/".
  bool traps = false;
  /// slow_trap_delay: how long /trap/slow takes to answer (on top of latency).
  tendril::clock::duration slow_trap_delay = std::chrono::seconds(5);
  std::uint64_t seed = 1;
};

class site {
 public:
  /// private_pages: how many /private/ pages the generated pages link.
  static constexpr std::size_t private_pages = 5;
  /// many_links: how many links /trap/many-links has.
  static constexpr std::size_t many_links = 100000;
  /// robots_txt: the body of /robots.txt.
  static constexpr std::string_view robots_txt =
      "# tendril crawler test site\nUser-agent: *\nDisallow: /private/\n";

  /// site(o) generates the site.
  /// Errors: std::invalid_argument when o.pages is 0 or o.error_rate is
  /// outside [0, 1].
  explicit site(site_options o);
  site(const site&) = delete;
  site& operator=(const site&) = delete;

  /// handle(r) answers one request: the request_handler to serve the site
  /// with. Every request counts in requests(); a request for a known path
  /// also in requests_for(its index), and a 200 in served_ok(its index).
  /// Methods other than GET and HEAD get 405.
  ///
  /// Blocking:      parks the calling fiber for options().latency (and
  ///                slow_trap_delay for /trap/slow).
  /// Cancellation:  a kill raises at those parks (the server stopping).
  /// Thread-safety: any fiber of any hub, concurrently.
  /// Errors:        /trap/drop ends the calling task by killing it
  ///                (greenlet_exit, which the server lets through, closing
  ///                the connection unanswered); called outside a task, it
  ///                throws tendril::error instead.
  tendril::http::server_response handle(const tendril::http::server_request& r);

  const site_options& options() const noexcept { return options_; }

  /// pages() is how many HTML pages a complete crawl that obeys robots.txt
  /// fetches: the generated pages, plus /trap/many-links and /trap/slow
  /// with traps on. Their indexes are [0, pages()).
  std::size_t pages() const noexcept { return first_private_; }
  /// pages_ignoring_robots() is pages() plus the private pages.
  std::size_t pages_ignoring_robots() const noexcept { return first_private_ + private_pages; }
  /// resources() is how many paths the site answers other than with 404
  /// (the indexes above).
  std::size_t resources() const noexcept { return options_.pages + specials_.size(); }

  /// path_of(index) is the path of resource `index` ("/" for 0, "/p/123").
  /// Precondition: index < resources().
  std::string path_of(std::size_t index) const;
  /// index_of(path) is the index of the resource at `path` (without query
  /// or fragment), or nullopt for a path the site answers with 404.
  std::optional<std::size_t> index_of(std::string_view path) const;
  /// links_of(index) is what resource `index` links to, as indexes, in the
  /// order of its body, duplicates kept (the mailto: link of "/" left out);
  /// empty for what is not HTML. Precondition: index < resources().
  std::vector<std::size_t> links_of(std::size_t index) const;
  /// fails_first(index) is true for a page whose first request gets 503.
  bool fails_first(std::size_t index) const noexcept;
  /// failing_pages() is how many pages fails_first(): round(error_rate * pages).
  std::size_t failing_pages() const noexcept { return failing_count_; }

  /// served_ok(index) counts the 200 responses for resource `index`;
  /// requests_for(index) every request for it (503s, redirects, drops
  /// included). Precondition: index < resources().
  std::size_t served_ok(std::size_t index) const noexcept;
  std::size_t requests_for(std::size_t index) const noexcept;
  /// requests() counts every request handled, 404s and 405s included.
  std::size_t requests() const noexcept { return requests_.load(std::memory_order_relaxed); }

 private:
  enum class kind { many_links, slow, private_page, robots, image, loop_a, loop_b, drop };
  struct special {
    std::string path;
    kind what;
  };
  struct counter {
    std::atomic<std::uint32_t> requests{0};
    std::atomic<std::uint32_t> ok{0};
  };

  void choose_failing_pages();
  tendril::http::server_response respond(std::size_t index, std::string_view host) const;
  std::string html_page(std::size_t index, std::string_view host) const;
  std::string many_links_body(std::string_view host) const;
  std::string anchor_text(std::size_t index) const;
  void generated_links(std::size_t page, std::vector<std::size_t>& links) const;
  std::size_t private_link_host(std::size_t k) const noexcept;

  site_options options_;
  std::vector<special> specials_;  // the resources after the generated pages, in index order
  std::size_t first_private_ = 0;
  std::vector<bool> failing_;  // per generated page: fails_first
  std::size_t failing_count_ = 0;
  std::vector<counter> counters_;  // per resource index
  std::atomic<std::size_t> requests_{0};
};

}  // namespace crawler
