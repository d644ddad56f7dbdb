#pragma once
// stream_server: accepts connections and runs a handler task for each
// (gevent.server.StreamServer).
//
//   stream_server server(endpoint::loopback(8080), [](socket conn, const endpoint& peer) {
//     char buffer[4096];
//     while (std::size_t n = conn.read_some(buffer, sizeof buffer)) conn.write_all(buffer, n);
//   });
//   server.start();                  // accepts in a task of this hub
//   wait_signal({SIGINT, SIGTERM});
//   server.stop(std::chrono::seconds(5));

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include <tendril/hub/task.hpp>
#include <tendril/io/socket.hpp>

namespace tendril {

/// stream_server listens on a stream socket (TCP or Unix) and, for each
/// connection, spawns a task running `handler(connection, peer)` on its
/// hub. The handler owns the connection; it is closed when the handler
/// returns or fails. A handler's exception is reported like any task's
/// failure nobody observed (the hub's task error handler; by default a line
/// on stderr); the server goes on.
class stream_server {
 public:
  using handler = std::function<void(socket connection, const endpoint& peer)>;

  struct options {
    /// backlog of the listening socket (listen(2)).
    int backlog = SOMAXCONN;
    /// max_connections > 0 runs handlers through a pool of that size: while
    /// it is full the server stops accepting (connections wait in the
    /// backlog). 0: no limit.
    std::size_t max_connections = 0;
    /// name of the accept task and prefix of the handler tasks' names.
    std::string name = "stream_server";
  };

  /// stream_server(local, h, o) binds and listens at once (so errors such
  /// as EADDRINUSE come from here and local_endpoint() is known, port 0
  /// included) but accepts nothing until start().
  /// Errors: tendril::system_error naming the address.
  stream_server(const endpoint& local, handler h);
  stream_server(const endpoint& local, handler h, options o);
  /// stream_server(listener, h, o) serves an already listening socket.
  stream_server(socket listener, handler h, options o);
  stream_server(const stream_server&) = delete;
  stream_server& operator=(const stream_server&) = delete;
  /// ~stream_server() is stop(0s): open connections' handlers are killed.
  ~stream_server();

  /// start() spawns the accept task on the calling thread's hub and returns.
  /// Errors: tendril::error if it was started before or has stopped.
  void start();
  /// serve_forever() is start(), then parks until stop() (from another
  /// fiber of this hub) has finished.
  /// Blocking:     parks the calling fiber. Cancellation: a kill or timeout
  /// scope raises here; the server keeps serving (call stop()).
  void serve_forever();

  /// stop(grace) stops accepting and closes the listening socket, then waits
  /// up to `grace` for the handlers to finish, then kills the rest and waits
  /// for them to unwind. Returns true if every handler ended by itself.
  /// Stopping a stopped server returns true at once.
  ///
  /// Blocking:      parks the calling fiber while handlers finish.
  /// Deadline:      `grace`, then the kill.
  /// Cancellation:  a kill of the caller raises at its park; the handlers
  ///                still running are then killed without waiting.
  /// Thread-safety: a fiber of the server's hub, not one of its handlers.
  /// Errors:        tendril::error when called from a handler of this server.
  bool stop(clock::duration grace = std::chrono::seconds(1));

  /// local_endpoint() is the address it listens on.
  endpoint local_endpoint() const;
  /// connections() is the number of handlers running now.
  std::size_t connections() const;
  /// accepted() counts the connections accepted so far.
  std::size_t accepted() const;
  bool serving() const;

 private:
  struct state;
  std::unique_ptr<state> state_;
};

}  // namespace tendril
