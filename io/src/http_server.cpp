// http::server: HTTP/1.1 connections parsed with http-parser (the only file
// that includes <http_parser.h>), one stream_server task per connection.
//
// Invariants:
// - A connection task reads into one buffer and feeds it to the parser;
//   the parser pauses itself at the end of each request, so pipelined
//   requests are answered one at a time, in order, from the same buffer.
// - Two deadlines: idle_timeout while no request has started, and
//   request_timeout from a request's first byte until it is answered. A
//   client that stalls is dropped, never waited for forever.
// - The handler runs in the connection's task: it may block (park) as any
//   fiber may; it is killed with the connection when the server stops.
//
// Rejected:
// - Writing the response in pieces (status line, headers, body) with
//   several sends: one write of one buffer is one system call per response,
//   which is most of what a small response costs.
// - A hand-written parser: http-parser (nginx's, later node's) has years of
//   hostile input behind it; DESIGN names it for tendril's servers.

#include <tendril/io/http_server.hpp>

#include <http_parser.h>
#include <strings.h>

#include <atomic>
#include <charconv>
#include <exception>
#include <string_view>

#include <tendril/error.hpp>
#include <tendril/io/socket.hpp>

namespace tendril::http {

std::string_view server_request::path() const noexcept {
  std::string_view t = target;
  return t.substr(0, t.find('?'));
}

std::string_view server_request::query() const noexcept {
  std::string_view t = target;
  std::size_t mark = t.find('?');
  return mark == std::string_view::npos ? std::string_view() : t.substr(mark + 1);
}

std::string_view server_request::header(std::string_view name) const noexcept {
  for (const auto& [key, value] : headers)
    if (key.size() == name.size() && ::strncasecmp(key.data(), name.data(), name.size()) == 0) return value;
  return {};
}

struct server::state {
  request_handler handle;
  options settings;
  std::atomic<std::size_t> requests{0};  // the handler may run on several hubs (connection_handler)

  void serve(socket connection, const endpoint& peer);
};

namespace {

// What the parser's callbacks build: the request being received.
struct request_parse {
  server_request request;
  std::size_t max_body_bytes = 0;
  bool value_last = false;  // the previous callback was a header value
  bool complete = false;
  bool body_too_large = false;
};

request_parse& of(http_parser* p) { return *static_cast<request_parse*>(p->data); }

const http_parser_settings parser_settings = [] {
  http_parser_settings s{};
  s.on_message_begin = [](http_parser* p) {
    request_parse& r = of(p);
    endpoint peer = r.request.peer;
    r.request = server_request{};
    r.request.peer = peer;
    r.value_last = false;
    return 0;
  };
  s.on_url = [](http_parser* p, const char* at, std::size_t length) {
    of(p).request.target.append(at, length);
    return 0;
  };
  s.on_header_field = [](http_parser* p, const char* at, std::size_t length) {
    request_parse& r = of(p);
    if (r.value_last || r.request.headers.empty()) r.request.headers.emplace_back();
    r.request.headers.back().first.append(at, length);
    r.value_last = false;
    return 0;
  };
  s.on_header_value = [](http_parser* p, const char* at, std::size_t length) {
    request_parse& r = of(p);
    r.request.headers.back().second.append(at, length);
    r.value_last = true;
    return 0;
  };
  s.on_headers_complete = [](http_parser* p) {
    of(p).request.method = http_method_str(static_cast<http_method>(p->method));
    return 0;
  };
  s.on_body = [](http_parser* p, const char* at, std::size_t length) {
    request_parse& r = of(p);
    if (r.request.body.size() + length > r.max_body_bytes) {
      r.body_too_large = true;
      return 1;  // stops the parser with an error
    }
    r.request.body.append(at, length);
    return 0;
  };
  s.on_message_complete = [](http_parser* p) {
    request_parse& r = of(p);
    r.request.keep_alive = http_should_keep_alive(p) != 0;
    r.complete = true;
    http_parser_pause(p, 1);  // one request at a time: see the invariants
    return 0;
  };
  return s;
}();

template <class Number>
void append_number(std::string& out, Number n) {
  char digits[24];
  out.append(digits, std::to_chars(digits, digits + sizeof digits, n).ptr);
}

// append_response(out, response, p, head) serialises a response to the
// request `p` just parsed, in one allocation at most (most often none: the
// connection's `out` keeps its capacity from one response to the next).
void append_response(std::string& out, const server_response& response, const http_parser& p, bool keep_alive,
                     bool head) {
  using namespace std::string_view_literals;
  const std::string_view reason = http_status_str(static_cast<http_status>(response.status));
  const bool http_1_0 = p.http_minor == 0 && p.http_major == 1;
  std::size_t size = 80 + reason.size() + (head ? 0 : response.body.size());
  for (const auto& [name, value] : response.headers) size += name.size() + value.size() + 4;
  out.reserve(out.size() + size);
  out.append(http_1_0 ? "HTTP/1.0 "sv : "HTTP/1.1 "sv);
  append_number(out, response.status);
  out.push_back(' ');
  out.append(reason);
  out.append("\r\nContent-Length: "sv);
  append_number(out, response.body.size());
  out.append("\r\n"sv);
  if (!keep_alive)
    out.append("Connection: close\r\n"sv);
  else if (p.http_minor == 0)
    out.append("Connection: keep-alive\r\n"sv);
  for (const auto& [name, value] : response.headers) {
    out.append(name);
    out.append(": "sv);
    out.append(value);
    out.append("\r\n"sv);
  }
  out.append("\r\n"sv);
  if (!head) out.append(response.body);
}

void send_error(socket& connection, int status, const http_parser& p) {
  std::string out;
  server_response response{.status = status,
                           .body = std::string(http_status_str(static_cast<http_status>(status))) + "\n"};
  append_response(out, response, p, /*keep_alive=*/false, /*head=*/false);
  try {
    connection.write_all(out, deadline_after(std::chrono::seconds(5)));
  } catch (const system_error&) {
    // The client is gone or stalled: it was being dropped anyway.
  }
}

}  // namespace

void server::state::serve(socket connection, const endpoint& peer) {
  http_parser parser;
  http_parser_init(&parser, HTTP_REQUEST);
  request_parse parse;
  parse.request.peer = peer;
  parse.max_body_bytes = settings.max_body_bytes;
  parser.data = &parse;

  char buffer[16 * 1024];
  std::string out;
  bool in_request = false;
  clock::time_point request_deadline{};
  for (;;) {
    std::size_t n = 0;
    try {
      n = connection.read_some(buffer, sizeof buffer,
                               in_request ? request_deadline : deadline_after(settings.idle_timeout));
    } catch (const system_error& e) {
      if (e.code() == std::errc::timed_out || e.code() == std::errc::connection_reset) return;
      throw;
    }
    if (n == 0) return;  // the client closed (mid-request: it gave up)
    if (!in_request) {
      in_request = true;
      request_deadline = deadline_after(settings.request_timeout);
    }
    std::size_t offset = 0;
    bool answered = false;
    while (offset < n) {
      offset += http_parser_execute(&parser, &parser_settings, buffer + offset, n - offset);
      if (!parse.complete) {
        if (HTTP_PARSER_ERRNO(&parser) == HPE_OK) continue;  // the rest of the request is still to come
        send_error(connection, parse.body_too_large ? 413 : 400, parser);
        return;
      }
      parse.complete = false;
      requests.fetch_add(1, std::memory_order_relaxed);
      server_response response;
      try {
        response = handle(parse.request);
      } catch (const std::exception&) {
        send_error(connection, 500, parser);
        throw;  // reported as the connection task's failure
      }
      bool keep_alive = parse.request.keep_alive && !response.close;
      out.clear();
      append_response(out, response, parser, keep_alive, parse.request.method == "HEAD");
      try {
        connection.write_all(out, request_deadline);
      } catch (const system_error& e) {
        // The client hung up while the handler ran (it timed out, or was
        // killed): nobody is left to answer, which is not the server's failure.
        if (e.code() == std::errc::broken_pipe || e.code() == std::errc::connection_reset) return;
        throw;
      }
      answered = true;
      if (!keep_alive) return;
      http_parser_pause(&parser, 0);
      in_request = offset < n;  // pipelined bytes already began the next request
      if (in_request) request_deadline = deadline_after(settings.request_timeout);
    }
    // The client is only now getting the response it waited for, so its
    // next request cannot be here yet: wait before reading, instead of a
    // read that would only say EAGAIN (a third of the system calls of a
    // small keep-alive request).
    if (answered && !in_request && !connection.wait_readable(deadline_after(settings.idle_timeout))) return;
  }
}

server::server(const endpoint& local, request_handler handler)
    : server(local, std::move(handler), options{}) {}

server::server(const endpoint& local, request_handler handler, options o)
    : state_(std::make_shared<state>()) {
  if (!handler) throw error("http::server on " + local.to_string() + ": no request handler");
  state_->handle = std::move(handler);
  if (o.connections.name == stream_server::options{}.name) o.connections.name = "http::server";
  state_->settings = o;
  connections_ = std::make_unique<stream_server>(
      local, [s = state_](socket connection, const endpoint& peer) { s->serve(std::move(connection), peer); },
      o.connections);
}

server::~server() = default;

void server::start() { connections_->start(); }
void server::serve_forever() { connections_->serve_forever(); }
bool server::stop(clock::duration grace) { return connections_->stop(grace); }
endpoint server::local_endpoint() const { return connections_->local_endpoint(); }
std::size_t server::requests() const noexcept { return state_->requests.load(std::memory_order_relaxed); }

stream_server::handler connection_handler(request_handler handler, server::options o) {
  if (!handler) throw error("http::connection_handler: no request handler");
  auto s = std::make_shared<server::state>();
  s->handle = std::move(handler);
  s->settings = std::move(o);
  return [s](socket connection, const endpoint& peer) { s->serve(std::move(connection), peer); };
}
std::size_t server::accepted() const { return connections_->accepted(); }

std::string server::url(std::string_view path) const {
  return "http://" + local_endpoint().to_string() + std::string(path);
}

}  // namespace tendril::http
