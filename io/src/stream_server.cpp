// stream_server: one accept task, and a handler task per connection kept in
// a group (or, with a connection limit, a pool).
//
// Invariants:
// - The accept task is the only reader of the listening socket; stop()
//   kills it (waiting until it is gone) before closing the socket, so no
//   accept is ever woken by a close.
// - Handlers are tasks of the server's group or pool: stop() finds every one
//   there, and a finished handler leaves by itself.
// - With a pool, the accept task waits for a free slot (wait_available)
//   before accepting: excess connections wait in the kernel's backlog, not
//   in user space.
//
// Rejected: accepting in a loop run by the libev io callback (gevent's
// StreamServer does, via its watcher): a callback cannot park, so a full
// pool would have to stop and restart the watcher; a task parks naturally.

#include <tendril/io/stream_server.hpp>

#include <optional>
#include <utility>

#include <tendril/error.hpp>
#include <tendril/sync/event.hpp>
#include <tendril/sync/group.hpp>
#include <tendril/sync/pool.hpp>

#include "accepting.hpp"

namespace tendril {

struct stream_server::state {
  state(socket listener, handler h, options o)
      : listener(std::move(listener)),
        local(this->listener.local_endpoint()),
        serve(std::move(h)),
        settings(std::move(o)) {
    if (settings.max_connections > 0) limited.emplace(settings.max_connections, settings.name);
  }

  socket listener;
  endpoint local;  // kept: the listener's is gone once it closes
  handler serve;
  options settings;
  group unlimited;
  std::optional<pool> limited;
  task<void> acceptor;
  event stopped;
  std::size_t accepted = 0;
  bool started = false;
  bool stopping = false;

  void accept_loop();
  void run_handler(socket connection, const endpoint& peer);
  std::size_t connections() const { return limited ? limited->size() : unlimited.size(); }
};

void stream_server::state::accept_loop() {
  detail::acceptor_backoff backoff;
  for (;;) {
    if (limited) limited->wait_available();
    endpoint peer;
    socket connection = detail::accept_next(listener, peer, settings.name, backoff);
    ++accepted;
    spawn_options task_options{.name = settings.name + " handler for " + peer.to_string()};
    auto run = [this](socket c, endpoint from) { run_handler(std::move(c), from); };
    if (limited)
      limited->spawn(std::move(task_options), run, std::move(connection), peer);
    else
      unlimited.spawn(std::move(task_options), run, std::move(connection), peer);
  }
}

void stream_server::state::run_handler(socket connection, const endpoint& peer) {
  serve(std::move(connection), peer);
}

stream_server::stream_server(const endpoint& local, handler h)
    : stream_server(local, std::move(h), options{}) {}

stream_server::stream_server(const endpoint& local, handler h, options o)
    : stream_server(tendril::listen(local, o.backlog), std::move(h), std::move(o)) {}

stream_server::stream_server(socket listener, handler h, options o)
    : state_(std::make_unique<state>(std::move(listener), std::move(h), std::move(o))) {
  if (!state_->listener) throw error(state_->settings.name + ": the listening socket is closed");
  if (!state_->serve) throw error(state_->settings.name + ": no handler");
}

stream_server::~stream_server() {
  try {
    stop(clock::duration::zero());
  } catch (...) {
    // A destructor cannot report; stop() only throws for a caller that is
    // one of the handlers, which then dies with the rest.
  }
}

void stream_server::start() {
  state& s = *state_;
  if (s.started)
    throw error(s.settings.name + " on " + local_endpoint().to_string() + " was started already");
  s.started = true;
  s.acceptor = spawn(spawn_options{.name = s.settings.name + " accepting on " + local_endpoint().to_string()},
                     [&s] { s.accept_loop(); });
}

void stream_server::serve_forever() {
  if (!state_->started) start();
  state_->stopped.wait();
}

bool stream_server::stop(clock::duration grace) {
  state& s = *state_;
  if (s.stopping) {
    s.stopped.wait();
    return true;
  }
  s.stopping = true;
  struct announce_stopped {
    event& stopped;
    ~announce_stopped() { stopped.set(); }
  } on_exit{s.stopped};
  if (!s.acceptor.empty()) s.acceptor.kill();
  s.listener.close();
  auto finish = [grace](auto& set) {
    if (set.join(grace)) return true;
    set.kill();
    return false;
  };
  return s.limited ? finish(*s.limited) : finish(s.unlimited);
}

endpoint stream_server::local_endpoint() const { return state_->local; }
std::size_t stream_server::connections() const { return state_->connections(); }
std::size_t stream_server::accepted() const { return state_->accepted; }
bool stream_server::serving() const { return state_->started && !state_->stopping; }

}  // namespace tendril
