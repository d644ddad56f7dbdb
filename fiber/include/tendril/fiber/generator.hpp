#pragma once
// generator<T>: a lazily run sequence whose body is ordinary code calling
// yield(v), built only on greenlet's public API (python-greenlet's "genlet").
//
//   tendril::generator<int> squares([](auto yield) {
//     for (int i = 1; i <= 3; ++i) yield(i * i);
//   });
//   for (int v : squares) std::printf("%d\n", v);  // 1 4 9
//
// The body runs on its own greenlet. Each step (begin(), ++it) switches into
// it; yield(v) parks v in the generator and switches back to the consumer.
// Because the body is a real stack, yield may be called from any function it
// calls, from a greenlet it starts, and from the body of a nested generator
// it iterates (that generator's values then skip a level, like genlet's
// Yield(v, 2)): the next step resumes wherever the last yield happened.
//
// Ownership, and why a thread-local list of running generators: the body's
// greenlet must end up owned only by its generator, or abandoning the
// generator cannot unwind it. Between steps its parent is this thread's main
// greenlet, not the consumer: a nested generator lives on the stack of the
// greenlet iterating it, and a parent link back to that greenlet would be a
// cycle through a suspended stack. During a step the parent is the consumer
// (so the body's end and its exceptions reach it, as greenlet says) and the
// generator holds the consumer's handle to switch back to it. When a
// generator is abandoned while its body waits in such a step of an inner
// generator (after a value that skipped a level), those two links point back
// at the body from its own stack; closing the generator finds them in the
// list of running steps and cuts them.
//
// A yield switches through the handle stored in the generator, not a copy on
// its own stack, for the same reason: a suspended yield must not own its
// consumer. The consumer clears that handle when its step ends, while the
// yield is still inside switch_to; greenlet::switch_to reads its handle only
// before it switches.
//
// Rejected: passing yielded values through switch_to's std::any, which
// would force T to be copyable; the value is parked in the generator instead.
//
// Non-features: a generator belongs to the thread that created it (greenlet's
// rule); values cannot be sent into the body (no Python `send`). A body
// must not keep a handle to its own greenlet across a yield (for example
// `yield(greenlet::current().name())`, whose temporary lives through the
// yield): that is a cycle, and abandoning the generator then leaks it.

#include <concepts>
#include <cstddef>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include <tendril/error.hpp>
#include <tendril/fiber/greenlet.hpp>

namespace tendril {
namespace detail {

/// What every generator on a thread must see of the others (see the top).
struct generator_core {
  greenlet self;      // runs the body
  greenlet resume;    // where the last yield happened: self, or a greenlet below it
  greenlet home;      // this thread's main greenlet: self's parent between steps
  greenlet consumer;  // waits in the current step; empty between steps
  bool running = false;
  generator_core* prev = nullptr;  // links in running_generators while running
  generator_core* next = nullptr;
};

/// The generators of this thread that are running a step.
inline thread_local generator_core* running_generators = nullptr;

inline void link_running(generator_core& c) noexcept {
  c.prev = nullptr;
  c.next = running_generators;
  if (c.next != nullptr) c.next->prev = &c;
  running_generators = &c;
}

inline void unlink_running(generator_core& c) noexcept {
  (c.prev != nullptr ? c.prev->next : running_generators) = c.next;
  if (c.next != nullptr) c.next->prev = c.prev;
  c.prev = c.next = nullptr;
}

/// release_generator_body(c) drops c's handles to its body's greenlet after
/// cutting the links that point back at it from its own stack, so that an
/// unfinished body is unwound (greenlet_exit) before this returns.
inline void release_generator_body(generator_core& c) noexcept {
  greenlet body = std::move(c.self);
  greenlet resume = std::move(c.resume);
  for (generator_core* r = running_generators; r != nullptr; r = r->next) {
    if (r->consumer == body) {  // the body waits in r's step
      r->consumer = greenlet();
      if (r->self.active()) r->self.set_parent(r->home);
    }
  }
  // A plain greenlet the body started and last yielded from is the body's
  // child (or grandchild): cut the child's parent link.
  for (greenlet g = resume; !g.empty() && !g.is_main() && !(g == body);) {
    greenlet parent = g.parent();
    if (parent == body) {
      if (g.active()) g.set_parent(c.home);
      break;
    }
    g = std::move(parent);
  }
  resume = greenlet();
  body = greenlet();
}

}  // namespace detail

/// generator<T> runs a body `void(generator<T>::yield_fn)` lazily and hands
/// out the values it yields through a single-pass input range.
///
/// Thread-safety: a generator, its iterators and its yield_fn are used on the
/// thread that created the generator; it may be moved between greenlets there.
template <class T>
class generator {
  static_assert(std::is_object_v<T> && !std::is_const_v<T>, "generator<T> yields non-const objects");
  struct state;

 public:
  /// yield_fn is the body's handle to its generator; it is cheap to copy.
  class yield_fn {
   public:
    /// operator()(v) hands `v` to the consumer and suspends until the next step.
    ///
    /// Blocking:      switches to the consumer; returns when it asks for the next value.
    /// Deadline:      none; it waits as long as the consumer does not advance.
    /// Cancellation:  abandoning the generator raises greenlet_exit here; let it propagate.
    /// Thread-safety: call only while the generator runs a step (from its body or below it).
    /// Errors:        tendril::error when the generator is not running a step
    ///                (for example a yield_fn kept after the body returned).
    void operator()(T value) const {
      state& s = *state_;
      if (!s.running) throw error("generator: yield called while its generator is not running a step");
      s.value.emplace(std::move(value));
      s.resume = greenlet::current();
      s.consumer.switch_to();
    }

   private:
    friend class generator;
    explicit yield_fn(state* s) noexcept : state_(s) {}
    state* state_;
  };

  /// iterator is a single-pass input iterator; ++ runs the body to its next yield.
  class iterator {
   public:
    using iterator_concept = std::input_iterator_tag;
    using iterator_category = std::input_iterator_tag;
    using value_type = T;
    using difference_type = std::ptrdiff_t;
    using reference = T&;

    iterator() noexcept = default;

    /// operator*() is the value last yielded; the consumer may move from it.
    T& operator*() const { return *state_->value; }
    T* operator->() const { return &*state_->value; }

    /// operator++() resumes the body until it yields again or ends.
    /// Blocking and errors: as generator::begin().
    iterator& operator++() {
      state::step(*state_);
      return *this;
    }
    void operator++(int) { ++*this; }

    friend bool operator==(const iterator& it, std::default_sentinel_t) noexcept {
      return !it.state_->value.has_value();
    }

   private:
    friend class generator;
    explicit iterator(state* s) noexcept : state_(s) {}
    state* state_ = nullptr;
  };

  /// generator(body, opts) creates a generator; nothing runs until begin().
  /// `opts` name and size the body's greenlet (see greenlet::options).
  template <class F>
    requires std::invocable<F&, yield_fn>
  explicit generator(F body, greenlet::options opts = {}) : state_(std::make_unique<state>()) {
    state* s = state_.get();
    s->home = main_greenlet();
    s->self =
        greenlet([s, body = std::move(body)]() mutable { body(yield_fn(s)); }, s->home, std::move(opts));
    s->resume = s->self;
  }

  generator(generator&& other) noexcept = default;
  generator& operator=(generator&& other) noexcept {
    if (this != &other) {
      close();
      state_ = std::move(other.state_);
    }
    return *this;
  }

  /// ~generator() abandons an unfinished body: greenlet_exit is raised at its
  /// pending yield so its destructors run before this returns. Must not run
  /// inside the generator's own body.
  ~generator() { close(); }

  /// begin() runs the body to its first yield (only the first call does).
  ///
  /// Blocking:      switches into the body; returns when it yields or ends.
  /// Deadline:      none; a step lasts as long as the body runs.
  /// Cancellation:  if the consumer is itself unwound while a step runs, the
  ///                body stays suspended and is unwound with the generator.
  /// Thread-safety: call from the thread that created the generator.
  /// Errors:        rethrows an exception escaping the body (the generator is
  ///                then finished); tendril::error on a moved-from generator,
  ///                and from begin() or ++ reached from inside the body's own step.
  iterator begin() {
    if (!state_) throw error("generator: begin() on a moved-from generator");
    if (!state_->begun) {
      state_->begun = true;
      state::step(*state_);
    }
    return iterator(state_.get());
  }
  std::default_sentinel_t end() const noexcept { return {}; }

 private:
  struct state : detail::generator_core {
    std::optional<T> value;
    bool begun = false;

    static void step(state& s) {
      if (s.running) throw error("generator: advanced from inside its own body");
      s.value.reset();
      if (s.self.empty() || s.self.dead()) return;
      // No handle to the consumer in a local: this frame is on the consumer's stack.
      s.self.set_parent(greenlet::current());
      s.consumer = greenlet::current();
      s.running = true;
      detail::link_running(s);
      step_end guard{s};
      greenlet target = s.resume;
      target.switch_to();
      if (!s.value && !s.self.dead())
        throw error("generator: " + s.self.describe() + " switched to its consumer without yielding");
    }

    // Ends a step however it ends, so no handle to the consumer outlives it.
    struct step_end {
      state& s;
      ~step_end() {
        detail::unlink_running(s);
        s.running = false;
        s.consumer = greenlet();
        if (!s.self.empty() && s.self.active()) {
          s.self.set_parent(s.home);
        } else {
          s.resume = greenlet();
        }
      }
    };
  };

  static greenlet main_greenlet() {
    greenlet g = greenlet::current();
    while (!g.is_main()) g = g.parent();
    return g;
  }

  void close() noexcept {
    if (state_) detail::release_generator_body(*state_);
  }

  std::unique_ptr<state> state_;
};

}  // namespace tendril
