#pragma once
// fetch: one URL fetched the way a polite crawler asks for it.
//
// - The per-host limit: a tendril::semaphore per origin, made on first
//   use, held only while a request is on the wire (not while backing off).
// - Retries, with exponential backoff and jitter, for what may pass: a 5xx
//   or 429 answer (after Retry-After, when it gives a few seconds), a
//   timeout, a connection dropped before the answer. Not for what will not:
//   a 4xx, a name that does not resolve, a refused connection, a redirect
//   loop.
// - Every outcome sorted into a kind the summary counts ("timed out",
//   "connection dropped", ...).

#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include <tendril/hub/park.hpp>
#include <tendril/io/http.hpp>
#include <tendril/sync/semaphore.hpp>

#include "links.hpp"
#include "stats.hpp"

namespace crawler {

struct fetch_policy {
  std::string user_agent;
  tendril::clock::duration timeout{};  ///< per request, connection to last byte
  unsigned retries = 0;                ///< requests after the first, at most
  tendril::clock::duration backoff{};  ///< the wait before the first retry; doubles, with jitter
  long max_redirects = 5;
  /// max_body_bytes: a longer body ends the transfer ("too large", not
  /// retried), so a huge file or an endless stream cannot fill the memory,
  /// and a page gumbo would take seconds to parse never reaches it.
  std::size_t max_body_bytes = 8u << 20;
};

/// host_limits: a semaphore of `per_host` permits for each origin.
/// Thread-safety: any fiber on any hub, or any thread.
class host_limits {
 public:
  explicit host_limits(std::size_t per_host) : per_host_(per_host) {}
  /// of(origin) is the origin's semaphore, made on first use; it lives as
  /// long as this object.
  tendril::semaphore& of(const std::string& origin);

 private:
  std::size_t per_host_;
  std::mutex lock_;
  std::unordered_map<std::string, std::unique_ptr<tendril::semaphore>> semaphores_;
};

/// What fetching one URL came to: a response, or why there was none.
struct fetch_result {
  std::optional<tendril::http::response> response;  ///< the last response
  std::string error_kind;                           ///< when there is none: "timed out", ...
  std::string error_message;                        ///< curl's message: "Operation timed out after ..."
};

/// fetch_url(u, policy, limits, stats) GETs u, retrying as above. Each
/// response's latency and each retry are recorded in `stats`.
///
/// Blocking:      parks while waiting for the host's semaphore, the
///                request, and the backoff.
/// Deadline:      policy.timeout per request.
/// Cancellation:  a kill raises at any of those parks; the permit is
///                given back.
/// Thread-safety: any fiber on any hub.
/// Errors:        none of its own: a failed fetch is a result.
fetch_result fetch_url(const url& u, const fetch_policy& policy, host_limits& limits, crawl_stats& stats);

}  // namespace crawler
