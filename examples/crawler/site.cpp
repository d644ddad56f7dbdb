// site: the crawler's generated web site (what it serves: site.hpp).
//
// Invariants:
// - Nothing is stored per page but the error choice and the counters: a
//   page's links and text come from a generator seeded with (seed, page),
//   so a body is computed when asked for, the same every time, and
//   links_of() and the body of a page agree by construction (the links
//   come from one stream, their spelling and the text from another).
// - After the constructor only the counters change, and they are atomics:
//   handle() runs on any number of fibers of any number of hubs.
// - A page's "first request" is the one whose fetch_add of its request
//   counter saw 0, so with a page requested from two threads at once
//   exactly one of them gets the 503.
//
// Rejected:
// - std::mt19937_64 with std::uniform_int_distribution: the engine is
//   specified, the distributions are not, so another standard library
//   would generate another site from the same seed. splitmix64 with a
//   modulo is biased by under 2^-40 for any page count here.
// - Storing the graph (a vector of links per page): 20,000 pages of 10
//   links is 1.6 MB that only ever serve to render bodies.
// - For /trap/drop, a response with close = true: the client would still
//   get an answer. http::server has no way to hang up unanswered, but a
//   handler that ends its connection's task does exactly that: the task
//   unwinds with greenlet_exit (no std::exception, so no 500 is sent; a
//   killed task is not a failure, so nothing is reported) and the socket's
//   destructor closes the connection.

#include "site.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <utility>

#include <tendril/error.hpp>
#include <tendril/hub/sleep.hpp>
#include <tendril/hub/task.hpp>

namespace crawler {

namespace {

using tendril::http::server_response;

constexpr std::string_view html_type = "text/html; charset=utf-8";

// A 1x1 transparent PNG: signature, IHDR, IDAT, IEND (each CRC checked).
constexpr unsigned char png_bytes[] = {
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52, 0x00,
    0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4, 0x89, 0x00,
    0x00, 0x00, 0x0a, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x00, 0x01, 0x00, 0x00, 0x05, 0x00, 0x01,
    0x0d, 0x0a, 0x2d, 0xb4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82};

constexpr std::string_view words[] = {
    "fiber",    "hub",    "stack",   "switch", "loop",   "timer",  "socket", "parse",   "crawl", "link",
    "frontier", "queue",  "green",   "thread", "event",  "ready",  "park",   "wake",    "yield", "spawn",
    "join",     "kill",   "café",    "naïve",  "résumé", "façade", "über",   "piñata",  "fjord", "zürich",
    "river",    "garden", "lantern", "harbor", "meadow", "willow", "copper", "granite", "ember", "tide"};

// splitmix64: a small generator whose sequence is the same everywhere.
class splitmix {
 public:
  explicit splitmix(std::uint64_t seed) noexcept : state_(seed) {}
  std::uint64_t next() noexcept {
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  /// below(n) is in [0, n); n > 0.
  std::size_t below(std::size_t n) noexcept { return static_cast<std::size_t>(next() % n); }

 private:
  std::uint64_t state_;
};

// The two streams of a page: which pages it links, and how its links and
// text are spelled. Separate, so that links_of() need not render text.
enum class stream : std::uint64_t { links = 1, spelling = 2 };

splitmix generator(std::uint64_t seed, std::size_t index, stream s) noexcept {
  splitmix mixer(seed ^ (static_cast<std::uint64_t>(index) << 2 | static_cast<std::uint64_t>(s)));
  return splitmix(mixer.next());
}

// plain_host(h) is `h` when it is a plain host[:port] that can go into an
// href as is, else "" (links then use absolute paths): the Host header is
// the client's, and must not write into the page.
std::string_view plain_host(std::string_view h) noexcept {
  if (h.empty() || h.size() > 255) return {};
  for (char c : h) {
    const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                       c == '.' || c == '-' || c == ':' || c == '[' || c == ']';
    if (!plain) return {};
  }
  return h;
}

// directory_of(path) is what a relative reference in `path` resolves against.
std::string_view directory_of(std::string_view path) noexcept { return path.substr(0, path.rfind('/') + 1); }

// dotted(dir, target) climbs from `dir` to the root with "../" (or starts
// at it with "./"), then descends to `target`.
std::string dotted(std::string_view dir, std::string_view target) {
  std::string ref;
  for (std::size_t depth = std::count(dir.begin(), dir.end(), '/') - 1; depth > 0; --depth) ref += "../";
  if (ref.empty()) ref = "./";
  ref += target.substr(1);
  return ref;
}

// relative(dir, target) is the shortest reference from `dir` to `target`.
std::string relative(std::string_view dir, std::string_view target) {
  if (!target.starts_with(dir)) return dotted(dir, target);
  std::string_view rest = target.substr(dir.size());
  return rest.empty() ? std::string("./") : std::string(rest);
}

// reference(from, target, host, r) spells a link from the page at path
// `from` to `target` in one of four forms, sometimes with a fragment.
std::string reference(std::string_view from, std::string_view target, std::string_view host, splitmix& r) {
  std::string ref;
  switch (r.below(4)) {
    case 0:
      ref = target;
      break;
    case 1:
      ref = host.empty() ? std::string(target) : "http://" + std::string(host) + std::string(target);
      break;
    case 2:
      ref = relative(directory_of(from), target);
      break;
    default:
      ref = dotted(directory_of(from), target);
      break;
  }
  if (r.below(6) == 0) ref += r.below(2) == 0 ? "#top" : "#section-2";
  return ref;
}

// sentence(r) is ten to nineteen words, capitalised, with a full stop.
std::string sentence(splitmix& r) {
  std::string text;
  for (std::size_t n = 10 + r.below(10); n > 0; --n) {
    if (!text.empty()) text += ' ';
    text += words[r.below(std::size(words))];
  }
  if (text[0] >= 'a' && text[0] <= 'z') text[0] = static_cast<char>(text[0] - 'a' + 'A');
  return text + '.';
}

server_response html(std::string body) {
  return {.status = 200, .headers = {{"Content-Type", std::string(html_type)}}, .body = std::move(body)};
}

server_response not_found() {
  return {.status = 404,
          .headers = {{"Content-Type", std::string(html_type)}},
          .body = "<!DOCTYPE html>\n<title>Not found</title>\n<h1>Not found</h1>\n"};
}

server_response unavailable() {
  return {.status = 503,
          .headers = {{"Content-Type", std::string(html_type)}, {"Retry-After", "0"}},
          .body = "<!DOCTYPE html>\n<title>Busy</title>\n<h1>Busy, try again</h1>\n"};
}

server_response redirect(std::string_view to) {
  return {.status = 302,
          .headers = {{"Location", std::string(to)}, {"Content-Type", std::string(html_type)}},
          .body = "<!DOCTYPE html>\n<title>Moved</title>\n<a href=\"" + std::string(to) + "\">Moved</a>\n"};
}

// drop_connection() ends the calling task, which closes the connection it
// serves without an answer (see "Rejected" above).
void drop_connection() {
  tendril::task_base self = tendril::current_task();
  if (self.empty())
    throw tendril::error(
        "crawler::site: /trap/drop ends the task serving it, and was called outside any task");
  self.kill();  // a task killing itself: greenlet_exit is raised here, at once
  throw tendril::error("crawler::site: /trap/drop: " + self.describe() + " survived its own kill");
}

}  // namespace

site::site(site_options o) : options_(o) {
  if (options_.pages == 0) throw std::invalid_argument("crawler::site: a site needs at least one page");
  if (!(options_.error_rate >= 0 && options_.error_rate <= 1))
    throw std::invalid_argument("crawler::site: error_rate " + std::to_string(options_.error_rate) +
                                " is not in [0, 1]");
  if (options_.traps) {
    specials_.push_back({"/trap/many-links", kind::many_links});
    specials_.push_back({"/trap/slow", kind::slow});
  }
  first_private_ = options_.pages + specials_.size();
  for (std::size_t k = 0; k < private_pages; ++k)
    specials_.push_back({"/private/" + std::to_string(k), kind::private_page});
  specials_.push_back({"/robots.txt", kind::robots});
  if (options_.traps) {
    specials_.push_back({"/trap/image.png", kind::image});
    specials_.push_back({"/trap/loop/a", kind::loop_a});
    specials_.push_back({"/trap/loop/b", kind::loop_b});
    specials_.push_back({"/trap/drop", kind::drop});
  }
  counters_ = std::vector<counter>(resources());
  choose_failing_pages();
}

// choose_failing_pages() picks round(error_rate * pages) pages with a
// partial Fisher-Yates shuffle: exactly that many, the same for a seed.
void site::choose_failing_pages() {
  const std::size_t n = options_.pages;
  failing_count_ =
      std::min(n, static_cast<std::size_t>(std::llround(options_.error_rate * static_cast<double>(n))));
  failing_.assign(n, false);
  if (failing_count_ == 0) return;
  std::vector<std::size_t> order(n);
  for (std::size_t i = 0; i < n; ++i) order[i] = i;
  splitmix r(options_.seed ^ 0x5eedfa11ULL);
  for (std::size_t i = 0; i < failing_count_; ++i) {
    std::swap(order[i], order[i + r.below(n - i)]);
    failing_[order[i]] = true;
  }
}

server_response site::handle(const tendril::http::server_request& r) {
  requests_.fetch_add(1, std::memory_order_relaxed);
  const std::optional<std::size_t> index = index_of(r.path());
  const bool first = index && counters_[*index].requests.fetch_add(1, std::memory_order_relaxed) == 0;
  if (options_.latency > tendril::clock::duration::zero()) tendril::sleep(options_.latency);
  if (!index) return not_found();
  if (r.method != "GET" && r.method != "HEAD")
    return {.status = 405, .headers = {{"Allow", "GET, HEAD"}}, .body = "only GET and HEAD\n"};
  if (first && fails_first(*index)) return unavailable();
  const kind* what = *index < options_.pages ? nullptr : &specials_[*index - options_.pages].what;
  if (what != nullptr && *what == kind::drop) drop_connection();
  if (what != nullptr && *what == kind::slow) tendril::sleep(options_.slow_trap_delay);
  server_response response = respond(*index, plain_host(r.header("Host")));
  if (response.status == 200) counters_[*index].ok.fetch_add(1, std::memory_order_relaxed);
  return response;
}

server_response site::respond(std::size_t index, std::string_view host) const {
  if (index < options_.pages) return html(html_page(index, host));
  switch (specials_[index - options_.pages].what) {
    case kind::many_links:
      return html(many_links_body(host));
    case kind::slow:
    case kind::private_page:
      return html(html_page(index, host));
    case kind::robots:
      return {.status = 200,
              .headers = {{"Content-Type", "text/plain; charset=utf-8"}},
              .body = std::string(robots_txt)};
    case kind::image:
      return {.status = 200,
              .headers = {{"Content-Type", "image/png"}},
              .body = std::string(reinterpret_cast<const char*>(png_bytes), sizeof png_bytes)};
    case kind::loop_a:
      return redirect("/trap/loop/b");
    case kind::loop_b:
      return redirect("/trap/loop/a");
    case kind::drop:
      break;  // handle() has ended the task
  }
  return not_found();
}

std::string site::html_page(std::size_t index, std::string_view host) const {
  const std::string path = path_of(index);
  const std::string title = anchor_text(index);
  splitmix r = generator(options_.seed, index, stream::spelling);
  std::string b = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>" + title +
                  " \xe2\x80\x94 tendril crawler site</title>\n</head>\n<body id=\"top\">\n<h1>" + title +
                  "</h1>\n<p>" + sentence(r) + "</p>\n<ul>\n";
  for (std::size_t target : links_of(index))
    b += "<li><a href=\"" + reference(path, path_of(target), host, r) + "\">" + anchor_text(target) +
         "</a></li>\n";
  b += "</ul>\n<p id=\"section-2\">" + sentence(r) + "</p>\n";
  if (index == 0) b += "<p>Write to <a href=\"mailto:webmaster@example.invalid\">the webmaster</a>.</p>\n";
  return b + "</body>\n</html>\n";
}

std::string site::many_links_body(std::string_view host) const {
  constexpr std::string_view from = "/trap/many-links";
  splitmix r = generator(options_.seed, index_of(from).value_or(0), stream::spelling);
  std::string b =
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>Many links</title>\n"
      "</head>\n<body id=\"top\">\n<h1>Many links</h1>\n<p id=\"section-2\">\n";
  b.reserve(many_links * 32);
  for (std::size_t k = 0; k < many_links; ++k) {
    const std::size_t target = k % options_.pages;
    b += "<a href=\"" + reference(from, path_of(target), host, r) + "\">" + std::to_string(target) + "</a>\n";
  }
  return b + "</p>\n</body>\n</html>\n";
}

std::string site::anchor_text(std::size_t index) const {
  if (index == 0) return "Home";
  if (index < options_.pages) return "Page " + std::to_string(index);
  switch (specials_[index - options_.pages].what) {
    case kind::many_links:
      return "Many links";
    case kind::slow:
      return "A slow page";
    case kind::private_page:
      return "Private page " + std::to_string(index - first_private_);
    case kind::robots:
      return "Robots";
    case kind::image:
      return "An image";
    case kind::loop_a:
    case kind::loop_b:
      return "Round and round";
    case kind::drop:
      return "A dropped connection";
  }
  return {};
}

// private_link_host(k) is the generated page that links /private/k: the
// pages spread evenly, all of them "/" on a one-page site.
std::size_t site::private_link_host(std::size_t k) const noexcept {
  return (k + 1) * options_.pages / (private_pages + 1);
}

std::string site::path_of(std::size_t index) const {
  if (index == 0) return "/";
  if (index < options_.pages) return "/p/" + std::to_string(index);
  return specials_.at(index - options_.pages).path;
}

std::optional<std::size_t> site::index_of(std::string_view path) const {
  if (path == "/") return 0;
  if (path.starts_with("/p/")) {
    std::string_view digits = path.substr(3);
    if (digits.empty() || digits.size() > 19 || digits[0] == '0')
      return std::nullopt;  // one spelling per page
    std::size_t page = 0;
    for (char c : digits) {
      if (c < '0' || c > '9') return std::nullopt;
      page = page * 10 + static_cast<std::size_t>(c - '0');
    }
    if (page < options_.pages) return page;
    return std::nullopt;
  }
  for (std::size_t i = 0; i < specials_.size(); ++i)
    if (specials_[i].path == path) return options_.pages + i;
  return std::nullopt;
}

std::vector<std::size_t> site::links_of(std::size_t index) const {
  std::vector<std::size_t> links;
  if (index >= options_.pages) {
    switch (specials_.at(index - options_.pages).what) {
      case kind::many_links:
        for (std::size_t k = 0; k < many_links; ++k) links.push_back(k % options_.pages);
        break;
      case kind::slow:
      case kind::private_page:
        links.push_back(0);
        break;
      default:
        break;  // not HTML
    }
    return links;
  }
  generated_links(index, links);
  for (std::size_t k = 0; k < private_pages; ++k)
    if (private_link_host(k) == index) links.push_back(first_private_ + k);
  if (index == 0 && options_.traps)
    for (std::string_view trap :
         {"/trap/many-links", "/trap/slow", "/trap/image.png", "/trap/loop/a", "/trap/drop"})
      links.push_back(*index_of(trap));
  return links;
}

// generated_links(page, links) appends the links of the graph proper: the
// tree children, then a mix up to links_per_page.
void site::generated_links(std::size_t page, std::vector<std::size_t>& links) const {
  const std::size_t n = options_.pages;
  for (std::size_t child : {2 * page + 1, 2 * page + 2})
    if (child < n) links.push_back(child);
  splitmix r = generator(options_.seed, page, stream::links);
  while (links.size() < options_.links_per_page) {
    switch (r.below(8)) {
      case 0:
        links.push_back(page == 0 ? 0 : (page - 1) / 2);
        break;  // the tree parent
      case 1:
        links.push_back(0);
        break;
      case 2:  // a second link to a page this one already links
        if (!links.empty()) {
          links.push_back(links[r.below(links.size())]);
          break;
        }
        [[fallthrough]];
      default:
        links.push_back(r.below(n));
        break;
    }
  }
}

bool site::fails_first(std::size_t index) const noexcept {
  return index < failing_.size() && failing_[index];
}

std::size_t site::served_ok(std::size_t index) const noexcept {
  return counters_[index].ok.load(std::memory_order_relaxed);
}

std::size_t site::requests_for(std::size_t index) const noexcept {
  return counters_[index].requests.load(std::memory_order_relaxed);
}

}  // namespace crawler
