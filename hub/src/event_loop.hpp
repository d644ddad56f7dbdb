#pragma once
// The hub's libev loop, its timers and its cross-thread wake-up, behind types
// that do not expose <ev.h>: event_loop.cpp is the only file that includes it.

#include <cstddef>

#include <tendril/hub/park.hpp>

struct ev_loop;  // libev's, at global scope

namespace tendril::detail {

class event_loop;

/// timer is one libev timer. Its callback runs inside event_loop::run_once,
/// on the hub; it must only make fibers ready, never switch.
class timer {
 public:
  using callback = void (*)(timer& fired) noexcept;

  /// timer(cb, context) is a stopped timer; context() gives `context` back.
  timer(callback cb, void* context) noexcept;
  timer(const timer&) = delete;
  timer& operator=(const timer&) = delete;
  ~timer() { stop(); }

  /// start(loop, deadline) arms it (re-arms it if armed) to fire once at `deadline`.
  void start(event_loop& loop, clock::time_point deadline) noexcept;
  /// stop() disarms it; harmless when it is not armed.
  void stop() noexcept;
  bool armed() const noexcept { return loop_ != nullptr; }
  void* context() const noexcept { return context_; }

 private:
  friend class event_loop;
  static constexpr std::size_t watcher_size = 64;  // checked against sizeof(ev_timer)
  alignas(8) unsigned char watcher_[watcher_size];
  event_loop* loop_ = nullptr;  // non-null while armed
  callback callback_;
  void* context_;
};

/// event_loop owns one libev loop (not libev's default loop: each hub has its
/// own, and the default one is left to the application).
class event_loop {
 public:
  /// event_loop(on_notify, context) creates the loop; on_notify(context) runs
  /// on the loop's thread, inside run_once, after another thread's notify().
  event_loop(void (*on_notify)(void* context) noexcept, void* context);
  event_loop(const event_loop&) = delete;
  event_loop& operator=(const event_loop&) = delete;
  ~event_loop();

  /// run_once(may_block) runs one libev iteration: polls for events (waiting
  /// for one only if `may_block`) and runs the callbacks of those pending.
  /// Returns false when no active watcher (and no keep_alive) remains, so
  /// nothing but another fiber could ever produce an event.
  bool run_once(bool may_block) noexcept;

  /// notify() wakes run_once from any thread; on_notify runs soon after.
  /// Thread-safety: any thread; async-signal-safe.
  void notify() noexcept;

  /// keep_alive(n) counts reasons, besides watchers, to call the loop alive
  /// (fibers another thread may wake); run_once reports alive while n > 0.
  void add_keep_alive() noexcept;
  void remove_keep_alive() noexcept;

  /// iterations() is the number of run_once calls that polled.
  unsigned iterations() const noexcept;
  /// armed_watchers() counts armed timers (and, later, I/O watchers).
  std::size_t armed_watchers() const noexcept { return armed_; }

 private:
  friend class timer;
  struct ::ev_loop* loop_;
  alignas(8) unsigned char async_[64];  // ev_async, checked in event_loop.cpp
  void (*on_notify_)(void*) noexcept;
  void* context_;
  unsigned keep_alive_ = 0;
  std::size_t armed_ = 0;
};

}  // namespace tendril::detail
