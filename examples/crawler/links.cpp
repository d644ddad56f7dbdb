#include "links.hpp"

// Link extraction and URL normalisation for the crawler, on libraries made
// for them (DESIGN.md): gumbo parses the page as an HTML5 browser would
// (tags, attributes, character references, comments, raw text, a page cut
// off anywhere), and libcurl's URL API (curl_url) parses URLs, resolves a
// reference against a base (RFC 3986 section 5.2) and writes the result.
//
// What this file adds:
//   - which parts of the tree are links: the href of each <a> and <area>,
//     and the first <base href>, found by walking the tree with an explicit
//     stack (a page may nest elements as deep as it likes);
//   - http and https only: curl knows ftp:, file: and others;
//   - the crawler's normal form, which is curl's (flags in curl_flags) and
//     two steps where curl leaves one URL in two spellings: the host in
//     lower case, and percent-encoding's hex in upper case;
//   - where curl 7.88 and HTML part: an href's surrounding whitespace is
//     trimmed, and "" and "#f" name the base itself;
//   - two refusals, each explained where it is made: a NUL, and an IPv6 zone.
//
// Why gumbo's memory comes from an arena. gumbo 0.10.1 frees a tree by
// recursion, one call per level of nesting (about 40 bytes of stack a
// level), in gumbo_destroy_output and when a <frameset> discards the body:
// 20,000 nested <div>s (100 KB) overflow a fiber's 256 KiB stack. So gumbo
// allocates from a monotonic arena, never frees (its deallocator does
// nothing), and the arena goes at once; gumbo_destroy_output is not called.
// The page is parsed as the content of <body> (a fragment), where
// <frameset> is ignored, so gumbo never frees a subtree while parsing. The
// arena costs little: gumbo frees little before the end (what it allocates
// in all is about 1.1 times what it holds at its peak).
//
// Rejected: a scanner written for the job (the previous version). It
// followed part of the HTML tokenizer and all of RFC 3986 by hand, in 550
// lines that the libraries already hold and test.
//
// Time: gumbo's parse is linear in the page for ordinary markup; the walk
// and the hash set that finds duplicate links add linear work. gumbo's
// parse is quadratic in the depth of nesting for some elements (<div>,
// <li>): a page of 40,000 nested <div>s takes it seconds. Recording parse
// errors would make that quadratic in memory too (each keeps a copy of the
// open elements), so none are kept (max_errors = 0).

#include <charconv>
#include <cstddef>
#include <memory>
#include <memory_resource>
#include <new>
#include <unordered_set>
#include <utility>

#include <curl/curl.h>
#include <gumbo.h>

namespace crawler {

namespace {

// -- URLs: curl_url -----------------------------------------------------------

// CURLU_URLENCODE: a space or a byte above 0x7F in a path or query is
// percent-encoded, as browsers do (a space in the query becomes '+').
// CURLU_NO_DEFAULT_PORT: ":80" on http and ":443" on https are dropped.
// CURLU_DISALLOW_USER: "user@" is refused; credentials do not belong in a crawl.
constexpr unsigned curl_flags = CURLU_URLENCODE | CURLU_NO_DEFAULT_PORT | CURLU_DISALLOW_USER;

struct curlu_deleter {
  void operator()(CURLU* handle) const noexcept { curl_url_cleanup(handle); }
};
using curlu_ptr = std::unique_ptr<CURLU, curlu_deleter>;

struct curl_free_deleter {
  void operator()(char* text) const noexcept { curl_free(text); }
};

curlu_ptr checked(CURLU* handle) {
  if (handle == nullptr) throw std::bad_alloc();
  return curlu_ptr(handle);
}

// set(handle, text) parses `text` into `handle`, resolving it against the URL
// `handle` holds if it is relative. Returns false if curl rejects it.
bool set(CURLU* handle, std::string_view text) {
  if (text.find('\0') != std::string_view::npos) return false;  // curl reads a C string
  return curl_url_set(handle, CURLUPART_URL, std::string(text).c_str(), curl_flags) == CURLUE_OK;
}

// part(handle, which) returns one part of the URL in `handle`, or nullopt if it has none.
std::optional<std::string> part(CURLU* handle, CURLUPart which, unsigned flags = 0) {
  char* text = nullptr;
  if (curl_url_get(handle, which, &text, flags) != CURLUE_OK) return std::nullopt;
  const std::unique_ptr<char, curl_free_deleter> owned(text);
  return std::string(text);
}

// Host names are case-insensitive, and curl keeps the case a page wrote.
std::string lower_case(std::string text) {
  for (char& c : text) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return text;
}

// curl writes what it encodes as "%c3%a9" but keeps a page's "%C3%A9" as
// written; one case, RFC 3986 section 6.2.2.1's upper, makes them one URL.
std::string upper_case_hex(std::string text) {
  const auto is_hex = [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
  };
  const auto upper = [](char c) { return c >= 'a' && c <= 'f' ? static_cast<char>(c - 'a' + 'A') : c; };
  for (std::size_t i = 0; i + 2 < text.size(); ++i) {
    if (text[i] == '%' && is_hex(text[i + 1]) && is_hex(text[i + 2])) {
      text[i + 1] = upper(text[i + 1]);
      text[i + 2] = upper(text[i + 2]);
      i += 2;
    }
  }
  return text;
}

// to_url(handle) returns the URL in `handle` in the crawler's normal form,
// or nullopt if it is not http(s) with a host. The fragment is not read.
std::optional<url> to_url(CURLU* handle) {
  std::optional<std::string> scheme = part(handle, CURLUPART_SCHEME);  // curl writes it in lower case
  if (scheme != "http" && scheme != "https") return std::nullopt;
  // curl holds an IPv6 zone ("[fe80::1%25eth0]") apart from the host; url has
  // no place for it, and the host alone would name another address.
  if (part(handle, CURLUPART_ZONEID)) return std::nullopt;
  const std::optional<std::string> host = part(handle, CURLUPART_HOST);
  const std::optional<std::string> port = part(handle, CURLUPART_PORT, CURLU_DEFAULT_PORT);
  const std::optional<std::string> path = part(handle, CURLUPART_PATH);
  if (!host || host->empty() || !port || !path) return std::nullopt;
  int number = 0;
  std::from_chars(port->data(), port->data() + port->size(), number);
  return url{std::move(*scheme), lower_case(*host), number, upper_case_hex(*path),
             upper_case_hex(part(handle, CURLUPART_QUERY).value_or(""))};
}

// handle_of(u) returns a handle holding `u`. A url built by hand that curl
// rejects leaves it empty, and every relative href then resolves to nullopt.
curlu_ptr handle_of(const url& u) {
  curlu_ptr handle = checked(curl_url());
  set(handle.get(), u.text());
  return handle;
}

// resolve_in(base_handle, base, href) is resolve(base, href), `base_handle` holding `base`.
std::optional<url> resolve_in(CURLU* base_handle, const url& base, std::string_view href) {
  // An href is "a URL potentially surrounded by spaces" (HTML); curl would encode them.
  constexpr std::string_view ascii_whitespace = " \t\n\f\r";
  const std::size_t first = href.find_first_not_of(ascii_whitespace);
  href = first == std::string_view::npos
             ? std::string_view()
             : href.substr(first, href.find_last_not_of(ascii_whitespace) - first + 1);
  // RFC 3986 section 5.2.2: no path and no query keep the base's; curl 7.88
  // resolves "" and "#f" against the base's directory instead.
  if (href.empty() || href.front() == '#') return base;
  const curlu_ptr handle = checked(curl_url_dup(base_handle));
  if (!set(handle.get(), href)) return std::nullopt;
  return to_url(handle.get());
}

// -- HTML: gumbo ----------------------------------------------------------------

// A page parsed by gumbo into memory that the arena owns (see the top of the file).
class html_tree {
 public:
  explicit html_tree(std::string_view html) {
    GumboOptions options = kGumboDefaultOptions;
    options.userdata = &arena_;
    // gumbo does not check for a null pointer, and an exception must not
    // cross it: running out of memory here ends the process (noexcept).
    options.allocator = [](void* arena, std::size_t size) noexcept {
      return static_cast<std::pmr::memory_resource*>(arena)->allocate(size, alignof(std::max_align_t));
    };
    options.deallocator = [](void*, void*) noexcept {};
    options.max_errors = 0;
    options.fragment_context = GUMBO_TAG_BODY;
    // gumbo would compute null + 0, undefined in C, for std::string_view().
    output_ = gumbo_parse_with_options(&options, html.empty() ? "" : html.data(), html.size());
  }
  html_tree(const html_tree&) = delete;
  html_tree& operator=(const html_tree&) = delete;

  const GumboNode* document() const noexcept { return output_->document; }

 private:
  std::pmr::monotonic_buffer_resource arena_;
  GumboOutput* output_;
};

// What a page's elements hold for the crawler, as gumbo decoded it.
struct raw_links {
  std::vector<std::string_view> hrefs;  // of <a> and <area>, in document order
  std::optional<std::string_view> base_href;
};

void note(const GumboElement& element, raw_links& found) {
  const GumboAttribute* href = gumbo_get_attribute(&element.attributes, "href");
  if (href == nullptr) return;
  if (element.tag == GUMBO_TAG_A || element.tag == GUMBO_TAG_AREA) {
    found.hrefs.emplace_back(href->value);
  } else if (element.tag == GUMBO_TAG_BASE && !found.base_href) {
    found.base_href = href->value;
  }
}

// find_links(document) walks the tree in document order, with a stack on the heap.
raw_links find_links(const GumboNode* document) {
  raw_links found;
  std::vector<const GumboNode*> to_visit{document};
  while (!to_visit.empty()) {
    const GumboNode* node = to_visit.back();
    to_visit.pop_back();
    const GumboVector* children = nullptr;
    if (node->type == GUMBO_NODE_DOCUMENT) {
      children = &node->v.document.children;
    } else if (node->type == GUMBO_NODE_ELEMENT || node->type == GUMBO_NODE_TEMPLATE) {
      note(node->v.element, found);
      children = &node->v.element.children;
    }
    for (unsigned i = children != nullptr ? children->length : 0; i > 0; --i)
      to_visit.push_back(static_cast<const GumboNode*>(children->data[i - 1]));
  }
  return found;
}

}  // namespace

std::string url::origin() const {
  const int default_port = scheme == "https" ? 443 : 80;
  std::string text = scheme + "://" + host;
  if (port != default_port) text += ":" + std::to_string(port);
  return text;
}

std::string url::text() const {
  std::string text = origin() + path;
  if (!query.empty()) text += "?" + query;
  return text;
}

std::string url::host_port() const { return host + ":" + std::to_string(port); }

std::optional<url> parse_url(std::string_view text) {
  const curlu_ptr handle = checked(curl_url());
  if (!set(handle.get(), text)) return std::nullopt;
  return to_url(handle.get());
}

std::optional<url> resolve(const url& base, std::string_view href) {
  return resolve_in(handle_of(base).get(), base, href);
}

extracted extract_links(std::string_view html, const url& base, std::size_t max_links) {
  const html_tree tree(html);
  const raw_links found = find_links(tree.document());
  std::optional<url> page_base;
  if (found.base_href) page_base = resolve(base, *found.base_href);
  if (!page_base) page_base = base;

  const curlu_ptr base_handle = handle_of(*page_base);
  extracted result;
  std::unordered_set<std::string> seen;
  seen.reserve(found.hrefs.size());
  for (const std::string_view href : found.hrefs) {
    std::optional<url> link = resolve_in(base_handle.get(), *page_base, href);
    if (!link || !seen.insert(link->text()).second) continue;
    if (result.links.size() < max_links) {
      result.links.push_back(std::move(*link));
    } else {
      ++result.dropped;
    }
  }
  return result;
}

}  // namespace crawler
