// How greenlets come to life and how they are collected.
//
// Invariants:
// - A greenlet is collected only on its own thread. A handle dropped
//   elsewhere queues the greenlet on its thread_state (holding a weak
//   reference so the memory stays valid) and that thread collects it at its
//   next switch.
// - Collecting a suspended, unfinished greenlet unwinds it: greenlet_exit is
//   thrown in with the collecting greenlet as temporary parent, so RAII on
//   its stack runs (python greenlet's tp_dealloc does the same).
// - The running greenlet is never freed under its own stack: if its last
//   handle goes while it runs, it is marked orphaned and collected by the
//   greenlet it next switches to.
// - A greenlet's stack is returned by the greenlet it switched to when it
//   died, never by the dying greenlet itself.
//
// Rejected: std::shared_ptr. Resurrection (a strong count that goes back up
// from zero while the greenlet is being unwound) and deferred, cross-thread
// collection need control of the count.
// Rejected: taking a strong reference to the current greenlet on every
// switch. Two atomic read-modify-writes per switch would double its cost; the
// orphaned flag covers the one case it protects against.

#include <cstdio>
#include <new>
#include <string>

#include <tendril/fiber/greenlet.hpp>

#include "context_switch.hpp"
#include "greenlet_state.hpp"
#include "lifetime.hpp"
#include "thread_state.hpp"

namespace tendril::detail {
namespace {

// Most states (the state plus a run callable's captures) fit a cached block:
// a per-thread free list of them spares malloc's fast path, which is most of
// what creating a greenlet costs besides the switches. The state is about
// 240 bytes; 320 leaves room for a few captured pointers (a hub task's run
// captures one) and keeps what a parked fiber costs small.
constexpr std::size_t cached_block_bytes = 320;

void* allocate_memory(thread_state* ts, std::size_t bytes, std::size_t align, alloc_kind& kind) {
  if (align <= __STDCPP_DEFAULT_NEW_ALIGNMENT__ && bytes <= cached_block_bytes) {
    kind = alloc_kind::cached_block;
    if (void* block = ts->take_cached_block()) return block;
    return ::operator new(cached_block_bytes);
  }
  if (align <= __STDCPP_DEFAULT_NEW_ALIGNMENT__) {
    kind = alloc_kind::plain;
    return ::operator new(bytes);
  }
  kind = alloc_kind::aligned;
  return ::operator new(bytes, std::align_val_t(align));
}

void free_memory(greenlet_state* s) noexcept {
  alloc_kind kind = s->alloc;
  std::size_t align = s->alloc_align;
  thread_state* ts = s->thread;
  s->~greenlet_state();
  void* memory = s;
  switch (kind) {
    case alloc_kind::cached_block:
      if (thread_state::find() == ts)
        ts->keep_cached_block(memory);
      else
        ::operator delete(memory);
      break;
    case alloc_kind::plain:
      ::operator delete(memory);
      break;
    case alloc_kind::aligned:
      ::operator delete(memory, std::align_val_t(align));
      break;
  }
  ts->release_state_ref();
}

// True when `counter` held the last reference. When it is 1 and no weak
// reference exists, nobody else can reach the greenlet to take a new one, so
// a plain store replaces the atomic read-modify-write.
bool drop_last(std::atomic<std::uint32_t>& counter, const greenlet_state* s) noexcept {
  if (counter.load(std::memory_order_acquire) == 1 && s->weak.load(std::memory_order_acquire) == 1) {
    counter.store(0, std::memory_order_relaxed);
    return true;
  }
  return counter.fetch_sub(1, std::memory_order_acq_rel) == 1;
}

// Frees everything but the memory; weak references may still look at it.
void destroy(greenlet_state* s) noexcept {
  if (s->run != nullptr) {
    const run_vtable* run = s->run;
    s->run = nullptr;
    run->destroy(s->body());
  }
  if (!s->locals.empty()) destroy_fiber_locals(s);
  if (greenlet_state* parent = std::exchange(s->parent, nullptr)) release(parent);
  release_weak(s);
}

void report_escaped(greenlet_state* g, const std::exception_ptr& error) noexcept {
  std::string what = "an exception not derived from std::exception";
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    what = e.what();
  } catch (...) {  // NOLINT(bugprone-empty-catch): only reading the message
  }
  std::fprintf(stderr, "tendril: exception escaped %s while it was unwound: %s\n", g->describe().c_str(),
               what.c_str());
}

}  // namespace

greenlet_state::greenlet_state(thread_state* owner, greenlet_state* parent_, std::string&& name,
                               std::size_t stack_size, std::size_t align) noexcept
    : thread(owner),
      parent(parent_),
      id(owner->next_greenlet_id()),
      requested_stack_size(stack_size),
      alloc_align(align) {
  if (!name.empty()) name_ = std::move(name);  // most fibers are unnamed: skip the move's copy
  owner->add_state_ref();
}

std::string greenlet_state::name() const {
  while (name_lock_.test_and_set(std::memory_order_acquire)) {
  }
  std::string copy = name_;
  name_lock_.clear(std::memory_order_release);
  return copy;
}

void greenlet_state::set_name(std::string&& name) {
  while (name_lock_.test_and_set(std::memory_order_acquire)) {
  }
  name_.swap(name);
  name_lock_.clear(std::memory_order_release);
}

std::string greenlet_state::describe() const {
  std::string text = (is_main ? "main greenlet " : "greenlet ") + std::to_string(id);
  std::string n = name();
  if (!n.empty()) text += " \"" + n + "\"";
  return text;
}

greenlet_state* new_greenlet_state(std::size_t body_size, std::size_t body_align, greenlet_state* parent,
                                   std::string&& name, std::size_t stack_size) {
  thread_state* ts = thread_state::get();
  if (parent == nullptr) {
    parent = ts->current;
  } else if (parent->thread != ts) {
    throw error("cannot create a greenlet on " + ts->describe() + " with parent " + parent->describe() +
                " of " + parent->thread->describe());
  }
  std::size_t align = std::max(alignof(greenlet_state), body_align);
  std::size_t offset = (sizeof(greenlet_state) + body_align - 1) / body_align * body_align;
  alloc_kind kind;
  void* memory = allocate_memory(ts, offset + body_size, align, kind);
  auto* s = ::new (memory) greenlet_state(ts, retain(parent), std::move(name), stack_size, align);
  s->body_offset = offset;
  s->alloc = kind;
  return s;
}

greenlet_state* new_main_greenlet(thread_state* thread) {
  alloc_kind kind;
  void* memory = allocate_memory(thread, sizeof(greenlet_state), alignof(greenlet_state), kind);
  auto* s = ::new (memory) greenlet_state(thread, nullptr, {}, 0, alignof(greenlet_state));
  s->alloc = kind;
  s->is_main = true;
  s->status = greenlet_status::active;
  return s;
}

void* run_body_of(greenlet_state* s) noexcept { return s->body(); }

void adopt_run_body(greenlet_state* s, const run_vtable* vtable) noexcept { s->run = vtable; }

void discard_greenlet_state(greenlet_state* s) noexcept {
  s->strong.store(0, std::memory_order_relaxed);
  destroy(s);
}

void release(greenlet_state* s) noexcept {
  if (!drop_last(s->strong, s)) return;
  thread_state* ts = thread_state::find();
  if (ts == s->thread) {
    collect(*ts, s);
  } else if (!s->thread->defer_release(s)) {
    destroy(s);  // its thread has exited, so it is unstarted or dead
  }
}

void release_weak(greenlet_state* s) noexcept {
  if (drop_last(s->weak, s)) free_memory(s);
}

void collect(thread_state& ts, greenlet_state* g) noexcept {
  // Unwinding it would run the parent's code in a forked child, and freeing
  // it would free objects its suspended frames own: it is left as it is.
  if (g->status == greenlet_status::abandoned) return;
  if (g->status == greenlet_status::active && !g->is_main) {
    if (g == ts.current) {
      g->orphaned = true;
      return;
    }
    g->strong.store(1, std::memory_order_relaxed);  // resurrected while it unwinds
    bool died = unwind(ts, g);
    if (!died && g->strong.load(std::memory_order_acquire) == 1) {
      std::fprintf(stderr,
                   "tendril: greenlet_exit did not kill %s when its last handle was dropped; it stays alive "
                   "until it finishes or its thread exits\n",
                   g->describe().c_str());
      g->self_owned = true;  // keeps the temporary reference until it dies
      return;
    }
    release(g);  // frees it if it died; if it stored new handles to itself, they keep it
    return;
  }
  destroy(g);
}

bool unwind(thread_state& ts, greenlet_state* g) noexcept {
  greenlet_state* saved_parent = g->parent;
  g->parent = retain(ts.current);
  try {
    transfer(g, {}, std::make_exception_ptr(greenlet_exit{}));
  } catch (...) {
    // Called from destructors and thread exit: there is nobody to rethrow to.
    report_escaped(g, std::current_exception());
  }
  release(std::exchange(g->parent, saved_parent));
  return g->status == greenlet_status::dead;
}

}  // namespace tendril::detail

namespace tendril {

greenlet::greenlet(const greenlet& other) noexcept : state_(other.state_) {
  if (state_ != nullptr) detail::retain(state_);
}

greenlet& greenlet::operator=(const greenlet& other) noexcept {
  greenlet copy(other);
  std::swap(state_, copy.state_);
  return *this;
}

greenlet& greenlet::operator=(greenlet&& other) noexcept {
  greenlet moved(std::move(other));
  std::swap(state_, moved.state_);
  return *this;
}

greenlet::~greenlet() {
  if (state_ != nullptr) detail::release(state_);
}

weak_greenlet::weak_greenlet(const greenlet& g) noexcept : state_(g.state_) {
  if (state_ != nullptr) state_->weak.fetch_add(1, std::memory_order_relaxed);
}

weak_greenlet::weak_greenlet(const weak_greenlet& other) noexcept : state_(other.state_) {
  if (state_ != nullptr) state_->weak.fetch_add(1, std::memory_order_relaxed);
}

weak_greenlet& weak_greenlet::operator=(const weak_greenlet& other) noexcept {
  weak_greenlet copy(other);
  std::swap(state_, copy.state_);
  return *this;
}

weak_greenlet::~weak_greenlet() {
  if (state_ != nullptr) detail::release_weak(state_);
}

greenlet weak_greenlet::lock() const noexcept {
  if (state_ == nullptr) return {};
  std::uint32_t count = state_->strong.load(std::memory_order_relaxed);
  while (count != 0) {
    if (state_->strong.compare_exchange_weak(count, count + 1, std::memory_order_acq_rel))
      return greenlet(state_);
  }
  return {};
}

bool weak_greenlet::expired() const noexcept {
  return state_ == nullptr || state_->strong.load(std::memory_order_acquire) == 0;
}

}  // namespace tendril
