// gethostbyname*'s lookup for a fiber: io's resolver, or libc's _r call on
// the thread pool. Either way the answer comes back as a value, laid out
// by the interposer in the caller's buffer or the thread's own.

#include "host_lookup.hpp"

#include <netinet/in.h>

#include <cerrno>
#include <string>
#include <vector>

#include "name_lookup.hpp"
#include "nsswitch.hpp"
#include "originals.hpp"
#include "waiting.hpp"

namespace tendril::patch_detail {
namespace {

host_answer failure(int result, int h_error, int error) noexcept {
  host_answer a;
  a.result = result;
  a.h_error = h_error;
  a.error = error;
  return a;
}

host_answer cancelled_answer() noexcept { return failure(ECANCELED, NETDB_INTERNAL, ECANCELED); }

// entry_of(name, family, addresses): the hostent of io's answer, whose
// canonical name and aliases io does not report.
host_entry entry_of(const char* name, int family, const std::vector<endpoint>& addresses) {
  host_entry e;
  e.name = name;
  e.family = family;
  e.length = family == AF_INET6 ? 16 : 4;
  for (const endpoint& address : addresses) {
    if (address.family() != family) continue;
    const void* bytes =
        family == AF_INET6
            ? static_cast<const void*>(&reinterpret_cast<const sockaddr_in6*>(address.data())->sin6_addr)
            : static_cast<const void*>(&reinterpret_cast<const sockaddr_in*>(address.data())->sin_addr);
    e.addresses.emplace_back(static_cast<const char*>(bytes), static_cast<std::size_t>(e.length));
  }
  return e;
}

host_answer with_io(const char* name, int family) noexcept {
  // glibc's answer for "", which io's resolver refuses to look up.
  if (*name == '\0') return failure(0, NO_RECOVERY, 0);
  address_lookup found = resolve_addresses(name, family == AF_INET6 ? dns::family::ipv6 : dns::family::ipv4);
  switch (found.status) {
    case lookup_status::found:
      break;
    case lookup_status::not_found:
      return failure(0, HOST_NOT_FOUND, 0);
    case lookup_status::try_again:
      return failure(EAGAIN, TRY_AGAIN, EAGAIN);
    case lookup_status::no_memory:
      return failure(ENOMEM, NETDB_INTERNAL, ENOMEM);
    case lookup_status::cancelled:
      return cancelled_answer();
  }
  try {
    host_answer a;
    a.entry = entry_of(name, family, found.addresses);
    if (a.entry->addresses.empty()) return failure(0, HOST_NOT_FOUND, 0);
    return a;
  } catch (const std::bad_alloc&) {
    return failure(ENOMEM, NETDB_INTERNAL, ENOMEM);
  }
}

// libc_call(name, family) makes libc's _r call (on a pool thread), growing
// its buffer as glibc's own gethostbyname does, and copies the answer out.
host_answer libc_call(const std::string& name, int family) {
  host_answer a;
  hostent entry{};
  hostent* found = nullptr;
  int h_error = 0;
  std::vector<char> buffer(1024);
  for (;;) {
    a.result =
        family == no_family_argument
            ? real::gethostbyname_r(name.c_str(), &entry, buffer.data(), buffer.size(), &found, &h_error)
            : real::gethostbyname2_r(name.c_str(), family, &entry, buffer.data(), buffer.size(), &found,
                                     &h_error);
    if (a.result != ERANGE || h_error != NETDB_INTERNAL) break;
    buffer.resize(buffer.size() * 2);
  }
  a.error = errno;
  a.h_error = h_error;
  if (found != nullptr) a.entry = host_entry::copy_of(*found);
  return a;
}

host_answer in_libc(const char* name, int family) noexcept {
  lookup_status status = lookup_status::no_memory;
  std::optional<host_answer> answer;
  try {
    answer = in_pool([copy = std::string(name), family] { return libc_call(copy, family); }, status);
  } catch (const std::bad_alloc&) {
  }
  if (answer) return std::move(*answer);
  if (status == lookup_status::cancelled) return cancelled_answer();
  return failure(ENOMEM, NETDB_INTERNAL, ENOMEM);
}

}  // namespace

bool host_lookup_needed(const char* name, int family) noexcept {
  const bool known_family = family == no_family_argument || family == AF_INET || family == AF_INET6;
  return name != nullptr && known_family && !digits_and_dots(name);
}

host_answer lookup_host(const char* name, int family) noexcept {
  if (cancelled()) return cancelled_answer();
  if (hosts_need_libc()) return in_libc(name, family);
  return with_io(name, family == no_family_argument ? AF_INET : family);
}

}  // namespace tendril::patch_detail
