// runtime_server: one address served on every hub of a runtime, either by
// a stream_server per hub on its own SO_REUSEPORT listener, or by one
// acceptor on hub 0 that starts each handler on the hubs in turn.
//
// Invariants:
// - What belongs to hub i is made, used and destroyed there only (run_on,
//   spawn_on): servers[i] (reuseport), handlers[i] (one acceptor), and on
//   hub 0 the single listener and accept task. Other threads touch only
//   the vectors' shape, fixed once the constructor returns, and atomics.
// - It stops once: by stop(), by the runtime's stop hook, or by the
//   destructor, whichever comes first; the others find it stopped.
// - With one acceptor, the accept task is killed before any hub waits for
//   its handlers, so no handler is started after its hub's wait began
//   (those already queued start first: tasks start in order).

#include <tendril/io/runtime_server.hpp>

#include <sys/socket.h>

#include <atomic>
#include <mutex>
#include <utility>
#include <vector>

#include <tendril/error.hpp>
#include <tendril/sync/group.hpp>
#include <tendril/sync/semaphore.hpp>

#include "accepting.hpp"

namespace tendril {

struct runtime_server::state {
  runtime* rt = nullptr;
  std::vector<hub_ref> hubs;
  endpoint local;
  stream_server::handler serve;
  options settings;
  runtime::hook_id hook = 0;
  std::mutex mutex;
  bool stopping = false;  // guarded by mutex

  // spreading::reuseport: servers[i] belongs to hubs[i].
  std::vector<std::unique_ptr<stream_server>> servers;

  // spreading::one_acceptor: the listener and the accept task on hub 0;
  // handlers[i], the handlers running on hubs[i], belongs to it.
  socket listener;
  task<void> acceptor;
  std::size_t turn = 0;  // hub 0 only
  std::vector<std::unique_ptr<group>> handlers;
  std::unique_ptr<semaphore> slots;  // max_connections, for all hubs
  std::unique_ptr<std::atomic<std::size_t>[]> accepted;

  void start_per_hub();
  void start_one_acceptor(const std::shared_ptr<state>& self);
  void accept_loop(const std::shared_ptr<state>& self);
  std::vector<task<bool>> begin_stop(const std::shared_ptr<state>& self, clock::time_point deadline);
};

namespace {

clock::duration until(clock::time_point deadline) {
  clock::time_point now = clock::now();
  return deadline > now ? deadline - now : clock::duration::zero();
}

}  // namespace

void runtime_server::state::start_per_hub() {
  servers.resize(hubs.size());
  for (std::size_t i = 0; i < hubs.size(); ++i) {
    servers[i] = run_on(hubs[i], [this] {
      socket s(local.family(), SOCK_STREAM);
      s.set_reuse_address();
      s.set_reuse_port();
      s.bind(local);
      s.listen(settings.connections.backlog);
      auto server = std::make_unique<stream_server>(std::move(s), serve, settings.connections);
      server->start();
      return server;
    });
    if (i == 0) local = servers[0]->local_endpoint();  // port 0: the first hub's, for every other
  }
}

void runtime_server::state::start_one_acceptor(const std::shared_ptr<state>& self) {
  accepted = std::make_unique<std::atomic<std::size_t>[]>(hubs.size());
  handlers.resize(hubs.size());
  for (std::size_t i = 0; i < hubs.size(); ++i)
    handlers[i] = run_on(hubs[i], [this] { return std::make_unique<group>(settings.connections.name); });
  if (settings.connections.max_connections > 0)
    slots = std::make_unique<semaphore>(settings.connections.max_connections, settings.connections.name);
  run_on(hubs[0], [this, &self] {
    listener = tendril::listen(local, settings.connections.backlog);
    local = listener.local_endpoint();
    acceptor = spawn(spawn_options{.name = settings.connections.name + " accepting on " + local.to_string()},
                     [self] { self->accept_loop(self); });
  });
}

void runtime_server::state::accept_loop(const std::shared_ptr<state>& self) {
  detail::acceptor_backoff backoff;
  for (;;) {
    if (slots) slots->acquire();
    struct slot_guard {  // handed to the handler once it is spawned
      semaphore* slots;
      ~slot_guard() {
        if (slots != nullptr) slots->release();
      }
    } slot{slots.get()};
    endpoint peer;
    socket connection = detail::accept_next(listener, peer, settings.connections.name, backoff);
    std::size_t k = turn++ % hubs.size();
    accepted[k].fetch_add(1, std::memory_order_relaxed);
    spawn_options o{.name = settings.connections.name + " handler for " + peer.to_string()};
    spawn_on(
        hubs[k], std::move(o),
        [self, k, counted = slot.slots != nullptr](socket c, const endpoint& from) {
          slot_guard release{counted ? self->slots.get() : nullptr};
          self->handlers[k]->add(current_task());
          self->serve(std::move(c), from);
        },
        std::move(connection), peer);
    slot.slots = nullptr;  // the handler releases it
  }
}

// begin_stop(self, deadline): tasks that stop the server and destroy what
// each hub holds of it, on that hub; none if it was stopped already.
std::vector<task<bool>> runtime_server::state::begin_stop(const std::shared_ptr<state>& self,
                                                          clock::time_point deadline) {
  {
    std::lock_guard lock(mutex);
    if (std::exchange(stopping, true)) return {};
  }
  std::vector<task<bool>> stops;
  try {
    if (settings.spread == spreading::reuseport) {
      for (std::size_t i = 0; i < hubs.size(); ++i)
        stops.push_back(spawn_on(hubs[i], [self, i, deadline] {
          if (self->servers[i] == nullptr) return true;  // the constructor failed before it
          bool clean = self->servers[i]->stop(until(deadline));
          self->servers[i].reset();
          return clean;
        }));
    } else {
      stops.push_back(spawn_on(hubs[0], [self, deadline] {
        if (!self->acceptor.empty()) self->acceptor.kill();
        self->listener.close();
        std::vector<task<bool>> hubs_done;
        for (std::size_t i = 0; i < self->hubs.size(); ++i)
          hubs_done.push_back(spawn_on(self->hubs[i], [self, i, deadline] {
            if (self->handlers[i] == nullptr) return true;  // the constructor failed before it
            bool clean = self->handlers[i]->join(until(deadline));
            if (!clean) self->handlers[i]->kill();
            self->handlers[i].reset();
            return clean;
          }));
        bool clean = true;
        for (const task<bool>& t : hubs_done) clean = t.get() && clean;
        return clean;
      }));
    }
  } catch (const error&) {
    // A hub has exited, taking the server's tasks with it. What it held is
    // left as it is: a runtime_server must not outlive its runtime's hubs.
    for (auto& s : servers) (void)s.release();
    for (auto& h : handlers) (void)h.release();
  }
  return stops;
}

runtime_server::runtime_server(runtime& rt, const endpoint& local, stream_server::handler h)
    : runtime_server(rt, local, std::move(h), options{}) {}

runtime_server::runtime_server(runtime& rt, const endpoint& local, stream_server::handler h, options o)
    : state_(std::make_shared<state>()) {
  state& s = *state_;
  if (!h) throw error(o.connections.name + " on " + local.to_string() + ": no handler");
  s.rt = &rt;
  s.hubs = rt.hubs();
  s.local = local;
  s.serve = std::move(h);
  s.settings = std::move(o);
  try {
    if (s.settings.spread == spreading::reuseport)
      s.start_per_hub();
    else
      s.start_one_acceptor(state_);
  } catch (...) {
    for (const task<bool>& t : s.begin_stop(state_, clock::now())) t.join();
    throw;
  }
  std::weak_ptr<state> weak = state_;
  s.hook = rt.on_stop([weak](clock::time_point deadline) {
    if (auto self = weak.lock()) (void)self->begin_stop(self, deadline);  // the runtime waits for them
  });
}

runtime_server::~runtime_server() {
  try {
    stop(clock::duration::zero());
  } catch (...) {
    // Called from a handler: the handlers die with their hubs' servers.
  }
}

bool runtime_server::stop(clock::duration grace) {
  state_->rt->remove_stop_hook(state_->hook);
  bool clean = true;
  for (const task<bool>& t : state_->begin_stop(state_, deadline_after(grace))) clean = t.get() && clean;
  return clean;
}

endpoint runtime_server::local_endpoint() const { return state_->local; }

std::vector<std::size_t> runtime_server::accepted() const {
  std::vector<std::size_t> counts;
  for (std::size_t i = 0; i < state_->hubs.size(); ++i) {
    if (state_->settings.spread == spreading::one_acceptor) {
      counts.push_back(state_->accepted[i].load(std::memory_order_relaxed));
      continue;
    }
    counts.push_back(run_on(state_->hubs[i], [self = state_, i] {
      return self->servers[i] != nullptr ? self->servers[i]->accepted() : std::size_t{0};
    }));
  }
  return counts;
}

}  // namespace tendril
