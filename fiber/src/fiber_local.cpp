// fiber_local keys and per-greenlet slots.
//
// A key is an index into each greenlet's slot vector plus a generation, so a
// freed and reused index never hands a new fiber_local the value of an old
// one: a slot whose generation differs is treated as empty.

#include <tendril/fiber/fiber_local.hpp>

#include <mutex>
#include <vector>

#include "greenlet_state.hpp"
#include "lifetime.hpp"
#include "thread_state.hpp"

namespace tendril::detail {
namespace {

// PTHREAD_DESTRUCTOR_ITERATIONS' reasoning: destructors may set values again.
constexpr int destructor_rounds = 4;

struct key_registry {
  std::mutex mutex;
  std::vector<std::uint32_t> generations;
  std::vector<std::uint32_t> free_indices;
};

key_registry& registry() {
  static key_registry* r = new key_registry;  // leaked: fiber_locals may die during static destruction
  return *r;
}

}  // namespace

fiber_local_key new_fiber_local_key() {
  key_registry& r = registry();
  std::lock_guard lock(r.mutex);
  if (!r.free_indices.empty()) {
    std::uint32_t index = r.free_indices.back();
    r.free_indices.pop_back();
    return {index, ++r.generations[index]};
  }
  r.generations.push_back(1);
  return {static_cast<std::uint32_t>(r.generations.size() - 1), 1};
}

void free_fiber_local_key(fiber_local_key key) noexcept {
  key_registry& r = registry();
  std::lock_guard lock(r.mutex);
  r.free_indices.push_back(key.index);
}

void* fiber_local_get(fiber_local_key key) noexcept {
  const std::vector<fiber_local_slot>& slots = thread_state::get()->current->locals;
  if (key.index >= slots.size()) return nullptr;
  const fiber_local_slot& slot = slots[key.index];
  return slot.generation == key.generation ? slot.value : nullptr;
}

void fiber_local_set(fiber_local_key key, void* value, void (*destroy)(void*) noexcept) {
  std::vector<fiber_local_slot>& slots = thread_state::get()->current->locals;
  if (key.index >= slots.size()) slots.resize(key.index + 1);
  fiber_local_slot old = std::exchange(slots[key.index], fiber_local_slot{value, destroy, key.generation});
  if (old.value != nullptr) old.destroy(old.value);
}

void destroy_fiber_locals(greenlet_state* g) noexcept {
  for (int round = 0; round < destructor_rounds && !g->locals.empty(); ++round) {
    std::vector<fiber_local_slot> slots;
    slots.swap(g->locals);
    for (const fiber_local_slot& slot : slots) {
      if (slot.value != nullptr) slot.destroy(slot.value);
    }
  }
}

}  // namespace tendril::detail
