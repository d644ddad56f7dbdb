#pragma once
// http::server: a small HTTP/1.1 server on stream_server, for tendril's own
// servers (examples, the crawler's built-in site, benchmarks) and for
// services that need a plain request/response endpoint.
//
//   http::server site(endpoint::loopback(8080), [](const http::server_request& r) {
//     if (r.path() != "/") return http::server_response{.status = 404};
//     return http::server_response{.body = "hello\n"};
//   });
//   site.start();
//
// Each connection is a task running the handler for one request after
// another (keep-alive and pipelined requests in order). Requests are parsed
// with http-parser; responses carry Content-Length. It is not a reverse
// proxy's front line: no TLS, no HTTP/2, no request streaming.

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <tendril/io/endpoint.hpp>
#include <tendril/io/stream_server.hpp>

namespace tendril::http {

/// One request as the server received it. Header names keep the client's
/// spelling; header() finds them case-insensitively.
struct server_request {
  std::string method;  ///< "GET", "POST", ...
  std::string target;  ///< the request target as sent: "/path?query"
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;  ///< de-chunked
  endpoint peer;
  bool keep_alive = true;  ///< what the client asked for (HTTP/1.1 default, Connection header)

  /// path() is target without the query; query() what follows '?' (or "").
  std::string_view path() const noexcept;
  std::string_view query() const noexcept;
  /// header(name) is the first header called `name` (any case), or "".
  std::string_view header(std::string_view name) const noexcept;
};

/// What the handler returns. Content-Length is added; so are
/// "Connection: close" when the connection ends after it.
struct server_response {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers{};
  std::string body{};
  /// close: end the connection after this response.
  bool close = false;
};

using request_handler = std::function<server_response(const server_request&)>;

/// server serves HTTP/1.1 on a stream_server: one task per connection.
/// A handler that throws gets its client a 500 response (and the
/// connection closed); the exception is reported like a task's failure
/// nobody observed. A malformed request gets 400, a body over
/// max_body_bytes 413, and the connection is closed.
class server {
 public:
  struct options {
    stream_server::options connections;  ///< backlog, max_connections, task names
    /// A connection with no request in progress is closed after this long.
    clock::duration idle_timeout = std::chrono::seconds(60);
    /// A request must arrive whole within this long of its first byte.
    clock::duration request_timeout = std::chrono::seconds(30);
    std::size_t max_body_bytes = 16 << 20;
  };

  /// server(local, handler, options) binds and listens at once (see
  /// stream_server); nothing is served until start().
  /// Errors: tendril::system_error naming the address.
  server(const endpoint& local, request_handler handler);
  server(const endpoint& local, request_handler handler, options o);
  server(const server&) = delete;
  server& operator=(const server&) = delete;
  ~server();

  /// start(), serve_forever(), stop(grace), local_endpoint(): as
  /// stream_server's. Idle keep-alive connections count as handlers for
  /// stop(): a grace period ends them by killing them.
  void start();
  void serve_forever();
  bool stop(clock::duration grace = std::chrono::seconds(1));
  endpoint local_endpoint() const;
  /// url(path) is "http://<local address><path>", for clients and tests.
  std::string url(std::string_view path = "/") const;
  /// requests() counts the requests handled so far.
  std::size_t requests() const noexcept;
  /// accepted() counts the connections accepted so far.
  std::size_t accepted() const;

 private:
  friend stream_server::handler connection_handler(request_handler handler, server::options o);
  struct state;
  std::shared_ptr<state> state_;
  std::unique_ptr<stream_server> connections_;
};

/// connection_handler(handler, o) is what a server runs for each
/// connection, for a stream server of one's own: a runtime_server serves
/// HTTP on every hub of a runtime with it. `o.connections` is not used;
/// the handler runs on every hub that the stream server accepts on.
///
///   runtime_server site(rt, endpoint::ipv4_any(8080), http::connection_handler(hello));
///
/// Errors: tendril::error when `handler` is empty.
stream_server::handler connection_handler(request_handler handler, server::options o = {});

}  // namespace tendril::http
