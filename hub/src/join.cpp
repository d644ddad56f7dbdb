// joinall, wait, iwait and killall, all built on one task_collector: a
// listener on every unfinished task of a group that queues each one as it
// finishes and wakes the fiber waiting for the next.
//
// The collector borrows the tasks' states (no reference counting): joinall,
// wait and killall return before their caller's range can go away, and
// iwait keeps its own copy of the handles.

#include <tendril/hub/join.hpp>

#include <memory>
#include <utility>

#include "hub.hpp"
#include "remote_task.hpp"
#include "task_state.hpp"

namespace tendril::detail {

class task_collector {
 public:
  explicit task_collector(const std::vector<task_state*>& tasks)
      : entries_(std::make_unique<entry[]>(tasks.size())), total_(tasks.size()) {
    hub* here = hub::find();  // never made here: a plain thread blocks instead
    task_state* self = here != nullptr ? here->current_task() : nullptr;
    // task_state::on_this_thread, with the hub's id read once.
    const std::uint64_t here_id = here != nullptr ? here->id() : 0;
    auto local = [here_id](const task_state* t) {
      return t->placed.load(std::memory_order_acquire) && t->home.load(std::memory_order_relaxed) == here_id;
    };
    bool any_remote = false;
    for (task_state* t : tasks) {
      if (t == nullptr) throw error("joinall/wait/iwait/killall given an empty task handle");
      if (t == self) throw error(t->describe() + " cannot wait for itself");
      any_remote = any_remote || !local(t);
    }
    // Tasks of other hubs report to a shared inbox, under its lock; then
    // this hub's own do too, so that one wait covers both.
    if (any_remote) inbox_ = std::make_shared<inbox>();
    finished_.reserve(tasks.size());
    std::vector<task_state*> remote;
    for (task_state* t : tasks) {
      if (t->ready()) {
        finished_.push_back(t);
      } else if (local(t)) {
        entry& e = entries_[listening_++];
        e.owner = this;
        e.task = t;
        e.notify = [](task_listener* l, task_state* done) noexcept {
          static_cast<entry*>(l)->owner->finished(done);
        };
        t->add_listener(&e);
      } else {
        remote.push_back(t);
      }
    }
    try {
      listen_remotely(remote);
    } catch (...) {
      stop_listening_all();
      throw;
    }
  }
  task_collector(const task_collector&) = delete;
  task_collector& operator=(const task_collector&) = delete;
  ~task_collector() { stop_listening_all(); }

  /// next(deadline) is the next finished task, or null when all have been
  /// returned or the deadline has passed.
  task_state* next(clock::time_point deadline) {
    for (;;) {
      take_inbox();
      if (returned_ < finished_.size()) return finished_[returned_++];
      if (returned_ == total_) return nullptr;
      if (!wait(deadline)) {
        take_inbox();
        return returned_ < finished_.size() ? finished_[returned_++] : nullptr;
      }
    }
  }

  bool all_returned() const noexcept { return returned_ == total_; }

 private:
  void stop_listening_all() noexcept {
    for (std::size_t i = 0; i < listening_; ++i) entries_[i].task->remove_listener(&entries_[i]);
    for (remote_entry* r : remote_) {
      bool told;
      {
        std::lock_guard lock(inbox_->signal.mutex);
        told = r->told;
      }
      stop_listening(r->task, r, told);
    }
    remote_.clear();
  }

  struct entry : task_listener {
    task_collector* owner = nullptr;
    task_state* task = nullptr;
  };
  // Finished tasks of any hub, handed over under the signal's lock.
  struct inbox {
    remote_signal signal;
    std::vector<task_state*> finished;
  };
  // A listener on a task of another hub, shared with that hub.
  struct remote_entry final : remote_listener {
    std::shared_ptr<inbox> to;
    task_state* task = nullptr;
    bool told = false;  // guarded by to->signal.mutex

    // tell(l, done), on the task's hub: the task has finished.
    static void tell(task_listener* l, task_state* done) noexcept {
      auto* self = static_cast<remote_entry*>(l);
      {
        std::lock_guard lock(self->to->signal.mutex);
        self->told = true;
        self->to->finished.push_back(done);
        self->to->signal.raise();
      }
      self->drop();
    }
  };

  // listen_remotely(tasks) listens on tasks of other hubs: one request per
  // hub, whatever the number of its tasks.
  void listen_remotely(std::vector<task_state*> tasks) {
    while (!tasks.empty()) {
      std::uint64_t home = tasks.front()->home.load(std::memory_order_relaxed);
      std::vector<std::pair<task_state*, remote_listener*>> batch;
      std::vector<task_state*> other_hubs;
      for (task_state* t : tasks) {
        if (t->home.load(std::memory_order_relaxed) != home) {
          other_hubs.push_back(t);
          continue;
        }
        auto* r = new remote_entry;
        r->to = inbox_;
        r->task = t;
        r->notify = &remote_entry::tell;
        batch.emplace_back(t, r);
      }
      hub_registry::delivery sent = hub_registry::delivery::gone;
      try {
        sent = remote_listen_all(home, batch);
      } catch (...) {
        for (auto [t, r] : batch) delete r;
        throw;
      }
      if (sent == hub_registry::delivery::delivered) {
        for (auto [t, r] : batch) remote_.push_back(static_cast<remote_entry*>(r));
      } else if (sent == hub_registry::delivery::moved) {
        // One was stolen by another hub since its home was read: group again.
        for (auto [t, r] : batch) {
          delete r;
          other_hubs.push_back(t);
        }
      } else {
        // Its hub has exited: its tasks have finished, or never will.
        for (auto [t, r] : batch) delete r;
        for (auto [t, r] : batch) {
          if (!t->ready())
            throw error("cannot wait for " + t->describe() + ": its hub " + std::to_string(home) +
                        " has exited and it never finished");
          finished_.push_back(t);
        }
      }
      tasks.swap(other_hubs);
    }
  }

  // finished(t): a task of this hub has finished (on this thread).
  void finished(task_state* t) noexcept {
    if (inbox_ == nullptr) {
      finished_.push_back(t);
      // One wake is enough until the waiter runs: the rest of a burst only queue.
      std::exchange(waiting_, waker()).wake();
      return;
    }
    std::lock_guard lock(inbox_->signal.mutex);
    inbox_->finished.push_back(t);
    inbox_->signal.raise();
  }

  void take_inbox() {
    if (inbox_ == nullptr) return;
    std::lock_guard lock(inbox_->signal.mutex);
    finished_.insert(finished_.end(), inbox_->finished.begin(), inbox_->finished.end());
    inbox_->finished.clear();
  }

  // wait(deadline) waits for the next task to finish; false: the deadline passed.
  bool wait(clock::time_point deadline) {
    const wait_reason why{.what = "tasks",
                          .object = this,
                          .detail = static_cast<std::int64_t>(total_ - returned_),
                          .describe = &describe,
                          .remote = inbox_ != nullptr};
    if (inbox_ == nullptr) {
      waiting_ = waker::current();
      bool woken = park(why, deadline);
      waiting_ = waker();
      return woken || returned_ < finished_.size();
    }
    std::unique_lock lock(inbox_->signal.mutex);
    return inbox_->signal.wait(lock, why, deadline, [this] { return !inbox_->finished.empty(); });
  }

  static std::string describe(const wait_reason& why) {
    auto* self = static_cast<const task_collector*>(why.object);
    std::string first;
    for (std::size_t i = 0; i < self->listening_ && first.empty(); ++i)
      if (!self->entries_[i].task->ready()) first = self->entries_[i].task->describe();
    for (const remote_entry* r : self->remote_)
      if (first.empty() && !r->task->ready()) first = r->task->describe();
    return "joining " + std::to_string(why.detail) + " of " + std::to_string(self->total_) +
           " tasks (the first unfinished: " + first + ")";
  }

  std::unique_ptr<entry[]> entries_;
  std::size_t listening_ = 0;  // entries in use
  std::vector<remote_entry*> remote_;
  std::shared_ptr<inbox> inbox_;  // when any task runs on another hub
  std::size_t total_ = 0;
  std::size_t returned_ = 0;
  std::vector<task_state*> finished_;  // in completion order; [returned_, size) not yet returned
  waker waiting_;
};

bool joinall_until(const std::vector<task_state*>& tasks, clock::time_point deadline, bool raise_error) {
  task_collector group(tasks);
  while (task_state* t = group.next(deadline)) {
    if (raise_error && t->result() == task_outcome::failed) {
      t->observed.store(true, std::memory_order_relaxed);
      std::rethrow_exception(t->error);
    }
  }
  return group.all_returned();
}

std::vector<task_base> wait_until(const std::vector<task_state*>& tasks, std::size_t count,
                                  clock::time_point deadline) {
  if (count == 0 || count > tasks.size()) count = tasks.size();
  task_collector group(tasks);
  std::vector<task_base> done;
  while (done.size() < count) {
    task_state* t = group.next(deadline);
    if (t == nullptr) break;
    done.emplace_back(t->retain());
  }
  return done;
}

void killall(const std::vector<task_state*>& tasks, std::exception_ptr error, bool block,
             clock::time_point deadline) {
  hub* here = hub::find();
  task_state* self = here != nullptr ? here->current_task() : nullptr;
  for (task_state* t : tasks) {
    if (t == nullptr) throw tendril::error("killall given an empty task handle");
    if (t == self) throw tendril::error(t->describe() + " called killall on a list that contains itself");
  }
  for (task_state* t : tasks) task_base(t->retain()).kill(error, /*block=*/false);
  if (block) joinall_until(tasks, deadline, /*raise_error=*/false);
}

}  // namespace tendril::detail

namespace tendril {

namespace {
std::vector<detail::task_state*> states_of(const std::vector<task_base>& tasks) {
  std::vector<detail::task_state*> states;
  states.reserve(tasks.size());
  for (const task_base& t : tasks) states.push_back(t.state());
  return states;
}
}  // namespace

iwait::iwait(std::vector<task_base> tasks, clock::time_point deadline)
    : tasks_(std::move(tasks)),
      collector_(std::make_unique<detail::task_collector>(states_of(tasks_))),
      deadline_(deadline) {}

iwait::~iwait() = default;

std::optional<task_base> iwait::next() {
  detail::task_state* t = collector_->next(deadline_);
  if (t == nullptr) return std::nullopt;
  return task_base(t->retain());
}

}  // namespace tendril
