// robots.txt rules and the per-origin cache (robots.hpp).
//
// Matching is the classic two-pointer wildcard match: on a mismatch after a
// '*', the star takes one more character and matching resumes there. Each
// retry moves the star's end forward, so a pattern of p characters against
// a path of n costs O(p * n) at worst, and p and n are short.
//
// Patterns and paths are compared in one spelling (RFC 9309, 2.2.2): an
// escape of an unreserved character is decoded ("%7E" is "~"), any other
// escape is kept with upper-case hex, and a byte outside ASCII (a UTF-8
// pattern written as is) is escaped.
//
// Rejected: compiling patterns to std::regex: slow to build, exponential on
// some inputs in libstdc++, and '*' and '$' are all there is to translate.

#include "robots.hpp"

#include <algorithm>
#include <cctype>
#include <utility>

#include <tendril/sync/event.hpp>

namespace crawler {

namespace {

std::string_view trim(std::string_view s) {
  const auto space = [](char c) { return c == ' ' || c == '\t' || c == '\r'; };
  while (!s.empty() && space(s.front())) s.remove_prefix(1);
  while (!s.empty() && space(s.back())) s.remove_suffix(1);
  return s;
}

bool equal_ignoring_case(std::string_view a, std::string_view b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
  });
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool unreserved(unsigned char c) { return std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~'; }

// canonical(text): `text` in the one spelling matching compares (above).
std::string canonical(std::string_view text) {
  static constexpr char digits[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  const auto escape = [&out](unsigned char c) {
    out += '%';
    out += digits[c >> 4];
    out += digits[c & 15];
  };
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    const int high = c == '%' && i + 2 < text.size() ? hex_value(text[i + 1]) : -1;
    const int low = high >= 0 ? hex_value(text[i + 2]) : -1;
    if (low >= 0) {
      const auto decoded = static_cast<unsigned char>(high * 16 + low);
      if (unreserved(decoded))
        out += static_cast<char>(decoded);
      else
        escape(decoded);
      i += 2;
    } else if (c >= 0x80) {
      escape(c);
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

// matches(pattern, path): '*' is any run, a final '$' anchors the end;
// otherwise the pattern need only match a prefix of the path.
bool matches(std::string_view pattern, std::string_view path) {
  const bool anchored = !pattern.empty() && pattern.back() == '$';
  if (anchored) pattern.remove_suffix(1);
  std::size_t p = 0, s = 0, star = std::string_view::npos, star_end = 0;
  while (true) {
    if (!anchored && p == pattern.size()) return true;
    if (s == path.size()) break;
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      star_end = s;
    } else if (p < pattern.size() && pattern[p] == path[s]) {
      ++p;
      ++s;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      s = ++star_end;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

// One group: the agents its User-agent lines name, and its rules.
struct group {
  std::vector<std::string> agents;
  std::vector<std::pair<std::string, bool>> rules;  // pattern, allow
};

std::vector<group> groups_of(std::string_view text) {
  std::vector<group> groups;
  bool in_rules = false;  // a User-agent line after rules starts a new group
  while (!text.empty()) {
    const std::size_t end = std::min(text.find('\n'), text.size());
    std::string_view line = text.substr(0, end);
    text.remove_prefix(std::min(end + 1, text.size()));
    line = line.substr(0, line.find('#'));
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    const std::string_view key = trim(line.substr(0, colon));
    const std::string_view value = trim(line.substr(colon + 1));
    if (equal_ignoring_case(key, "user-agent")) {
      if (groups.empty() || in_rules) groups.emplace_back();
      in_rules = false;
      groups.back().agents.emplace_back(value.substr(0, value.find('/')));
    } else if (equal_ignoring_case(key, "allow") || equal_ignoring_case(key, "disallow")) {
      in_rules = true;
      // Rules before any User-agent line belong to no group; an empty
      // Disallow disallows nothing.
      if (!groups.empty() && !value.empty())
        groups.back().rules.emplace_back(canonical(value), equal_ignoring_case(key, "allow"));
    }
  }
  return groups;
}

}  // namespace

robots_rules robots_rules::disallow_all() {
  robots_rules r;
  r.rules_.push_back({"/", false});
  return r;
}

robots_rules robots_rules::parse(std::string_view text, std::string_view product) {
  const std::vector<group> groups = groups_of(text);
  const auto names = [&groups](std::string_view agent) {
    return std::any_of(groups.begin(), groups.end(), [agent](const group& g) {
      return std::any_of(g.agents.begin(), g.agents.end(),
                         [agent](const std::string& a) { return equal_ignoring_case(a, agent); });
    });
  };
  const std::string_view chosen = names(product) ? product : "*";
  robots_rules r;
  for (const group& g : groups)
    for (const std::string& a : g.agents)
      if (equal_ignoring_case(a, chosen)) {
        for (const auto& [pattern, allow] : g.rules) r.rules_.push_back({pattern, allow});
        break;
      }
  return r;
}

bool robots_rules::allowed(std::string_view raw_path) const {
  const std::string path = canonical(raw_path);
  if (path == "/robots.txt") return true;
  std::size_t longest = 0;
  bool allow = true;
  for (const rule& r : rules_) {
    if (!matches(r.pattern, path)) continue;
    if (r.pattern.size() > longest || (r.pattern.size() == longest && r.allow)) {
      longest = r.pattern.size();
      allow = r.allow;
    }
  }
  return allow;
}

struct robots_cache::entry {
  tendril::event ready{"robots.txt"};
  robots_rules rules;
};

robots_cache::robots_cache(fetcher f) : fetch_(std::move(f)) {}
robots_cache::~robots_cache() = default;

bool robots_cache::allowed(const url& u) {
  const std::string origin = u.origin();
  std::shared_ptr<entry> e;
  bool mine = false;
  {
    std::lock_guard guard(lock_);
    std::shared_ptr<entry>& slot = entries_[origin];
    if (!slot) {
      slot = std::make_shared<entry>();
      mine = true;
    }
    e = slot;
  }
  const std::string path = u.query.empty() ? u.path : u.path + '?' + u.query;
  if (!mine) {
    e->ready.wait();
    return e->rules.allowed(path);
  }
  // Whatever happens to the fetch, the fibers waiting for it must wake.
  struct wake_waiters {
    entry& e;
    ~wake_waiters() { e.ready.set(); }
  } wake{*e};
  e->rules = robots_rules::disallow_all();
  e->rules = fetch_(origin + "/robots.txt");
  return e->rules.allowed(path);
}

}  // namespace crawler
