#pragma once
// Every hub alive in the process, by id: how another thread reaches a hub
// that may have exited (hub_ref, spawn_on, a task handle used elsewhere).
//
// A hub is in the registry from its construction until its thread starts
// tearing it down; delivering mail holds the registry's lock, so a hub that
// has left it never receives another item.

#include <cstdint>
#include <type_traits>
#include <vector>

namespace tendril {
class hub_ref;
}

namespace tendril::detail {

class hub;
class task_state;
struct mail;

namespace hub_registry {

void add(hub* h);
/// Around fork() (fork.cpp): the registry's lock is held across it, and
/// the child forgets every hub (their threads are not in the child).
void lock_for_fork() noexcept;
void unlock_after_fork() noexcept;
void forget_all_after_fork() noexcept;
/// all() names every hub alive now, oldest first (a dump's list).
std::vector<hub_ref> all();
void remove(hub* h) noexcept;

/// deliver(id, m) queues `m` to the hub with that id and rouses its loop.
/// Returns false (leaving `m` untouched) when no such hub is alive.
bool deliver(std::uint64_t id, mail&& m);

enum class delivery { delivered, moved, gone };
/// deliver_request(id, about, m) delivers a request about the tasks `about`
/// to their hub `id`, if they all still live there: `moved` when one has
/// been stolen by another hub meanwhile (read its home again), `gone` when
/// the hub has exited. `m` is untouched unless delivered.
delivery deliver_request(std::uint64_t id, const std::vector<task_state*>& about, mail&& m);
/// deliver_request(t, m) delivers a request about `t` to wherever it
/// lives; false when its hub has exited.
bool deliver_request(task_state* t, mail&& m);

bool visit_untyped(std::uint64_t id, void (*fn)(const hub& h, void* context), void* context);

/// visit(id, fn) calls fn(hub) under the registry's lock (so the hub
/// cannot go away meanwhile; fn must only read its thread-safe parts).
/// Returns false when no such hub is alive.
template <class F>
bool visit(std::uint64_t id, F&& fn) {
  using callable = std::remove_reference_t<F>;
  return visit_untyped(
      id, [](const hub& h, void* context) { (*static_cast<callable*>(context))(h); }, &fn);
}

}  // namespace hub_registry

}  // namespace tendril::detail
