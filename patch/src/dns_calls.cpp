// getaddrinfo, freeaddrinfo, getnameinfo, gethostbyname, gethostbyname2,
// gethostbyname_r, gethostbyname2_r: a fiber's lookup parks the fiber
// instead of blocking its thread.
//
// For a caller that may park (waiting.hpp's cooperative()), which way a
// call goes:
// - Nothing to look up (a null or numeric node, AI_NUMERICHOST, digits and
//   dots for gethostbyname*, getnameinfo without a host name to find):
//   libc's call, here, at once. It reads /etc/services at most.
// - nsswitch.conf's hosts line is not exactly `files dns` (nsswitch.hpp),
//   or getaddrinfo asks for AI_CANONNAME or IDN, which io's resolver
//   cannot answer (it reports neither CNAMEs nor /etc/hosts aliases), or
//   getnameinfo must find a host name (io has no reverse lookup): libc's
//   call on io's thread pool (run_in_thread) while the fiber parks. Its
//   answer, errno and h_errno included, is libc's own.
// - Otherwise io's resolver (tendril::dns::resolve, the hub's c-ares
//   channel) finds the addresses: /etc/hosts, then DNS through the servers
//   of /etc/resolv.conf, TENDRIL_DNS_SERVERS or dns::set_servers.
// Any other caller gets libc's call.
//
// Cancellation, as every patched call: a kill or an expired timeout scope
// while parked (or pending at the call) ends it with EAI_SYSTEM and errno
// ECANCELED (getaddrinfo, getnameinfo), or NETDB_INTERNAL and ECANCELED
// (gethostbyname*; the _r forms return ECANCELED); the interrupt is raised
// at the fiber's next park. Not EAI_AGAIN / TRY_AGAIN: they ask the
// caller to try again, and a retry loop would spin on the sticky failure.
//
// Rejected: answering getnameinfo's reverse lookups with c-ares through a
// PTR query of our own (io's resolver has no such call; the seam to
// <ares.h> is io's), and AI_CANONNAME with the name as asked (wrong for an
// alias or a CNAME).

#include <netdb.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <tendril/patch.hpp>

#include "addrinfo_lookup.hpp"
#include "host_lookup.hpp"
#include "name_lookup.hpp"
#include "nsswitch.hpp"
#include "originals.hpp"
#include "waiting.hpp"

namespace tendril::patch_detail {
namespace {

// What io's resolver cannot answer: the canonical name, and IDN (glibc
// converts with libidn2; the deprecated 0x0300 flags ride along with it).
constexpr int libc_only_flags = AI_CANONNAME | AI_IDN | AI_CANONIDN | 0x0300;

bool names_a_host(const char* node, const addrinfo* hints) noexcept {
  if (node == nullptr || std::strcmp(node, "*") == 0) return false;  // glibc reads "*" as null
  if (hints != nullptr && (hints->ai_flags & AI_NUMERICHOST) != 0) return false;
  return !numeric_host(node);
}

// request_of(hints) is what glibc reads of the hints; its defaults for null.
addrinfo request_of(const addrinfo* hints) noexcept {
  addrinfo request{};
  if (hints == nullptr) {
    request.ai_flags = AI_V4MAPPED | AI_ADDRCONFIG;
    return request;
  }
  request.ai_flags = hints->ai_flags;
  request.ai_family = hints->ai_family;
  request.ai_socktype = hints->ai_socktype;
  request.ai_protocol = hints->ai_protocol;
  return request;
}

int cancelled_error() noexcept {
  errno = ECANCELED;
  return EAI_SYSTEM;
}

int pool_error(lookup_status status) noexcept {
  return status == lookup_status::cancelled ? cancelled_error() : EAI_MEMORY;
}

// --- getaddrinfo on the pool ---------------------------------------------------

struct libc_list_deleter {
  void operator()(addrinfo* list) const noexcept { real::freeaddrinfo(list); }
};

// gai_answer: libc's getaddrinfo as a value. A list nobody takes (the
// fiber stopped waiting) is freed on the pool thread.
struct gai_answer {
  int result = 0;
  int error = 0;
  std::unique_ptr<addrinfo, libc_list_deleter> list;
};

int getaddrinfo_in_libc(const char* node, const char* service, const addrinfo* hints,
                        addrinfo** result) noexcept {
  lookup_status status = lookup_status::no_memory;
  std::optional<gai_answer> answer;
  try {
    std::string name(node);
    std::optional<std::string> port;
    if (service != nullptr) port.emplace(service);
    std::optional<addrinfo> request;
    if (hints != nullptr) request = request_of(hints);
    answer = in_pool(
        [name = std::move(name), port = std::move(port), request] {
          gai_answer a;
          addrinfo* list = nullptr;
          a.result = real::getaddrinfo(name.c_str(), port ? port->c_str() : nullptr,
                                       request ? &*request : nullptr, &list);
          a.error = errno;
          if (a.result == 0) a.list.reset(list);
          return a;
        },
        status);
  } catch (const std::bad_alloc&) {
  }
  if (!answer) return pool_error(status);
  errno = answer->error;
  if (answer->result == 0) *result = answer->list.release();
  return answer->result;
}

// --- getnameinfo on the pool ----------------------------------------------------

struct gni_answer {
  int result = 0;
  int error = 0;
  std::string host;
  std::string service;
};

bool needs_host_lookup(const sockaddr* address, socklen_t length, const char* host, socklen_t host_length,
                       int flags) noexcept {
  if (address == nullptr || host == nullptr || host_length == 0 || (flags & NI_NUMERICHOST) != 0)
    return false;
  if (length < sizeof(sa_family_t) || length > sizeof(sockaddr_storage)) return false;  // libc's EAI_FAMILY
  return address->sa_family == AF_INET || address->sa_family == AF_INET6;
}

// copy_out(text, to): libc wrote a terminated string of at most `size` bytes.
void copy_out(const std::string& text, char* to, socklen_t size) noexcept {
  std::size_t n = std::strlen(text.c_str()) + 1;
  if (n > size) n = size;
  std::memcpy(to, text.c_str(), n);
}

int getnameinfo_in_libc(const sockaddr* address, socklen_t length, char* host, socklen_t host_length,
                        char* serv, socklen_t serv_length, int flags) noexcept {
  lookup_status status = lookup_status::no_memory;
  std::optional<gni_answer> answer;
  sockaddr_storage copy{};
  std::memcpy(&copy, address, length);
  const bool wants_service = serv != nullptr;
  try {
    answer = in_pool(
        [copy, length, host_length, wants_service, serv_length, flags] {
          gni_answer a;
          a.host.assign(host_length, '\0');
          a.service.assign(wants_service ? serv_length : 0, '\0');
          a.result =
              real::getnameinfo(reinterpret_cast<const sockaddr*>(&copy), length, a.host.data(), host_length,
                                wants_service ? a.service.data() : nullptr, serv_length, flags);
          a.error = errno;
          return a;
        },
        status);
  } catch (const std::bad_alloc&) {
  }
  if (!answer) return pool_error(status);
  errno = answer->error;
  if (answer->result == 0) {
    copy_out(answer->host, host, host_length);
    if (wants_service && serv_length > 0) copy_out(answer->service, serv, serv_length);
  }
  return answer->result;
}

// --- gethostbyname* ---------------------------------------------------------------

int host_r(const char* name, int family, hostent* entry, char* buffer, std::size_t length, hostent** result,
           int* h_error) noexcept {
  host_answer a = lookup_host(name, family);
  *result = nullptr;
  if (a.h_error) *h_error = *a.h_error;
  if (a.entry && a.entry->lay_out(entry, buffer, length) != 0) {
    *h_error = NETDB_INTERNAL;
    errno = ERANGE;
    return ERANGE;
  }
  if (a.entry) *result = entry;
  errno = a.error;
  return a.result;
}

// The thread's own hostent for gethostbyname and gethostbyname2, valid
// until the thread's next call of either (glibc's is the process's). A
// fiber that parks before reading it may find another fiber's answer
// there, as a thread does after another thread's call with glibc.
struct own_host {
  hostent entry{};
  std::vector<char> buffer;
};
thread_local own_host own;

hostent* host_in_own_buffer(const char* name, int family) noexcept {
  host_answer a = lookup_host(name, family);
  if (a.h_error) h_errno = *a.h_error;
  errno = a.error;
  if (!a.entry) return nullptr;
  try {
    if (own.buffer.size() < a.entry->size_in_buffer()) own.buffer.resize(a.entry->size_in_buffer());
  } catch (const std::bad_alloc&) {
    h_errno = NETDB_INTERNAL;
    errno = ENOMEM;
    return nullptr;
  }
  a.entry->lay_out(&own.entry, own.buffer.data(), own.buffer.size());
  return &own.entry;
}

}  // namespace
}  // namespace tendril::patch_detail

using namespace tendril::patch_detail;

extern "C" {

int getaddrinfo(const char* __restrict node, const char* __restrict service, const addrinfo* __restrict hints,
                addrinfo** __restrict result) {
  if (!cooperative() || !names_a_host(node, hints)) return real::getaddrinfo(node, service, hints, result);
  if (cancelled()) return cancelled_error();
  const addrinfo request = request_of(hints);
  if ((request.ai_flags & libc_only_flags) != 0 || hosts_need_libc())
    return getaddrinfo_in_libc(node, service, hints, result);
  return getaddrinfo_with_io(node, service, request, result);
}

// patch's lists are in libc's layout (addrinfo_list.hpp): libc frees both.
void freeaddrinfo(addrinfo* list) noexcept { real::freeaddrinfo(list); }

int getnameinfo(const sockaddr* __restrict address, socklen_t length, char* __restrict host,
                socklen_t host_length, char* __restrict serv, socklen_t serv_length, int flags) {
  if (!cooperative() || !needs_host_lookup(address, length, host, host_length, flags))
    return real::getnameinfo(address, length, host, host_length, serv, serv_length, flags);
  if (cancelled()) return cancelled_error();
  return getnameinfo_in_libc(address, length, host, host_length, serv, serv_length, flags);
}

hostent* gethostbyname(const char* name) {
  if (!cooperative() || !host_lookup_needed(name, no_family_argument)) return real::gethostbyname(name);
  return host_in_own_buffer(name, no_family_argument);
}

hostent* gethostbyname2(const char* name, int family) {
  if (!cooperative() || !host_lookup_needed(name, family)) return real::gethostbyname2(name, family);
  return host_in_own_buffer(name, family);
}

int gethostbyname_r(const char* __restrict name, hostent* __restrict entry, char* __restrict buffer,
                    size_t length, hostent** __restrict result, int* __restrict h_error) {
  if (!cooperative() || !host_lookup_needed(name, no_family_argument))
    return real::gethostbyname_r(name, entry, buffer, length, result, h_error);
  return host_r(name, no_family_argument, entry, buffer, length, result, h_error);
}

int gethostbyname2_r(const char* __restrict name, int family, hostent* __restrict entry,
                     char* __restrict buffer, size_t length, hostent** __restrict result,
                     int* __restrict h_error) {
  if (!cooperative() || !host_lookup_needed(name, family))
    return real::gethostbyname2_r(name, family, entry, buffer, length, result, h_error);
  return host_r(name, family, entry, buffer, length, result, h_error);
}

}  // extern "C"

namespace tendril::patch::original {

int getaddrinfo(const char* node, const char* service, const addrinfo* hints, addrinfo** result) noexcept {
  return real::getaddrinfo(node, service, hints, result);
}
void freeaddrinfo(addrinfo* list) noexcept { real::freeaddrinfo(list); }
int getnameinfo(const sockaddr* address, socklen_t length, char* host, socklen_t host_length, char* serv,
                socklen_t serv_length, int flags) noexcept {
  return real::getnameinfo(address, length, host, host_length, serv, serv_length, flags);
}
hostent* gethostbyname(const char* name) noexcept { return real::gethostbyname(name); }
hostent* gethostbyname2(const char* name, int family) noexcept { return real::gethostbyname2(name, family); }
int gethostbyname_r(const char* name, hostent* entry, char* buffer, std::size_t length, hostent** result,
                    int* h_error) noexcept {
  return real::gethostbyname_r(name, entry, buffer, length, result, h_error);
}
int gethostbyname2_r(const char* name, int family, hostent* entry, char* buffer, std::size_t length,
                     hostent** result, int* h_error) noexcept {
  return real::gethostbyname2_r(name, family, entry, buffer, length, result, h_error);
}

}  // namespace tendril::patch::original
