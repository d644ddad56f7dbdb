// greenlet's semantics: starting, switching, throwing, finishing.
//
// Invariants:
// - A switch takes one of three routes: the inline one in switch_to
//   (prepare_switch, jump, land_switch) for a live greenlet of this thread,
//   untraced, carrying a value; transfer() for everything else; finish() for
//   a dying greenlet, which jumps, or starts an unstarted target in place on
//   its own stack (start_in_place). prepare_switch declines whatever needs
//   tracing, thread checks or target resolution, and every landing
//   (receive(), or greenlet_main() for a first start, in place or not) runs
//   after_switch, so that bookkeeping cannot be bypassed.
// - A target is resolved before the switch: dead greenlets forward to their
//   first live ancestor, an unstarted one is started (python greenlet's
//   g_switch does the same walk).
// - Values and exceptions travel by pointer in a switch_message on the
//   sender's stack; the receiver moves them out before it does anything that
//   could release that stack.
// - The hot path makes no system call, takes no lock and touches no atomic:
//   one TLS load, a few flag tests, the eh-globals swap and the jump.
//
// Rejected: delivering a child's result to whoever switched in last
// (asymmetric coroutines). greenlet's parent rule is what lets a hub be the
// parent of every task and receive their results and failures.

#include <tendril/fiber/greenlet.hpp>

#include <cxxabi.h>

#include <cstdlib>
#include <memory>

#include <tendril/fiber/detail/state_access.hpp>
#include <tendril/fiber/stack.hpp>

#include "context_handoff.hpp"
#include "context_switch.hpp"
#include "greenlet_state.hpp"
#include "lifetime.hpp"
#include "thread_state.hpp"

namespace tendril::detail {
namespace {

[[noreturn]] void throw_empty() { throw error("operation on an empty greenlet handle"); }

[[noreturn]] void throw_other_thread(thread_state& ts, greenlet_state* target) {
  throw error("cannot switch from " + ts.describe() + " to " + target->describe() + " of " +
              target->thread->describe() + ": a greenlet belongs to the thread that created it");
}

std::size_t wanted_stack_size(const greenlet_state* g) noexcept {
  return g->requested_stack_size != 0 ? g->requested_stack_size : default_stack_size();
}

// Out of line: keeps its frame and saved registers off the common switch.
[[gnu::noinline]] void start(thread_state& ts, greenlet_state* g) {
  g->stack = ts.stacks.allocate(wanted_stack_size(g));
  prepare_context(g);
  g->status = greenlet_status::active;
  ts.link_active(g);
}

// A dying greenlet whose target is unstarted and wants a stack of the same
// size gives it its own stack and lets it run there in place, from the
// bottom frame (greenlet_main) on: no stack from the pool, no new context,
// no jump. A hub's finished task passing control to the next new task is
// the common case; it is as if the target had been started on a stack just
// returned to the pool, minus the round trip.
bool start_in_place(thread_state& ts, greenlet_state* self, greenlet_state* target) noexcept {
  if (target->status != greenlet_status::unstarted ||
      !ts.stacks.pass_on(self->stack, *self, wanted_stack_size(target)))
    return false;
  target->stack = std::exchange(self->stack, {});
  prepare_sanitizers(target);
  target->status = greenlet_status::active;
  ts.link_active(target);
  hand_off_in_place(ts, target);
  forget_context(self);
  return true;
}

// The greenlet a switch to `g` really resumes: g, or its first ancestor that
// is not dead (a main greenlet is never dead on a live thread, so this ends).
// An unstarted one is started by start_if_needed, once the trace hook has
// had its say.
greenlet_state* live_target(greenlet_state* g) noexcept {
  while (g->status == greenlet_status::dead) g = g->parent;
  return g;
}

void start_if_needed(thread_state& ts, greenlet_state* g) {
  if (g->status == greenlet_status::unstarted) start(ts, g);
}

void call_trace(thread_state& ts, bool throwing, greenlet_state* from, greenlet_state* to) {
  trace_function fn = ts.trace;  // the hook may replace itself
  try {
    fn(throwing ? trace_event::thrown : trace_event::switched, greenlet(retain(from)), greenlet(retain(to)));
  } catch (...) {
    ts.trace = nullptr;
    throw;
  }
}

// Bookkeeping on the receiving side of a switch, for the rare cases: the
// origin died (its stack comes back here), its last handle went while it ran,
// or other threads dropped handles to this thread's greenlets.
void settle(thread_state& ts, greenlet_state* origin) noexcept {
  if (origin->status == greenlet_status::dead && origin->stack.kind != stack_kind::none) {
    ts.stacks.release(std::exchange(origin->stack, {}), *origin);
    forget_context(origin);
  }
  if (origin->self_owned && origin->status == greenlet_status::dead) {
    origin->self_owned = false;
    release(origin);  // may free it
  } else if (origin->orphaned) {
    origin->orphaned = false;
    if (origin->strong.load(std::memory_order_acquire) == 0) collect(ts, origin);
  }
  if (ts.has_deferred()) ts.process_deferred();
}

inline void after_switch(thread_state& ts, greenlet_state* origin) noexcept {
  if (origin->status == greenlet_status::dead || origin->orphaned || ts.has_deferred()) [[unlikely]]
    settle(ts, origin);
}

inline std::any receive(thread_state& ts, switch_message* in) {
  std::any value(std::move(*in->value));
  if (in->error != nullptr) [[unlikely]] {
    std::exception_ptr error = std::move(*in->error);
    after_switch(ts, in->origin);
    std::rethrow_exception(std::move(error));
  }
  after_switch(ts, in->origin);
  return value;
}

// Runs the body and turns its outcome into what the parent receives.
void run_body(greenlet_state* self, std::any&& start_value, std::any& result,
              std::exception_ptr& error) noexcept {
  try {
    if (error) std::rethrow_exception(std::exchange(error, nullptr));
    result = self->run->invoke(self->body(), std::move(start_value));
  } catch (const greenlet_exit& exit) {
    result = exit;  // greenlet_exit reaches the parent as a value, not raised
  } catch (...) {
    error = std::current_exception();  // carried to the parent, rethrown there
  }
}

// Ends `self` and passes control on: jumps away for good, or returns the
// greenlet that now runs in place on this stack (start_in_place).
[[gnu::always_inline]] inline greenlet_state* finish(thread_state& ts, greenlet_state* self, std::any& result,
                                                     std::exception_ptr& error) noexcept {
  if (const run_vtable* run = std::exchange(self->run, nullptr)) run->destroy(self->body());
  if (!self->locals.empty()) destroy_fiber_locals(self);
  self->status = greenlet_status::dead;
  ts.unlink_active(self);
  greenlet_state* target =
      self->finish_target != nullptr && error == nullptr ? self->finish_target : live_target(self->parent);
  if (ts.trace) [[unlikely]] {
    try {
      call_trace(ts, error != nullptr, self, target);
    } catch (...) {
      error = std::current_exception();  // see trace.hpp: it replaces the result
    }
  }
  if (start_in_place(ts, self, target)) return target;
  start_if_needed(ts, target);  // only fails for want of memory: terminates, being noexcept
  switch_message msg{&result, error ? &error : nullptr, self, target};
  // Inline, not a call: a call that never returns would leave one more
  // unmatched return-stack-buffer entry behind on this thread.
  hand_off(ts, self, target, true);
  jump_context(target->context, &msg);
  __builtin_unreachable();
}

}  // namespace

// The library's own switch: every switch the inline path (prepare_switch)
// declines, and every switch that carries an exception. Being off the common
// path, it does all the checks and detours in one place.
std::any transfer(greenlet_state* target, std::any&& value, std::exception_ptr&& error) {
  thread_state& ts = *thread_state::get();
  if (target->thread != &ts) throw_other_thread(ts, target);
  if (target->status == greenlet_status::abandoned) [[unlikely]]
    throw tendril::error("cannot switch to " + target->describe() +
                         ": it was suspended when the process forked, and belongs to the parent process");
  greenlet_state* self = ts.current;
  target = live_target(target);
  if (target == self) {
    if (error) std::rethrow_exception(std::move(error));
    return std::move(value);
  }
  if (ts.trace) call_trace(ts, error != nullptr, self, target);
  start_if_needed(ts, target);
  switch_message msg{&value, error ? &error : nullptr, self, target};
  return receive(ts, switch_context(ts, self, target, &msg));
}

void* prepare_switch(greenlet_state* target, switch_message& msg) {
  thread_state* ts = thread_state::find();
  if (ts == nullptr || target->status >= greenlet_status::dead || target->thread != ts ||
      target == ts->current || ts->trace) [[unlikely]]
    return nullptr;
  if (target->status == greenlet_status::unstarted) start(*ts, target);
  msg.origin = ts->current;
  msg.target = target;
  hand_off(*ts, msg.origin, target, false);
  return target->context;
}

std::any land_switch(void* sender_context, switch_message* in) {
  greenlet_state* self = in->target;
  take_over(self, in->origin, sender_context);
  return receive(*self->thread, in);
}

void land_switch_discarding(void* sender_context, switch_message* in) {
  greenlet_state* self = in->target;
  take_over(self, in->origin, sender_context);
  thread_state& ts = *self->thread;
  if (in->error != nullptr) [[unlikely]] {
    std::exception_ptr error = std::move(*in->error);
    after_switch(ts, in->origin);
    std::rethrow_exception(std::move(error));
  }
  after_switch(ts, in->origin);
}

std::any switch_slow(greenlet_state* target, std::any&& value) {
  if (target == nullptr) throw_empty();
  return transfer(target, std::move(value), nullptr);
}

// Nothing may be left alive on this frame when finish() jumps away: the
// result and the error are moved out by the receiver, the start value is
// gone with its scope.
void greenlet_main(switch_message* in) noexcept {
  greenlet_state* self = in->target;
  thread_state& ts = *self->thread;
  std::any result;
  std::exception_ptr error = in->error != nullptr ? std::move(*in->error) : nullptr;
  std::any* start = in->value;
  greenlet_state* origin = in->origin;
  for (;;) {
    {
      std::any start_value = std::move(*start);
      after_switch(ts, origin);
      run_body(self, std::move(start_value), result, error);
    }
    // Back here only when the next greenlet starts in place: it receives
    // what a jump would have brought it, the result or the error.
    origin = std::exchange(self, finish(ts, self, result, error));
    start = &result;
  }
}

}  // namespace tendril::detail

namespace tendril {

using detail::greenlet_state;
using detail::greenlet_status;

greenlet_state* greenlet::checked() const {
  if (state_ == nullptr) [[unlikely]]
    detail::throw_empty();
  return state_;
}

greenlet_state* detail::current_greenlet_state() { return detail::thread_state::get()->current; }

greenlet_state* detail::retain_state(greenlet_state* s) noexcept { return detail::retain(s); }

void detail::set_deferred_release_hook(void (*hook)(void*) noexcept, void* arg) {
  detail::thread_state::get()->set_deferred_hook(hook, arg);
}

void detail::set_greenlet_tag(greenlet_state* s, const void* tag) noexcept {
  s->tag = tag;
  if (s == s->thread->current) running_greenlet_tag = tag;
}

void detail::set_finish_target(greenlet_state* self, greenlet_state* target) noexcept {
  self->finish_target = target;
}

void detail::process_deferred_releases() noexcept {
  detail::thread_state* ts = detail::thread_state::find();
  if (ts != nullptr && ts->has_deferred()) ts->process_deferred();
}

greenlet greenlet::current() { return greenlet(detail::retain(detail::thread_state::get()->current)); }

std::any greenlet::switch_to_parent(std::any value) {
  greenlet_state* self = detail::thread_state::get()->current;
  if (self->parent == nullptr)
    throw error("switch_to_parent from " + self->describe() + ", which has no parent");
  greenlet parent(detail::retain(self->parent));
  return parent.switch_to(std::move(value));
}

std::any greenlet::throw_in(std::exception_ptr error) const {
  greenlet_state* target = checked();
  if (!error) throw tendril::error("throw_in with an empty exception_ptr into " + target->describe());
  if (target->status == greenlet_status::dead) {
    // A dead greenlet "eats" greenlet_exit, as it would have had it escaped
    // its run: the first live ancestor receives it as a value.
    try {
      std::rethrow_exception(error);
    } catch (const greenlet_exit& exit) {
      return detail::transfer(target, std::any(exit), nullptr);
    } catch (...) {  // NOLINT(bugprone-empty-catch): any other exception travels as one
    }
  }
  return detail::transfer(target, {}, std::move(error));
}

bool greenlet::started() const noexcept {
  return state_ != nullptr && state_->status != greenlet_status::unstarted;
}

bool greenlet::dead() const noexcept { return state_ != nullptr && state_->status == greenlet_status::dead; }

bool greenlet::active() const noexcept {
  return state_ != nullptr && state_->status == greenlet_status::active;
}

bool greenlet::is_main() const noexcept { return state_ != nullptr && state_->is_main; }

greenlet greenlet::parent() const {
  greenlet_state* p = checked()->parent;
  return p != nullptr ? greenlet(detail::retain(p)) : greenlet();
}

void greenlet::set_parent(const greenlet& parent) const {
  greenlet_state* self = checked();
  if (self->is_main) throw error("cannot set the parent of " + self->describe());
  detail::thread_state* ts = detail::thread_state::get();
  if (self->thread != ts) {
    throw error("cannot set the parent of " + self->describe() + " of " + self->thread->describe() +
                " from " + ts->describe());
  }
  if (parent.state_ == nullptr) throw error("cannot set an empty parent for " + self->describe());
  if (parent.state_->thread != self->thread) {
    throw error("cannot make " + parent.state_->describe() + " of " + parent.state_->thread->describe() +
                " the parent of " + self->describe() + " of " + self->thread->describe());
  }
  for (greenlet_state* p = parent.state_; p != nullptr; p = p->parent) {
    if (p == self)
      throw error("cyclic parent chain: " + parent.state_->describe() + " descends from " + self->describe());
  }
  greenlet_state* old = std::exchange(self->parent, detail::retain(parent.state_));
  detail::release(old);
}

std::uint64_t greenlet::id() const noexcept { return state_ != nullptr ? state_->id : 0; }

std::string greenlet::name() const { return checked()->name(); }

void greenlet::set_name(std::string name) const { checked()->set_name(std::move(name)); }

std::string greenlet::describe() const { return state_ != nullptr ? state_->describe() : "empty greenlet"; }

std::size_t greenlet::stack_size() const noexcept { return state_ != nullptr ? state_->stack.size : 0; }

void greenlet::throw_bad_value(const std::type_info& got, const std::type_info& wanted) {
  auto demangle = [](const std::type_info& t) {
    if (t == typeid(void)) return std::string("no value");
    int status = 0;
    std::unique_ptr<char, decltype(&std::free)> name(abi::__cxa_demangle(t.name(), nullptr, nullptr, &status),
                                                     &std::free);
    return std::string(status == 0 ? name.get() : t.name());
  };
  throw error("switched value is " + demangle(got) + ", expected " + demangle(wanted) + " (in " +
              greenlet::current().describe() + ")");
}

std::size_t active_greenlet_count() noexcept {
  detail::thread_state* ts = detail::thread_state::find();
  return ts != nullptr ? ts->active_count() : 0;
}

}  // namespace tendril
