#pragma once
// The hub's libev loop and its watchers (timers, fd readiness, signals, the
// cross-thread wake-up), behind types that do not expose <ev.h>:
// hub/src/event_loop.cpp is the only file that includes it. Higher layers
// (io/) use these watchers and keep per-hub state as hub services.

#include <cstddef>
#include <memory>

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
  /// set_idle(idle) marks an armed timer that nothing waits for any more,
  /// kept armed because a later wait is likely to want a later deadline
  /// (see hub::park). An idle timer does not keep the loop alive and is not
  /// counted by armed_watchers(). Harmless when it is not armed.
  void set_idle(bool idle) noexcept;
  bool armed() const noexcept { return loop_ != nullptr; }
  /// deadline() is when an armed timer fires.
  clock::time_point deadline() const noexcept { return deadline_; }
  void* context() const noexcept { return context_; }

 private:
  friend class event_loop;
  // Checked against sizeof(ev_timer) (48 with libev 4.33); kept small so
  // that a timer fits in tendril::timeout's inline storage.
  static constexpr std::size_t watcher_size = 56;
  alignas(8) unsigned char watcher_[watcher_size];
  event_loop* loop_ = nullptr;  // non-null while armed
  clock::time_point deadline_{};
  bool idle_ = false;  // armed, and unreferenced in libev (ev_unref)
  callback callback_;
  void* context_;
};

/// fd_events are the readiness conditions an io_watcher waits for.
enum fd_events : int {
  fd_readable = 1,  ///< EV_READ
  fd_writable = 2,  ///< EV_WRITE
};

/// io_watcher watches one fd for readiness. Its callback runs inside
/// event_loop::run_once, on the hub, with the events that occurred; it must
/// only make fibers ready (or drive a library that does), never switch.
class io_watcher {
 public:
  using callback = void (*)(io_watcher& fired, int events) noexcept;

  io_watcher(callback cb, void* context) noexcept;
  io_watcher(const io_watcher&) = delete;
  io_watcher& operator=(const io_watcher&) = delete;
  ~io_watcher() { stop(); }

  /// start(loop, fd, events) watches `fd` for `events` (fd_readable |
  /// fd_writable), replacing what it watched before. Level-triggered: the
  /// callback keeps firing while the condition holds and the watcher is armed.
  void start(event_loop& loop, int fd, int events) noexcept;
  /// stop() disarms it; harmless when it is not armed. Stop a watcher
  /// before closing its fd.
  void stop() noexcept;
  /// pause() disarms it but keeps its fd and events: a start() with the
  /// same loop, fd and events resumes it without libev registering the fd
  /// with the kernel again (no system call when no poll came in between).
  /// Only for an fd that stays open meanwhile; stop() forgets a pause.
  void pause() noexcept;
  /// set_idle(idle) marks an armed watcher that nobody waits on (kept armed
  /// only to save the system calls of a stop and a restart). An idle
  /// watcher does not keep the loop alive and is not counted by
  /// armed_watchers(), so it cannot hide that fibers would block forever.
  /// start() makes it busy again; harmless when it is not armed.
  void set_idle(bool idle) noexcept;
  bool armed() const noexcept { return loop_ != nullptr; }
  bool idle() const noexcept { return idle_; }
  int fd() const noexcept { return fd_; }
  int events() const noexcept { return events_; }
  void* context() const noexcept { return context_; }

 private:
  static constexpr std::size_t watcher_size = 64;  // checked against sizeof(ev_io)
  alignas(8) unsigned char watcher_[watcher_size];
  event_loop* loop_ = nullptr;    // non-null while armed
  event_loop* paused_ = nullptr;  // non-null while paused (see pause)
  int fd_ = -1;
  int events_ = 0;
  bool idle_ = false;  // armed, and unreferenced in libev (ev_unref)
  callback callback_;
  void* context_;
};

/// signal_watcher watches one signal number. libev lets one loop at a time
/// watch a given signal: start() returns false when another loop does.
/// The callback runs inside run_once, on the hub, like a timer's.
class signal_watcher {
 public:
  using callback = void (*)(signal_watcher& fired) noexcept;

  signal_watcher(callback cb, void* context) noexcept;
  signal_watcher(const signal_watcher&) = delete;
  signal_watcher& operator=(const signal_watcher&) = delete;
  ~signal_watcher() { stop(); }

  /// start(loop, signo) installs libev's handler for `signo`. False:
  /// another loop (another thread's hub) watches `signo`. libev does not
  /// keep the previous disposition: once no watcher is left, `signo` is
  /// SIG_DFL; a caller that needs the old handler back saves and restores
  /// it (io/src/signal.cpp does).
  bool start(event_loop& loop, int signo) noexcept;
  void stop() noexcept;
  bool armed() const noexcept { return loop_ != nullptr; }
  int signo() const noexcept { return signo_; }
  void* context() const noexcept { return context_; }

 private:
  static constexpr std::size_t watcher_size = 64;  // checked against sizeof(ev_signal)
  alignas(8) unsigned char watcher_[watcher_size];
  event_loop* loop_ = nullptr;
  int signo_ = 0;
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
  /// armed_watchers() counts armed timers, io and signal watchers (io
  /// watchers that are not idle).
  std::size_t armed_watchers() const noexcept { return armed_; }

 private:
  friend class timer;
  friend class io_watcher;
  friend class signal_watcher;
  /// count_armed(counted): an armed watcher starts (true) or stops (false,
  /// idle) keeping the loop alive and counting in armed_watchers().
  void count_armed(bool counted) noexcept;
  struct ::ev_loop* loop_;
  alignas(8) unsigned char async_[64];  // ev_async, checked in event_loop.cpp
  void (*on_notify_)(void*) noexcept;
  void* context_;
  unsigned keep_alive_ = 0;
  std::size_t armed_ = 0;
  unsigned short signal_watchers_[65] = {};  // per signal number (< NSIG), this loop's armed ones
};

/// this_thread_loop() is the calling thread's hub's loop (creating the hub).
event_loop& this_thread_loop();

/// hub_service is per-hub state of a higher layer, such as io's table of fd
/// waiters or its DNS channel. A hub destroys its services when its thread
/// exits, after unwinding its tasks and before closing its loop, so a
/// service may own watchers, and fibers that wait on it have left it.
class hub_service {
 public:
  virtual ~hub_service() = default;
};

/// find_hub_service(key) is the calling thread's service registered under
/// `key`, or null; add_hub_service(key, s) registers `s` (creating the hub).
hub_service* find_hub_service(const void* key) noexcept;
hub_service& add_hub_service(const void* key, std::unique_ptr<hub_service> service);

/// hub_service_key<T> identifies T's service on every hub.
template <class T>
inline constexpr char hub_service_key = 0;

/// this_hub_service<T>() is the calling thread's T, made on first use with
/// T's default constructor; find_hub_service_of<T>() is it or null, never
/// making one. T derives from hub_service.
template <class T>
T& this_hub_service() {
  if (hub_service* s = find_hub_service(&hub_service_key<T>)) [[likely]]
    return static_cast<T&>(*s);
  return static_cast<T&>(add_hub_service(&hub_service_key<T>, std::make_unique<T>()));
}
template <class T>
T* find_hub_service_of() noexcept {
  return static_cast<T*>(find_hub_service(&hub_service_key<T>));
}

}  // namespace tendril::detail
