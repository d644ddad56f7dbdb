// task_base: what a handle can do with its task (join, kill, link, observe).
//
// Invariants:
// - Joining, killing and linking happen on the task's own thread; a handle
//   used on another thread hands them to the task's hub (remote_task.cpp).
//   Handles are copied and dropped anywhere.
// - A join registers an intrusive listener on the task (no allocation) and
//   parks; the listener is removed however the park ends.
// - A task killed before it started is finished here, by the killer: it never
//   runs and never gets a stack.
//
// Rejected: joins that poll ready() after each wake-up of any task (gevent's
// rawlink callbacks are the model: the finishing task tells its waiters).

#include <tendril/hub/task.hpp>

#include <unistd.h>

#include <memory>

#include <tendril/fiber/detail/state_access.hpp>

#include "hub.hpp"
#include "remote_task.hpp"
#include "task_state.hpp"

namespace tendril {

using detail::task_outcome;
using detail::task_state;

namespace {

std::string describe_join(const wait_reason& why) {
  return "joining " + static_cast<const task_state*>(why.object)->describe();
}

struct join_listener : detail::task_listener {
  waker parked;
};

// A link's callback; its listener list owns it alone (on whichever hub
// runs the task, so a link made on another thread is a remote listener).
struct user_link final : detail::remote_listener {
  task_base::link_id id = 0;
  task_base::link_function fn;

  static void run(detail::task_listener* self, task_state* finished) noexcept {
    std::unique_ptr<user_link> link(static_cast<user_link*>(self));
    call(link->fn, finished);
  }

  // call(fn, t) runs a link: it observes the outcome; what it throws goes to
  // the error handler, never to whoever happened to finish or link the task.
  static void call(const task_base::link_function& fn, task_state* t) noexcept {
    t->observed.store(true, std::memory_order_relaxed);
    task_base handle(t->retain());
    try {
      fn(handle);
    } catch (...) {
      t->owner().report_failure(handle, std::current_exception());
    }
  }
};

bool is_greenlet_exit(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const greenlet_exit&) {
    return true;
  } catch (...) {
    return false;
  }
}

}  // namespace

task_base::task_base(const task_base& other) noexcept
    : state_(other.state_ != nullptr ? other.state_->retain() : nullptr) {}

task_base& task_base::operator=(const task_base& other) noexcept {
  task_base copy(other);
  std::swap(state_, copy.state_);
  return *this;
}

task_base& task_base::operator=(task_base&& other) noexcept {
  task_base moved(std::move(other));
  std::swap(state_, moved.state_);
  return *this;
}

task_base::~task_base() {
  if (state_ != nullptr) state_->release();
}

task_state* task_base::checked() const {
  if (state_ == nullptr) [[unlikely]]
    throw error("empty task handle (default-constructed or moved-from)");
  return state_;
}

bool task_base::ready() const { return checked()->ready(); }
bool task_base::successful() const { return checked()->result() == task_outcome::succeeded; }
bool task_base::killed() const { return checked()->result() == task_outcome::killed; }

std::exception_ptr task_base::exception() const {
  task_state* s = checked();
  if (!s->ready()) return nullptr;  // asked too early, it has seen nothing
  s->observed.store(true, std::memory_order_relaxed);
  return s->error;
}

bool task_base::join_until(clock::time_point deadline) const {
  task_state* s = checked();
  if (s->ready()) return true;
  if (!s->on_this_thread()) return detail::remote_join(s, deadline);
  detail::hub& h = s->owner();
  if (h.current_record() == &s->record) throw error(s->describe() + " cannot join itself");
  join_listener listener;
  listener.notify = [](detail::task_listener* self, task_state*) noexcept {
    static_cast<join_listener*>(self)->parked.wake();
  };
  s->add_listener(&listener);
  struct unlisten {
    task_state* s;
    join_listener* l;
    ~unlisten() { s->remove_listener(l); }
  } guard{s, &listener};
  // Only the task itself can end this wait: dumps and deadlock reports
  // follow the edge to it.
  const wait_reason why{
      .what = "task", .object = s, .describe = &describe_join, .held_by = &task_state::held_by_joined};
  while (!s->ready()) {
    listener.parked = waker::current();
    if (!park(why, deadline)) break;
  }
  return s->ready();
}

void* task_base::wait_result() const {
  task_state* s = checked();
  join();
  s->observed.store(true, std::memory_order_relaxed);
  switch (s->result()) {
    case task_outcome::succeeded:
      return s->vtable->result(s->body());
    case task_outcome::killed:
      throw task_killed(s->describe() + " was killed");
    default:
      std::rethrow_exception(s->error);
  }
}

bool task_base::kill(std::exception_ptr error, bool block, clock::duration timeout) const {
  task_state* s = checked();
  if (s->ready()) return true;
  if (!error) error = std::make_exception_ptr(greenlet_exit());
  if (!s->on_this_thread()) {
    detail::remote_kill(s, std::move(error));
    if (!block) return s->ready();
    return join_for(timeout);
  }
  detail::hub& h = s->owner();
  if (!s->started) {  // dies without running, and without ever getting a stack
    h.cancel_start(&s->record);
    bool exit = is_greenlet_exit(error);
    if (exit) s->observed.store(true, std::memory_order_relaxed);
    detail::finish_task(s, exit ? task_outcome::killed : task_outcome::failed, std::move(error));
    return true;
  }
  if (s->record.state == detail::current_greenlet_state()) std::rethrow_exception(error);  // killing itself
  h.interrupt(&s->record, std::move(error));
  if (!block) return s->ready();
  return join_for(timeout);
}

task_base::link_id task_base::link(link_function fn) const {
  task_state* s = checked();
  link_id id = s->next_link_id.fetch_add(1, std::memory_order_relaxed);
  if (s->ready() && s->on_this_thread()) {
    user_link::call(fn, s);
    return id;
  }
  auto l = std::make_unique<user_link>();
  l->notify = &user_link::run;
  l->id = id;
  l->fn = std::move(fn);
  if (s->on_this_thread()) {
    s->add_listener(l.release());
  } else if (detail::remote_listen(s, l.get())) {
    (void)l.release();  // the task's hub runs it (then frees it), or frees it at unlink
  } else if (s->ready()) {
    user_link::call(l->fn, s);  // its hub has exited: here, at once
  } else {
    throw error("cannot link " + s->describe() + ": its hub " +
                std::to_string(s->home.load(std::memory_order_relaxed)) +
                " has exited and it never finished");
  }
  return id;
}

namespace {

// unlink_here(s, id): task_base::unlink on the task's own thread.
bool unlink_here(task_state* s, std::uint64_t id) noexcept {
  for (detail::task_listener* l = s->listeners_head; l != nullptr; l = l->next) {
    if (l->notify != &user_link::run || static_cast<user_link*>(l)->id != id) continue;
    s->remove_listener(l);
    delete static_cast<user_link*>(l);
    return true;
  }
  return false;
}

}  // namespace

bool task_base::unlink(link_id id) const {
  task_state* s = checked();
  // Elsewhere, answered by the task's hub: a link is found (and freed)
  // only there. A hub that has exited will run no link of it.
  if (!s->on_this_thread()) return detail::remote_ask(s, &unlink_here, id).value_or(false);
  return unlink_here(s, id);
}

std::uint64_t task_base::id() const { return checked()->greenlet.id(); }
std::string task_base::name() const { return checked()->greenlet.name(); }
void task_base::set_name(std::string name) const { checked()->greenlet.set_name(std::move(name)); }
std::string task_base::describe() const { return checked()->describe(); }
tendril::greenlet task_base::greenlet() const { return checked()->greenlet; }

task_error_handler set_task_error_handler(task_error_handler fn) {
  return detail::hub::get().set_error_handler(std::move(fn));
}

task_base current_task() {
  detail::hub* h = detail::hub::find();
  task_state* t = h != nullptr ? h->current_task() : nullptr;
  return t != nullptr ? task_base(t->retain()) : task_base();
}

}  // namespace tendril
