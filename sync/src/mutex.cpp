// mutex and recursive_mutex.
//
// state_ holds the holder's token: the fiber_id of a fiber, or for a plain
// thread its pthread_t tagged with bit 1 (both are aligned, so bits 0 and 1
// are free). Bit 0, `queued`, says fibers may wait in waiters_.
//
// Invariants:
// - Free is state_ == 0. Uncontended lock is one compare-exchange from 0 to
//   the caller's token, and unlock one from the token back to 0.
// - Once a waiter is queued, `queued` stays set until an unlock under lock_
//   finds the list empty; so the fast unlock fails while anyone waits, and
//   unlock with waiters hands ownership to the longest waiter (state_
//   becomes its token) without state_ ever being 0 in between: nobody
//   barges in ahead of the waiters.
// - Only the holder's slow unlock (or pass_on) changes a queued state_, and
//   waiters set `queued` under lock_; the fast paths touch state_ alone.
//
// Rejected: letting a newcomer take a just-released lock ahead of the
// waiters (Boost.Fiber and Go's normal mode do, for throughput); issue 4
// asks for FIFO hand-over, which also makes the holder of every parked
// fiber's mutex well defined for the deadlock report.

#include <tendril/sync/mutex.hpp>

#include <pthread.h>

#include <mutex>
#include <sstream>

#include <tendril/error.hpp>
#include <tendril/fiber/detail/state_access.hpp>

namespace tendril {

namespace {

constexpr std::uintptr_t queued = 1;
constexpr std::uintptr_t thread_tag = 2;

// token_of_caller() is the calling fiber's token, or the calling thread's
// when it has no hub. A fiber the hub knows is tagged with its id: one
// thread-local load, where asking the hub costs two calls (about 3.5 ns of
// an uncontended lock+unlock's 8.4).
std::uintptr_t token_of_caller() {
  if (const void* fiber = detail::current_greenlet_tag()) [[likely]]
    return reinterpret_cast<std::uintptr_t>(fiber);
  if (const void* fiber = detail::current_fiber_id()) return reinterpret_cast<std::uintptr_t>(fiber);
  return static_cast<std::uintptr_t>(::pthread_self()) | thread_tag;
}

std::uintptr_t holder_token(std::uintptr_t state) noexcept { return state & ~queued; }

// describe_token(t) is the fiber's description, or `thread <id>` as
// std::thread::id prints it.
std::string describe_token(std::uintptr_t token) {
  if ((token & thread_tag) == 0) return detail::describe_fiber(reinterpret_cast<const void*>(token));
  std::ostringstream out;
  out << "thread " << static_cast<unsigned long>(token & ~thread_tag);
  return out.str();
}

}  // namespace

mutex::~mutex() = default;

std::string mutex::describe_wait(const wait_reason& why) {
  auto* self = static_cast<const mutex*>(why.object);
  return self->describe();
}

const void* mutex::holder_of(const wait_reason& why) {
  auto* self = static_cast<const mutex*>(why.object);
  std::uintptr_t holder = holder_token(self->state_.load(std::memory_order_acquire));
  return holder == 0 || (holder & thread_tag) != 0 ? nullptr : reinterpret_cast<const void*>(holder);
}

bool mutex::try_lock() { return try_lock_until(clock::time_point::min()); }

bool mutex::try_lock_until(clock::time_point deadline) {
  std::uintptr_t me = token_of_caller();
  std::uintptr_t free = 0;
  if (state_.compare_exchange_strong(free, me, std::memory_order_acquire, std::memory_order_relaxed))
      [[likely]]
    return true;
  return lock_slow(me, deadline);
}

bool mutex::lock_slow(std::uintptr_t me, clock::time_point deadline) {
  lock_.lock();
  std::uintptr_t state = state_.load(std::memory_order_relaxed);
  for (;;) {
    if (state == 0) {
      // Released meanwhile, with nobody queued (else it would be handed over).
      if (state_.compare_exchange_weak(state, me, std::memory_order_acquire, std::memory_order_relaxed)) {
        lock_.unlock();
        return true;
      }
      continue;
    }
    if (holder_token(state) == me) {
      lock_.unlock();
      throw error(describe_token(me) + " already holds " + detail::describe_object("mutex", name_, this) +
                  " (locking it again would wait forever; use recursive_mutex to re-enter)");
    }
    if (deadline == clock::time_point::min()) {
      lock_.unlock();
      return false;
    }
    // Queued before the holder can release: its fast unlock now fails, and
    // its slow one (which takes lock_) finds this waiter.
    if ((state & queued) != 0 ||
        state_.compare_exchange_weak(state, state | queued, std::memory_order_relaxed,
                                     std::memory_order_relaxed))
      break;
  }
  detail::waiter w;
  w.payload = &me;  // the granter makes the waiter the holder
  // remote: the holder may be on another thread; but a holder parked on
  // this hub is known (holder_of), so a deadlock here is still reported.
  const wait_reason why{"mutex", this, 0, &describe_wait, /*remote=*/true, &holder_of};
  return detail::wait_granted(lock_, waiters_, w, deadline, why, &pass_on, this);
}

void mutex::unlock() {
  std::uintptr_t me = token_of_caller();
  std::uintptr_t held = me;
  if (state_.compare_exchange_strong(held, 0, std::memory_order_release, std::memory_order_relaxed))
      [[likely]]
    return;
  unlock_slow(me);
}

void mutex::unlock_slow(std::uintptr_t me) {
  std::lock_guard guard(lock_);
  std::uintptr_t holder = holder_token(state_.load(std::memory_order_relaxed));
  if (holder != me) {
    std::string held = holder != 0 ? "held by " + describe_token(holder) : "not locked";
    throw error(describe_token(me) + " unlocked " + detail::describe_object("mutex", name_, this) +
                ", which it does not hold (" + held + ")");
  }
  hand_over_locked();
}

// Ownership granted to a waiter interrupted at that moment goes on to the next.
void mutex::pass_on(void* self, detail::waiter&) noexcept { static_cast<mutex*>(self)->hand_over_locked(); }

void mutex::hand_over_locked() noexcept {
  detail::waiter* next = waiters_.pop_front();
  if (next == nullptr) {
    state_.store(0, std::memory_order_release);
    return;
  }
  std::uintptr_t token = *static_cast<std::uintptr_t*>(next->payload);
  state_.store(waiters_.empty() ? token : token | queued, std::memory_order_release);
  detail::grant(*next);
}

bool mutex::held_by_caller() const {
  return holder_token(state_.load(std::memory_order_acquire)) == token_of_caller();
}

std::string mutex::describe() const {
  std::lock_guard guard(lock_);
  std::string text = detail::describe_object("mutex", name_, this);
  if (std::uintptr_t holder = holder_token(state_.load(std::memory_order_acquire)); holder != 0)
    text += " held by " + describe_token(holder);
  return text;
}

bool recursive_mutex::try_lock_until(clock::time_point deadline) {
  if (inner_.held_by_caller()) {
    ++depth_;
    return true;
  }
  if (!inner_.try_lock_until(deadline)) return false;
  depth_ = 1;
  return true;
}

void recursive_mutex::unlock() {
  if (!inner_.held_by_caller()) inner_.unlock();  // throws, naming the caller and the holder
  if (--depth_ == 0) inner_.unlock();
}

}  // namespace tendril
