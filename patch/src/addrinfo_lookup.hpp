#pragma once
// getaddrinfo answered through io's resolver: the addresses from c-ares,
// everything else from libc itself.

#include <netdb.h>

namespace tendril::patch_detail {

/// getaddrinfo_with_io(node, service, request, result) is getaddrinfo for
/// a `node` that names a host (neither null nor numeric), with `request`
/// the caller's hints (glibc's defaults for null hints), AI_CANONNAME and
/// IDN excluded. The addresses come from io's resolver (the fiber parks);
/// the validation of the hints, the service, the socket types and
/// protocols and the port come from libc's getaddrinfo of a numeric
/// address with the same hints and service, which looks nothing up. Then
/// AI_ADDRCONFIG, AI_V4MAPPED and AI_ALL as glibc applies them, and one
/// addrinfo per address and socket type, in glibc's layout
/// (addrinfo_list.hpp). Returns 0 or an EAI_* code, as getaddrinfo;
/// *result is set on success only.
int getaddrinfo_with_io(const char* node, const char* service, const addrinfo& request,
                        addrinfo** result) noexcept;

}  // namespace tendril::patch_detail
