#include "links.hpp"

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <catch2/catch.hpp>

#include <tendril/fiber/greenlet.hpp>

namespace {

using crawler::extract_links;
using crawler::parse_url;
using crawler::resolve;
using crawler::url;

// What a test compares: a url's text, or "none".
std::string text_of(const std::optional<url>& u) { return u ? u->text() : "none"; }

std::string parsed(std::string_view text) { return text_of(parse_url(text)); }

url must_parse(std::string_view text) {
  const std::optional<url> u = parse_url(text);
  REQUIRE(u);
  return *u;
}

std::string resolved(std::string_view base, std::string_view href) {
  return text_of(resolve(must_parse(base), href));
}

std::vector<std::string> texts(const std::vector<url>& links) {
  std::vector<std::string> out;
  for (const url& u : links) out.push_back(u.text());
  return out;
}

constexpr std::string_view page = "http://example.com/dir/page.html";

// The links of `html` fetched from `page`, as text.
std::vector<std::string> links_of(std::string_view html, std::size_t max_links = 1000) {
  return texts(extract_links(html, must_parse(page), max_links).links);
}

// links_on_a_fiber(html) is links_of(html) read where the crawler reads
// pages: on a greenlet with tendril's default stack, 256 KiB. A stack
// overflow there aborts the test.
std::vector<std::string> links_on_a_fiber(const std::string& html) {
  std::vector<std::string> found;
  tendril::greenlet reader([&] { found = links_of(html); }, {.name = "reader", .stack_size = 256 * 1024});
  reader.switch_to();
  return found;
}

struct example {
  std::string_view href;
  std::string_view expected;
};

void check_resolution(std::string_view base, const std::vector<example>& examples) {
  for (const example& e : examples) {
    CAPTURE(base, e.href);
    CHECK(resolved(base, e.href) == e.expected);
  }
}

}  // namespace

// -- parse_url ----------------------------------------------------------------

TEST_CASE("parse_url splits an absolute url into its parts") {
  const url u = must_parse("https://example.com:8443/a/b?x=1&y=2#top");
  CHECK(u.scheme == "https");
  CHECK(u.host == "example.com");
  CHECK(u.port == 8443);
  CHECK(u.path == "/a/b");
  CHECK(u.query == "x=1&y=2");
  CHECK(u.text() == "https://example.com:8443/a/b?x=1&y=2");
  CHECK(u.origin() == "https://example.com:8443");
  CHECK(u.host_port() == "example.com:8443");
}

TEST_CASE("parse_url lower-cases scheme and host but not path or query") {
  const url u = must_parse("HTTP://WWW.Example.COM/Path/To?Q=A");
  CHECK(u.scheme == "http");
  CHECK(u.host == "www.example.com");
  CHECK(u.text() == "http://www.example.com/Path/To?Q=A");
}

TEST_CASE("parse_url drops the default port and keeps the scheme's default in port") {
  const url plain = must_parse("http://a:80/x");
  CHECK(plain.port == 80);
  CHECK(plain.text() == "http://a/x");
  CHECK(plain.origin() == "http://a");
  CHECK(plain.host_port() == "a:80");
  const url secure = must_parse("https://a:443/x");
  CHECK(secure.port == 443);
  CHECK(secure.text() == "https://a/x");
  CHECK(secure.host_port() == "a:443");
  CHECK(must_parse("https://a/").port == 443);
  CHECK(must_parse("http://a/").port == 80);
}

TEST_CASE("parse_url keeps a port that is not the scheme's default") {
  CHECK(parsed("http://a:443/") == "http://a:443/");
  CHECK(parsed("https://a:80/") == "https://a:80/");
  CHECK(parsed("http://a:8080") == "http://a:8080/");
}

TEST_CASE("parse_url reads an empty port or leading zeros as the port they name") {
  CHECK(parsed("http://a:/x") == "http://a/x");
  CHECK(must_parse("http://a:/x").port == 80);
  CHECK(parsed("http://a:0080/") == "http://a/");
  CHECK(parsed("http://a:065535/") == "http://a:65535/");
}

TEST_CASE("parse_url makes an empty path /") {
  CHECK(must_parse("http://a").path == "/");
  CHECK(parsed("http://a") == "http://a/");
  CHECK(parsed("http://a?q") == "http://a/?q");
  CHECK(parsed("http://a#f") == "http://a/");
}

TEST_CASE("parse_url drops the fragment and an empty query") {
  CHECK(parsed("http://a/b#frag") == "http://a/b");
  CHECK(parsed("http://a/b?q#frag?x") == "http://a/b?q");
  CHECK(parsed("http://a/b?") == "http://a/b");
  CHECK(must_parse("http://a/b?").query.empty());
}

TEST_CASE("parse_url removes dot segments from the path only") {
  CHECK(parsed("http://a/b/../c/./d") == "http://a/c/d");
  CHECK(parsed("http://a/../../x") == "http://a/x");
  CHECK(parsed("http://a/b/..") == "http://a/");
  CHECK(parsed("http://a/b/.") == "http://a/b/");
  CHECK(parsed("http://a/b?c/../d") == "http://a/b?c/../d");
}

TEST_CASE("parse_url writes percent-encoding hex in upper case") {
  CHECK(parsed("http://a/x%2fy%3a?q=%2f%e2%82%ac") == "http://a/x%2Fy%3A?q=%2F%E2%82%AC");
}

// curl's normal form, unlike RFC 3986 section 6.2.2.2, decodes no
// percent-encoding (so "%7e" and "~" stay two URLs, and "%2E" is no dot
// segment) and encodes neither a stray '%' nor ASCII that RFC 3986 does not
// allow: what a page writes is what the server is asked for.
TEST_CASE("parse_url keeps percent-encodings and ASCII punctuation as written") {
  CHECK(parsed("http://a/%7euser/%41%2D%5F%2e?%61=%62") == "http://a/%7Euser/%41%2D%5F%2E?%61=%62");
  CHECK(parsed("http://a/b/%2E%2E/c") == "http://a/b/%2E%2E/c");
  CHECK(parsed("http://a/100%") == "http://a/100%");
  CHECK(parsed("http://a/%zz?%4") == "http://a/%zz?%4");
  CHECK(parsed("http://a/a\"b<c>d{e}f|g\\h^i`j[k]") == "http://a/a\"b<c>d{e}f|g\\h^i`j[k]");
  CHECK(parsed("http://a/!$&'()*+,;=:@?/?") == "http://a/!$&'()*+,;=:@?/?");
}

TEST_CASE("parse_url percent-encodes bytes above 0x7F with hex in upper case") {
  CHECK(parsed("http://a/caf\xC3\xA9?q=\xE2\x82\xAC") == "http://a/caf%C3%A9?q=%E2%82%AC");
  CHECK(parsed("http://a/caf%c3%a9") == "http://a/caf%C3%A9");
}

// curl encodes a space in the query form-style, as '+'.
TEST_CASE("parse_url percent-encodes a space in the path and the query") {
  CHECK(parsed("http://a/b c?d e") == "http://a/b%20c?d+e");
  CHECK(parsed("http://a/ ") == "http://a/%20");
}

TEST_CASE("parse_url normal form is stable when parsed again") {
  for (const std::string_view text :
       {"http://a/caf\xC3\xA9?%e2%82%ac", "http://a/100%", "http://[::1]:81/%7e/%2f",
        "HTTP://A.Example:80/b c?d e#f", "http://a/b/../%2E%2E/c?x/../y"}) {
    const std::string once = parsed(text);
    CAPTURE(text, once);
    CHECK(parsed(once) == once);
    CHECK(parse_url(once) == parse_url(text));
  }
}

TEST_CASE("parse_url keeps an IPv6 literal in brackets in RFC 5952 form") {
  const url u = must_parse("http://[::1]:8080/x");
  CHECK(u.host == "[::1]");
  CHECK(u.port == 8080);
  CHECK(u.origin() == "http://[::1]:8080");
  CHECK(u.host_port() == "[::1]:8080");
  CHECK(parsed("http://[0:0:0:0:0:0:0:1]/") == "http://[::1]/");
  CHECK(parsed("https://[FE80::A]:443/") == "https://[fe80::a]/");
}

TEST_CASE("parse_url writes an IPv4 address in dotted decimal") {
  CHECK(parsed("http://127.1:8080/") == "http://127.0.0.1:8080/");
  CHECK(parsed("http://0x7f.0.0.1/") == "http://127.0.0.1/");
}

TEST_CASE("parse_url rejects other schemes") {
  for (const std::string_view text : {"ftp://a/", "mailto:someone@example.com", "javascript:alert(1)",
                                      "data:text/html,hi", "file:///etc/passwd", "httpx://a/", "ws://a/"}) {
    CAPTURE(text);
    CHECK_FALSE(parse_url(text));
  }
}

TEST_CASE("parse_url rejects what is not an absolute url with a host") {
  for (const std::string_view text : {"", "a", "/a", "//a/b", "http:", "http:a", "http://", "http://?q",
                                      "http://#f", "1http://a/", "://a/"}) {
    CAPTURE(text);
    CHECK_FALSE(parse_url(text));
  }
}

// curl accepts one to three slashes after the scheme.
TEST_CASE("parse_url reads http:/a and http:///a as http://a/ like curl") {
  CHECK(parsed("http:/a") == "http://a/");
  CHECK(parsed("http:///a/b") == "http://a/b");
}

// curl accepts port 0; connecting to it fails like any refused connection.
TEST_CASE("parse_url rejects a bad port") {
  for (const std::string_view text : {"http://a:65536/", "http://a:99999999999999999999/", "http://a:8x/",
                                      "http://a:-1/", "http://a: 80/", "http://a:80:80/"}) {
    CAPTURE(text);
    CHECK_FALSE(parse_url(text));
  }
}

TEST_CASE("parse_url rejects a bad host") {
  for (const std::string_view text :
       {"http://a b/", "http://a%20b/", "http://a<b/", "http://a!b/", "http://[::1/", "http://[zz]/",
        "http://[::1]x/", "http://[::1%25eth0]/", "http://[]/", "http://::1/", "http://:80/"}) {
    CAPTURE(text);
    CHECK_FALSE(parse_url(text));
  }
}

// CURLU_PUNYCODE would convert it, but in curl 7.88 it fails unless the
// process runs in a UTF-8 locale; the fetch converts or fails instead.
TEST_CASE("parse_url keeps a non-ASCII host in UTF-8") {
  CHECK(must_parse("http://CAF\xC3\xA9.Example/").host == "caf\xC3\xA9.example");
}

TEST_CASE("parse_url rejects userinfo") {
  CHECK_FALSE(parse_url("http://user:password@a/"));
  CHECK_FALSE(parse_url("http://@a/"));
}

TEST_CASE("parse_url rejects control characters anywhere and a leading space") {
  for (const std::string_view text :
       {" http://a/", "http://a/\tb", "http://a/\nb", "http://a/\x01", "http://a/\x7f", "http://a/?\r"}) {
    CAPTURE(text);
    CHECK_FALSE(parse_url(text));
  }
  CHECK_FALSE(parse_url(std::string_view("http://a/\0b", 11)));
}

// -- resolve ------------------------------------------------------------------

TEST_CASE("resolve follows the normal examples of RFC 3986 section 5.4.1") {
  // Fragments are dropped, and "//g" gets its path "/". curl 7.88 alone
  // resolves "#s" and "" against the base's directory ("http://a/b/c/").
  check_resolution("http://a/b/c/d;p?q", {{"g", "http://a/b/c/g"},
                                          {"./g", "http://a/b/c/g"},
                                          {"g/", "http://a/b/c/g/"},
                                          {"/g", "http://a/g"},
                                          {"//g", "http://g/"},
                                          {"?y", "http://a/b/c/d;p?y"},
                                          {"g?y", "http://a/b/c/g?y"},
                                          {"#s", "http://a/b/c/d;p?q"},
                                          {"g#s", "http://a/b/c/g"},
                                          {"g?y#s", "http://a/b/c/g?y"},
                                          {";x", "http://a/b/c/;x"},
                                          {"g;x", "http://a/b/c/g;x"},
                                          {"g;x?y#s", "http://a/b/c/g;x?y"},
                                          {"", "http://a/b/c/d;p?q"},
                                          {".", "http://a/b/c/"},
                                          {"./", "http://a/b/c/"},
                                          {"..", "http://a/b/"},
                                          {"../", "http://a/b/"},
                                          {"../g", "http://a/b/g"},
                                          {"../..", "http://a/"},
                                          {"../../", "http://a/"},
                                          {"../../g", "http://a/g"}});
}

TEST_CASE("resolve gives none for the scheme g of RFC 3986's first example") {
  CHECK(resolved("http://a/b/c/d;p?q", "g:h") == "none");
}

TEST_CASE("resolve follows the abnormal examples of RFC 3986 section 5.4.2") {
  check_resolution("http://a/b/c/d;p?q", {{"../../../g", "http://a/g"},
                                          {"../../../../g", "http://a/g"},
                                          {"/./g", "http://a/g"},
                                          {"/../g", "http://a/g"},
                                          {"g.", "http://a/b/c/g."},
                                          {".g", "http://a/b/c/.g"},
                                          {"g..", "http://a/b/c/g.."},
                                          {"..g", "http://a/b/c/..g"},
                                          {"./../g", "http://a/b/g"},
                                          {"./g/.", "http://a/b/c/g/"},
                                          {"g/./h", "http://a/b/c/g/h"},
                                          {"g/../h", "http://a/b/c/h"},
                                          {"g;x=1/./y", "http://a/b/c/g;x=1/y"},
                                          {"g;x=1/../y", "http://a/b/c/y"},
                                          {"g?y/./x", "http://a/b/c/g?y/./x"},
                                          {"g?y/../x", "http://a/b/c/g?y/../x"},
                                          {"g#s/./x", "http://a/b/c/g"},
                                          {"g#s/../x", "http://a/b/c/g"}});
}

TEST_CASE("resolve gives none for http:g like RFC 3986's strict parsers") {
  // RFC 3986 5.4.2 allows this reading ("http:g", no host) or the browsers'
  // relative one; curl takes the strict one. "http:/g" is curl's lenient
  // "http://g/", as in parse_url.
  check_resolution("http://a/b/c/d;p?q",
                   {{"http:g", "none"}, {"HTTP:g", "none"}, {"http:?y", "none"}, {"http:/g", "http://g/"}});
  CHECK(resolved("http://a/b", "https:g") == "none");
}

TEST_CASE("resolve gives none for schemes other than http and https") {
  for (const std::string_view href :
       {"mailto:someone@example.com", "javascript:void(0)", "JavaScript:alert(1)", "data:text/plain,hi",
        "ftp://a/b", "tel:+15551234", "file:///etc/passwd", "  javascript:x", "irc://a/"}) {
    CAPTURE(href);
    CHECK(resolved("http://a/b", href) == "none");
  }
}

TEST_CASE("resolve gives a scheme-relative href the base's scheme") {
  CHECK(resolved("https://a/b", "//Other.Example:443/p?q#f") == "https://other.example/p?q");
  CHECK(resolved("http://a/b", "//other.example:443/p") == "http://other.example:443/p");
}

TEST_CASE("resolve normalises an absolute href") {
  CHECK(resolved("http://a/b", "HTTPS://B.example:443/x/../y#z") == "https://b.example/y");
  CHECK(resolved("https://a/b", "http://c/") == "http://c/");
}

TEST_CASE("resolve keeps the base's host and port for a relative href") {
  CHECK(resolved("http://a:8080/b/c", "d?e") == "http://a:8080/b/d?e");
  CHECK(resolved("https://[::1]:8443/b/", "../x") == "https://[::1]:8443/x");
}

TEST_CASE("resolve percent-encodes a relative href like parse_url") {
  CHECK(resolved("http://a/b/c", "x%2fy%7e") == "http://a/b/x%2Fy%7E");
  CHECK(resolved("http://a/b/c", "caf\xC3\xA9?q=\xE2\x82\xAC") == "http://a/b/caf%C3%A9?q=%E2%82%AC");
}

TEST_CASE("resolve trims ASCII whitespace around the href") {
  CHECK(resolved("http://a/b/c", "  \t\n\r\fg \n") == "http://a/b/g");
  CHECK(resolved("http://a/b/c", " \n ") == "http://a/b/c");
}

// A space in the query is '+' (curl's form-style encoding), not "%20".
TEST_CASE("resolve percent-encodes a space inside the href") {
  CHECK(resolved("http://a/b/c", "my page.html?q=a b") == "http://a/b/my%20page.html?q=a+b");
}

TEST_CASE("resolve gives none for control characters inside the href") {
  for (const std::string_view href : {"g\x01h", "g\nh", "g\th", "g\x7f", "?q=\x1b"}) {
    CAPTURE(href);
    CHECK(resolved("http://a/b/c", href) == "none");
  }
}

TEST_CASE("resolve gives none for an absolute href parse_url rejects") {
  for (const std::string_view href :
       {"http://", "http://u@a/", "http://a:65536/", "//a b/", "//[zz]/", "//:80/"}) {
    CAPTURE(href);
    CHECK(resolved("http://a/b/c", href) == "none");
  }
}

// -- extract_links: what a link is --------------------------------------------

TEST_CASE("extract_links finds the href of a and area tags in document order") {
  const std::string_view html = R"(<html><body>
    <p>See <a href="first.html">one</a> and <a href="/second">two</a>.</p>
    <map><area shape="rect" href="third.html"></map>
    <a href="http://other.example/fourth">four</a>
  </body></html>)";
  CHECK(links_of(html) ==
        std::vector<std::string>{"http://example.com/dir/first.html", "http://example.com/second",
                                 "http://example.com/dir/third.html", "http://other.example/fourth"});
}

TEST_CASE("extract_links ignores href on other tags and other attributes of a") {
  const std::string_view html = R"(<link href="style.css"><img src="i.png"><abbr href="x"><div href="y">
    <a name="top">no href</a><a data-href="z" src="w" xlink:href="v">none</a><ahref="u">)";
  CHECK(links_of(html).empty());
}

TEST_CASE("extract_links still takes links marked nofollow") {
  CHECK(links_of(R"(<a rel="nofollow" href="x">)") == std::vector<std::string>{"http://example.com/dir/x"});
}

TEST_CASE("extract_links reads tag and attribute names case-insensitively") {
  CHECK(links_of(R"(<A HREF="a"><Area hReF="b"><aREA Href=c>)") ==
        std::vector<std::string>{"http://example.com/dir/a", "http://example.com/dir/b",
                                 "http://example.com/dir/c"});
}

TEST_CASE("extract_links reads double-quoted single-quoted and unquoted values") {
  CHECK(links_of(R"(<a href="d"><a href='s'><a href=u><a href=v/w class=x><a href=y>)") ==
        std::vector<std::string>{"http://example.com/dir/d", "http://example.com/dir/s",
                                 "http://example.com/dir/u", "http://example.com/dir/v/w",
                                 "http://example.com/dir/y"});
}

// curl keeps the '"' as written (parse_url's normal form).
TEST_CASE("extract_links keeps the other quote and a greater-than sign inside a quoted value") {
  CHECK(links_of(R"(<a title="a > b" href='say"hi"'><a href="it's">)") ==
        std::vector<std::string>{"http://example.com/dir/say\"hi\"", "http://example.com/dir/it's"});
}

TEST_CASE("extract_links skips attributes without a value before href") {
  CHECK(links_of(R"(<a download hidden href="x"><a href="y" download>)") ==
        std::vector<std::string>{"http://example.com/dir/x", "http://example.com/dir/y"});
}

TEST_CASE("extract_links takes the first of two href attributes") {
  CHECK(links_of(R"(<a href="first" href="second">)") ==
        std::vector<std::string>{"http://example.com/dir/first"});
}

TEST_CASE("extract_links takes an empty href as the page itself") {
  CHECK(links_of(R"(<a href="">self</a><a href>self</a><a href="#top">self</a>)") ==
        std::vector<std::string>{"http://example.com/dir/page.html"});
}

TEST_CASE("extract_links leaves out hrefs that are not http") {
  const std::string_view html = R"html(<a href="mailto:me@example.com"><a href="javascript:void(0)">
    <a href="data:text/html,hi"><a href="ftp://example.com/f"><a href="keep"><a href="tel:123">)html";
  CHECK(links_of(html) == std::vector<std::string>{"http://example.com/dir/keep"});
}

// gumbo replaces a control character in the page with U+FFFD; curl refuses
// a newline or tab inside a URL (browsers would remove it).
TEST_CASE("extract_links replaces control characters and leaves out hrefs with a newline inside") {
  CHECK(links_of("<a href=\"a\x01"
                 "b\"><a href=\"c\nd\"><a href=\"e\tf\"><a href=\"ok\">") ==
        std::vector<std::string>{"http://example.com/dir/a%EF%BF%BDb", "http://example.com/dir/ok"});
}

TEST_CASE("extract_links reads invalid UTF-8 as U+FFFD") {
  CHECK(links_of("<a href=\"caf\xE9\"><a href=\"caf\xC3\xA9\">") ==
        std::vector<std::string>{"http://example.com/dir/caf%EF%BF%BD", "http://example.com/dir/caf%C3%A9"});
}

TEST_CASE("extract_links trims whitespace around href values") {
  CHECK(links_of("<a href=\"  \n /x \t\r\n\">") == std::vector<std::string>{"http://example.com/x"});
}

// -- extract_links: character references --------------------------------------

TEST_CASE("extract_links decodes the ampersand in every spelling") {
  CHECK(
      links_of(
          R"(<a href="?a=1&amp;b=2"><a href="?c=1&#38;d=2"><a href="?e=1&#x26;f=2"><a href="?g=1&#X26h=2">)") ==
      std::vector<std::string>{
          "http://example.com/dir/page.html?a=1&b=2", "http://example.com/dir/page.html?c=1&d=2",
          "http://example.com/dir/page.html?e=1&f=2", "http://example.com/dir/page.html?g=1&h=2"});
}

// curl encodes the bytes above 0x7F, not '<', '>' or '"' (parse_url's normal form).
TEST_CASE("extract_links decodes named and numeric references then percent-encodes") {
  CHECK(links_of(R"(<a href="a&lt;b&gt;c&quot;d&apos;e&#x2F;f&#233;g&nbsp;&eacute;">)") ==
        std::vector<std::string>{"http://example.com/dir/a<b>c\"d'e/f%C3%A9g%C2%A0%C3%A9"});
}

// HTML decodes a legacy reference without its ';' in an attribute unless
// '=' or a letter or digit follows: "&copy=2" stays, "&amp&" is "&&".
TEST_CASE("extract_links decodes references in attributes as HTML does") {
  CHECK(links_of(R"(<a href="?a=1&copy=2&ampx&amp&bogus;&">)") ==
        std::vector<std::string>{"http://example.com/dir/page.html?a=1&copy=2&ampx&&bogus;&"});
}

TEST_CASE("extract_links replaces an invalid numeric reference") {
  CHECK(links_of(R"(<a href="x&#0;y&#xD800;z&#99999999;">)") ==
        std::vector<std::string>{"http://example.com/dir/x%EF%BF%BDy%EF%BF%BDz%EF%BF%BD"});
}

TEST_CASE("extract_links decodes references before trimming and checking") {
  CHECK(links_of(R"(<a href="&#32;/x&#32;"><a href="a&#10;b">)") ==
        std::vector<std::string>{"http://example.com/x"});
}

// -- extract_links: what is not a tag ----------------------------------------

TEST_CASE("extract_links skips comments") {
  const std::string_view html = R"(<!-- <a href="c1"> --><a href="x">
    <!--<a href="c2">--!><a href="y"><!----><!-- -- <a href="c3"> - -> ---><a href="z">)";
  CHECK(links_of(html) == std::vector<std::string>{"http://example.com/dir/x", "http://example.com/dir/y",
                                                   "http://example.com/dir/z"});
}

TEST_CASE("extract_links skips doctypes CDATA and processing instructions") {
  CHECK(links_of(R"(<!DOCTYPE html><?xml version="1.0"?><![CDATA[ x ]]><a href="x">)") ==
        std::vector<std::string>{"http://example.com/dir/x"});
  // Each runs to the first '>', as in HTML, even one inside what looks like a tag.
  CHECK(links_of(R"(<?php echo '<a href="p">' ?><!x <a href="q">)") == std::vector<std::string>{});
}

TEST_CASE("extract_links skips the raw text of script and style") {
  const std::string_view html = R"(<script>document.write('<a href="s1">');</script><a href="x">
    <SCRIPT type="text/javascript">if (a <b) x = "</scriptx><a href='s2'>";</SCRIPT ><a href="y">
    <style>a[href="<a href='s3'>"] {}</style><a href="z">)";
  CHECK(links_of(html) == std::vector<std::string>{"http://example.com/dir/x", "http://example.com/dir/y",
                                                   "http://example.com/dir/z"});
}

TEST_CASE("extract_links skips the text of textarea and title") {
  CHECK(links_of(R"(<title><a href="t"></title><textarea><a href="u"></textarea/><a href="x">)") ==
        std::vector<std::string>{"http://example.com/dir/x"});
}

TEST_CASE("extract_links reads nothing after plaintext") {
  CHECK(links_of(R"(<a href="x"><plaintext><a href="p">)") ==
        std::vector<std::string>{"http://example.com/dir/x"});
}

// -- extract_links: the base --------------------------------------------------

TEST_CASE("extract_links resolves against the base href") {
  CHECK(links_of(R"(<head><base href="http://other.example/root/"></head><a href="x"><a href="/y">)") ==
        std::vector<std::string>{"http://other.example/root/x", "http://other.example/y"});
}

TEST_CASE("extract_links resolves a relative base href against the page") {
  CHECK(links_of(R"(<base href="../up/"><a href="x">)") ==
        std::vector<std::string>{"http://example.com/up/x"});
}

TEST_CASE("extract_links honours only the first base with an href") {
  CHECK(links_of(R"(<base target="_blank"><base href="/one/"><base href="/two/"><a href="x">)") ==
        std::vector<std::string>{"http://example.com/one/x"});
}

TEST_CASE("extract_links applies a late base to every link like browsers") {
  CHECK(links_of(R"(<a href="x"><base href="/b/"><a href="y">)") ==
        std::vector<std::string>{"http://example.com/b/x", "http://example.com/b/y"});
}

TEST_CASE("extract_links keeps the page as base when the base href is not http") {
  CHECK(links_of(R"(<base href="javascript:x"><a href="x">)") ==
        std::vector<std::string>{"http://example.com/dir/x"});
}

TEST_CASE("extract_links ignores a base in a comment or script") {
  CHECK(links_of(R"(<!-- <base href="/c/"> --><script><base href="/s/"></script><a href="x">)") ==
        std::vector<std::string>{"http://example.com/dir/x"});
}

TEST_CASE("extract_links decodes references in the base href") {
  CHECK(links_of(R"(<base href="http://b.example/?a=1&amp;b=2"><a href="#f">)") ==
        std::vector<std::string>{"http://b.example/?a=1&b=2"});
}

// -- extract_links: dedupe and limits -----------------------------------------

// "%61" is not "a" in curl's normal form: a page that writes both gets two fetches.
TEST_CASE("extract_links returns each link once in the order of its first appearance") {
  const std::string_view html = R"(<a href="b"><a href="a"><a href="./b"><a href="b#frag">
    <a href="HTTP://EXAMPLE.COM:80/dir/b"><a href="a?"><a href="c"><a href="/dir/x/../c">
    <a href="caf&eacute;"><a href="caf%c3%a9"><a href="caf%C3%A9"><a href="%61">)";
  CHECK(links_of(html) == std::vector<std::string>{"http://example.com/dir/b", "http://example.com/dir/a",
                                                   "http://example.com/dir/c",
                                                   "http://example.com/dir/caf%C3%A9",
                                                   "http://example.com/dir/%61"});
}

TEST_CASE("extract_links returns at most max_links and counts the distinct ones dropped") {
  const std::string_view html = R"(<a href="1"><a href="2"><a href="1"><a href="3"><a href="4"><a href="3">
    <a href="5"><a href="4"><a href="mailto:x">)";
  const crawler::extracted found = extract_links(html, must_parse(page), 3);
  CHECK(texts(found.links) == std::vector<std::string>{"http://example.com/dir/1", "http://example.com/dir/2",
                                                       "http://example.com/dir/3"});
  CHECK(found.dropped == 2);
}

TEST_CASE("extract_links with max_links 0 drops every link") {
  const crawler::extracted found =
      extract_links(R"(<a href="1"><a href="2"><a href="1">)", must_parse(page), 0);
  CHECK(found.links.empty());
  CHECK(found.dropped == 2);
}

TEST_CASE("extract_links on a page without links finds none") {
  // std::string_view() holds a null pointer; gumbo is given "" instead.
  for (const std::string_view html : std::vector<std::string_view>{std::string_view(), "", "plain text",
                                                                   "<html><body><p>hi</p></body></html>"}) {
    const crawler::extracted found = extract_links(html, must_parse(page), 10);
    CHECK(found.links.empty());
    CHECK(found.dropped == 0);
  }
}

TEST_CASE("extract_links takes all of a page with 100000 links") {
  std::string html = "<html><body>";
  for (int i = 0; i < 100000; ++i)
    html += "<a href=\"/p/" + std::to_string(i) + "\">link</a> <a href=\"/p/0\">\n";
  const crawler::extracted all = extract_links(html, must_parse(page), 1000000);
  REQUIRE(all.links.size() == 100000);
  CHECK(all.dropped == 0);
  CHECK(all.links.front().text() == "http://example.com/p/0");
  CHECK(all.links.back().text() == "http://example.com/p/99999");
  const crawler::extracted some = extract_links(html, must_parse(page), 1000);
  CHECK(some.links.size() == 1000);
  CHECK(some.dropped == 99000);
}

TEST_CASE("extract_links scans a 10 MB page of text and markup") {
  std::string html;
  while (html.size() < 10'000'000)
    html +=
        "<p class=\"x\">Lorem ipsum <b>dolor</b> sit amet, 1 < 2 &amp; 3 > 2.</p><!-- c "
        "--><script>x</script>\n";
  html += "<a href=\"/end\">";
  CHECK(links_of(html) == std::vector<std::string>{"http://example.com/end"});
}

// -- extract_links: deep nesting ---------------------------------------------

// gumbo frees a tree by recursion, about 40 bytes of stack a level: a tree
// 100,000 levels deep needs some 4 MB. So does a recursive walk.
TEST_CASE("extract_links reads 100000 nested elements on a fiber stack") {
  std::string html;
  for (int i = 0; i < 100000; ++i) html += "<span>";
  html += R"(<a href="deep">)";
  CHECK(links_on_a_fiber(html) == std::vector<std::string>{"http://example.com/dir/deep"});
}

// In a document a <frameset> makes gumbo discard the body, by recursion; the
// page is parsed as the content of <body>, where <frameset> is ignored.
TEST_CASE("extract_links reads a frameset after 100000 nested elements on a fiber stack") {
  std::string html = R"(<a href="x"></a>)";
  for (int i = 0; i < 100000; ++i) html += "<span>";
  html += R"(<frameset><frame src="f"></frameset><a href="y">)";
  CHECK(links_on_a_fiber(html) ==
        std::vector<std::string>{"http://example.com/dir/x", "http://example.com/dir/y"});
}

// -- extract_links: truncated input -------------------------------------------

TEST_CASE("extract_links drops a tag the input ends inside") {
  for (const std::string_view html :
       {R"(<a href="x"><a href="y)", R"(<a href="x"><a href='y)", R"(<a href="x"><a href=y)",
        R"(<a href="x"><a href="y")", R"(<a href="x"><a href=)", R"(<a href="x"><a href)",
        R"(<a href="x"><a)", R"(<a href="x"><)", R"(<a href="x"></)", R"(<a href="x"></a)"}) {
    CAPTURE(html);
    CHECK(links_of(html) == std::vector<std::string>{"http://example.com/dir/x"});
  }
}

TEST_CASE("extract_links ends cleanly in an unterminated comment or script") {
  CHECK(links_of(R"(<a href="x"><!-- <a href="y">)") == std::vector<std::string>{"http://example.com/dir/x"});
  CHECK(links_of(R"(<a href="x"><!-- <a href="y"> --)") ==
        std::vector<std::string>{"http://example.com/dir/x"});
  CHECK(links_of(R"(<a href="x"><script> <a href="y">)") ==
        std::vector<std::string>{"http://example.com/dir/x"});
  CHECK(links_of(R"(<a href="x"><script> <a href="y"></script)") ==
        std::vector<std::string>{"http://example.com/dir/x"});
  CHECK(links_of(R"(<a href="x"><!DOCTYPE <a href="y">)") ==
        std::vector<std::string>{"http://example.com/dir/x"});
}

TEST_CASE("extract_links on every prefix of a page finds a prefix of its links") {
  const std::string html = R"(<!DOCTYPE html><html><head><base href="/base/"><title>t</title>
    <style>a { color: red }</style></head><body><!-- <a href="c"> --><a href="one" class=x>1</a>
    <a href='two?a=1&amp;b=2'>2</a><script>var s = "<a href='s'>";</script><a href=three>3</a>
    <area href="four"><a href="five#f">5</a></body></html>)";
  const std::vector<std::string> all = links_of(html);
  REQUIRE(all.size() == 5);
  for (std::size_t size = 0; size <= html.size(); ++size) {
    const std::string_view prefix = std::string_view(html).substr(0, size);
    const std::vector<std::string> found = links_of(prefix);
    const bool has_base = prefix.find(R"(<base href="/base/">)") != std::string_view::npos;
    CAPTURE(prefix);
    REQUIRE(found.size() <= all.size());
    if (has_base) CHECK(std::equal(found.begin(), found.end(), all.begin()));
  }
}
