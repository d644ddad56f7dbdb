#pragma once
// DNS lookups on c-ares, driven by the hub: a lookup parks the calling fiber
// while the hub's loop watches the resolver's sockets and timeouts.
//
//   for (const tendril::endpoint& e : tendril::dns::resolve("example.org", 443))
//     try_connect(e);
//
// Each hub has one c-ares channel, made on its first lookup from
// /etc/resolv.conf (servers, search domains, ndots, timeout, attempts), or
// from the TENDRIL_DNS_SERVERS environment variable when it is set. Names are
// looked up in /etc/hosts first, then in DNS ("fb").

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <tendril/error.hpp>
#include <tendril/hub/park.hpp>
#include <tendril/io/endpoint.hpp>

namespace tendril::dns {

/// family selects the addresses a lookup asks for: A and AAAA records
/// (any), A only (ipv4) or AAAA only (ipv6).
enum class family { any, ipv4, ipv6 };

/// dns_error is a lookup that failed: the name is unknown or has no address
/// of the family asked for, no server answered in time, or the servers
/// failed. what() names the host, and the servers when they are at fault:
/// `unknown host "nosuch.test"`, `lookup of "a.test" timed out after 200 ms
/// (servers 127.0.0.1:5353)`.
class dns_error : public error {
 public:
  /// dns_error(what, host, status, timed_out): `status` is c-ares's (ARES_E*).
  dns_error(const std::string& what, std::string host, int status, bool timed_out)
      : error(what), host_(std::move(host)), status_(status), timed_out_(timed_out) {}

  /// host() is the name that was looked up.
  const std::string& host() const noexcept { return host_; }
  /// status() is c-ares's status code (ARES_ENOTFOUND, ARES_ETIMEOUT, ...
  /// from <ares.h>); ARES_ETIMEOUT when the lookup's deadline passed.
  int status() const noexcept { return status_; }
  /// timed_out() is true when the deadline passed, or when c-ares gave up
  /// after its tries without an answer.
  bool timed_out() const noexcept { return timed_out_; }
  /// not_found() is true when the name does not exist (NXDOMAIN, not in
  /// /etc/hosts) or has no address of the family asked for.
  bool not_found() const noexcept;

 private:
  std::string host_;
  int status_;
  bool timed_out_;
};

/// resolve(host, port, f, deadline) is the addresses of `host` (its A and/or
/// AAAA records, or its /etc/hosts entries), each with port `port`, in the
/// order c-ares returns them (sorted by RFC 6724 preference, as getaddrinfo
/// does). A numeric address ("192.0.2.1", "::1", "[::1]") is returned as is,
/// without a query. Never empty.
///
/// Blocking:      parks the calling fiber while this hub's channel waits for
///                the servers; other fibers run. A numeric host or an
///                /etc/hosts hit returns without parking.
/// Deadline:      once `deadline` passes, throws dns_error with timed_out().
///                c-ares's own per-try timeout and tries (set_timeout) also
///                end a lookup that no server answers.
/// Cancellation:  a kill or an expired timeout scope raises here. The query
///                is abandoned: its answer, if one comes, is dropped, and
///                when no other lookup of this hub is waiting the channel's
///                abandoned queries are cancelled, so no socket, watcher or
///                timer outlives them. Other lookups are not disturbed.
/// Thread-safety: any fiber (or a thread's main greenlet); the lookup runs on
///                the calling thread's hub and its channel.
/// Errors:        dns_error naming `host`: unknown host, no address of family
///                `f`, timed out, server failure, an invalid name ("" or one
///                with a NUL), a numeric address of the other family.
///                tendril::error when TENDRIL_DNS_SERVERS cannot be parsed.
std::vector<endpoint> resolve(std::string_view host, std::uint16_t port = 0, family f = family::any,
                              clock::time_point deadline = no_deadline);

/// set_servers(servers) replaces the servers of this thread's hub's channel:
/// a comma-separated list of IPv4 or IPv6 addresses, each with an optional
/// port ("127.0.0.1:5353,[::1]:53"; c-ares's ares_set_servers_ports_csv
/// format). "" goes back to /etc/resolv.conf's servers (even when
/// TENDRIL_DNS_SERVERS set the initial ones). Search domains and options
/// still come from /etc/resolv.conf. The environment variable
/// TENDRIL_DNS_SERVERS, in the same format, sets the initial servers of
/// every hub's channel.
///
/// The channel is rebuilt, so call it while no lookup of this hub is
/// waiting (at start-up, typically); abandoned queries are cancelled.
/// Thread-safety: this thread's hub only.
/// Errors: tendril::error naming `servers` when c-ares cannot parse it, and
///         when a lookup of this hub is waiting.
void set_servers(std::string_view servers);

/// servers() is this hub's channel's servers, in set_servers's format,
/// every port explicit ("10.0.0.53:53").
/// Thread-safety: this thread's hub only.
std::string servers();

/// set_timeout(per_try, tries) sets how long c-ares waits for an answer to
/// one try (ARES_OPT_TIMEOUTMS; it doubles for each round over the servers)
/// and how many tries it makes (ARES_OPT_TRIES) before failing a lookup with
/// timed_out(), for this thread's hub's channel. The default is
/// /etc/resolv.conf's `options timeout: attempts:`, else c-ares's 5 s and 4
/// tries. c-ares 1.18 has no per-query options, so this is per channel; a
/// lookup's own bound is its deadline.
///
/// The channel is rebuilt (keeping its servers): same rules as set_servers.
/// Thread-safety: this thread's hub only.
/// Errors: tendril::error when per_try is not positive or tries < 1, and
///         when a lookup of this hub is waiting.
void set_timeout(std::chrono::milliseconds per_try, int tries);

}  // namespace tendril::dns
