#pragma once
// How a server's accept loop takes the next connection: shared by
// stream_server (one hub) and runtime_server's single acceptor.

#include <string>

#include <tendril/hub/park.hpp>
#include <tendril/io/endpoint.hpp>
#include <tendril/io/socket.hpp>

namespace tendril::detail {

/// acceptor_backoff remembers an accept loop's current back-off.
struct acceptor_backoff {
  clock::duration current{};
};

/// accept_next(listener, peer, name, backoff) is the next connection. After
/// a temporary failure (out of fds or memory) it says so on stderr, naming
/// the server, and sleeps before trying again, from 5 ms doubling to 1 s as
/// Go's net/http does; other errors propagate.
/// Blocking: parks the calling fiber. Cancellation: at its parks.
socket accept_next(socket& listener, endpoint& peer, const std::string& name, acceptor_backoff& backoff);

}  // namespace tendril::detail
