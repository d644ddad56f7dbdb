#pragma once
// group: the tasks still running, gevent.pool.Group.
//
//   tendril::group crawlers("crawlers");
//   for (const std::string& url : urls) crawlers.spawn(fetch, url);
//   crawlers.join();                   // parks until every one has finished
//
// A task leaves its group by itself when it finishes (gevent links a discard
// to each greenlet), so a group holds only tasks that have not finished. A
// group is unbounded; tendril::pool (<tendril/sync/pool.hpp>) is the bounded
// one, and adds map, imap, imap_unordered and apply.
//
// A group belongs to the hub of the thread that created it: its tasks are
// that hub's tasks, and every call but describe() is made on that thread.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <tendril/hub/park.hpp>
#include <tendril/hub/task.hpp>

namespace tendril {

class semaphore;

namespace detail {

class task_set;
struct set_member;

/// member_guard sits in the callable of a task a group spawned. A task's
/// callable is destroyed as soon as the task ends (returned, failed, was
/// killed, or was killed before it started), on the task's thread, before
/// anything waiting for the task runs: the guard's destructor takes the
/// task out of its group there (or, when the group let it go first, only
/// frees its entry). Move-only. Not API.
class member_guard {
 public:
  explicit member_guard(set_member* member) noexcept : member_(member) {}
  member_guard(member_guard&& other) noexcept : member_(std::exchange(other.member_, nullptr)) {}
  member_guard& operator=(member_guard&&) = delete;
  ~member_guard();

  set_member* member() const noexcept { return member_; }

 private:
  set_member* member_;
};

/// member_call<Call> is a spawned member's callable: its guard, then the call.
template <class Call>
struct member_call {
  member_guard guard;
  Call call;
  decltype(auto) operator()() { return call(); }
};

/// task_set is what group and pool share: the unfinished tasks, in the order
/// they came in, joining, killing and the thread check. For a pool, `slots`
/// counts free places: each task in the set holds one, given back when it
/// leaves (finishes or is discarded). Not API; group and pool document the
/// behaviour.
class task_set {
 public:
  task_set(const char* kind, std::string name, semaphore* slots);
  task_set(const task_set&) = delete;
  task_set& operator=(const task_set&) = delete;
  ~task_set();

  /// spawn(options, f, args...) spawns a task and takes it in. With slots,
  /// the caller has taken one (take_slot) for it: from here on the task's
  /// entry owns it, and gives it back however spawning ends.
  template <class F, class... Args>
  auto spawn(spawn_options options, F&& f, Args&&... args) {
    member_guard guard = enter();
    set_member* member = guard.member();
    auto call = bound_call(std::forward<F>(f), std::forward<Args>(args)...);
    auto t =
        tendril::spawn(std::move(options), member_call<decltype(call)>{std::move(guard), std::move(call)});
    admit(member, t);  // the task has not run yet: spawn never switches
    return t;
  }

  /// take_slot(deadline) takes a free slot (true at once without slots).
  bool take_slot(clock::time_point deadline);
  void give_back_slot() noexcept;

  /// addable(t) is false when t has finished or is in the set already.
  bool addable(const task_base& t) const;
  /// add(t) takes t in when addable; with slots, the caller holds one for
  /// it, given back when t is not taken in.
  bool add(const task_base& t);
  bool discard(const task_base& t);
  bool contains(const task_base& t) const;
  std::size_t size() const;
  std::vector<task_base> tasks() const;
  bool join_until(clock::time_point deadline, bool raise_error);
  bool kill(std::exception_ptr error, bool block, clock::time_point deadline);

  /// current_is_member() is true when the calling fiber is one of the tasks.
  bool current_is_member() const;
  /// check_thread() throws tendril::error naming the set unless called on its hub's thread.
  void check_thread() const;
  std::string describe() const;

  /// leave(m) takes a member out: its slot is given back, and joiners wake
  /// once the set is empty. For member_guard and add()'s link.
  void leave(set_member* m) noexcept;

 private:
  member_guard enter();
  void admit(set_member* m, const task_base& t) noexcept;
  void insert(set_member* m) noexcept;
  void unlink(set_member* m) noexcept;
  /// note_if_empty() wakes the joiners when the set has just become empty.
  void note_if_empty() noexcept;
  set_member* find(const task_base& t) const;
  void check_handle(const task_base& t, const char* what) const;
  void refuse_member(const char* what, const char* instead) const;
  bool wait_empty(clock::time_point deadline);

  const char* kind_;
  std::string name_;
  semaphore* slots_;
  std::thread::id thread_;
  long thread_tid_;
  set_member* head_ = nullptr;  // in the order they came in
  set_member* tail_ = nullptr;
  std::size_t size_ = 0;
  std::uint64_t emptied_ = 0;  // how many times the set became empty
  std::vector<waker> joiners_;
};

}  // namespace detail

/// group is an unbounded set of tasks; each leaves it when it finishes.
class group {
 public:
  /// group(name): the name shows in errors and wait reasons (`group "name"`).
  explicit group(std::string name = {}) : set_("group", std::move(name), nullptr) {}
  group(const group&) = delete;
  group& operator=(const group&) = delete;
  /// ~group() leaves the tasks running (they are ordinary tasks; kill() or
  /// join() first to wait for them); they no longer touch the group. No
  /// fiber may be inside a call on the group then. Destroying a group that
  /// still holds tasks from another thread than its hub's aborts with a
  /// message naming it: its tasks would race with it.
  ~group() = default;

  /// spawn(f, args...) is tendril::spawn(f, args...) with the task added to
  /// the group; returns its task<R>. Never blocks.
  /// Thread-safety: call from a fiber (or the main greenlet) of the group's hub.
  /// Errors: tendril::error naming the group when called from another thread;
  /// otherwise as tendril::spawn.
  template <class F, class... Args>
    requires detail::spawnable<F, Args...>
  auto spawn(F&& f, Args&&... args) {
    set_.check_thread();
    return set_.spawn({}, std::forward<F>(f), std::forward<Args>(args)...);
  }
  /// spawn(options, f, args...) is spawn() with a name and a stack size.
  template <class F, class... Args>
    requires detail::spawnable<F, Args...>
  auto spawn(spawn_options options, F&& f, Args&&... args) {
    set_.check_thread();
    return set_.spawn(std::move(options), std::forward<F>(f), std::forward<Args>(args)...);
  }

  /// add(t) adds a task spawned elsewhere on this hub; it leaves when it
  /// finishes. Returns false, adding nothing, when t has finished or is in
  /// the group already. The group learns of the end through t.link(), which
  /// counts as observing a failure: a failure of an added task is not
  /// reported to the task error handler (a spawned one is, when nobody
  /// observed it). Never blocks.
  /// Thread-safety: as spawn; t must be a task of the group's hub (a task of
  /// another thread's hub is not detected).
  /// Errors: tendril::error naming the group for an empty handle, and from
  /// another thread.
  bool add(const task_base& t) { return set_.add(t); }
  /// discard(t) takes t out without touching it (it runs on, outside the
  /// group); false if it was not in. Thread-safety, errors: as add.
  bool discard(const task_base& t) { return set_.discard(t); }

  /// contains(t) is true while t is in the group; linear in size().
  /// Thread-safety, errors: as add.
  bool contains(const task_base& t) const { return set_.contains(t); }
  /// size() is the number of tasks in the group. Thread-safety: as spawn.
  std::size_t size() const { return set_.size(); }
  bool empty() const { return size() == 0; }
  /// tasks() is a snapshot of the tasks, in the order they were added.
  /// Thread-safety: as spawn.
  std::vector<task_base> tasks() const { return set_.tasks(); }

  /// join(timeout, raise_error) waits until the group is empty (at least
  /// once: gevent's wording; a task added later may be running again when
  /// the caller resumes). Returns false if `timeout` passed first, true at
  /// once for an empty group (without switching). With raise_error, after
  /// the wait (even one that timed out), rethrows the first failure among
  /// the tasks that were in the group when join was called, in the order
  /// they were added; that counts as observing it. A killed task is not a
  /// failure.
  ///
  /// Blocking:      parks the calling fiber.
  /// Deadline:      join returns false when `timeout` passes; join_until at `deadline`.
  /// Cancellation:  a kill or expired timeout scope raises at the park; the tasks go on.
  /// Thread-safety: call from a fiber (or the main greenlet) of the group's hub.
  /// Errors:        tendril::error naming the group and the fiber when the
  ///                caller is in the group (it would wait for itself), when
  ///                called from another thread, and when nothing can ever
  ///                finish the tasks (would block forever).
  bool join(clock::duration timeout = clock::duration::max(), bool raise_error = false) {
    return set_.join_until(deadline_after(timeout), raise_error);
  }
  bool join_until(clock::time_point deadline, bool raise_error = false) {
    return set_.join_until(deadline, raise_error);
  }

  /// kill(e, block, timeout) kills every task in the group (as
  /// task_base::kill: `e`, or greenlet_exit when null; a task not yet
  /// started dies without running), each once. With `block`, waits up to
  /// `timeout` for them to finish, killing tasks added meanwhile too.
  /// Returns true if the group is empty when it returns. A task killed with
  /// an `e` other than greenlet_exit fails with it (reported if nobody
  /// observes it, as for any task).
  /// Blocking, cancellation, thread-safety: as join.
  /// Errors: tendril::error naming the group and the fiber, before killing
  /// any, when the caller is in the group (kill the others, then end itself);
  /// from another thread, as join.
  bool kill(std::exception_ptr error = nullptr, bool block = true,
            clock::duration timeout = clock::duration::max()) {
    return set_.kill(std::move(error), block, deadline_after(timeout));
  }

  /// describe() is `group "name"` (or `group 0x...`), the form errors use.
  /// Thread-safety: any thread.
  std::string describe() const { return set_.describe(); }

 private:
  detail::task_set set_;
};

}  // namespace tendril
