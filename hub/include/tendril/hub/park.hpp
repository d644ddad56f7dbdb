#pragma once
// park/unpark: the one way a fiber waits. Everything in tendril that blocks
// (sleep, join, timeouts, locks, queues, sockets) is built on it.
//
//   waker w = waker::current();        // who to wake: this fiber, its next park
//   waiters.push_back(&w);             // publish it where the waking side finds it
//   park({"queue", this});             // suspend until someone calls w.wake()
//
// A fiber parks on its thread's hub; the hub runs other fibers and its libev
// loop until a waker, a deadline, a kill or a timeout makes it ready again.
// Wake-ups never resume a fiber at once: they queue it, and the hub (or the
// next fiber that parks) switches to it in FIFO order.

#include <chrono>
#include <cstdint>
#include <exception>
#include <string>

namespace tendril {

/// The clock of every deadline in tendril (libev's monotonic clock too).
using clock = std::chrono::steady_clock;
/// no_deadline is a deadline that never passes.
inline constexpr clock::time_point no_deadline = clock::time_point::max();

/// deadline_after(d) is now + d, saturating at no_deadline.
inline clock::time_point deadline_after(clock::duration d) noexcept {
  clock::time_point now = clock::now();
  return d >= no_deadline - now ? no_deadline : now + d;
}

/// wait_reason says what a parked fiber waits on; dumps and the
/// would-block-forever report show it. Keep it cheap: static text and a pointer.
struct wait_reason {
  const char* what = "park";     ///< static text: "sleep", "task", "mutex", "fd"...
  const void* object = nullptr;  ///< the thing waited on, if any
  std::int64_t detail = 0;       ///< a number that helps, e.g. the fd
  /// describe(reason) formats the reason; null: `what` (and `object` if set).
  std::string (*describe)(const wait_reason& reason) = nullptr;
  /// remote: another thread may wake it, so while it is parked the hub does
  /// not report "would block forever" (unless held_by proves it stuck).
  bool remote = false;
  /// held_by(reason): the fiber (waker::fiber_id) that alone can end this
  /// wait, such as a mutex's holder, or null. A remote wait whose holder is
  /// itself parked on the same hub, in a chain that ends in such waits, can
  /// never end: the hub reports it as would-block-forever.
  const void* (*held_by)(const wait_reason& reason) = nullptr;
  /// awaits_work: a runtime thread's main fiber, waiting for its hub to be
  /// stopped. Remote (it keeps the loop alive), but it neither hides that
  /// the hub's tasks would block forever nor is told so itself, and stats
  /// do not count it as parked.
  bool awaits_work = false;

  /// text() is describe(*this), or the default form.
  std::string text() const;
};

namespace detail {
struct fiber_record;
}

/// waker wakes one park of one fiber. Cheap to copy.
class waker {
 public:
  /// waker() wakes nothing.
  waker() noexcept = default;

  /// current() is a waker for the calling fiber's next park() (or its
  /// current one, when called by the hub on its behalf). Take it, publish it,
  /// then park, without switching in between.
  /// Errors: tendril::error when called from the hub itself.
  static waker current();

  /// wake() makes the fiber ready; its park() returns true. Returns false,
  /// doing nothing, if that park is over (woken, timed out, interrupted) or
  /// has not started.
  /// Thread-safety: any thread. From another thread the wake is queued to the
  /// fiber's hub through its ev_async watcher and always returns true; the
  /// waker must stay valid (the fiber parked) until it is handled, which the
  /// parked fiber guarantees by not leaving park() before then.
  bool wake() const { return wake_with(nullptr); }

  /// wake_with(e) is wake(), but the fiber's park() throws `e` (null: as wake()).
  bool wake_with(std::exception_ptr error) const;

  /// wake_deferred() is wake() for code that holds a spinlock. A wake to
  /// another thread is queued at once, but the system call that rouses that
  /// thread's loop is left for detail::send_deferred_wakes(), to be called
  /// once the lock is released: otherwise the woken fiber could spin on the
  /// lock for as long as the system call takes.
  bool wake_deferred() const;

  /// empty() is true for a waker that wakes nothing.
  bool empty() const noexcept { return record_ == nullptr; }

  /// describe() names the fiber, as errors do.
  std::string describe() const;

  /// same_fiber(other) is true if both wake the same fiber (any of its parks).
  bool same_fiber(const waker& other) const noexcept { return record_ == other.record_; }
  /// fiber_id() identifies the fiber (see wait_reason::held_by); null when empty.
  const void* fiber_id() const noexcept { return record_; }

  friend bool operator==(const waker& a, const waker& b) noexcept = default;

 private:
  waker(detail::fiber_record* record, std::uint32_t park_id) noexcept : record_(record), park_id_(park_id) {}

  detail::fiber_record* record_ = nullptr;
  std::uint32_t park_id_ = 0;
};

/// park(why, deadline) suspends the calling fiber until a waker for this park
/// wakes it (returns true) or `deadline` passes (returns false).
///
/// Blocking:      suspends the calling fiber; the hub runs the others.
/// Deadline:      returns false once `deadline` passes (never: no_deadline).
/// Cancellation:  a kill raises its exception here (greenlet_exit by default)
///                and an expired timeout scope raises timeout_error here,
///                both before suspending and on waking; such an interrupt
///                wins over a wake that arrived while the fiber was queued,
///                so code handing a resource to a waker must take it back
///                when park() throws.
/// Thread-safety: parks the calling fiber on its own thread's hub.
/// Errors:        tendril::error when called on the hub itself, and when
///                nothing can ever wake the fiber (no ready fiber, no active
///                watcher or timer on its hub): the message lists every parked
///                fiber and its wait reason. Rethrows the error passed to
///                waker::wake_with.
bool park(const wait_reason& why, clock::time_point deadline = no_deadline);

/// this_thread_has_hub() is true once the calling thread has a hub (it never
/// creates one). Synchronisation objects block a thread without a hub as
/// std::mutex would, instead of giving it a hub.
bool this_thread_has_hub() noexcept;

namespace detail {
/// current_fiber_id() is waker::current().fiber_id() on a thread with a hub,
/// and null on a thread without one (it never creates a hub): one call, for
/// the fast paths of synchronisation objects that record their holder.
/// Errors: tendril::error on the hub itself.
const void* current_fiber_id();

/// describe_fiber(id) is waker::describe() for the fiber `id` names; `id` is
/// a fiber_id() of a fiber whose record is still alive.
std::string describe_fiber(const void* fiber_id);

/// deferred_wakes_pending is true on a thread that has queued wakes with
/// waker::wake_deferred() and not yet sent them.
extern thread_local constinit bool deferred_wakes_pending;

/// send_deferred_wakes() rouses the loops that this thread's deferred wakes
/// went to. Thread-safety: the calling thread's wakes only.
void send_deferred_wakes() noexcept;

/// can_park() is true when the caller could park now: the calling thread
/// has a hub (it never creates one) and the caller is not the hub's own
/// greenlet, so not a libev callback either. For code below which there
/// may be C frames that must not be switched out of at the wrong moment
/// (patch's interposed libc calls); two thread-local reads.
bool can_park() noexcept;

/// interrupt_pending() is true when the calling fiber's next park() would
/// raise at once: a kill not yet raised (or handed back with
/// defer_interrupt), or an expired timeout scope still open; false while an
/// interrupt_shield holds them back, and on a thread without a hub.
/// Errors: std::bad_alloc, the first time a plain greenlet asks.
bool interrupt_pending();

/// defer_interrupt(e) hands back an interrupt that park() raised in the
/// calling fiber, for a caller that must not let it propagate (an
/// interposed libc call, which returns ECANCELED instead): the fiber's
/// next park raises `e` again, and interrupt_pending() is true until then.
/// A kill already pending wins over `e`. An expired timeout scope needs no
/// hand-back (it raises at every park while open), so timeout_error is
/// dropped here. Call it on the fiber that park() threw in.
void defer_interrupt(std::exception_ptr e) noexcept;

/// settle_remote_wakes() returns once no wake sent to the calling fiber from
/// another thread is still in flight (it runs the other fibers meanwhile).
/// For sync objects: a fiber granted something by another thread after its
/// park had already ended must not return (and let its waker die) before
/// that thread's wake has been handled.
void settle_remote_wakes();

/// interrupt_shield holds back the calling fiber's interrupts (kills,
/// expired timeouts) while it lives: they are raised at the first park
/// after. For cleanup that must wait while an interrupt already propagates,
/// such as a condition variable re-locking its mutex. Does nothing on a
/// thread without a hub.
class interrupt_shield {
 public:
  interrupt_shield();
  interrupt_shield(const interrupt_shield&) = delete;
  interrupt_shield& operator=(const interrupt_shield&) = delete;
  ~interrupt_shield();

 private:
  bool* shielded_ = nullptr;
  bool was_ = false;
};
}  // namespace detail

}  // namespace tendril
