// The registry of live hubs. Few hubs exist at once (one per thread that
// used tendril), so a vector searched linearly under one mutex is the map;
// it is touched only when work crosses threads by id, not by a wake.

#include "hub_registry.hpp"

#include <algorithm>
#include <mutex>
#include <vector>

#include "hub.hpp"
#include "task_state.hpp"

// The debugger's way in (tools/tendril-gdb.py, docs/gdb.md): the live hubs,
// set when the registry is made and never cleared, so that a debugger finds
// them in a live process or a core file without naming the function-local
// static below. A debugger reads them without the lock: the process is
// stopped. C linkage keeps the name plain; `used` keeps the variable though
// nothing in the program reads it.
extern "C" {
extern const std::vector<tendril::detail::hub*>* tendril_debug_hubs;
[[gnu::used]] constinit const std::vector<tendril::detail::hub*>* tendril_debug_hubs = nullptr;
}

namespace tendril::detail::hub_registry {

namespace {

struct registry {
  std::mutex mutex;
  std::vector<hub*> hubs;

  hub* find(std::uint64_t id) const noexcept {
    auto it = std::find_if(hubs.begin(), hubs.end(), [id](const hub* h) { return h->id() == id; });
    return it != hubs.end() ? *it : nullptr;
  }
};

registry& the_registry() {
  static registry* r = [] {
    auto* made = new registry;  // never destroyed: threads may outlive static destruction
    tendril_debug_hubs = &made->hubs;
    return made;
  }();
  return *r;
}

}  // namespace

void add(hub* h) {
  registry& r = the_registry();
  std::lock_guard lock(r.mutex);
  r.hubs.push_back(h);
}

void lock_for_fork() noexcept { the_registry().mutex.lock(); }
void unlock_after_fork() noexcept { the_registry().mutex.unlock(); }
void forget_all_after_fork() noexcept {
  // Not freed: their memory belongs to fibers left suspended in the child,
  // and kept reachable from here, as a leak checker expects.
  static auto* left_behind = new std::vector<hub*>;
  std::vector<hub*>& hubs = the_registry().hubs;
  left_behind->insert(left_behind->end(), hubs.begin(), hubs.end());
  hubs.clear();
}

std::vector<hub_ref> all() {
  registry& r = the_registry();
  std::lock_guard lock(r.mutex);
  std::vector<hub_ref> refs;
  refs.reserve(r.hubs.size());
  for (const hub* h : r.hubs) refs.push_back(h->ref());
  return refs;
}

void remove(hub* h) noexcept {
  registry& r = the_registry();
  std::lock_guard lock(r.mutex);
  std::erase(r.hubs, h);
}

bool deliver(std::uint64_t id, mail&& m) {
  registry& r = the_registry();
  hub* target = nullptr;
  {
    std::lock_guard lock(r.mutex);
    target = r.find(id);
    if (target == nullptr) return false;
    target->take_mail(std::move(m));
  }
  // Outside the registry's lock (a system call); the hub waits for this
  // notify before it is destroyed (take_mail counted it).
  target->notify(1);
  return true;
}

delivery deliver_request(std::uint64_t id, const std::vector<task_state*>& about, mail&& m) {
  registry& r = the_registry();
  hub* target = nullptr;
  {
    std::lock_guard lock(r.mutex);
    target = r.find(id);
    if (target == nullptr) return delivery::gone;
    if (!target->take_request(about, std::move(m))) return delivery::moved;
  }
  target->notify(1);
  return delivery::delivered;
}

bool deliver_request(task_state* t, mail&& m) {
  const std::vector<task_state*> about{t};
  for (;;) {
    switch (deliver_request(t->home.load(std::memory_order_relaxed), about, std::move(m))) {
      case delivery::delivered:
        return true;
      case delivery::gone:
        return false;
      case delivery::moved:
        break;  // stolen since the read: once, as a task is placed only once
    }
  }
}

bool visit_untyped(std::uint64_t id, void (*fn)(const hub& h, void* context), void* context) {
  registry& r = the_registry();
  std::lock_guard lock(r.mutex);
  hub* h = r.find(id);
  if (h == nullptr) return false;
  fn(*h, context);
  return true;
}

}  // namespace tendril::detail::hub_registry
