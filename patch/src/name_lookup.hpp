#pragma once
// The two ways a patched name lookup answers a fiber, both parking it and
// neither throwing: io's resolver (the hub's c-ares channel), or libc's
// own call made on io's thread pool (when nsswitch.conf names sources
// c-ares does not know, or the call asks what io's resolver cannot say).
// And the tests, shared by the interposers, of a name that needs no
// lookup at all.

#include <new>
#include <optional>
#include <utility>
#include <vector>

#include <tendril/io/dns.hpp>
#include <tendril/io/endpoint.hpp>
#include <tendril/io/thread_pool.hpp>

#include "waiting.hpp"

namespace tendril::patch_detail {

/// lookup_status is how a lookup ended for the fiber.
enum class lookup_status {
  found,
  not_found,  ///< no such name, or none with an address of the family asked for
  try_again,  ///< no server answered in time, or the servers failed
  no_memory,
  /// A kill or an expired timeout scope, handed back to the fiber to be
  /// raised at its next park (as every patched call does); also anything
  /// else the resolver threw, which must not be lost either (a bad
  /// TENDRIL_DNS_SERVERS): it is raised there with its message.
  cancelled,
};

/// address_lookup is what resolve_addresses found.
struct address_lookup {
  lookup_status status = lookup_status::found;
  std::vector<endpoint> addresses;  ///< with port 0, in the resolver's order
};

/// resolve_addresses(name, f) asks io's resolver (tendril::dns::resolve)
/// for `name`'s addresses of family `f`: /etc/hosts, then DNS, through the
/// servers of /etc/resolv.conf, TENDRIL_DNS_SERVERS or dns::set_servers.
/// Parks the calling fiber until the answer; preserves errno.
address_lookup resolve_addresses(const char* name, dns::family f) noexcept;

/// numeric_host(node) is true when glibc's getaddrinfo reads `node` as an
/// address, never looking it up: IPv4 in inet_aton's forms ("127.1",
/// "0x7f.1", nothing after it), or IPv6 with an optional "%scope".
bool numeric_host(const char* node) noexcept;

/// digits_and_dots(name) is true when glibc's gethostbyname* answers
/// `name` without a lookup: digits and dots not ending in a dot, or hex
/// digits, colons and dots with a colon (an address, or HOST_NOT_FOUND).
bool digits_and_dots(const char* name) noexcept;

/// in_pool(f, status) calls f() on io's thread pool (tendril::run_in_thread)
/// while the calling fiber parks, and returns its value; nullopt with
/// `status` no_memory or cancelled when it could not wait for it. f must
/// own everything it uses: a cancelled fiber stops waiting while f runs on.
/// errno is clobbered (other fibers run meanwhile): callers set it.
template <class F>
auto in_pool(F&& f, lookup_status& status) noexcept -> std::optional<thread_result_t<F>> {
  try {
    std::optional<thread_result_t<F>> value(run_in_thread(std::forward<F>(f)));
    status = lookup_status::found;
    return value;
  } catch (const std::bad_alloc&) {
    status = lookup_status::no_memory;
  } catch (...) {
    status = wait_status_of_current_exception() == wait_status::no_memory ? lookup_status::no_memory
                                                                          : lookup_status::cancelled;
  }
  return std::nullopt;
}

}  // namespace tendril::patch_detail
