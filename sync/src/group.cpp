// task_set: the members of a group or pool, and how they leave.
//
// Invariants:
// - Everything happens on the set's thread: its tasks are that hub's tasks,
//   so the set needs no lock (every entry point checks the thread).
// - Each member is one heap entry, in a list in the order it came in. An
//   entry leaves the list exactly once: when its task ends (the guard in a
//   spawned task's callable, the link on an added one), by discard(), or when
//   the set is destroyed. Once out, `set` is null and the entry holds no
//   task handle; a spawned member's entry is then freed by its guard, an
//   added member's link is removed and the entry freed at once.
// - With slots (a pool), every member holds one slot, given back when it
//   leaves the list; giving it back grants it to the oldest blocked spawner.
// - `emptied_` counts the times the set became empty, so a joiner woken by
//   that returns even if a task came in before it ran (gevent's "at least
//   once").
//
// Rejected: a hash index from task to entry. It would make add, discard and
// contains constant-time, at an allocation per spawn; membership is found by
// walking the list instead (a pool is small, and a group's spawn never asks).

#include <tendril/sync/group.hpp>

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <new>

#include <tendril/error.hpp>
#include <tendril/hub/join.hpp>
#include <tendril/sync/detail/wait_list.hpp>
#include <tendril/sync/semaphore.hpp>

namespace tendril::detail {

struct set_member {
  task_set* set = nullptr;  ///< null once out of the set
  set_member* prev = nullptr;
  set_member* next = nullptr;
  task_base task;               ///< empty until admitted, and once out
  task_base::link_id link = 0;  ///< add(): the link that takes it out
  bool spawned = false;         ///< a member_guard owns the entry's end
  bool dying = false;           ///< kill() has killed it once
};

member_guard::~member_guard() {
  if (member_ == nullptr) return;
  if (member_->set != nullptr)
    member_->set->leave(member_);
  else
    delete member_;
}

namespace {
std::string describe_join(const wait_reason& why) {
  const auto* set = static_cast<const task_set*>(why.object);
  return "joining " + set->describe() + " (" + std::to_string(why.detail) + " tasks)";
}
}  // namespace

task_set::task_set(const char* kind, std::string name, semaphore* slots)
    : kind_(kind),
      name_(std::move(name)),
      slots_(slots),
      thread_(std::this_thread::get_id()),
      thread_tid_(::gettid()) {}

task_set::~task_set() {
  if (head_ == nullptr) return;
  if (std::this_thread::get_id() != thread_) {
    std::fprintf(stderr, "tendril: %s destroyed on thread %ld with %zu tasks of the hub of thread %ld\n",
                 describe().c_str(), static_cast<long>(::gettid()), size_, thread_tid_);
    std::abort();
  }
  // The tasks run on; let them go without their slots (the pool's semaphore
  // dies with it).
  while (set_member* m = head_) {
    unlink(m);
    m->set = nullptr;
    if (m->spawned) {
      m->task = task_base();  // its guard frees the entry
    } else {
      m->task.unlink(m->link);
      delete m;
    }
  }
}

bool task_set::take_slot(clock::time_point deadline) {
  if (slots_ == nullptr) return true;
  if (deadline <= clock::now()) return slots_->try_acquire();
  return slots_->try_acquire_until(deadline);
}

void task_set::give_back_slot() noexcept {
  if (slots_ != nullptr) slots_->release();
}

member_guard task_set::enter() {
  auto* m = new (std::nothrow) set_member;
  if (m == nullptr) {
    give_back_slot();
    throw std::bad_alloc();
  }
  m->set = this;
  m->spawned = true;
  insert(m);
  return member_guard(m);
}

void task_set::admit(set_member* m, const task_base& t) noexcept { m->task = t; }

void task_set::insert(set_member* m) noexcept {
  m->prev = tail_;
  m->next = nullptr;
  if (tail_ != nullptr)
    tail_->next = m;
  else
    head_ = m;
  tail_ = m;
  ++size_;
}

void task_set::unlink(set_member* m) noexcept {
  if (m->prev != nullptr)
    m->prev->next = m->next;
  else
    head_ = m->next;
  if (m->next != nullptr)
    m->next->prev = m->prev;
  else
    tail_ = m->prev;
  m->prev = m->next = nullptr;
  --size_;
}

void task_set::leave(set_member* m) noexcept {
  unlink(m);
  delete m;
  give_back_slot();
  note_if_empty();
}

void task_set::note_if_empty() noexcept {
  if (size_ != 0) return;
  ++emptied_;
  for (const waker& w : std::exchange(joiners_, {})) w.wake();
}

set_member* task_set::find(const task_base& t) const {
  for (set_member* m = head_; m != nullptr; m = m->next)
    if (m->task == t) return m;
  return nullptr;
}

void task_set::check_handle(const task_base& t, const char* what) const {
  check_thread();
  if (t.empty()) throw error(describe() + ": " + what + " given an empty task handle");
}

bool task_set::addable(const task_base& t) const {
  check_handle(t, "add");
  return !t.ready() && find(t) == nullptr;
}

bool task_set::add(const task_base& t) {
  if (!addable(t)) {
    give_back_slot();
    return false;
  }
  auto* m = new (std::nothrow) set_member;
  if (m == nullptr) {
    give_back_slot();
    throw std::bad_alloc();
  }
  m->set = this;
  m->task = t;
  try {
    m->link = t.link([m](const task_base&) { m->set->leave(m); });
  } catch (...) {
    delete m;
    give_back_slot();
    throw;
  }
  insert(m);
  return true;
}

bool task_set::discard(const task_base& t) {
  check_handle(t, "discard");
  set_member* m = find(t);
  if (m == nullptr) return false;
  unlink(m);
  m->set = nullptr;
  if (m->spawned) {
    m->task = task_base();  // its guard frees the entry
  } else {
    t.unlink(m->link);
    delete m;
  }
  give_back_slot();
  note_if_empty();
  return true;
}

bool task_set::contains(const task_base& t) const {
  check_handle(t, "contains");
  return find(t) != nullptr;
}

std::size_t task_set::size() const {
  check_thread();
  return size_;
}

std::vector<task_base> task_set::tasks() const {
  check_thread();
  std::vector<task_base> out;
  out.reserve(size_);
  for (set_member* m = head_; m != nullptr; m = m->next)
    if (!m->task.empty()) out.push_back(m->task);
  return out;
}

bool task_set::current_is_member() const {
  task_base self = current_task();
  return !self.empty() && find(self) != nullptr;
}

void task_set::check_thread() const {
  if (std::this_thread::get_id() == thread_) [[likely]]
    return;
  throw error(describe() + " was used from thread " + std::to_string(::gettid()) +
              ": it belongs to the hub of thread " + std::to_string(thread_tid_));
}

void task_set::refuse_member(const char* what, const char* instead) const {
  throw error(current_task().describe() + " cannot " + what + ' ' + describe() +
              ": it is one of its tasks (" + instead + ')');
}

std::string task_set::describe() const { return describe_object(kind_, name_, this); }

bool task_set::wait_empty(clock::time_point deadline) {
  const std::uint64_t seen = emptied_;
  while (size_ != 0 && emptied_ == seen) {
    waker self = waker::current();
    joiners_.push_back(self);
    struct forget {
      std::vector<waker>& joiners;
      waker self;
      ~forget() { std::erase(joiners, self); }
    } on_exit{joiners_, self};
    // Not remote: only this hub's tasks can empty the set, so a join that
    // nothing can end is reported as would-block-forever.
    if (!park({"group", this, static_cast<std::int64_t>(size_), &describe_join}, deadline)) break;
  }
  return size_ == 0 || emptied_ != seen;
}

bool task_set::join_until(clock::time_point deadline, bool raise_error) {
  check_thread();
  if (current_is_member()) refuse_member("join", "it would wait for itself");
  std::vector<task_base> joined = raise_error ? tasks() : std::vector<task_base>();
  bool emptied = wait_empty(deadline);
  for (const task_base& t : joined)
    if (t.ready() && !t.successful() && !t.killed()) std::rethrow_exception(t.exception());
  return emptied;
}

bool task_set::kill(std::exception_ptr error, bool block, clock::time_point deadline) {
  check_thread();
  if (current_is_member()) refuse_member("kill", "kill the others, then end itself");
  if (!error) error = std::make_exception_ptr(greenlet_exit());
  for (;;) {
    // Killing a task that has not started ends it here, and its entry with
    // it: collect the handles first.
    std::vector<task_base> victims;
    for (set_member* m = head_; m != nullptr; m = m->next) {
      if (m->dying || m->task.empty()) continue;
      m->dying = true;
      victims.push_back(m->task);
    }
    for (const task_base& t : victims) t.kill(error, /*block=*/false);
    if (!block || size_ == 0) break;
    clock::time_point now = clock::now();
    if (deadline <= now) break;
    clock::duration left = deadline == no_deadline ? clock::duration::max() : deadline - now;
    if (!joinall(victims, left)) break;
    if (size_ == 0) break;
    bool fresh = false;  // tasks that came in meanwhile; the others ignored their kill
    for (set_member* m = head_; m != nullptr && !fresh; m = m->next) fresh = !m->dying;
    if (!fresh && !wait_empty(deadline)) break;
  }
  return size_ == 0;
}

}  // namespace tendril::detail
