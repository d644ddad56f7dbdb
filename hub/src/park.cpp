// park/unpark, sleep and yield: the public face of hub.cpp's scheduler.
//
// Invariants:
// - A waker is (record, park id); the id of a park is taken when it starts,
//   so a waker made for one park can never end a later one.
// - A wake on the record's own thread goes straight to hub::wake; from any
//   other thread it is queued (hub::wake_remote) and applied by the hub.
//
// Rejected: waking through a shared, reference-counted token per park (a
// heap allocation per wait, and two atomics, for the rare cross-thread case).

#include <tendril/hub/park.hpp>

#include <cstdio>

#include <tendril/fiber/detail/state_access.hpp>
#include <tendril/hub/sleep.hpp>
#include <tendril/hub/timeout.hpp>

#include "hub.hpp"
#include "task_state.hpp"

namespace tendril {

std::string wait_reason::text() const {
  if (describe != nullptr) return describe(*this);
  if (object == nullptr) return what;
  char address[32];
  std::snprintf(address, sizeof address, " %p", object);
  return what + std::string(address);
}

std::string detail::fiber_record::describe() const {
  if (task != nullptr) return task->describe();
  return greenlet(detail::retain_state(state)).describe();
}

waker waker::current() {
  detail::fiber_record* self = detail::hub::get().current_record();
  // The next park; while the fiber is parked (a waker taken on its behalf), this one.
  std::uint32_t id = self->status == detail::fiber_status::running ? self->park_id + 1 : self->park_id;
  return waker(self, id);
}

bool waker::wake_with(std::exception_ptr error) const {
  if (record_ == nullptr) return false;
  detail::hub* owner = record_->owner;
  if (owner->on_own_thread()) return owner->wake(record_, park_id_, std::move(error));
  owner->wake_remote(record_, park_id_, std::move(error));
  return true;
}

namespace {
// The loops this thread's deferred wakes went to, each once, with how many
// wakes each was sent. More distinct hubs than this under one lock is rare;
// the extra ones are roused at once.
struct deferred_notify {
  detail::hub* hub;
  int wakes;
};
constexpr int max_deferred_hubs = 8;
thread_local deferred_notify deferred[max_deferred_hubs];
thread_local int deferred_count = 0;
}  // namespace

thread_local constinit bool detail::deferred_wakes_pending = false;

bool waker::wake_deferred() const {
  if (record_ == nullptr) return false;
  detail::hub* owner = record_->owner;
  if (owner->on_own_thread()) return owner->wake(record_, park_id_, nullptr);
  owner->queue_remote_wake(record_, park_id_, nullptr);
  for (int i = 0; i < deferred_count; ++i)
    if (deferred[i].hub == owner) {
      ++deferred[i].wakes;
      return true;
    }
  if (deferred_count == max_deferred_hubs) {
    owner->notify(1);
    return true;
  }
  deferred[deferred_count++] = {owner, 1};
  detail::deferred_wakes_pending = true;
  return true;
}

void detail::send_deferred_wakes() noexcept {
  // Each hub stays alive until its wakes are counted notified (hub::notify).
  for (int i = 0; i < deferred_count; ++i) deferred[i].hub->notify(deferred[i].wakes);
  deferred_count = 0;
  deferred_wakes_pending = false;
}

std::string waker::describe() const { return record_ != nullptr ? record_->describe() : "no fiber"; }

const void* detail::current_fiber_id() {
  detail::hub* h = detail::hub::find();
  return h != nullptr ? h->current_record() : nullptr;
}

std::string detail::describe_fiber(const void* fiber_id) {
  return static_cast<const detail::fiber_record*>(fiber_id)->describe();
}

bool park(const wait_reason& why, clock::time_point deadline) {
  detail::hub& h = detail::hub::get();
  return h.park(h.current_record(), why, deadline);
}

bool this_thread_has_hub() noexcept { return detail::hub::find() != nullptr; }

// The three below serve patch/: its interposed libc calls park only where a
// park is legal, and turn interrupts into ECANCELED without unwinding C frames.
bool detail::can_park() noexcept {
  detail::hub* h = detail::hub::find();
  // A hub implies the fiber layer's thread state: current_greenlet_state() cannot throw.
  return h != nullptr && detail::current_greenlet_state() != h->greenlet().state();
}

bool detail::interrupt_pending() {
  if (!can_park()) return false;
  const detail::fiber_record* self = detail::hub::get().current_record();
  return (self->interrupt != nullptr || self->expired_timeouts != 0) && !self->shielded;
}

void detail::defer_interrupt(std::exception_ptr e) noexcept {
  if (!can_park() || e == nullptr) return;
  try {
    std::rethrow_exception(e);
  } catch (const timeout_error&) {
    return;  // its scope stays expired, and raises again at the next park
  } catch (...) {
    // Not swallowed: kept in the record, the next park() rethrows it.
  }
  // park() has just run here, so the fiber's record exists: this cannot throw.
  detail::fiber_record* self = detail::hub::get().current_record();
  if (self->interrupt == nullptr) self->interrupt = std::move(e);
}

void detail::settle_remote_wakes() {
  detail::hub& h = detail::hub::get();
  h.settle_remote_wakes(h.current_record());
}

detail::interrupt_shield::interrupt_shield() {
  if (!this_thread_has_hub()) return;
  detail::fiber_record* self = detail::hub::get().current_record();
  shielded_ = &self->shielded;
  was_ = std::exchange(self->shielded, true);
}

detail::interrupt_shield::~interrupt_shield() {
  if (shielded_ != nullptr) *shielded_ = was_;
}

void yield() {
  detail::hub& h = detail::hub::get();
  h.yield(h.current_record());
}

void sleep_until(clock::time_point t) {
  detail::hub& h = detail::hub::get();
  detail::fiber_record* self = h.current_record();
  if (t <= clock::now()) {
    h.yield(self);
    return;
  }
  while (h.park(self, {"sleep"}, t)) {
    // Woken early by a stray waker: sleep on until the deadline.
  }
}

void sleep(clock::duration d) {
  if (d <= clock::duration::zero()) {
    yield();
    return;
  }
  sleep_until(deadline_after(d));
}

}  // namespace tendril
