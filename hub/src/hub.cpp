// The hub's scheduler: ready queue, park/resume, polling, would-block-forever.
//
// Glossary: a *record* is what the hub knows about a fiber (fiber_record.hpp);
// *ready* means queued to be resumed; *parked* means waiting for a waker, a
// deadline or an interrupt; to *resume* is to switch to a ready fiber.
//
// Invariants:
// - Only the hub's thread touches its records, queues and loop; other
//   threads reach it through wake_remote (a mutex-guarded queue drained on
//   the hub's thread after an ev_async notification).
// - libev callbacks only make fibers ready. Fibers are resumed by the hub
//   greenlet between loop iterations, or directly by a fiber that parks: it
//   switches to the next ready fiber itself, so a yield between two fibers
//   costs one switch, not two through the hub.
// - While fibers are ready the hub still polls the loop without blocking at
//   least every poll_interval (checked on the clock every few switches), so
//   a fiber that keeps yielding cannot starve timers and I/O, and a yield
//   costs no system call.
// - running_ is the record last resumed; current_record() trusts it only
//   when its greenlet is the one actually running (plain greenlet switches
//   inside a task bypass the hub).
// - A record is parked or ready only while its fiber is suspended inside
//   suspend(), so a resume always lands there.
//
// Rejected:
// - Resuming every fiber from the hub greenlet (gevent's way): two switches
//   per hand-over instead of one.
// - Polling the loop on every yield: one epoll_wait system call per yield.
// - Throwing timeouts and kills into a fiber with greenlet::throw_in: the
//   fiber would have to be found wherever it is suspended; an interrupt
//   flag checked at the park point keeps every resume on one path.

#include "hub.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <iterator>
#include <sstream>
#include <thread>

#include <tendril/fiber/detail/state_access.hpp>
#include <tendril/fiber/detail/switch_seam.hpp>
#include <tendril/fiber/fiber_local.hpp>
#include <tendril/hub/timeout.hpp>

#include "fork.hpp"
#include "hub_registry.hpp"
#include "monitor.hpp"
#include "task_state.hpp"
#include "timeout_access.hpp"

namespace tendril::detail {

constinit thread_local hub* this_thread_hub __attribute__((tls_model("initial-exec"))) = nullptr;

namespace {

// How long ready fibers may run before the hub polls its loop anyway, and
// how many switches pass between two looks at the clock.
constexpr clock::duration poll_interval = std::chrono::milliseconds(1);
constexpr std::uint32_t switches_per_clock_check = 32;
// How long a hub that has just heard from another thread spins before it
// blocks in its loop (see hub::spin_for_remote_work).
constexpr clock::duration spin_before_block = std::chrono::microseconds(20);

// How many stealable tasks (runtime::spawn's) a drain of the mail takes in
// at most; the rest wait in the mailbox, where an idle hub may steal them,
// until this hub runs out of ready fibers and takes more (a lock, no
// system call: see main_loop). Taking in a burst at once would leave
// nothing to steal; one at a time would cost a lock per task. Measured
// (runtime_bench): 16 cost spawn+join across two hubs 10% more than 64,
// and stole no better in the skewed fan-out.
constexpr std::uint32_t take_in_per_drain = 64;

std::atomic<std::uint64_t> last_hub_id{0};

// counts_as_parked(r): a parked `r` counts in hub_stats::parked (a task
// queued to start is parked only in name; a runtime worker's wait is not a fiber's).
bool counts_as_parked(const fiber_record* r) noexcept {
  return !r->reason.awaits_work && (r->task == nullptr || r->task->started);
}

greenlet main_greenlet_of_thread() {
  greenlet g = greenlet::current();
  while (!g.is_main()) g = g.parent();
  return g;
}

// Holds a record for a plain greenlet that parks; frees it with the greenlet.
struct foreign_record_holder {
  fiber_record* record = nullptr;
  foreign_record_holder() = default;
  foreign_record_holder(const foreign_record_holder&) = delete;
  foreign_record_holder& operator=(const foreign_record_holder&) = delete;
  ~foreign_record_holder() {
    if (record == nullptr) return;
    if (hub* h = hub::find(); h == record->owner) h->forget(record);
    set_greenlet_tag(record->state, nullptr);
    delete record;
  }
};

fiber_local<foreign_record_holder>& foreign_records() {
  static fiber_local<foreign_record_holder> records;
  return records;
}

// switch_to_state(s) switches to greenlet `s` carrying no value; inline so
// that the jump sits in the scheduler's own code (see fiber/README.md).
[[gnu::always_inline]] inline void switch_to_state(greenlet_state* s) {
  std::any none;
  switch_message msg{&none, nullptr, nullptr, nullptr};
  void* to = prepare_switch(s, msg);
  if (to == nullptr) [[unlikely]] {
    switch_slow(s, std::move(none));
    return;
  }
  auto [sender, in] = jump_context(to, &msg);
  land_switch_discarding(sender, in);
}

}  // namespace

// Tears the thread's hub down when the thread exits. Declared after the
// fiber layer's own exit hook (see hub::get), so it runs before the fiber
// layer unwinds the thread's greenlets.
struct hub_exit {
  ~hub_exit() {
    if (hub* h = this_thread_hub) {
      h->shut_down();
      this_thread_hub = nullptr;
      delete h;
    }
  }
};

}  // namespace tendril::detail

tendril::hub_stats tendril::this_hub_stats() noexcept {
  detail::hub* h = detail::hub::find();
  return h != nullptr ? h->stats() : hub_stats{};
}

namespace tendril::detail {

hub& hub::create() {
  // The fiber layer's thread state must exist before hub_exit is first
  // used: thread_local destructors run in reverse order of construction.
  (void)current_greenlet_state();
  static thread_local hub_exit exit_hook;
  (void)&exit_hook;
  this_thread_hub = new hub();
  return *this_thread_hub;
}

hub::hub()
    : tid_(::gettid()),
      id_(last_hub_id.fetch_add(1, std::memory_order_relaxed) + 1),
      loop_(std::make_unique<event_loop>(
          [](void* self) noexcept { static_cast<hub*>(self)->drain_remote_wakes(); }, this)),
      greenlet_([this] { main_loop(); }, main_greenlet_of_thread(), {.name = "hub", .stack_size = 0}),
      hub_state_(greenlet_.state()),
      main_record_(this, main_greenlet_of_thread().state(), nullptr) {
  register_record(&main_record_);
  set_greenlet_tag(main_record_.state, &main_record_);
  // A handle dropped on another thread queues its greenlet's collection
  // here; wake the loop so it is not left waiting until something else happens.
  set_deferred_release_hook([](void* self) noexcept { static_cast<hub*>(self)->loop_->notify(); }, this);
  hub_registry::add(this);
  install_fork_handlers();
  start_monitor();
}

hub_service* hub::find_service(const void* key) const noexcept {
  for (const service_slot& slot : services_)
    if (slot.key == key) return slot.service.get();
  return nullptr;
}

hub_service& hub::add_service(const void* key, std::unique_ptr<hub_service> service) {
  services_.push_back({key, std::move(service)});
  return *services_.back().service;
}

hub_service* find_hub_service(const void* key) noexcept {
  hub* h = hub::find();
  return h != nullptr ? h->find_service(key) : nullptr;
}

hub_service& add_hub_service(const void* key, std::unique_ptr<hub_service> service) {
  return hub::get().add_service(key, std::move(service));
}

event_loop& this_thread_loop() { return hub::get().loop(); }

hub::~hub() {
  // Services go first, newest first, while the loop they watch still exists;
  // shut_down() has unwound the tasks that used them.
  while (!services_.empty()) services_.pop_back();
  // Idle deadline timers kept by fibers that are not parked (see park).
  for (fiber_record* r = all_.front(); r != nullptr; r = all_.next(r))
    if (r->status == fiber_status::running) r->deadline_timer.reset();
  // Another thread may still be about to notify this loop of a wake it
  // queued, even though the wake was handled (another notify drained it).
  while (unnotified_wakes_.load(std::memory_order_acquire) != 0) std::this_thread::yield();
  set_deferred_release_hook(nullptr, nullptr);
  set_greenlet_tag(main_record_.state, nullptr);
  task_blocks_.clear();
  // A fiber still parked here (a plain greenlet the fiber layer unwinds
  // after this, or a task that refused to die) may own an armed timer that
  // its unwinding stops: leave libev's loop allocated for it (a deliberate
  // leak, and a loud one).
  for (fiber_record* r = all_.front(); r != nullptr; r = all_.next(r))
    if (r->status != fiber_status::running) {
      std::fprintf(stderr, "tendril: thread %ld exits with fibers still parked on its hub:\n%s", tid_,
                   describe_parked().c_str());
      (void)loop_.release();
      break;
    }
}

bool hub::on_own_thread() const noexcept { return this_thread_hub == this; }

fiber_record* hub::current_record_slow(greenlet_state* s) {
  if (s == main_record_.state) return &main_record_;
  if (s == hub_state_)
    throw error(
        ref().describe() +
        " cannot block: park, sleep or join called on the hub's own greenlet (in a posted function or a "
        "watcher's callback, which must not wait: spawn a task for that)");
  return foreign_record(s);
}

task_state* hub::current_task() const noexcept {
  if (running_ == nullptr || running_->state != current_greenlet_state()) return nullptr;
  return running_->task;
}

fiber_record* hub::foreign_record(greenlet_state* s) {
  foreign_record_holder& holder = foreign_records().get();
  if (holder.record == nullptr) {
    holder.record = new fiber_record(this, s, nullptr);
    register_record(holder.record);
    set_greenlet_tag(s, holder.record);
  }
  return holder.record;
}

void hub::forget(fiber_record* r) noexcept {
  r->deadline_timer.reset();  // while the loop exists
  if (running_ == r) running_ = nullptr;
  if (r->status == fiber_status::ready) ready_.remove(r);
  if (r->status == fiber_status::parked && counts_as_parked(r)) parked_.sub(1);
  r->status = fiber_status::running;
  all_.remove(r);
}

void hub::raise_interrupts_slow(fiber_record* self) {
  if (self->interrupt) std::rethrow_exception(std::exchange(self->interrupt, nullptr));
  timeout* outermost = nullptr;
  for (timeout* t = self->timeouts; t != nullptr; t = timeout_access::outer(*t))
    if (t->expired()) outermost = t;
  if (outermost != nullptr) throw timeout_error(outermost);
}

bool hub::park(fiber_record* self, const wait_reason& why, clock::time_point deadline) {
  raise_interrupts(self);
  self->reason = why;
  self->parked_at = last_poll_;
  self->timed_out = false;
  self->wake_error = nullptr;
  ++self->park_id;
  self->status = fiber_status::parked;
  if (counts_as_parked(self)) parked_.add(1);

  // Undone however suspend() ends: normally, or by an exception a plain
  // greenlet throw_in (an unwinding) raised at this park.
  struct keep_alive_while_parked {
    event_loop* loop;
    keep_alive_while_parked(event_loop* l) : loop(l) {
      if (loop != nullptr) loop->add_keep_alive();
    }
    ~keep_alive_while_parked() {
      if (loop != nullptr) loop->remove_keep_alive();
    }
  } keep_alive(why.remote ? loop_.get() : nullptr);

  // Most parks have no deadline; a fiber's parks with one share one timer,
  // left armed (idle) when a park ends. The next park's deadline is most
  // often later (a connection's idle timeout, pushed back by each request),
  // so the early timer is kept and re-armed only when it fires: a park
  // costs no timer heap operations and no clock read in the common case.
  struct idle_on_exit {
    fiber_record* self;
    ~idle_on_exit() {
      if (self == nullptr) return;
      self->park_deadline = no_deadline;
      if (self->deadline_timer != nullptr) self->deadline_timer->set_idle(true);
    }
  } deadline_armed{nullptr};
  if (deadline != no_deadline) {
    if (self->deadline_timer == nullptr)
      self->deadline_timer = std::make_unique<timer>(&deadline_fired, self);
    timer& t = *self->deadline_timer;
    self->park_deadline = deadline;
    if (t.armed() && t.deadline() <= deadline)
      t.set_idle(false);
    else
      t.start(*loop_, deadline);
    deadline_armed.self = self;
  }

  // Leaves with self running again, or throws (already tidied). Only a
  // plain greenlet throw_in throws here; a wake from another thread still
  // in flight then is not waited for, so such a park must not be `remote`
  // in a greenlet that others may unwind.
  suspend(self);

  // A wake sent from another thread names this park: stay until it is
  // handled (requeue, not yield: an interrupt must not cut this short).
  settle_remote_wakes(self);
  raise_interrupts(self);
  if (self->wake_error) std::rethrow_exception(std::exchange(self->wake_error, nullptr));
  return !self->timed_out;
}

// deadline_fired(t) ends its fiber's park if that park's deadline has
// passed; a timer kept from an earlier park (see park) fires early and is
// re-armed for the current deadline, or left stopped if none.
void hub::deadline_fired(timer& t) noexcept {
  auto* r = static_cast<fiber_record*>(t.context());
  if (r->status != fiber_status::parked || r->park_deadline == no_deadline) return;  // the wake won, or kept
  if (clock::now() < r->park_deadline) {
    t.start(*r->owner.load(std::memory_order_acquire)->loop_, r->park_deadline);
    return;
  }
  r->timed_out = true;
  r->owner.load(std::memory_order_acquire)->make_ready(r);
}

void hub::yield(fiber_record* self) {
  raise_interrupts(self);
  requeue(self);
  raise_interrupts(self);
}

// requeue(self) puts `self` at the back of the ready queue and runs the others.
void hub::requeue(fiber_record* self) {
  self->status = fiber_status::ready;
  ready_.push_back(self);
  suspend(self);
}

bool hub::poll_due() noexcept {
  if (--poll_countdown_ != 0) [[likely]]
    return false;
  poll_countdown_ = switches_per_clock_check;
  return clock::now() >= next_poll_;
}

// Switches away from `self` (parked or ready) to the next ready fiber, or to
// the hub when none is ready or a poll is due; returns once resumed.
void hub::suspend(fiber_record* self) {
  fiber_record* next = nullptr;
  if (poll_due()) [[unlikely]]
    poll_requested_ = true;
  else
    next = ready_.pop_front();
  if (next == self) {  // it yielded and nothing else was ready
    self->status = fiber_status::running;
    return;
  }
  greenlet_state* target = hub_state_;
  if (next != nullptr) {
    next->status = fiber_status::running;
    target = next->state;
  }
  running_ = next;
  switches_.add(1);
  try {
    switch_to_state(target);
  } catch (...) {
    // Thrown into by a plain greenlet throw_in (an unwinding, a misuse)
    // rather than resumed by the hub: leave the hub's structures consistent.
    take_back(self);
    throw;
  }
  if (self->status != fiber_status::running) [[unlikely]]
    resumed_by_misuse(self);
}

void hub::resumed_by_misuse(fiber_record* self) {
  std::string what = self->describe() + " was switched into while waiting on " + self->reason.text() +
                     "; only its hub may resume a parked fiber";
  take_back(self);
  throw error(what);
}

// take_back(self) makes `self` the running fiber again after a resume that
// did not come from the hub.
void hub::take_back(fiber_record* self) noexcept {
  if (self->status == fiber_status::ready) ready_.remove(self);
  if (self->status == fiber_status::parked && counts_as_parked(self)) parked_.sub(1);
  self->status = fiber_status::running;
  running_ = self;
}

void hub::make_ready(fiber_record* r) noexcept {
  if (r->status != fiber_status::parked) return;
  if (counts_as_parked(r)) parked_.sub(1);
  r->status = fiber_status::ready;
  ready_.push_back(r);
}

bool hub::wake(fiber_record* r, std::uint32_t park_id, std::exception_ptr error) noexcept {
  if (r->status != fiber_status::parked || r->park_id != park_id) return false;
  r->wake_error = std::move(error);
  make_ready(r);
  return true;
}

void hub::queue_remote_wake(fiber_record* r, std::uint32_t park_id, std::exception_ptr error) {
  unnotified_wakes_.fetch_add(1, std::memory_order_relaxed);
  r->remote_wakes.fetch_add(1, std::memory_order_relaxed);
  std::lock_guard lock(remote_mutex_);
  remote_wakes_.push_back({r, park_id, std::move(error)});
  remote_pending_.store(true, std::memory_order_release);
}

void hub::notify(int wakes) noexcept {
  loop_->notify();
  unnotified_wakes_.fetch_sub(wakes, std::memory_order_release);
}

void hub::take_mail(mail&& m) {
  std::lock_guard lock(remote_mutex_);
  queue_mail(std::move(m));
}

bool hub::take_request(const std::vector<task_state*>& about, mail&& m) {
  std::lock_guard lock(remote_mutex_);
  for (const task_state* t : about)
    if (t->home.load(std::memory_order_relaxed) != id_) return false;  // stolen: it lives elsewhere now
  m.about = about;
  queue_mail(std::move(m));
  return true;
}

// queue_mail(m): under remote_mutex_.
void hub::queue_mail(mail&& m) {
  unnotified_wakes_.fetch_add(1, std::memory_order_relaxed);
  if (m.stealable())
    stealable_.store(stealable_.load(std::memory_order_relaxed) + 1, std::memory_order_seq_cst);
  mailbox_.push_back(std::move(m));
  remote_pending_.store(true, std::memory_order_release);
  mail_taken_.fetch_add(1, std::memory_order_release);
}

// take_mailbox() moves the mail to mail_in_, to be handled after the poll,
// outside libev (a posted function may spawn, a task taken in gets its
// greenlet: see handle_mail), up to the take_in_per_drain-th stealable
// task; what follows it waits for the next drain, in order. Under
// remote_mutex_.
void hub::take_mailbox() {
  std::uint32_t stealable = stealable_.load(std::memory_order_relaxed);
  if (mailbox_head_ == 0 && stealable <= take_in_per_drain && mail_in_.empty()) {
    mail_in_.swap(mailbox_);  // all of it, the usual case: no copy
    stealable_.store(0, std::memory_order_relaxed);
    mail_left_ = false;
    return;
  }
  std::uint32_t taken = 0;
  auto end = mailbox_.begin() + static_cast<std::ptrdiff_t>(mailbox_head_);
  for (; end != mailbox_.end(); ++end) {
    if (end->stealable()) {
      if (taken == take_in_per_drain) break;
      ++taken;
    }
    mail_in_.push_back(std::move(*end));
  }
  stealable_.store(stealable - taken, std::memory_order_relaxed);
  mailbox_head_ = static_cast<std::size_t>(end - mailbox_.begin());
  mail_left_ = mailbox_head_ != mailbox_.size();
  if (!mail_left_) {
    mailbox_.clear();
    mailbox_head_ = 0;
  }
}

std::size_t hub::steal_from(hub& victim) {
  std::vector<mail> loot;
  {
    std::lock_guard lock(victim.remote_mutex_);
    std::uint32_t stealable = victim.stealable_.load(std::memory_order_relaxed);
    if (stealable == 0) return 0;
    // Not a task a request waiting there is about: the request must find
    // it there. (A joiner's request, right after its spawns, pins only the
    // task it joins first.)
    std::vector<const task_state*> pinned;
    auto first = victim.mailbox_.begin() + static_cast<std::ptrdiff_t>(victim.mailbox_head_);
    for (auto it = first; it != victim.mailbox_.end(); ++it)
      pinned.insert(pinned.end(), it->about.begin(), it->about.end());
    std::sort(pinned.begin(), pinned.end());
    auto may_take = [&pinned](const mail& m) {
      return m.stealable() && !std::binary_search(pinned.begin(), pinned.end(), m.task);
    };
    std::size_t candidates = static_cast<std::size_t>(std::count_if(first, victim.mailbox_.end(), may_take));
    std::size_t take = (candidates + 1) / 2;
    if (take == 0) return 0;
    loot.reserve(take);
    auto kept = first;
    for (auto it = first; it != victim.mailbox_.end(); ++it) {
      if (loot.size() < take && may_take(*it)) {
        loot.push_back(std::move(*it));
      } else {
        if (kept != it) *kept = std::move(*it);
        ++kept;
      }
    }
    victim.mailbox_.erase(kept, victim.mailbox_.end());
    // This hub counts the tasks as mail it received before the victim
    // counts them as gone, so that one of the two looks busy throughout
    // (runtime::join's argument: see runtime.cpp).
    mail_taken_.fetch_add(loot.size(), std::memory_order_release);
    for (mail& m : loot) m.task->home.store(id_, std::memory_order_relaxed);
    victim.stealable_.store(stealable - static_cast<std::uint32_t>(loot.size()), std::memory_order_relaxed);
    victim.mail_stolen_.fetch_add(loot.size(), std::memory_order_release);
  }
  for (mail& m : loot) {
    take_in(m.task, std::move(m.request));
    mail_handled_.add(1);
  }
  stolen_.add(loot.size());
  return loot.size();
}

void hub::drain_remote_wakes() noexcept {
  // Swapped with the queue rather than moved out, so both keep their
  // capacity: otherwise every wake from another thread mallocs there and
  // frees here.
  std::vector<remote_wake>& batch = draining_wakes_;
  {
    std::lock_guard lock(remote_mutex_);
    batch.swap(remote_wakes_);
    remote_pending_.store(false, std::memory_order_relaxed);
    heard_from_threads_ = heard_from_threads_ || !batch.empty() || mailbox_.size() != mailbox_head_;
    take_mailbox();
  }
  for (remote_wake& w : batch) {
    wake(w.record, w.park_id, std::move(w.error));
    w.record->remote_wakes.fetch_sub(1, std::memory_order_release);
  }
  batch.clear();
}

void hub::interrupt(fiber_record* r, std::exception_ptr error) noexcept {
  r->interrupt = std::move(error);
  make_ready(r);
}

void hub::timeout_expired(fiber_record* r) noexcept {
  ++r->expired_timeouts;
  make_ready(r);
}

void hub::add_task(task_state* t) noexcept {
  register_record(&t->record);
  live_tasks_.add(1);
  t->record.status = fiber_status::parked;  // so make_ready queues it
  if (t->start_timer == nullptr) make_ready(&t->record);
}

// take_in(t, request) adopts a task spawned here from another thread.
void hub::take_in(task_state* t, spawn_request&& request) noexcept {
  t->record.owner.store(this, std::memory_order_release);
  try {
    start_task(t, std::move(request));
  } catch (...) {
    // No greenlet for it (out of memory): it fails as its spawn would have.
    register_record(&t->record);
    live_tasks_.add(1);
    t->placed.store(true, std::memory_order_release);
    finish_task(t, task_outcome::failed, std::current_exception());
  }
}

void hub::cancel_start(fiber_record* r) noexcept {
  if (r->status == fiber_status::ready) ready_.remove(r);
  r->status = fiber_status::running;
}

void hub::hand_over_finished(greenlet_state* self) noexcept {
  fiber_record* next = nullptr;
  if (poll_due()) [[unlikely]]
    poll_requested_ = true;
  else
    next = ready_.pop_front();
  if (next != nullptr) next->status = fiber_status::running;
  running_ = next;
  switches_.add(1);
  set_finish_target(self, next != nullptr ? next->state : nullptr);
}

void hub::resume(fiber_record* next) {
  next->status = fiber_status::running;
  running_ = next;
  switches_.add(1);
  switch_to_state(next->state);
  running_ = nullptr;  // back on the hub: whoever ran has parked or finished
}

// Control comes back here when nothing is ready, when a poll is due, or
// when a task has finished (its greenlet returns to its parent, the hub).
void hub::main_loop() {
  for (;;) {
    if (ready_.empty() && mail_left_ && !poll_due()) take_more_mail();
    if (ready_.empty() || std::exchange(poll_requested_, false) || poll_due())
      poll(/*may_block=*/ready_.empty());
    if (fiber_record* next = ready_.pop_front()) resume(next);
  }
}

// take_more_mail() takes in what a drain left in the mailbox, without
// polling the loop.
void hub::take_more_mail() {
  {
    std::lock_guard lock(remote_mutex_);
    take_mailbox();
  }
  if (!mail_in_.empty()) handle_mail();
}

void hub::poll(bool may_block) {
  may_block = may_block && ready_.empty() && !mail_left_;
  // About to block: the runtime may find this hub work on another.
  if (may_block && hungry_fn_ != nullptr && hungry_fn_(hungry_context_)) may_block = false;
  // Stuck: nothing but this hub's own fibers could wake those parked here.
  // The loop is still polled once, without blocking, for what other
  // threads sent (wakes, mail) before the report.
  bool stuck = may_block && loop_->armed_watchers() == 0 && parks_are_stuck();
  if (stuck) [[unlikely]]
    may_block = false;
  watchers_seen_.set(loop_->armed_watchers());
  if (may_block && idle_fn_ != nullptr && idle()) idle_fn_(idle_context_);
  bool alive = true;
  if (may_block) waiting_.store(true, std::memory_order_relaxed);
  if (may_block && std::exchange(heard_from_threads_, false) && spin_for_remote_work()) {
    // Taken without libev: its async watcher stays pending, so its next
    // poll does not block and runs the (then empty) drain once more.
    drain_remote_wakes();
  } else {
    clock::time_point before = may_block ? clock::now() : clock::time_point{};
    alive = loop_->run_once(may_block);
    if (may_block) blocked_ns_.add((clock::now() - before) / std::chrono::nanoseconds(1));
  }
  if (may_block) waiting_.store(false, std::memory_order_relaxed);
  polls_.add(1);
  last_poll_ = clock::now();
  next_poll_ = last_poll_ + poll_interval;
  // Outside ev_run: collecting may unwind a greenlet, which may park; mail
  // may spawn.
  process_deferred_releases();
  if (mail_left_ && mail_in_.empty()) {
    std::lock_guard lock(remote_mutex_);
    take_mailbox();
  }
  if (!mail_in_.empty()) handle_mail();
  poll_countdown_ = switches_per_clock_check;
  if (ready_.empty() && (!alive || stuck)) report_would_block_forever();
}

// spin_for_remote_work() waits up to spin_before_block, on the CPU, for
// another thread's wake or mail; true if one came. A hub that has just
// heard from another thread is likely to hear again within microseconds (a
// reply), and waking a thread blocked in epoll_wait costs tens of
// microseconds on both sides; while this thread is not inside libev's
// poll, ev_async_send makes no system call either.
bool hub::spin_for_remote_work() noexcept {
  clock::time_point until = clock::now() + spin_before_block;
  do {
    for (int i = 0; i < 64; ++i) {
      if (remote_pending_.load(std::memory_order_acquire)) return true;
      __builtin_ia32_pause();
    }
  } while (clock::now() < until);
  return false;
}

bool hub::idle() const noexcept {
  std::uint64_t handled = mail_handled_.get() + mail_stolen_.load(std::memory_order_acquire);
  return live_tasks_.get() == 0 && mail_taken_.load(std::memory_order_acquire) == handled;
}

std::size_t hub::load() const noexcept {
  // A task taken in between two reads would be counted twice (alive, and
  // still in the mail): read again until the mail count holds still.
  for (;;) {
    std::uint64_t handled = mail_handled_.get();
    std::uint64_t stolen = mail_stolen_.load(std::memory_order_acquire);
    std::size_t alive = live_tasks_.get();
    if (mail_handled_.get() != handled) continue;
    handled += stolen;
    return alive + static_cast<std::size_t>(mail_taken_.load(std::memory_order_acquire) - handled);
  }
}

// handle_mail() runs posted functions and takes in tasks spawned here from
// other threads, in the order they were posted.
void hub::handle_mail() noexcept {
  std::vector<mail> batch;
  batch.swap(mail_in_);
  for (mail& m : batch) {
    if (m.task != nullptr) {
      take_in(m.task, std::move(m.request));
    } else {
      try {
        m.fn();
      } catch (...) {
        report_failure(task_base(), std::current_exception());  // no task: a posted function
      }
    }
    m = mail{};  // a function's captures go before the next runs
    mail_handled_.add(1);
  }
  if (mail_in_.empty()) {
    batch.clear();
    mail_in_.swap(batch);  // keep the capacity
  }
}

hub::monitor_view hub::view_for_monitor() const noexcept {
  std::uint64_t handled = mail_handled_.get() + mail_stolen_.load(std::memory_order_acquire);
  bool mail = mail_taken_.load(std::memory_order_acquire) != handled;
  bool work = live_tasks_.get() != 0 || parked_.get() != 0 || ready_.size() != 0 || mail;
  return {polls_.get(), waiting(), work, sample_};
}

hub_stats hub::stats() const noexcept {
  hub_stats s;
  s.tasks = live_tasks_.get();
  s.parked = parked_.get();
  s.ready = ready_.size();
  s.watchers = on_own_thread() ? loop_->armed_watchers() : watchers_seen_.get();
  s.loop_iterations = polls_.get();
  s.switches = switches_.get();
  s.blocked = std::chrono::nanoseconds(blocked_ns_.get());
  s.stolen = stolen_.get();
  return s;
}

// parks_are_stuck() is true when fibers are parked here only on
// waits that nothing outside this hub can end: local ones, and remote ones
// whose holder (a mutex's, say) is a fiber parked here too. Then the
// keep-alive of the remote waits must not hide a deadlock. Called only when
// nothing is ready and no timer is armed, so its scan is not on a hot path.
bool hub::parks_are_stuck() const {
  bool any = false;
  for (const fiber_record* r = all_.front(); r != nullptr; r = all_.next(r)) {
    if (r->status != fiber_status::parked) continue;
    if (r->task != nullptr && !r->task->started) continue;  // queued to start, or spawn_later's timer
    any = true;
    if (!r->reason.remote) continue;
    if (r->reason.held_by == nullptr) return false;
    auto* holder = static_cast<const fiber_record*>(r->reason.held_by(r->reason));
    // A grant from another thread sets the new holder and counts its wake
    // in flight in one critical section, which held_by's read follows: a
    // fiber that holds what it waits for, or any wake in flight, means the
    // loop is about to hear from another thread.
    if (holder == nullptr || holder == r || holder->owner != this || holder->status != fiber_status::parked)
      return false;
    if (r->remote_wakes.load(std::memory_order_acquire) != 0 ||
        holder->remote_wakes.load(std::memory_order_acquire) != 0)
      return false;
  }
  return any;
}

// Nothing is ready and no watcher can fire: every parked fiber would wait
// forever. The fibers that are not tasks (the main greenlet waiting in run()
// or join(), plain greenlets) get the error, as gevent raises LoopExit in
// its main greenlet; when only tasks are parked, each of them gets it.
void hub::report_would_block_forever() {
  std::string parked = describe_parked();
  if (parked.empty()) {
    // Nobody is parked: the hub was switched to directly. Give control back.
    greenlet::switch_to_parent();
    return;
  }
  auto error = std::make_exception_ptr(
      tendril::error("would block forever: no fiber is ready and no watcher or timer can wake one (thread " +
                     std::to_string(tid_) + "); parked fibers:\n" + parked));
  bool woke_one = false;
  auto told = [](const fiber_record* r) {
    return r->status == fiber_status::parked && !r->reason.awaits_work;
  };
  for (fiber_record* r = all_.front(); r != nullptr; r = all_.next(r))
    if (told(r) && r->task == nullptr) woke_one |= wake(r, r->park_id, error);
  if (woke_one) return;
  for (fiber_record* r = all_.front(); r != nullptr; r = all_.next(r))
    if (told(r)) wake(r, r->park_id, error);
}

void hub::report_failure(const task_base& t, std::exception_ptr error) noexcept {
  try {
    if (error_handler_) {
      error_handler_(t, error);
      return;
    }
  } catch (...) {
    error = std::current_exception();  // a failing handler: report that instead, below
  }
  std::string what = "unknown exception";
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    what = e.what();
  } catch (const timeout_error& e) {
    what = e.what();
  } catch (...) {
  }
  if (t.empty())
    std::fprintf(stderr, "a function posted to %s failed: %s\n", ref().describe().c_str(), what.c_str());
  else
    std::fprintf(stderr, "task \"%s\" (id %llu) failed: %s\n", t.name().c_str(),
                 static_cast<unsigned long long>(t.id()), what.c_str());
}

task_error_handler hub::set_error_handler(task_error_handler fn) {
  return std::exchange(error_handler_, std::move(fn));
}

std::vector<task_base> hub::live_task_handles() {
  std::vector<task_base> tasks;
  tasks.reserve(live_tasks());
  for (fiber_record* r = all_.front(); r != nullptr; r = all_.next(r))
    if (r->task != nullptr) tasks.emplace_back(r->task->retain());
  return tasks;
}

void hub::shut_down() noexcept {
  // No mail from now on; what came before is handled below, and tasks
  // spawned here from other threads die with the rest (unstarted).
  hub_registry::remove(this);
  // Unwind every task still alive while the loop exists, so their timers and
  // watchers are stopped against a live loop; give up on tasks that refuse.
  for (int round = 0; round < 3; ++round) {
    {
      std::lock_guard lock(remote_mutex_);
      std::move(mailbox_.begin() + static_cast<std::ptrdiff_t>(mailbox_head_), mailbox_.end(),
                std::back_inserter(mail_in_));
      mailbox_.clear();
      mailbox_head_ = 0;
      stealable_.store(0, std::memory_order_relaxed);
      mail_left_ = false;
    }
    handle_mail();
    if (live_tasks() == 0) break;
    std::vector<task_base> alive = live_task_handles();
    try {
      for (const task_base& t : alive) t.kill(nullptr, /*block=*/false);
      for (const task_base& t : alive) t.join();
    } catch (...) {
      break;  // would block forever: the rest refuse to die; the fiber layer unwinds them
    }
  }
}

}  // namespace tendril::detail
