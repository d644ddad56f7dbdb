#pragma once
// An HTTP(S) client on libcurl's multi-socket API, driven by the hub: a
// request parks the calling fiber while the hub's loop watches curl's
// sockets and timer, so a thousand fibers can each fetch like blocking code.
//
//   tendril::http::response r = tendril::http::get("http://example.org/", 10s);
//   if (r.status == 200) use(r.body);
//
//   tendril::http::request post{.method = "POST", .url = url, .body = json};
//   post.headers = {{"Content-Type", "application/json"}};
//   tendril::http::response created = tendril::http::fetch(post);
//
// Each hub has one curl multi handle, made on its first request: requests
// of the fibers of one hub share its connection cache (keep-alive, and
// HTTP/2 multiplexing over https) and its DNS cache. Host names are looked
// up by libcurl's own resolver thread, not by tendril::dns.

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <tendril/error.hpp>
#include <tendril/hub/park.hpp>

namespace tendril::http {

/// header_list is a list of header fields in order, names as written.
using header_list = std::vector<std::pair<std::string, std::string>>;

/// no_timeout is a request timeout that never passes.
inline constexpr clock::duration no_timeout = clock::duration::max();

/// stream_chunk_limit is when a streamed body is handed over: once this much
/// is buffered, the transfer pauses until on_body has it. A chunk given to
/// on_body is at most this plus one network read (16 KiB), so a streamed
/// download of any size holds about 2 * 80 KiB at a time.
inline constexpr std::size_t stream_chunk_limit = 64 * 1024;

/// request describes one HTTP request. Only `url` is required.
struct request {
  /// method is sent as is ("GET", "POST", "PUT", "DELETE", "HEAD", ...).
  /// A POST is redirected as a GET on 301/302/303 (as browsers do); any
  /// other method keeps its name across redirects.
  std::string method = "GET";
  /// url is an absolute http:// or https:// URL.
  std::string url{};
  /// headers are sent in addition to (or instead of, for the same name)
  /// curl's Host, Accept and Content-Type; an empty value sends the field
  /// empty. A POST without a Content-Type header is sent as
  /// application/x-www-form-urlencoded (curl's default).
  header_list headers{};
  /// body is sent with Content-Length; an empty body of a POST is sent as
  /// "Content-Length: 0", and no other method sends an empty body.
  std::string body{};
  /// timeout bounds the whole call, from fetch() to the last byte, checked
  /// while waiting for the network and before each on_body call (a wait
  /// inside on_body is bounded by the caller's own deadlines or timeout
  /// scopes); no_timeout: no bound but the caller's timeout scopes.
  clock::duration timeout = no_timeout;
  /// follow_redirects: follow 3xx responses that carry a Location, up to
  /// max_redirects (more is an http_error). false: a 3xx is the response.
  bool follow_redirects = true;
  long max_redirects = 10;
  /// on_body, when set, receives the body in order as it arrives, in chunks
  /// of at most stream_chunk_limit plus one read, and response::body stays
  /// empty: memory stays bounded for a body of any size. It runs in the
  /// calling fiber (never on the hub) and may park; the transfer pauses
  /// while a full chunk waits for it. An exception from it aborts the
  /// transfer and propagates out of fetch().
  std::function<void(std::string_view chunk)> on_body{};
  /// ca_file, when set, is a PEM file of certificates to trust instead of
  /// the system's (to reach a server with a self-signed certificate).
  std::string ca_file{};
  /// verify_tls = false accepts any certificate and host name: for tests
  /// only, it gives up what TLS is for.
  bool verify_tls = true;
};

/// response is what the server answered, after the redirects followed.
struct response {
  /// status is the HTTP status code (200, 404, ...): any status is a
  /// response, not an error.
  long status = 0;
  /// headers are the response's header fields in order, names as the
  /// server wrote them (lower case over HTTP/2); those of the responses
  /// that redirected are not kept.
  header_list headers{};
  /// body is the body, decoded from chunked transfer encoding; empty when
  /// request::on_body took it.
  std::string body{};
  /// effective_url is the URL that gave this response (the last redirect's).
  std::string effective_url{};

  /// header(name) is the value of the first header field called `name`
  /// (case-insensitive), or "" when there is none.
  std::string header(std::string_view name) const;
};

/// http_error is a request that got no response: a malformed URL, a host
/// that does not resolve, a refused or reset connection, a TLS failure, too
/// many redirects, a deadline that passed. what() names the method and URL
/// and carries curl's message:
/// `GET "http://127.0.0.1:9/": Failed to connect to 127.0.0.1 port 9 after 0 ms: Couldn't connect to server`.
class http_error : public error {
 public:
  /// http_error(what, url, curl_code, timed_out): `curl_code` is a CURLcode.
  http_error(const std::string& what, std::string url, int curl_code, bool timed_out)
      : error(what), url_(std::move(url)), curl_code_(curl_code), timed_out_(timed_out) {}

  /// url() is the URL that was requested.
  const std::string& url() const noexcept { return url_; }
  /// curl_code() is libcurl's CURLcode (CURLE_COULDNT_CONNECT, ... from
  /// <curl/curl.h>). Rejected before any I/O: CURLE_URL_MALFORMAT (the
  /// URL), CURLE_UNSUPPORTED_PROTOCOL (its scheme),
  /// CURLE_BAD_FUNCTION_ARGUMENT (a method or header). The deadline:
  /// CURLE_OPERATION_TIMEDOUT.
  int curl_code() const noexcept { return curl_code_; }
  /// timed_out() is true when the request's deadline passed (or curl's
  /// own connect timeout of 300 s).
  bool timed_out() const noexcept { return timed_out_; }

 private:
  std::string url_;
  int curl_code_;
  bool timed_out_;
};

/// fetch(r) sends `r` and returns the response once its body is complete
/// (or, with r.on_body, once the last chunk has been handed over).
///
/// Blocking:      parks the calling fiber while this hub's multi handle
///                connects, sends and receives; other fibers run. A URL,
///                method or header rejected up front throws without parking.
/// Deadline:      r.timeout from the call (and `deadline`, whichever comes
///                first): once it passes, the transfer is aborted and
///                http_error with timed_out() is thrown.
/// Cancellation:  a kill or an expired timeout scope raises here; the
///                transfer is taken out of the multi handle first (its
///                connection closed), so no callback touches it afterwards.
/// Thread-safety: any fiber (or a thread's main greenlet); the request runs
///                on the calling thread's hub and its multi handle.
/// Errors:        http_error naming the method and URL: malformed URL, a
///                scheme other than http and https, a method or header that
///                is not valid HTTP (before any I/O); connection, TLS,
///                protocol and redirect failures, the deadline. Rethrows
///                what on_body throws.
response fetch(const request& r);
response fetch(const request& r, clock::time_point deadline);

/// get(url, timeout) is fetch(request{.url = url, .timeout = timeout}):
/// a GET that follows redirects. Blocking, deadline, cancellation,
/// thread-safety, errors: as fetch.
response get(std::string_view url, clock::duration timeout = no_timeout);

/// close_idle_connections() closes this hub's idle connections: those kept
/// alive for reuse, and curl's own internal sockets. Connections of
/// requests in flight are closed when those requests end. The next request
/// opens new connections. It also frees the spare curl handles the hub
/// keeps after a burst of concurrent requests (about half the burst's
/// peak). For tests that count fds, and after a burst of requests to many
/// hosts.
/// Thread-safety: this thread's hub only; does not block.
void close_idle_connections() noexcept;

}  // namespace tendril::http
