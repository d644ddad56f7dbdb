// fetch: one URL with the per-host limit and retries (fetch.hpp).
//
// <curl/curl.h> is included for the names of CURLcode values only, to sort
// http_error::curl_code() into kinds; nothing here calls libcurl.

#include "fetch.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <random>
#include <utility>

#include <tendril/hub/sleep.hpp>

namespace crawler {

namespace {

using namespace std::chrono_literals;
using tendril::clock;

// A Retry-After longer than this is not waited for: the backoff is used.
constexpr clock::duration longest_retry_after = 30s;
constexpr clock::duration longest_backoff = 30s;

struct attempt_result {
  fetch_result result;
  bool may_pass = false;  // worth another request
};

// kind_of(e) sorts a request that got no answer; second: may it pass?
std::pair<std::string, bool> kind_of(const tendril::http::http_error& e) {
  if (e.timed_out()) return {"timed out", true};
  switch (e.curl_code()) {
    case CURLE_GOT_NOTHING:  // the server closed the connection without answering
    case CURLE_RECV_ERROR:   // connection reset
    case CURLE_SEND_ERROR:
    case CURLE_PARTIAL_FILE:  // closed in the middle of the body
      return {"connection dropped", true};
    case CURLE_COULDNT_RESOLVE_HOST:
      return {"host not found", false};
    case CURLE_COULDNT_CONNECT:
      return {"could not connect", false};
    case CURLE_TOO_MANY_REDIRECTS:
      return {"too many redirects", false};
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
      return {"TLS failure", false};
    default:
      return {"transfer failed", false};
  }
}

// reason(e) is curl's message: what() without the `GET "<url>": ` it
// starts with, since the summary names the URL itself.
std::string reason(const tendril::http::http_error& e) {
  const std::string_view what = e.what();
  const std::string prefix = "GET \"" + e.url() + "\": ";
  return std::string(what.starts_with(prefix) ? what.substr(prefix.size()) : what);
}

// body_too_large ends a transfer from its on_body callback.
struct body_too_large {};

attempt_result attempt(tendril::http::request request, std::size_t max_body_bytes, tendril::semaphore& host,
                       crawl_stats& stats) {
  host.acquire();
  struct permit {
    tendril::semaphore& host;
    ~permit() { host.release(); }
  } held{host};
  std::string body;
  request.on_body = [&body, max_body_bytes](std::string_view chunk) {
    if (body.size() + chunk.size() > max_body_bytes) throw body_too_large{};
    body.append(chunk);
  };
  const clock::time_point start = clock::now();
  try {
    tendril::http::response r = tendril::http::fetch(request);
    r.body = std::move(body);
    stats.latency(clock::now() - start);
    const bool may_pass = r.status >= 500 || r.status == 429;
    return {{std::move(r), {}, {}}, may_pass};
  } catch (const tendril::http::http_error& e) {
    auto [kind, may_pass] = kind_of(e);
    return {{std::nullopt, std::move(kind), reason(e)}, may_pass};
  } catch (const body_too_large&) {
    return {{std::nullopt, "too large", "the body is over " + std::to_string(max_body_bytes) + " bytes"},
            false};
  }
}

// retry_after(r) is the wait a 5xx or 429 asks for in seconds, if it asks
// for one short enough (the HTTP-date form is left to the backoff).
std::optional<clock::duration> retry_after(const fetch_result& r) {
  if (!r.response) return std::nullopt;
  const std::string value = r.response->header("Retry-After");
  unsigned seconds = 0;
  const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), seconds);
  if (value.empty() || error != std::errc() || end != value.data() + value.size()) return std::nullopt;
  if (std::chrono::seconds(seconds) > longest_retry_after) return std::nullopt;
  return std::chrono::seconds(seconds);
}

// backoff(policy, retry) is the wait before retry number `retry` (1, 2...):
// policy.backoff doubled each time, times a jitter in [0.5, 1.5) so that
// fibers that failed together do not come back together.
clock::duration backoff(const fetch_policy& policy, unsigned retry) {
  thread_local std::minstd_rand random{std::random_device{}()};
  const double jitter = std::uniform_real_distribution<double>(0.5, 1.5)(random);
  const double factor = std::ldexp(jitter, static_cast<int>(std::min(retry, 20u)) - 1);
  const auto wait = std::chrono::duration_cast<clock::duration>(policy.backoff * factor);
  return std::min(wait, longest_backoff);
}

}  // namespace

tendril::semaphore& host_limits::of(const std::string& origin) {
  std::lock_guard guard(lock_);
  std::unique_ptr<tendril::semaphore>& s = semaphores_[origin];
  if (!s) s = std::make_unique<tendril::semaphore>(per_host_, origin);
  return *s;
}

fetch_result fetch_url(const url& u, const fetch_policy& policy, host_limits& limits, crawl_stats& stats) {
  const tendril::http::request request{.url = u.text(),
                                       .headers = {{"User-Agent", policy.user_agent}},
                                       .timeout = policy.timeout,
                                       .max_redirects = policy.max_redirects};
  tendril::semaphore& host = limits.of(u.origin());
  for (unsigned retry = 1;; ++retry) {
    attempt_result a = attempt(request, policy.max_body_bytes, host, stats);
    if (!a.may_pass || retry > policy.retries) return std::move(a.result);
    stats.retry(retry == 1);
    tendril::sleep(retry_after(a.result).value_or(backoff(policy, retry)));
  }
}

}  // namespace crawler
