// joinall, wait, iwait and killall, all built on one task_collector: a
// listener on every unfinished task of a group that queues each one as it
// finishes and wakes the fiber waiting for the next.
//
// The collector borrows the tasks' states (no reference counting): joinall,
// wait and killall return before their caller's range can go away, and
// iwait keeps its own copy of the handles.

#include <tendril/hub/join.hpp>

#include <memory>

#include "hub.hpp"
#include "task_state.hpp"

namespace tendril::detail {

class task_collector {
 public:
  explicit task_collector(const std::vector<task_state*>& tasks)
      : entries_(std::make_unique<entry[]>(tasks.size())), total_(tasks.size()) {
    task_state* self = hub::get().current_task();
    for (task_state* t : tasks) {
      if (t == nullptr) throw error("joinall/wait/iwait/killall given an empty task handle");
      if (t == self) throw error(t->describe() + " cannot wait for itself");
    }
    finished_.reserve(tasks.size());
    for (task_state* t : tasks) {
      if (t->ready()) {
        finished_.push_back(t);
        continue;
      }
      entry& e = entries_[listening_++];
      e.owner = this;
      e.task = t;
      e.notify = [](task_listener* l, task_state* done) noexcept {
        auto* en = static_cast<entry*>(l);
        en->owner->finished_.push_back(done);
        en->owner->waiting_.wake();
      };
      t->add_listener(&e);
    }
  }
  task_collector(const task_collector&) = delete;
  task_collector& operator=(const task_collector&) = delete;
  ~task_collector() {
    for (std::size_t i = 0; i < listening_; ++i) entries_[i].task->remove_listener(&entries_[i]);
  }

  /// next(deadline) is the next finished task, or null when all have been
  /// returned or the deadline has passed.
  task_state* next(clock::time_point deadline) {
    while (returned_ == finished_.size()) {
      if (returned_ == total_) return nullptr;
      waiting_ = waker::current();
      bool woken = park({"tasks", this, static_cast<std::int64_t>(total_ - returned_), &describe}, deadline);
      waiting_ = waker();
      if (!woken && returned_ == finished_.size()) return nullptr;
    }
    return finished_[returned_++];
  }

  bool all_returned() const noexcept { return returned_ == total_; }

 private:
  struct entry : task_listener {
    task_collector* owner = nullptr;
    task_state* task = nullptr;
  };

  static std::string describe(const wait_reason& why) {
    auto* self = static_cast<const task_collector*>(why.object);
    std::string first;
    for (std::size_t i = 0; i < self->listening_ && first.empty(); ++i)
      if (!self->entries_[i].task->ready()) first = self->entries_[i].task->describe();
    return "joining " + std::to_string(why.detail) + " of " + std::to_string(self->total_) +
           " tasks (the first unfinished: " + first + ")";
  }

  std::unique_ptr<entry[]> entries_;
  std::size_t listening_ = 0;  // entries in use
  std::size_t total_ = 0;
  std::size_t returned_ = 0;
  std::vector<task_state*> finished_;  // in completion order; [returned_, size) not yet returned
  waker waiting_;
};

bool joinall_until(const std::vector<task_state*>& tasks, clock::time_point deadline, bool raise_error) {
  task_collector group(tasks);
  while (task_state* t = group.next(deadline)) {
    if (raise_error && t->outcome == task_outcome::failed) {
      t->observed = true;
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
  task_state* self = hub::get().current_task();
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
