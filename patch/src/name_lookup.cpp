// A patched lookup through io's resolver, and the names that need none.
//
// Invariants:
// - Nothing thrown leaves resolve_addresses: C frames sit above it. Only
//   io's own verdicts (dns_error) and std::bad_alloc are outcomes here;
//   anything else is handed back to the fiber, never swallowed, because a
//   kill may carry an exception of any type.
// - errno is the caller's on return: c-ares and the other fibers that
//   ran while this one was parked leave theirs behind.

#include "name_lookup.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <string_view>

namespace tendril::patch_detail {
namespace {

bool has_space(std::string_view text) noexcept {
  for (char c : text)
    if (std::isspace(static_cast<unsigned char>(c))) return true;
  return false;
}

lookup_status status_of(const dns::dns_error& e) noexcept {
  // io's resolver does not tell a name without addresses of the family
  // (glibc: EAI_NODATA, NO_DATA) from a name that does not exist; both
  // are not_found. Everything else a server did is worth trying again.
  if (e.not_found()) return lookup_status::not_found;
  return lookup_status::try_again;
}

}  // namespace

address_lookup resolve_addresses(const char* name, dns::family f) noexcept {
  const int saved_errno = errno;
  address_lookup result;
  std::string_view text(name);
  if (text.size() >= 2 && text.front() == '[' && text.back() == ']') {
    // io reads "[::1]" as an address; to libc it is a name no one has.
    result.status = lookup_status::not_found;
    return result;
  }
  try {
    result.addresses = dns::resolve(name, 0, f);
  } catch (const dns::dns_error& e) {
    result.status = status_of(e);
  } catch (const std::bad_alloc&) {
    result.status = lookup_status::no_memory;
  } catch (...) {
    result.status = wait_status_of_current_exception() == wait_status::no_memory ? lookup_status::no_memory
                                                                                 : lookup_status::cancelled;
  }
  errno = saved_errno;
  return result;
}

bool numeric_host(const char* node) noexcept {
  std::string_view text(node);
  // inet_aton stops at whitespace and accepts what came before it; glibc
  // asks for the whole string, which without whitespace is the same.
  in_addr v4{};
  if (!has_space(text) && ::inet_aton(node, &v4) != 0) return true;
  std::string_view address = text.substr(0, text.find('%'));
  char copy[INET6_ADDRSTRLEN + 1];
  if (address.size() >= sizeof copy) return false;
  std::memcpy(copy, address.data(), address.size());
  copy[address.size()] = '\0';
  in6_addr v6{};
  return ::inet_pton(AF_INET6, copy, &v6) == 1;
}

bool digits_and_dots(const char* name) noexcept {
  std::string_view text(name);
  if (text.empty() || text.back() == '.') return false;
  const auto all_of = [&](auto allowed) {
    for (char c : text)
      if (!allowed(static_cast<unsigned char>(c))) return false;
    return true;
  };
  const auto first = static_cast<unsigned char>(text.front());
  if (std::isdigit(first) && all_of([](unsigned char c) { return std::isdigit(c) || c == '.'; })) return true;
  const bool looks_ipv6 = (std::isxdigit(first) && text.find(':') != std::string_view::npos) || first == ':';
  return looks_ipv6 && all_of([](unsigned char c) { return std::isxdigit(c) || c == ':' || c == '.'; });
}

}  // namespace tendril::patch_detail
