#pragma once
// What the hub knows about one fiber that parks on it.
//
// A task's record lives in its task_state; any other greenlet that parks
// (a thread's main greenlet, a plain greenlet calling sleep) gets one on its
// first park, owned by the hub and freed when that greenlet dies.

#include <atomic>
#include <cstdint>
#include <exception>
#include <memory>

#include <tendril/hub/detail/event_loop.hpp>
#include <tendril/hub/park.hpp>

namespace tendril {
class timeout;
}

namespace tendril::detail {

class greenlet_state;
class hub;
class task_state;

enum class fiber_status : std::uint8_t {
  running,  ///< on the CPU, or suspended by a plain greenlet switch
  parked,   ///< suspended in park(), waiting for a waker, deadline or interrupt
  ready,    ///< in the hub's ready queue, to be resumed in turn
};

/// An intrusive doubly linked list node; a record is in at most one list of
/// each kind (the ready queue; the hub's list of all records).
struct list_links {
  struct fiber_record* prev = nullptr;
  struct fiber_record* next = nullptr;
};

struct fiber_record {
  fiber_record(hub* owner, greenlet_state* state, task_state* task) noexcept
      : owner(owner), state(state), task(task) {}

  /// Set once; for a task spawned from another thread, when its hub takes
  /// it in. Atomic (its loads are plain moves) because another hub may
  /// compare it while that happens: a wait's holder (wait_reason::held_by)
  /// can be a task of any hub.
  std::atomic<hub*> owner;
  greenlet_state* state;   ///< the fiber (not owned: tasks own theirs, others own themselves)
  task_state* const task;  ///< null for a fiber that is not a task
  fiber_status status = fiber_status::running;  ///< ready iff in the hub's ready queue
  bool timed_out = false;                       ///< the current park's deadline passed
  bool shielded = false;                        ///< interrupts wait (see detail::interrupt_shield)
  std::uint32_t park_id = 0;                    ///< counts parks; a waker names one
  std::uint32_t expired_timeouts = 0;           ///< expired timeout scopes still open
  std::exception_ptr wake_error;                ///< raised by the current park (waker::wake_with)
  std::exception_ptr interrupt;                 ///< a kill, raised once at the next park
  tendril::timeout* timeouts = nullptr;         ///< innermost open timeout scope
  /// The current park's deadline (no_deadline outside parks with one), and
  /// the timer for it, made on the first such park and kept armed (idle)
  /// between parks: see hub::park.
  clock::time_point park_deadline = no_deadline;
  std::unique_ptr<timer> deadline_timer;
  wait_reason reason;
  /// When the current park began, to within a poll interval (the hub's
  /// last poll: no clock read per park). For dumps.
  clock::time_point parked_at{};
  /// Wakes sent by other threads and not yet handled by the hub: a park does
  /// not return while any is in flight, so the waker stays valid.
  std::atomic<std::uint32_t> remote_wakes{0};

  list_links ready_links;
  list_links all_links;

  /// describe() is `task <id> "<name>"` for a task, else the greenlet's description.
  std::string describe() const;
};

/// single_writer_counter is a number one thread writes and any thread
/// reads: the writer's updates are a plain load and store (no locked
/// instruction; release and acquire cost nothing more on x86), so the hub
/// publishes its statistics at no cost.
template <class T>
class single_writer_counter {
 public:
  void add(T delta) noexcept { set(value_.load(std::memory_order_relaxed) + delta); }
  void sub(T delta) noexcept { set(value_.load(std::memory_order_relaxed) - delta); }
  void set(T value) noexcept { value_.store(value, std::memory_order_release); }
  T get() const noexcept { return value_.load(std::memory_order_acquire); }

 private:
  std::atomic<T> value_{0};
};

/// record_list is an intrusive FIFO of records through the links `Links`.
template <list_links fiber_record::*Links>
class record_list {
 public:
  bool empty() const noexcept { return head_ == nullptr; }
  fiber_record* front() const noexcept { return head_; }
  /// size() may be read by other threads (hub_ref::stats).
  std::size_t size() const noexcept { return size_.get(); }

  void push_back(fiber_record* r) noexcept {
    (r->*Links).prev = tail_;
    (r->*Links).next = nullptr;
    if (tail_ != nullptr)
      (tail_->*Links).next = r;
    else
      head_ = r;
    tail_ = r;
    size_.add(1);
  }

  fiber_record* pop_front() noexcept {
    fiber_record* r = head_;
    if (r != nullptr) remove(r);
    return r;
  }

  void remove(fiber_record* r) noexcept {
    list_links& l = r->*Links;
    if (l.prev != nullptr)
      (l.prev->*Links).next = l.next;
    else
      head_ = l.next;
    if (l.next != nullptr)
      (l.next->*Links).prev = l.prev;
    else
      tail_ = l.prev;
    l.prev = l.next = nullptr;
    size_.sub(1);
  }

  static fiber_record* next(const fiber_record* r) noexcept { return (r->*Links).next; }

 private:
  fiber_record* head_ = nullptr;
  fiber_record* tail_ = nullptr;
  single_writer_counter<std::size_t> size_;
};

}  // namespace tendril::detail
