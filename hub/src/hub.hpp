#pragma once
// The hub: one per thread, a greenlet running the libev loop, the parent of
// every task spawned on the thread, and the scheduler of everything that
// parks there. See hub.cpp for the invariants, hub/README.md for the picture.

#include <atomic>
#include <cstdint>
#include <exception>
#include <functional>
#include <iosfwd>
#include <memory>
#include <mutex>
#include <vector>

#include <tendril/fiber/detail/block_cache.hpp>
#include <tendril/fiber/detail/state_access.hpp>
#include <tendril/fiber/greenlet.hpp>
#include <tendril/hub/hub.hpp>
#include <tendril/hub/task.hpp>

#include <tendril/hub/detail/event_loop.hpp>
#include "busy_sample.hpp"
#include "fiber_record.hpp"

namespace tendril::detail {

class hub;

/// mail is one item another thread (or this one) posts to a hub: a function
/// to run, or a task spawned there from elsewhere, to take in.
struct mail {
  std::function<void()> fn;
  task_state* task = nullptr;
  spawn_request request;
  /// A request's tasks (join, kill, link... of tasks of this hub): while
  /// it waits here, none of them may be stolen, as it must find them here.
  std::vector<task_state*> about;

  bool stealable() const noexcept { return task != nullptr && request.stealable; }
};

/// wait_edge is one edge of the wait-for graph: a parked fiber and the
/// fiber that alone can end its wait (wait_reason::held_by), which may be
/// on any hub. The pointers are identities only; `text` names the fiber.
struct wait_edge {
  const void* fiber;
  const void* holder;
  std::uint64_t hub;
  std::string text;  ///< `task 5 "name" on hub 2 (thread 4712)`
};

/// The calling thread's hub, or null; see hub::get.
extern constinit thread_local hub* this_thread_hub __attribute__((tls_model("initial-exec")));

class hub {
 public:
  /// get() is the calling thread's hub, created on first use; find() never creates.
  static hub& get() {
    hub* h = this_thread_hub;
    return h != nullptr ? *h : create();
  }
  static hub* find() noexcept { return this_thread_hub; }

  hub(const hub&) = delete;
  hub& operator=(const hub&) = delete;

  /// current_record() is the calling fiber's record (created for a greenlet
  /// that parks for the first time). Errors: tendril::error on the hub itself.
  fiber_record* current_record() {
    greenlet_state* s = current_greenlet_state();
    if (running_ != nullptr && running_->state == s) [[likely]]
      return running_;
    return current_record_slow(s);
  }

  /// park(self, why, deadline): see tendril::park. `self` is current_record().
  bool park(fiber_record* self, const wait_reason& why, clock::time_point deadline);
  /// yield(self): see tendril::yield.
  void yield(fiber_record* self);
  /// settle_remote_wakes(self): see detail::settle_remote_wakes.
  void settle_remote_wakes(fiber_record* self) {
    while (self->remote_wakes.load(std::memory_order_acquire) != 0) requeue(self);
  }

  /// wake(r, park_id, error) makes `r` ready if it is still in park `park_id`.
  /// On the hub's own thread only; other threads use wake_remote.
  bool wake(fiber_record* r, std::uint32_t park_id, std::exception_ptr error) noexcept;
  /// wake_remote(...) queues a wake from another thread and rouses the loop.
  void wake_remote(fiber_record* r, std::uint32_t park_id, std::exception_ptr error) {
    queue_remote_wake(r, park_id, std::move(error));
    notify(1);
  }
  /// queue_remote_wake(...) queues a wake from another thread; the loop
  /// handles it once notify() rouses it (or when another wake's notify does).
  /// Each queued wake owes one count to notify(): until it is paid, the hub
  /// is not destroyed, even if the wake was handled and its thread is exiting.
  void queue_remote_wake(fiber_record* r, std::uint32_t park_id, std::exception_ptr error);
  /// notify(wakes) rouses the loop from any thread (ev_async_send) for
  /// `wakes` wakes this thread queued; the hub may be gone once it returns.
  void notify(int wakes) noexcept;

  /// interrupt(r, e) raises `e` in `r` at its park (now, if it is parked).
  void interrupt(fiber_record* r, std::exception_ptr error) noexcept;
  /// timeout_expired(r) makes a parked `r` ready so its park raises timeout_error.
  void timeout_expired(fiber_record* r) noexcept;
  /// raise_interrupts(self) throws a pending kill or expired timeout of `self`.
  static void raise_interrupts(fiber_record* self) {
    if ((self->interrupt != nullptr || self->expired_timeouts != 0) && !self->shielded) [[unlikely]]
      raise_interrupts_slow(self);
  }

  /// add_task(t) registers a new task's record and queues it to start.
  void add_task(task_state* t) noexcept;
  /// take_mail(m) queues mail from any thread; the hub handles it after its
  /// next poll. Each item owes one count to notify(), as a remote wake does.
  /// Called by hub_registry::deliver only, which keeps the hub alive meanwhile.
  void take_mail(mail&& m);
  /// take_request(about, m) is take_mail for a request about the tasks
  /// `about`, if they all still live here (their home is this hub, checked
  /// under the mail lock, where a steal changes it); false otherwise, and
  /// `m` is left untouched. Called by hub_registry::deliver_request only.
  bool take_request(const std::vector<task_state*>& about, mail&& m);
  /// steal_from(victim) takes in, here, up to half of the stealable tasks
  /// (runtime::spawn's) waiting in the victim's mail, oldest first, but
  /// none that a request waiting there is about; returns how many. On this
  /// hub's thread; the victim must stay alive meanwhile (the runtime's
  /// thieves count keeps it).
  std::size_t steal_from(hub& victim);
  /// stealable_hint() is how many stealable tasks wait in the mail, read
  /// without the lock: a thief's first look, the runtime's backlog check.
  /// waiting() is true while the hub waits in its loop (or spins before
  /// it) for something to do: mail sent to it now wakes it, and it takes
  /// the mail in itself, so thieves leave it alone.
  bool waiting() const noexcept { return waiting_.load(std::memory_order_relaxed); }
  /// Sequentially consistent with its update, for the runtime's wake-ups.
  std::uint32_t stealable_hint() const noexcept { return stealable_.load(std::memory_order_seq_cst); }
  /// start_later(t) queues a task whose spawn_later delay has passed.
  void make_ready(fiber_record* r) noexcept;
  /// cancel_start(r) takes an unstarted task's record out of the ready queue.
  void cancel_start(fiber_record* r) noexcept;
  /// forget(r) unregisters a record that is going away (its fiber finished);
  /// forget_task(r) does so for a finished task's record.
  void forget(fiber_record* r) noexcept;
  void forget_task(fiber_record* r) noexcept {
    forget(r);
    live_tasks_.sub(1);
  }

  /// report_failure(t, e) hands an unobserved failure to the error handler.
  void report_failure(const task_base& t, std::exception_ptr error) noexcept;
  task_error_handler set_error_handler(task_error_handler fn);

  /// current_task() is the task whose greenlet is running, or null.
  task_state* current_task() const noexcept;

  /// live_task_handles() is a handle to every task that has not finished.
  std::vector<task_base> live_task_handles();

  /// live_tasks() is the number of tasks that have not finished.
  std::size_t live_tasks() const noexcept { return live_tasks_.get(); }
  /// idle() is true when no task is alive here and no mail waits: read by
  /// runtime::join from other threads, together with mail_handled().
  bool idle() const noexcept;
  /// mail_received() counts the mail ever queued here (runtime::join).
  std::uint64_t mail_received() const noexcept { return mail_taken_.load(std::memory_order_acquire); }
  /// load() is the tasks alive here plus those posted here and not yet
  /// taken in: what the runtime's least_loaded placement compares.
  std::size_t load() const noexcept;
  /// hand_over_finished(self) is called by a finishing task just before its
  /// greenlet returns: its thread goes to the next ready fiber directly (one
  /// switch instead of two through the hub), or to the hub.
  void hand_over_finished(greenlet_state* self) noexcept;

  event_loop& loop() noexcept { return *loop_; }
  const tendril::greenlet& greenlet() const noexcept { return greenlet_; }
  long thread_id() const noexcept { return tid_; }
  std::uint64_t id() const noexcept { return id_; }
  hub_ref ref() const noexcept { return {id_, tid_}; }
  /// on_idle(fn) is called on the hub's thread, after a poll, whenever the
  /// hub is found idle() (the runtime's join listens); null: nobody listens.
  void on_idle(void (*fn)(void* context) noexcept, void* context) noexcept {
    idle_fn_ = fn;
    idle_context_ = context;
  }
  /// on_hungry(fn) is called on the hub's thread when it is about to block
  /// with nothing ready; fn returns true if it found work (the runtime
  /// steals there). Null: nobody is asked.
  void on_hungry(bool (*fn)(void* context) noexcept, void* context) noexcept {
    hungry_fn_ = fn;
    hungry_context_ = context;
  }
  bool on_own_thread() const noexcept;
  /// Task states of up to task_block_bytes (with their bodies) are recycled
  /// through a per-hub cache, like the fiber layer's greenlet blocks: a
  /// spawn burst would otherwise pay malloc and free for every task.
  static constexpr std::size_t task_block_bytes = 384;
  void* take_task_block() noexcept { return task_blocks_.take(); }
  void keep_task_block(void* block) noexcept { task_blocks_.keep(block); }

  /// find_service / add_service: see detail::find_hub_service.
  hub_service* find_service(const void* key) const noexcept;
  hub_service& add_service(const void* key, std::unique_ptr<hub_service> service);

  /// stats() is this hub's statistics; exact on its own thread, from the
  /// single-writer counters elsewhere.
  hub_stats stats() const noexcept;
  /// describe_parked() lists every parked fiber and its wait reason, one per
  /// line, then the deadlocks among them (hub_dump.cpp).
  std::string describe_parked() const;
  /// describe_running(out) names the fiber holding the thread (the one last
  /// resumed, or the hub itself), without allocating: for the busy-thread
  /// sample's signal handler, on the hub's thread.
  void describe_running(signal_text& out) const noexcept;
  /// mark_forked_away() is for a forked child (fork.cpp): this hub stays
  /// behind with the parent's fibers, and the task that forked ends the
  /// child when it returns. forked_away() says so.
  void mark_forked_away() noexcept { forked_away_ = true; }
  bool forked_away() const noexcept { return forked_away_; }
  /// sample() is where the thread answers busy_sample requests.
  sample_slot& sample() noexcept { return *sample_; }

  /// monitor_view is what the blocking monitor reads of a hub, from its
  /// own thread: whether the hub came back to its loop since the last
  /// look, and whether anyone waits for it to.
  struct monitor_view {
    std::uint64_t polls;  ///< loop iterations so far
    bool waiting;         ///< in its loop's wait right now
    bool has_work;        ///< fibers alive, ready or parked, or mail not taken in
    std::shared_ptr<sample_slot> sample;
  };
  /// view_for_monitor() reads it from any thread (under the registry's lock).
  monitor_view view_for_monitor() const noexcept;

  /// wait_edges() is this hub's part of the wait-for graph (on its thread):
  /// dumps join every hub's to find deadlocks across hubs.
  std::vector<wait_edge> wait_edges() const;

  /// dump(out) writes this hub and each of its fibers: state, wait reason,
  /// time parked, stack use, and the call stack of each suspended one.
  /// On the hub's thread.
  void dump(std::ostream& out);

 private:
  hub();
  ~hub();
  static hub& create();
  fiber_record* current_record_slow(greenlet_state* s);
  static void raise_interrupts_slow(fiber_record* self);
  static void deadline_fired(timer& t) noexcept;
  friend struct hub_exit;

  [[noreturn]] void main_loop();
  void suspend(fiber_record* self);
  void take_back(fiber_record* self) noexcept;
  void requeue(fiber_record* self);
  [[noreturn, gnu::cold, gnu::noinline]] void resumed_by_misuse(fiber_record* self);
  void resume(fiber_record* next);
  void poll(bool may_block);
  bool poll_due() noexcept;
  void report_would_block_forever();
  bool parks_are_stuck() const;
  void drain_remote_wakes() noexcept;
  void queue_mail(mail&& m);
  void take_mailbox();
  void take_more_mail();
  void handle_mail() noexcept;
  bool spin_for_remote_work() noexcept;
  void take_in(task_state* t, spawn_request&& request) noexcept;
  void register_record(fiber_record* r) noexcept { all_.push_back(r); }
  fiber_record* foreign_record(greenlet_state* s);
  void shut_down() noexcept;
  std::vector<std::vector<const fiber_record*>> wait_cycles() const;
  void describe_cycles(std::ostream& out) const;

  long tid_;
  std::uint64_t id_;
  std::unique_ptr<event_loop> loop_;  ///< a pointer only so that ~hub can leave it behind
  tendril::greenlet greenlet_;        ///< runs main_loop; parent: the thread's main greenlet
  greenlet_state* hub_state_;
  fiber_record main_record_;         ///< the thread's main greenlet, when it parks
  fiber_record* running_ = nullptr;  ///< the record last resumed, while it runs
  record_list<&fiber_record::ready_links> ready_;
  record_list<&fiber_record::all_links> all_;
  // Written here, read by other threads (hub_ref::stats, runtime::join).
  single_writer_counter<std::size_t> live_tasks_;
  single_writer_counter<std::size_t> parked_;
  single_writer_counter<std::size_t> watchers_seen_;  ///< armed watchers at the last poll
  single_writer_counter<std::uint64_t> switches_;
  single_writer_counter<std::uint64_t> polls_;
  single_writer_counter<std::int64_t> blocked_ns_;
  single_writer_counter<std::uint64_t> mail_handled_;
  single_writer_counter<std::uint64_t> stolen_;
  void (*idle_fn_)(void*) noexcept = nullptr;
  void* idle_context_ = nullptr;
  bool (*hungry_fn_)(void*) noexcept = nullptr;
  void* hungry_context_ = nullptr;
  std::uint32_t poll_countdown_ = 1;
  bool poll_requested_ = false;
  bool forked_away_ = false;  ///< see mark_forked_away  ///< a fiber came to the hub because a poll was due
  clock::time_point next_poll_{};
  clock::time_point last_poll_ = clock::now();  ///< when a park began, for dumps (no clock read per park)
  task_error_handler error_handler_;
  block_cache task_blocks_{1024};
  std::shared_ptr<sample_slot> sample_ = std::make_shared<sample_slot>();
  struct service_slot {
    const void* key;
    std::unique_ptr<hub_service> service;
  };
  std::vector<service_slot> services_;  ///< few: a linear search is the fastest map

  struct remote_wake {
    fiber_record* record;
    std::uint32_t park_id;
    std::exception_ptr error;
  };
  std::mutex remote_mutex_;
  std::vector<remote_wake> remote_wakes_;    // guarded by remote_mutex_
  std::vector<remote_wake> draining_wakes_;  // the hub's thread only: see drain_remote_wakes
  // The mail, guarded by remote_mutex_; items before mailbox_head_ were
  // taken already (a drain that stops early leaves the rest in place).
  std::vector<mail> mailbox_;
  std::size_t mailbox_head_ = 0;
  std::atomic<std::uint64_t> mail_taken_{0};   // items ever put in mailbox_ (and stolen by this hub)
  std::atomic<std::uint64_t> mail_stolen_{0};  // items of mailbox_ other hubs have stolen
  std::atomic<std::uint32_t> stealable_{0};    // stealable items in mailbox_ (written under remote_mutex_)
  std::atomic<bool> waiting_{false};           // in poll's wait for work (see waiting())
  bool mail_left_ = false;                     // mailbox_ holds mail a drain left for later
  std::vector<mail> mail_in_;                  // taken from mailbox_, to handle after the poll
  std::atomic<bool> remote_pending_{false};    // wakes or mail queued and not yet drained
  bool heard_from_threads_ = false;            // drained some since the last blocking poll
  std::atomic<int> unnotified_wakes_{0};       // queued wakes whose notify() has not returned
};

}  // namespace tendril::detail
