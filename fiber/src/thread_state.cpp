// Per-thread state and thread exit.
//
// Invariants:
// - A thread_state is created by the first tendril call on its thread and
//   lives until its thread has exited *and* no greenlet state refers to it
//   (greenlet handles can outlive their thread).
// - Only the owning thread touches current/main/stacks/trace and the active
//   list. Other threads touch only the deferred-release queue, under mutex_.
// - At thread exit, every suspended greenlet is unwound (greenlet_exit) on
//   the thread's main greenlet before the queue is closed, so nothing queued
//   after that can be suspended: a late deferred release just frees memory.
//
// Rejected: a thread_local thread_state object. Its destructor would run
// while other threads still hold handles to this thread's greenlets, and
// every access would go through the TLS guard function.

#include "thread_state.hpp"

#include <unistd.h>

#include <cstdio>
#include <new>
#include <utility>

#include <tendril/fiber/detail/state_access.hpp>

#include "context_switch.hpp"
#include "lifetime.hpp"
#include "stack_overflow.hpp"

namespace tendril::detail {

constinit thread_local thread_state* this_thread_state __attribute__((tls_model("initial-exec"))) = nullptr;
constinit thread_local const void* running_greenlet_tag __attribute__((tls_model("initial-exec"))) = nullptr;

// Runs thread_state::exit() when the thread ends. A separate thread_local so
// that the hot pointer above stays trivially destructible.
struct thread_exit {
  thread_state* ts = nullptr;
  ~thread_exit() {
    if (ts != nullptr) ts->exit();
  }
};

namespace {
thread_local thread_exit exit_hook;
constexpr std::uint64_t id_block = 1024;
std::atomic<std::uint64_t> next_id_block{1};
}  // namespace

thread_state::thread_state() : tid(::gettid()) { take_id_block(); }

void thread_state::take_id_block() noexcept {
  next_id_ = next_id_block.fetch_add(id_block, std::memory_order_relaxed);
  id_limit_ = next_id_ + id_block;
}

thread_state::~thread_state() = default;

thread_state* thread_state::create() {
  auto* ts = new thread_state();
  ts->eh_globals = this_thread_eh_globals();
  ts->main = new_main_greenlet(ts);
  ts->current = ts->main;
  adopt_thread_context(ts->main);
  ts->alt_stack_ = install_alt_stack();
  this_thread_state = ts;
  exit_hook.ts = ts;
  return ts;
}

void thread_state::link_active(greenlet_state* g) noexcept {
  g->prev_active = nullptr;
  g->next_active = active_head_;
  if (active_head_ != nullptr) active_head_->prev_active = g;
  active_head_ = g;
  ++active_count_;
}

void thread_state::unlink_active(greenlet_state* g) noexcept {
  if (g->prev_active != nullptr) g->prev_active->next_active = g->next_active;
  if (g->next_active != nullptr) g->next_active->prev_active = g->prev_active;
  if (active_head_ == g) active_head_ = g->next_active;
  g->prev_active = g->next_active = nullptr;
  --active_count_;
}

void thread_state::abandon_others() noexcept {
  for (greenlet_state* g = active_head_; g != nullptr;) {
    greenlet_state* next = g->next_active;
    if (g != current) {
      unlink_active(g);
      g->status = greenlet_status::abandoned;
    }
    g = next;
  }
  if (current != main) {
    greenlet_state* old_parent = std::exchange(current->parent, retain(main));
    release(old_parent);  // abandoned: dropping its last handle leaves it be
  }
}

void abandon_other_greenlets() noexcept {
  if (thread_state* ts = thread_state::find()) ts->abandon_others();
}

bool thread_state::defer_release(greenlet_state* g) {
  std::lock_guard lock(mutex_);
  if (!alive_) return false;
  g->weak.fetch_add(1, std::memory_order_relaxed);  // keeps the memory until processed
  deferred_.push_back(g);
  has_deferred_.store(true, std::memory_order_relaxed);
  if (deferred_hook_ != nullptr) deferred_hook_(deferred_hook_arg_);
  return true;
}

void thread_state::set_deferred_hook(void (*hook)(void*) noexcept, void* arg) noexcept {
  std::lock_guard lock(mutex_);
  deferred_hook_ = hook;
  deferred_hook_arg_ = arg;
}

void thread_state::process_deferred() noexcept {
  std::vector<greenlet_state*> batch;
  {
    std::lock_guard lock(mutex_);
    batch.swap(deferred_);
    has_deferred_.store(false, std::memory_order_relaxed);
  }
  for (greenlet_state* g : batch) {
    // Skipped if this thread took a new reference (current()) since, or
    // already collected it after dropping that reference again.
    if (g->strong.load(std::memory_order_acquire) == 0) collect(*this, g);
    release_weak(g);
  }
}

std::string thread_state::describe() const {
  std::string text = "thread " + std::to_string(tid);
  if (!alive()) text += " (exited)";
  return text;
}

bool thread_state::alive() const {
  std::lock_guard lock(mutex_);
  return alive_;
}

void thread_state::release_state_ref() noexcept {
  if (this_thread_state == this) {
    --local_refs_;
  } else if (shared_refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    delete this;
  }
}

void thread_state::drop_bias() noexcept {
  std::int64_t delta = local_refs_ - ref_bias;
  if (shared_refs_.fetch_add(delta, std::memory_order_acq_rel) + delta == 0) delete this;
}

void thread_state::unwind_active() noexcept {
  greenlet_state* g = retain(active_head_);  // its only handle may be on its own stack
  if (!unwind(*this, g) && g->status == greenlet_status::active) {
    std::fprintf(stderr, "tendril: %s did not finish when its thread exited; its stack is leaked\n",
                 g->describe().c_str());
    unlink_active(g);
  }
  release(g);
}

void thread_state::exit() noexcept {
  if (current != main) {
    std::fprintf(stderr, "tendril: %s exits inside %s; its greenlets are not unwound\n", describe().c_str(),
                 current->describe().c_str());
  } else {
    for (;;) {
      if (has_deferred()) process_deferred();
      if (active_head_ != nullptr) {
        unwind_active();
        continue;
      }
      std::lock_guard lock(mutex_);
      if (deferred_.empty()) {
        alive_ = false;
        break;
      }
    }
  }
  {
    std::lock_guard lock(mutex_);
    alive_ = false;
  }
  destroy_fiber_locals(main);
  main->status = greenlet_status::dead;
  trace = nullptr;
  stacks.trim();
  block_cache_.clear();
  remove_alt_stack(alt_stack_);
  this_thread_state = nullptr;
  running_greenlet_tag = nullptr;
  greenlet_state* m = main;
  main = current = nullptr;
  release(m);
  drop_bias();
}

}  // namespace tendril::detail
