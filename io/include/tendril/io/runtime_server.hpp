#pragma once
// runtime_server: one address served on every hub of a runtime.
//
//   tendril::runtime rt{2};
//   tendril::runtime_server server(rt, endpoint::ipv4_any(8080), [](socket conn, const endpoint&) {
//     ...  // runs on whichever hub accepted the connection
//   });
//   wait_signal({SIGINT, SIGTERM});
//   rt.stop(std::chrono::seconds(5));   // stops accepting, then the grace, then kills
//
// By default one acceptor on hub 0 hands the connections to the hubs in
// turn. Or each hub runs its own stream_server on its own listening socket,
// bound to the same address with SO_REUSEPORT: the kernel spreads the
// connections over the hubs, and a connection never crosses threads
// (spreading::reuseport).

#include <chrono>
#include <memory>

#include <tendril/hub/runtime.hpp>
#include <tendril/io/endpoint.hpp>
#include <tendril/io/stream_server.hpp>

namespace tendril {

class runtime_server {
 public:
  /// How connections reach the hubs. Measured on two hubs sharing two CPUs
  /// with wrk (docs/BENCHMARKS.md), one acceptor is the faster by about 5%,
  /// for keep-alive connections and for a new connection per request
  /// alike: its spreading is exactly even, the kernel's hash is not, and a
  /// cross-hub hand-over costs little. One thread accepts every
  /// connection, though: on many cores, at high connection rates, that
  /// thread is the limit, and reuseport scales where it does not.
  enum class spreading {
    /// Hub 0 accepts every connection and starts its handler on the hubs in
    /// turn, hub 0 included (the default).
    one_acceptor,
    /// Each hub accepts on its own SO_REUSEPORT listener; a connection
    /// never leaves the thread that accepted it.
    reuseport,
  };

  struct options {
    /// backlog, name; max_connections: per hub with reuseport, for the
    /// whole server with one_acceptor.
    stream_server::options connections;
    spreading spread = spreading::one_acceptor;
  };

  /// runtime_server(rt, local, h, o) serves `local` on every hub of `rt`
  /// and starts accepting. The handler runs on every hub at once, so what it
  /// shares must be thread-safe. Port 0 picks one port for all.
  /// rt.stop() stops it first (it stops accepting, and its handlers get
  /// the grace); rt.join() waits for it to be stopped.
  /// Blocking: until every hub serves (parks a calling fiber).
  /// Errors: tendril::system_error naming the address; tendril::error when
  /// `h` is empty.
  runtime_server(runtime& rt, const endpoint& local, stream_server::handler h);
  runtime_server(runtime& rt, const endpoint& local, stream_server::handler h, options o);
  runtime_server(const runtime_server&) = delete;
  runtime_server& operator=(const runtime_server&) = delete;
  /// ~runtime_server() is stop(0s). It must not outlive its runtime.
  ~runtime_server();

  /// stop(grace) stops accepting on every hub, gives the handlers `grace`
  /// to finish, then kills the rest, and waits for all of it. Returns true
  /// if every handler ended by itself. Stopping a stopped server returns
  /// true at once.
  /// Blocking: parks a calling fiber (of another hub than the server's, or
  /// a plain thread blocks). Thread-safety: any thread but a handler's.
  bool stop(clock::duration grace = std::chrono::seconds(1));

  /// local_endpoint() is the address it serves.
  endpoint local_endpoint() const;
  /// accepted() is the connections accepted so far on each hub, in hub order.
  /// Blocking: asks each hub (run_on).
  std::vector<std::size_t> accepted() const;

 private:
  struct state;
  std::shared_ptr<state> state_;
};

}  // namespace tendril
