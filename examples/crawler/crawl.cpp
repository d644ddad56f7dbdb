// crawl: the workers, and what each does with one URL (crawl.hpp).
//
// A worker's loop is the whole algorithm: take, fetch, extract, add, done.
// What may go wrong with a URL (no answer, an error status, not HTML, too
// many links, a bug in a parser) is recorded in the statistics and the
// worker goes on; only the frontier failing ends a worker early, since
// without it there is no crawl.
//
// Stopping (stop(), Ctrl-C) kills the workers: a fetch in flight ends at
// once rather than after its timeout and retries. A killed worker does not
// call frontier.done() for the URL it held: the URL was not fetched, and
// done() would claim it was (for the memory frontier nothing waits for it
// any more; for Redis, the other processes see it held).
//
// Rejected: a tendril::pool spawning a task per URL. It reads as well, but
// the frontier's take() is what says when the crawl is over; a pool would
// need a dispatcher that takes and spawns, and a second count of what is in
// flight.

#include "crawl.hpp"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <stdexcept>
#include <utility>

#include <tendril/hub/join.hpp>
#include <tendril/io/http.hpp>
#include <tendril/io/thread_pool.hpp>

namespace crawler {

namespace {

using tendril::clock;

bool starts_with_ignoring_case(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() &&
         std::equal(prefix.begin(), prefix.end(), text.begin(),
                    [](char p, char t) { return p == std::tolower(static_cast<unsigned char>(t)); });
}

bool is_html(std::string_view content_type) {
  return starts_with_ignoring_case(content_type, "text/html") ||
         starts_with_ignoring_case(content_type, "application/xhtml+xml");
}

bool is_success(long status) { return status >= 200 && status <= 299; }

constexpr std::size_t parse_in_thread_above = 64 * 1024;

url parse_start(const std::string& text) {
  std::optional<url> u = parse_url(text);
  if (!u) throw std::invalid_argument("not an absolute http(s) URL: \"" + text + "\"");
  return *u;
}

}  // namespace

std::string default_user_agent() { return "tendril-crawler/1 (pid " + std::to_string(::getpid()) + ")"; }

crawl::crawl(crawl_options o, frontier& f)
    : options_(std::move(o)),
      frontier_(f),
      start_(parse_start(options_.start_url)),
      start_origin_(start_.origin()),
      policy_{options_.user_agent, options_.timeout,       options_.retries,
              options_.backoff,    options_.max_redirects, options_.max_body_bytes},
      limits_(options_.per_host),
      robots_([this](const std::string& robots_url) { return fetch_robots(robots_url); }) {
  if (options_.fibers == 0) throw std::invalid_argument("a crawl needs at least one fiber");
  if (options_.per_host == 0) throw std::invalid_argument("a crawl needs at least one request per host");
}

void crawl::run() {
  started_ = clock::now();
  frontier_.add({start_.text()}, 0);
  std::vector<tendril::task<void>> workers;
  {
    std::lock_guard guard(lock_);
    for (std::size_t i = 0; i < options_.fibers; ++i) {
      tendril::spawn_options name{"crawler worker " + std::to_string(i)};
      workers_.push_back(options_.runtime ? options_.runtime->spawn(std::move(name), [this] { work(); })
                                          : tendril::spawn(std::move(name), [this] { work(); }));
    }
    workers = workers_;
  }
  if (stopped()) tendril::killall(workers, nullptr, false);  // a stop() that came before the workers
  try {
    tendril::joinall(workers);
  } catch (...) {
    tendril::killall(workers);  // they use *this: none may outlive the call
    throw;
  }
  finished_at_.store(clock::now().time_since_epoch().count(), std::memory_order_release);
  close_idle_connections();
  std::lock_guard guard(lock_);
  if (frontier_error_) std::rethrow_exception(frontier_error_);
}

void crawl::stop() {
  std::vector<tendril::task<void>> workers;
  {
    std::lock_guard guard(lock_);
    stopping_ = true;
    workers = workers_;
  }
  frontier_.close();
  tendril::killall(workers, nullptr, false);
}

bool crawl::stopped() const {
  std::lock_guard guard(lock_);
  return stopping_;
}

clock::duration crawl::elapsed() const {
  const clock::rep finished = finished_at_.load(std::memory_order_acquire);
  const clock::time_point end = finished != 0 ? clock::time_point(clock::duration(finished)) : clock::now();
  return end - started_;
}

std::optional<failure> crawl::start_failure() const {
  std::lock_guard guard(lock_);
  return start_failure_;
}

void crawl::work() {
  try {
    while (std::optional<frontier_item> item = frontier_.take()) {
      const visited v = visit(*item);
      // A redirect's target has been fetched: linked from elsewhere later,
      // it is not fetched again. (Queued already, it is: the queue keeps it.)
      if (v.redirected_to) frontier_.mark_seen(*v.redirected_to);
      if (!v.links.empty()) frontier_.add(v.links, item->depth + 1);
      stats_.finished();
      frontier_.done(*item);
    }
  } catch (const std::exception&) {  // from the frontier: visit() throws nothing but interrupts
    {
      std::lock_guard guard(lock_);
      if (!frontier_error_) frontier_error_ = std::current_exception();
    }
    frontier_.close();
  }
}

// visit(item) fetches one URL and returns the links to follow from it, and
// where a redirect took it.
crawl::visited crawl::visit(const frontier_item& item) {
  try {
    const std::optional<url> u = parse_url(item.url);
    if (!u) {
      stats_.failed({item.url, "bad URL", "not an absolute http(s) URL", item.depth});
      return {};
    }
    if (options_.robots && !robots_.allowed(*u)) {
      stats_.robots_blocked();
      return {};
    }
    fetch_result r = fetch_url(*u, policy_, limits_, stats_);
    if (!r.response) {
      failure f{item.url, std::move(r.error_kind), std::move(r.error_message), item.depth};
      if (item.depth == 0) {
        std::lock_guard guard(lock_);
        start_failure_ = f;
      }
      stats_.failed(std::move(f));
      return {};
    }
    tendril::http::response& page = *r.response;
    const bool html = is_html(page.header("Content-Type"));
    stats_.response(item.url, page.status, page.body.size(), html, item.depth);
    const std::optional<url> answered = parse_url(page.effective_url);  // after redirects
    std::optional<std::string> redirected_to;
    if (answered && answered->text() != item.url) redirected_to = answered->text();
    if (!html || !is_success(page.status) || item.depth >= options_.max_depth) return {{}, redirected_to};
    return {links_of(std::move(page.body), answered ? *answered : *u), std::move(redirected_to)};
  } catch (const std::exception& e) {  // a bug or std::bad_alloc: this URL fails, the crawl goes on
    stats_.failed({item.url, "internal error", e.what(), item.depth});
    return {};
  }
}

// links_of(html, base): the page's links, those on other origins left out
// unless options.all_hosts.
//
// Parsing is CPU work on the hub's thread: while one fiber parses, no other
// fiber of its hub runs, and their requests' deadlines pass (gumbo takes
// seconds over the 3 MB many-links trap). So a page over
// parse_in_thread_above bytes is parsed on io's thread pool while its
// fiber parks. Small pages, the usual case, are parsed in place: the hop
// to a thread and back costs more than they do.
std::vector<std::string> crawl::links_of(std::string html, const url& base) {
  const auto extract = [](const std::string& page, const url& from, std::size_t max_links) {
    return extract_links(page, from, max_links);
  };
  // The call gets its own copies: if this fiber is killed, the call runs on without it.
  const extracted found = html.size() > parse_in_thread_above
                              ? tendril::run_in_thread(extract, std::move(html), base, options_.max_links)
                              : extract(html, base, options_.max_links);
  if (found.dropped > 0) stats_.truncated(found.dropped);
  std::vector<std::string> next;
  next.reserve(found.links.size());
  std::size_t elsewhere = 0;
  for (const url& link : found.links) {
    if (!options_.all_hosts && link.origin() != start_origin_) {
      ++elsewhere;
      continue;
    }
    next.push_back(link.text());
  }
  if (elsewhere > 0) stats_.other_host_links(elsewhere);
  return next;
}

// fetch_robots(robots_url): what RFC 9309 says an answer means. A 4xx
// (no robots.txt) allows everything; no answer, or a 5xx after the
// retries, disallows everything on that origin, and is a failure.
robots_rules crawl::fetch_robots(const std::string& robots_url) {
  const std::optional<url> u = parse_url(robots_url);
  if (!u) return robots_rules{};
  fetch_result r = fetch_url(*u, policy_, limits_, stats_);
  if (r.response && is_success(r.response->status))
    return robots_rules::parse(r.response->body, "tendril-crawler");
  if (r.response && r.response->status >= 400 && r.response->status <= 499) return robots_rules{};
  const std::string why = r.response ? "HTTP " + std::to_string(r.response->status) : r.error_message;
  stats_.failed({robots_url, "robots.txt unavailable",
                 why + "; nothing on " + u->origin() + " is fetched (RFC 9309)", 0});
  return robots_rules::disallow_all();
}

void crawl::close_idle_connections() {
  if (!options_.runtime) {
    tendril::http::close_idle_connections();
    return;
  }
  for (const tendril::hub_ref& hub : options_.runtime->hubs())
    tendril::run_on(hub, [] { tendril::http::close_idle_connections(); });
}

}  // namespace crawler
