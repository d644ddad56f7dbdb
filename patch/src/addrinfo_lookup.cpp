// getaddrinfo through io's resolver. c-ares knows addresses; libc knows
// the rest of getaddrinfo's contract, so libc is asked for it on a
// numeric address of the family asked for, which never looks anything up
// (and reads /etc/services for a service name, as the real call would).
//
// Rejected: reimplementing glibc's service rules (its table of socket
// types and protocols, getservbyname per protocol, which errors win):
// the probe gives them exactly, errors included, for one extra call that
// makes no system call for a numeric service.

#include "addrinfo_lookup.hpp"

#include <ifaddrs.h>
#include <netinet/in.h>

#include <cerrno>
#include <cstring>

#include "addrinfo_list.hpp"
#include "name_lookup.hpp"
#include "originals.hpp"

namespace tendril::patch_detail {
namespace {

// services: what libc's getaddrinfo repeats per address. glibc's table of
// socket types and protocols has 7 entries, so 8 is room enough.
struct services {
  service_tuple items[8];
  int count = 0;
};

std::uint16_t port_of(const sockaddr* address) noexcept {
  if (address->sa_family == AF_INET6) return reinterpret_cast<const sockaddr_in6*>(address)->sin6_port;
  return reinterpret_cast<const sockaddr_in*>(address)->sin_port;
}

// services_of(service, request, out): libc's getaddrinfo of the unspecified
// address with the caller's hints and service. Its error, if any, is the
// caller's answer: EAI_BADFLAGS, EAI_FAMILY, EAI_SOCKTYPE, EAI_SERVICE,
// EAI_NONAME (a service name with AI_NUMERICSERV).
int services_of(const char* service, const addrinfo& request, services& out) noexcept {
  addrinfo probe = request;
  probe.ai_flags = (request.ai_flags & ~AI_ADDRCONFIG) | AI_NUMERICHOST;
  const char* unspecified = request.ai_family == AF_INET6 ? "::" : "0.0.0.0";
  addrinfo* answer = nullptr;
  if (int rc = real::getaddrinfo(unspecified, service, &probe, &answer); rc != 0) return rc;
  for (const addrinfo* a = answer; a != nullptr && out.count < 8; a = a->ai_next)
    out.items[out.count++] = {a->ai_socktype, a->ai_protocol, port_of(a->ai_addr)};
  real::freeaddrinfo(answer);
  return 0;
}

struct families {
  bool ipv4 = false;
  bool ipv6 = false;
};

// configured_families() is what glibc's AI_ADDRCONFIG looks at: whether an
// IPv4 address other than 127.0.0.1, and an IPv6 one other than ::1, is
// configured; both when it cannot tell.
families configured_families() noexcept {
  const int saved_errno = errno;
  ifaddrs* list = nullptr;
  families seen;
  if (::getifaddrs(&list) != 0) {
    errno = saved_errno;
    return {true, true};
  }
  for (const ifaddrs* i = list; i != nullptr; i = i->ifa_next) {
    if (i->ifa_addr == nullptr) continue;
    if (i->ifa_addr->sa_family == AF_INET) {
      const in_addr& a = reinterpret_cast<const sockaddr_in*>(i->ifa_addr)->sin_addr;
      if (a.s_addr != htonl(INADDR_LOOPBACK)) seen.ipv4 = true;
    } else if (i->ifa_addr->sa_family == AF_INET6) {
      const in6_addr& a = reinterpret_cast<const sockaddr_in6*>(i->ifa_addr)->sin6_addr;
      if (!IN6_IS_ADDR_LOOPBACK(&a)) seen.ipv6 = true;
    }
  }
  ::freeifaddrs(list);
  errno = saved_errno;
  return seen;
}

// plan: what to ask io's resolver for, and whether IPv4 answers become
// IPv4-mapped IPv6 addresses (AF_INET6 with AI_V4MAPPED).
struct plan {
  dns::family family = dns::family::any;
  bool map_ipv4 = false;
};

// plan_of(request, p) applies the family and AI_ADDRCONFIG as glibc does:
// AF_UNSPEC narrows to the one family configured, if only one is; a
// family that is not configured has no answer (EAI_NONAME).
int plan_of(const addrinfo& request, plan& p) noexcept {
  const bool v4_mapped = (request.ai_flags & AI_V4MAPPED) != 0;
  if (request.ai_family == AF_INET) p = {dns::family::ipv4, false};
  if (request.ai_family == AF_INET6) p = {v4_mapped ? dns::family::any : dns::family::ipv6, v4_mapped};
  if ((request.ai_flags & AI_ADDRCONFIG) == 0) return 0;
  const families seen = configured_families();
  if (request.ai_family == AF_UNSPEC) {
    if (seen.ipv4 != seen.ipv6) p.family = seen.ipv4 ? dns::family::ipv4 : dns::family::ipv6;
    return 0;
  }
  if ((request.ai_family == AF_INET && !seen.ipv4) || (request.ai_family == AF_INET6 && !seen.ipv6))
    return EAI_NONAME;
  return 0;
}

sockaddr_in6 mapped_ipv6(const sockaddr* ipv4) noexcept {
  sockaddr_in6 mapped{};
  mapped.sin6_family = AF_INET6;
  mapped.sin6_addr.s6_addr[10] = 0xff;
  mapped.sin6_addr.s6_addr[11] = 0xff;
  std::memcpy(&mapped.sin6_addr.s6_addr[12], &reinterpret_cast<const sockaddr_in*>(ipv4)->sin_addr, 4);
  return mapped;
}

bool wanted(int family, const plan& p) noexcept {
  switch (p.family) {
    case dns::family::ipv4:
      return family == AF_INET;
    case dns::family::ipv6:
      return family == AF_INET6;
    case dns::family::any:
      break;
  }
  return family == AF_INET || family == AF_INET6;
}

// build(found, p, request, s, result): one node per address and service,
// in the resolver's order. With AI_V4MAPPED, IPv4 answers are mapped, and
// dropped when there are IPv6 ones unless AI_ALL asks for both.
int build(const address_lookup& found, const plan& p, const addrinfo& request, const services& s,
          addrinfo** result) noexcept {
  bool has_ipv6 = false;
  for (const endpoint& e : found.addresses) has_ipv6 = has_ipv6 || e.family() == AF_INET6;
  const bool keep_ipv4 = !p.map_ipv4 || !has_ipv6 || (request.ai_flags & AI_ALL) != 0;
  addrinfo_list list;
  for (const endpoint& e : found.addresses) {
    if (!wanted(e.family(), p) || (e.family() == AF_INET && !keep_ipv4)) continue;
    sockaddr_in6 mapped{};
    const sockaddr* address = e.data();
    if (p.map_ipv4 && e.family() == AF_INET) {
      mapped = mapped_ipv6(address);
      address = reinterpret_cast<const sockaddr*>(&mapped);
    }
    for (int i = 0; i < s.count; ++i)
      if (!list.append(request.ai_flags, address, s.items[i])) return EAI_MEMORY;
  }
  if (list.empty()) return EAI_NONAME;
  *result = list.release();
  return 0;
}

int error_of(lookup_status status) noexcept {
  switch (status) {
    case lookup_status::found:
      return 0;
    case lookup_status::not_found:
      return EAI_NONAME;
    case lookup_status::try_again:
      return EAI_AGAIN;
    case lookup_status::no_memory:
      return EAI_MEMORY;
    case lookup_status::cancelled:
      break;
  }
  errno = ECANCELED;
  return EAI_SYSTEM;
}

}  // namespace

int getaddrinfo_with_io(const char* node, const char* service, const addrinfo& request,
                        addrinfo** result) noexcept {
  services s;
  if (int rc = services_of(service, request, s); rc != 0) return rc;
  // glibc looks "" up and finds nothing; io's resolver refuses it.
  if (*node == '\0') return EAI_NONAME;
  plan p;
  if (int rc = plan_of(request, p); rc != 0) return rc;
  address_lookup found = resolve_addresses(node, p.family);
  if (found.status != lookup_status::found) return error_of(found.status);
  return build(found, p, request, s, result);
}

}  // namespace tendril::patch_detail
