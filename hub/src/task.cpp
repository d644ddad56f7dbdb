// Tasks: spawning, finishing, joining, killing, linking.
//
// Invariants:
// - A task's state is allocated with its typed body behind it; the hub holds
//   one reference from spawn until the task has finished.
// - The outcome is set exactly once, by finish_task, on the task's thread:
//   on the task's own greenlet when it ran, or by the killer when it was
//   killed before starting (its greenlet then never gets a stack).
// - Listeners (joins, iwait, joinall, links) are told in registration order,
//   right after the outcome is set and before the task's greenlet dies.
//
// Rejected: catching a task's exception in the hub as the greenlet's escaping
// exception. The hub would have to map the dying greenlet back to its task;
// catching it in task_main stores it where get() finds it. That catch is the
// one place an exception stops in tendril, and it is not swallowed: get(),
// exception() and the unobserved-failure report all rethrow or show it.

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <new>

#include <tendril/hub/task.hpp>

#include "fork.hpp"
#include "hub.hpp"
#include "hub_registry.hpp"
#include "task_state.hpp"

namespace tendril::detail {

namespace {

std::size_t body_offset_for(std::size_t align) { return (sizeof(task_state) + align - 1) / align * align; }

// The run of every task's greenlet.
void task_main(task_state* t) noexcept {
  t->started = true;
  task_outcome outcome = task_outcome::succeeded;
  std::exception_ptr error;
  try {
    if (t->early_kill.load(std::memory_order_acquire) == 2) [[unlikely]]
      std::rethrow_exception(t->early_kill_error);  // killed from another thread before it started
    t->vtable->run(t->body());
  } catch (const greenlet_exit&) {
    outcome = task_outcome::killed;
    error = std::current_exception();
  } catch (...) {
    outcome = task_outcome::failed;  // kept for get() and the report; see "Rejected" above
    error = std::current_exception();
  }
  hub& h = t->owner();
  if (h.forked_away()) [[unlikely]]
    end_forked_child(t, outcome == task_outcome::succeeded ? nullptr : error);
  greenlet_state* self = t->record.state;
  finish_task(t, outcome, std::move(error));  // may free t
  h.hand_over_finished(self);
}

}  // namespace

std::string task_state::describe() const {
  std::string name = greenlet.name();
  std::string text = "task " + std::to_string(greenlet.id());
  if (!name.empty()) text += " \"" + name + '"';
  return text;
}

bool task_state::on_this_thread() const noexcept {
  hub* h = hub::find();
  return h != nullptr && placed.load(std::memory_order_acquire) &&
         h->id() == home.load(std::memory_order_relaxed);
}

void task_state::release() noexcept {
  // Holding the only reference, nobody can take another concurrently: the
  // last release needs no atomic read-modify-write (about 13 ns each on a
  // virtual machine), which is most of a spawn+join's other releases.
  if (refs.load(std::memory_order_acquire) != 1 && refs.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  if (result() == task_outcome::failed && !observed.load(std::memory_order_acquire)) {
    refs.store(1, std::memory_order_relaxed);  // a handle for the report
    observed.store(true, std::memory_order_relaxed);
    task_base handle(this);
    if (on_this_thread()) {
      record.owner.load(std::memory_order_acquire)->report_failure(handle, error);
      return;  // the handle's destructor frees the state
    }
    // Reported on the task's own thread, by its handler, as if dropped there.
    mail report;
    report.fn = [handle] { hub::get().report_failure(handle, handle.state()->error); };
    if (!hub_registry::deliver(home.load(std::memory_order_relaxed), std::move(report))) {
      std::string name = greenlet.name();
      std::fprintf(stderr, "task \"%s\" (id %llu) failed (its hub has exited)\n", name.c_str(),
                   static_cast<unsigned long long>(greenlet.id()));
    }
    return;  // the last handle (here, or in the report) frees the state
  }
  if (vtable != nullptr) vtable->destroy(body());
  hub* owner = record.owner;
  bool cached = cached_block;
  this->~task_state();
  if (cached && owner != nullptr && hub::find() == owner)
    owner->keep_task_block(this);
  else
    ::operator delete(this);
}

void task_state::add_listener(task_listener* l) noexcept {
  l->prev = listeners_tail;
  l->next = nullptr;
  if (listeners_tail != nullptr)
    listeners_tail->next = l;
  else
    listeners_head = l;
  listeners_tail = l;
  l->linked = true;
}

void task_state::remove_listener(task_listener* l) noexcept {
  if (!l->linked) return;
  if (l->prev != nullptr)
    l->prev->next = l->next;
  else
    listeners_head = l->next;
  if (l->next != nullptr)
    l->next->prev = l->prev;
  else
    listeners_tail = l->prev;
  l->prev = l->next = nullptr;
  l->linked = false;
}

task_state* new_task(std::size_t body_size, std::size_t body_align, const task_vtable* vtable,
                     std::uint64_t home) {
  // The hub it runs on, when that is this thread's; null for spawn_on from
  // another thread (the task's hub takes it in: see hub::take_in).
  hub* here = home == 0 ? &hub::get() : hub::find();
  if (here != nullptr && here->id() != home && home != 0) here = nullptr;
  std::size_t align = std::max(body_align, alignof(task_state));
  if (align > __STDCPP_DEFAULT_NEW_ALIGNMENT__)
    throw error("spawn: over-aligned task callables are not supported");
  std::size_t offset = body_offset_for(align);
  bool cached = offset + body_size <= hub::task_block_bytes;
  void* memory = cached && here != nullptr ? here->take_task_block() : nullptr;
  if (memory == nullptr) memory = ::operator new(cached ? hub::task_block_bytes : offset + body_size);
  return ::new (memory) task_state(here, here != nullptr ? here->id() : home, vtable, offset, cached);
}

void* task_body_of(task_state* state) noexcept { return state->body(); }

void discard_task(task_state* state) noexcept {
  state->vtable = nullptr;  // the body was never constructed
  state->release();
}

void schedule_task(task_state* t, spawn_request&& request) {
  // The spawner's reference and the hub's, dropped by finish_task; nobody
  // else has the state yet.
  t->refs.store(2, std::memory_order_relaxed);
  if (t->record.owner != nullptr) {
    start_task(t, std::move(request));
    return;
  }
  hub_ref where(t->home.load(std::memory_order_relaxed), request.home_thread);
  if (!hub_registry::deliver(where.id(), mail{{}, t, std::move(request), {}})) {
    t->refs.store(1, std::memory_order_relaxed);
    throw error("cannot spawn on " + where.describe() + ": its thread has exited");
  }
}

void start_task(task_state* t, spawn_request&& request) {
  hub& h = t->owner();
  // Most tasks are unnamed: an empty name is made, not moved (a move copies).
  t->greenlet = tendril::greenlet([t] { task_main(t); }, h.greenlet(),
                                  {.name = request.name.empty() ? std::string() : std::move(request.name),
                                   .stack_size = request.stack_size});
  t->record.state = t->greenlet.state();
  set_greenlet_tag(t->record.state, &t->record);  // dead before t goes: never cleared
  if (request.delay > clock::duration::zero()) {
    t->start_timer = std::make_unique<timer>(
        [](timer& fired) noexcept {
          auto* task = static_cast<task_state*>(fired.context());
          task->owner().make_ready(&task->record);
        },
        t);
    t->start_timer->start(h.loop(), deadline_after(request.delay));
  }
  h.add_task(t);
  t->placed.store(true, std::memory_order_release);
}

void finish_task(task_state* t, task_outcome outcome, std::exception_ptr error) noexcept {
  hub& h = t->owner();
  t->start_timer.reset();
  t->error = std::move(error);
  if (t->vtable != nullptr && outcome != task_outcome::succeeded) {
    t->vtable->destroy(t->body());  // no result to keep: release the captures now
    t->vtable = nullptr;
  }
  t->outcome.store(outcome, std::memory_order_release);  // after the error and the result
  while (task_listener* l = t->listeners_head) {
    t->remove_listener(l);
    l->notify(l, t);
  }
  h.forget_task(&t->record);
  t->release();  // the hub's reference
}

}  // namespace tendril::detail
