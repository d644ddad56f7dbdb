// nsswitch.conf's hosts line, read once: does a lookup need libc?
//
// Rejected: reading it again when it changes (glibc 2.33+ does): a lookup
// would pay a stat() for a file that changes about never; a process that
// changes it restarts. Rejected too: following `[NOTFOUND=return]` and the
// like with c-ares: its lookups string has no actions, so such a line
// goes to libc.

#include "nsswitch.hpp"

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>

namespace tendril::patch_detail {
namespace {

enum class hosts_rule : int { unknown, cares, libc };

std::atomic<hosts_rule> rule{hosts_rule::unknown};

bool is_space(char c) noexcept { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

// next_word(text) takes the next whitespace-separated word off `text`; a
// word starting with '[' runs to its ']' (actions may hold spaces).
std::string_view next_word(std::string_view& text) noexcept {
  std::size_t start = 0;
  while (start < text.size() && is_space(text[start])) ++start;
  std::size_t end = start;
  if (end < text.size() && text[end] == '[') {
    end = text.find(']', end);
    end = end == std::string_view::npos ? text.size() : end + 1;
  } else {
    while (end < text.size() && !is_space(text[end])) ++end;
  }
  std::string_view word = text.substr(start, end - start);
  text.remove_prefix(end);
  return word;
}

// hosts_sources_of(line) is the text after "hosts:" when `line` is a hosts
// line (comment removed), or nothing.
bool hosts_sources_of(std::string_view line, std::string_view& sources) noexcept {
  line = line.substr(0, line.find('#'));
  while (!line.empty() && is_space(line.front())) line.remove_prefix(1);
  constexpr std::string_view name = "hosts";
  if (line.substr(0, name.size()) != name) return false;
  line.remove_prefix(name.size());
  while (!line.empty() && is_space(line.front())) line.remove_prefix(1);
  if (line.empty() || line.front() != ':') return false;
  sources = line.substr(1);
  return true;
}

hosts_rule read_rule() noexcept {
  int saved_errno = errno;
  const char* path = std::getenv("TENDRIL_NSSWITCH_CONF");
  std::FILE* file = std::fopen(path != nullptr && *path != '\0' ? path : "/etc/nsswitch.conf", "re");
  hosts_rule found = hosts_rule::libc;
  if (file != nullptr) {
    // A line longer than the buffer is read in pieces; only a piece that
    // starts a line can be a hosts line.
    char line[1024];
    bool at_line_start = true;
    while (std::fgets(line, sizeof line, file) != nullptr) {
      std::string_view piece(line);
      std::string_view sources;
      if (at_line_start && hosts_sources_of(piece, sources))
        found = hosts_sources_need_libc(sources) ? hosts_rule::libc : hosts_rule::cares;
      at_line_start = !piece.empty() && piece.back() == '\n';
    }
    std::fclose(file);
  }
  errno = saved_errno;
  return found;
}

}  // namespace

bool hosts_sources_need_libc(std::string_view sources) noexcept {
  constexpr std::string_view expected[] = {"files", "dns"};
  std::size_t count = 0;
  for (std::string_view word = next_word(sources); !word.empty(); word = next_word(sources)) {
    if (count == 2 || word != expected[count]) return true;
    ++count;
  }
  return count != 2;
}

bool hosts_need_libc() noexcept {
  hosts_rule known = rule.load(std::memory_order_acquire);
  if (known == hosts_rule::unknown) {
    known = read_rule();
    rule.store(known, std::memory_order_release);
  }
  return known == hosts_rule::libc;
}

}  // namespace tendril::patch_detail
