// Task handles used on a thread that does not run the task.
//
// Invariants:
// - A task's listener list, its kill and its start belong to its hub's
//   thread; other threads reach them by mail (hub_registry::deliver_request),
//   which the hub handles in posting order, so a request to stop listening
//   always follows the request that started it.
// - A request reaches the hub the task runs on. A task stolen by another
//   hub (runtime::spawn's, before it started) moves only while no request
//   about it waits at its first hub, and requests check its home under
//   the mail lock of the hub they are queued at (hub::take_request), so
//   every request about a task is queued at one hub, in order.
// - A remote listener lives on the heap, shared by the waiter and the
//   task's hub (two references): either may be gone first.
// - The outcome is read with acquire (task_state::result), so the error
//   and the value written before it are visible to the thread that read it.
//
// Rejected: a lock on every task's listener list, so that other threads
// could add themselves directly. It would cost every local spawn and join
// two locked instructions for the sake of the rarer remote join.

#include "remote_task.hpp"

#include <atomic>

#include "hub.hpp"
#include "hub_registry.hpp"
#include "task_state.hpp"

namespace tendril::detail {

namespace {

std::string describe_remote_join(const wait_reason& why) {
  return "joining " + static_cast<const task_state*>(why.object)->describe() + " on another hub";
}

[[noreturn]] void hub_gone(task_state* t, const char* what) {
  throw error("cannot " + std::string(what) + " " + t->describe() + ": its hub " +
              std::to_string(t->home.load(std::memory_order_relaxed)) + " has exited and it never finished");
}

// A join from another thread.
struct remote_joiner final : remote_listener {
  remote_signal signal;
  bool finished = false;  // guarded by signal.mutex

  static void finish(task_listener* l, task_state*) noexcept {
    auto* self = static_cast<remote_joiner*>(l);
    {
      std::lock_guard lock(self->signal.mutex);
      self->finished = true;
      self->signal.raise();
    }
    self->drop();
  }
};

// post(t, fn) runs fn() on t's hub, in order with the other requests
// about it; false if it has exited.
template <class F>
bool post(task_state* t, F fn) {
  mail m;
  m.fn = std::move(fn);
  return hub_registry::deliver_request(t, std::move(m));
}

}  // namespace

bool remote_listen(task_state* t, remote_listener* l) {
  for (;;) {
    switch (remote_listen_all(t->home.load(std::memory_order_relaxed), {{t, l}})) {
      case hub_registry::delivery::delivered:
        return true;
      case hub_registry::delivery::gone:
        return false;
      case hub_registry::delivery::moved:
        break;  // stolen meanwhile: ask where it went
    }
  }
}

hub_registry::delivery remote_listen_all(
    std::uint64_t home, const std::vector<std::pair<task_state*, remote_listener*>>& listeners) {
  std::vector<std::pair<task_base, remote_listener*>> kept;  // the tasks live until the request is handled
  std::vector<task_state*> about;
  kept.reserve(listeners.size());
  about.reserve(listeners.size());
  for (auto [t, l] : listeners) {
    kept.emplace_back(task_base(t->retain()), l);
    about.push_back(t);
  }
  mail m;
  m.fn = [kept = std::move(kept)] {
    for (const auto& [keep, l] : kept) {
      task_state* s = keep.state();
      if (s->ready())
        l->notify(l, s);
      else
        s->add_listener(l);
    }
  };
  return hub_registry::deliver_request(home, about, std::move(m));
}

void stop_listening(task_state* t, remote_listener* l, bool told) noexcept {
  if (!told) {
    // The request holds a reference of its own: the task may finish, and
    // tell `l` (dropping the hub's), before the request is handled.
    l->retain();
    bool posted = false;
    try {
      task_base keep(t->retain());
      posted = post(t, [keep, l] {
        if (l->linked) {  // not told meanwhile
          keep.state()->remove_listener(l);
          l->drop();  // the hub's
        }
        l->drop();  // the request's
      });
    } catch (...) {
      // Out of memory: `l` stays listed, and is freed when the task finishes.
    }
    if (!posted)
      l->drop();  // the request's; a hub that has exited tells no one, so
                  // `l` stays referenced by it (a small leak, only then)
  }
  l->drop();  // the waiting side's
}

bool remote_join(task_state* t, clock::time_point deadline) {
  if (t->ready()) return true;
  auto* joiner = new remote_joiner;
  joiner->notify = &remote_joiner::finish;
  if (!remote_listen(t, joiner)) {
    delete joiner;
    if (t->ready()) return true;
    hub_gone(t, "join");
  }
  struct drop_on_exit {
    remote_joiner* joiner;
    task_state* t;
    ~drop_on_exit() {
      bool told;
      {
        std::lock_guard lock(joiner->signal.mutex);
        told = joiner->finished;
      }
      stop_listening(t, joiner, told);
    }
  } cleanup{joiner, t};
  std::unique_lock lock(joiner->signal.mutex);
  // Only the task can end this wait: dumps follow the edge to it, across hubs.
  const wait_reason why{.what = "task",
                        .object = t,
                        .describe = &describe_remote_join,
                        .remote = true,
                        .held_by = &task_state::held_by_joined};
  return joiner->signal.wait(lock, why, deadline, [joiner] { return joiner->finished; });
}

std::optional<bool> remote_ask(task_state* t, bool (*fn)(task_state* t, std::uint64_t arg) noexcept,
                               std::uint64_t arg) {
  struct answer {
    remote_signal signal;
    bool given = false;  // guarded by signal.mutex
    bool value = false;
  };
  auto a = std::make_shared<answer>();
  task_base keep(t->retain());
  if (!post(t, [a, keep, fn, arg] {
        bool value = fn(keep.state(), arg);
        std::lock_guard lock(a->signal.mutex);
        a->value = value;
        a->given = true;
        a->signal.raise();
      }))
    return std::nullopt;
  std::unique_lock lock(a->signal.mutex);
  const wait_reason why{.what = "an answer from a task's hub", .object = t, .remote = true};
  a->signal.wait(lock, why, no_deadline, [&] { return a->given; });
  return a->value;
}

void remote_kill(task_state* t, std::exception_ptr error) {
  int none = 0;
  if (t->early_kill.compare_exchange_strong(none, 1, std::memory_order_acquire)) {
    t->early_kill_error = error;
    t->early_kill.store(2, std::memory_order_release);
  }
  task_base keep(t->retain());
  if (!post(t, [keep, error] { keep.kill(error, /*block=*/false); }) && !t->ready()) hub_gone(t, "kill");
}

}  // namespace tendril::detail
