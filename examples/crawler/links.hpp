#pragma once
// The crawler's view of the web: absolute http(s) URLs in one normal form, so
// that two spellings of a link are one entry in the frontier, and the links a
// page holds.
//
// Everything here is pure computation: no I/O, no tendril calls.
// Thread-safety: every function may be called from any thread or fiber; none
// shares state.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace crawler {

/// An absolute http(s) URL in normal form (the one listed at parse_url).
/// Two URLs that normalise alike have equal members and the same text().
struct url {
  std::string scheme;  // "http" or "https"
  std::string host;    // lower case; an IPv6 literal keeps its brackets: "[::1]"
  int port = 0;        // the explicit port, or the scheme's default (80 or 443)
  std::string path;    // starts with '/', dot segments removed, never empty
  std::string query;   // without the '?'; "" if none (an empty query and none are the same)

  /// text() returns "scheme://host[:port]path[?query]", the port only if it is not the scheme's default.
  std::string text() const;
  /// origin() returns "scheme://host[:port]", the port as in text(): the per-host limit's key.
  std::string origin() const;
  /// host_port() returns "host:port", always with the port: what a connection is made to.
  std::string host_port() const;

  bool operator==(const url&) const = default;
};

/// parse_url(text) returns `text` as a normalised url if it is an absolute
/// http or https URL with a host; nullopt otherwise. libcurl's URL API
/// (curl_url) parses it.
///
/// Normal form, curl's: scheme in lower case; an IPv4 address in dotted
/// decimal ("127.1" -> "127.0.0.1"); the default port dropped; the fragment
/// dropped; dot segments removed (not "%2E"); an empty path made "/"; a
/// space and each byte above 0x7F in the path or query percent-encoded (a
/// space in the query as '+'); an empty query dropped. Added to it: the host
/// in lower case, and percent-encodings' hex in upper case. Anything else is
/// kept as written: "%7e" is not decoded, a '%' without two hex digits and
/// ASCII such as '"' or '<' are not encoded. A non-ASCII host is kept in
/// UTF-8 (not converted to punycode). Like curl, "http:/a" and "http:///a"
/// are read as "http://a/".
///
/// Errors: nullopt for other schemes, a missing host, userinfo ("user@";
/// credentials do not belong in a crawl), a port above 65535, an IPv6 zone
/// ("%25eth0"), a leading space, and a control character or NUL anywhere.
std::optional<url> parse_url(std::string_view text);

/// resolve(base, href) returns `href` resolved against `base` per RFC 3986
/// section 5.2, in parse_url's normal form. `href` may be absolute,
/// scheme-relative ("//h/p"), an absolute path, a relative path, a query
/// ("?q") or a fragment ("#f", which yields `base` itself, as does "").
/// ASCII whitespace around `href` is trimmed, as HTML does.
///
/// Errors: nullopt for other schemes (mailto:, javascript:, data:, ftp:...),
/// "http:g" (RFC 3986 section 5.4.2's strict reading: no host), a control
/// character left after trimming (a tab or newline inside included), and
/// what parse_url rejects.
std::optional<url> resolve(const url& base, std::string_view href);

/// What extract_links found.
struct extracted {
  std::vector<url> links;   // distinct, in the order of their first appearance
  std::size_t dropped = 0;  // distinct links beyond max_links, not in `links`
};

/// extract_links(html, base, max_links) returns the distinct links of the
/// page `html` fetched from `base`: the href of each <a> and <area>
/// element, resolved against the page's base and normalised, hrefs that do
/// not resolve to http(s) left out. The page's base is the first <base>
/// with an href, wherever it stands (as in browsers), resolved against
/// `base`; otherwise `base`. At most `max_links` links are returned; the
/// distinct ones beyond that are counted in `dropped`.
///
/// gumbo parses the page as an HTML5 browser does, as the content of
/// <body>: comments, the raw text of <script>, <style>, <textarea>, <title>
/// and their kind hold no links, character references are decoded, and a
/// tag that the input ends inside is dropped. The page is read as UTF-8:
/// each invalid byte sequence (a page in Latin-1, say) becomes U+FFFD, which
/// a link then holds as "%EF%BF%BD"; a control character does too.
///
/// Time and memory: linear in the size of `html` for ordinary pages; gumbo
/// takes time quadratic in the depth of nesting of some elements (40,000
/// nested <div>s take seconds). The stack used does not grow with the
/// nesting: any page may be read on a fiber's stack.
/// Errors: none for any input; std::bad_alloc if memory runs out outside
/// gumbo, the end of the process inside it.
extracted extract_links(std::string_view html, const url& base, std::size_t max_links);

}  // namespace crawler
