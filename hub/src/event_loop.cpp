// The libev seam: the only file of tendril that includes <ev.h>.
//
// Invariants:
// - One ev_loop per hub, created with ev_loop_new: libev's default loop
//   installs SIGCHLD handling the application may not want, and belongs to
//   whoever uses libev directly.
// - Callbacks run only inside ev_run(EVRUN_ONCE [| EVRUN_NOWAIT]) called by
//   run_once, on the hub's greenlet. They only make fibers ready: libev is
//   not re-entrant, so switching to a fiber from a callback (which might
//   call back into the loop) is never done (gevent #1126).
// - The ev_async watcher, idle io watchers and idle timers are
//   unreferenced (ev_unref): they must not keep the loop "alive" by
//   themselves, or a hub with nothing left to do could never tell that its
//   fibers would block forever. Fibers that another thread may wake are
//   counted by keep_alive instead.
//
// Rejected: ev_now()-based timer arithmetic without ev_now_update(). ev_now
// is the time of the last poll; a fiber that computed for a while and then
// slept would wake early by that long.

#include <tendril/hub/detail/event_loop.hpp>

#include <ev.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <utility>

namespace tendril::detail {

static_assert(sizeof(ev_timer) <= 56 && alignof(ev_timer) <= 8, "grow timer::watcher_size");
static_assert(sizeof(ev_async) <= 64 && alignof(ev_async) <= 8, "grow event_loop::async_");
static_assert(sizeof(ev_io) <= 64 && alignof(ev_io) <= 8, "grow io_watcher::watcher_size");
static_assert(sizeof(ev_signal) <= 64 && alignof(ev_signal) <= 8, "grow signal_watcher::watcher_size");
static_assert(NSIG <= 65, "grow event_loop::signal_watchers_");
static_assert(int{fd_readable} == int{EV_READ} && int{fd_writable} == int{EV_WRITE});

namespace {

ev_timer* as_timer(unsigned char* storage) noexcept {
  return std::launder(reinterpret_cast<ev_timer*>(storage));
}
ev_async* as_async(unsigned char* storage) noexcept {
  return std::launder(reinterpret_cast<ev_async*>(storage));
}
ev_io* as_io(unsigned char* storage) noexcept { return std::launder(reinterpret_cast<ev_io*>(storage)); }
ev_signal* as_signal(unsigned char* storage) noexcept {
  return std::launder(reinterpret_cast<ev_signal*>(storage));
}

// The loop that watches each signal, process-wide: libev allows one per
// signal, and says so only with an assertion.
std::atomic<event_loop*> signal_owners[NSIG];

// seconds_until(deadline) is the libev "after" value for a deadline.
double seconds_until(clock::time_point deadline) noexcept {
  clock::time_point now = clock::now();
  if (deadline <= now) return 0.0;  // before subtracting: a deadline far in the past would overflow
  return std::chrono::duration<double>(deadline - now).count();
}

}  // namespace

timer::timer(callback cb, void* context) noexcept : callback_(cb), context_(context) {
  ev_timer* w = ::new (watcher_) ev_timer;
  ev_init(w, [](struct ::ev_loop*, ev_timer* fired, int) noexcept {
    auto* self = static_cast<timer*>(fired->data);
    // A non-repeating timer is stopped once it fires, and libev's stop
    // unreferences the loop: an idle timer's ev_unref must be undone.
    if (std::exchange(self->idle_, false))
      ev_ref(self->loop_->loop_);
    else
      --self->loop_->armed_;
    self->loop_ = nullptr;
    self->callback_(*self);
  });
  w->data = this;
}

void timer::start(event_loop& loop, clock::time_point deadline) noexcept {
  stop();
  ev_now_update(loop.loop_);  // see "Rejected" above
  ev_timer* w = as_timer(watcher_);
  ev_timer_set(w, seconds_until(deadline), 0.0);
  ev_timer_start(loop.loop_, w);
  loop_ = &loop;
  deadline_ = deadline;
  ++loop.armed_;
}

void timer::stop() noexcept {
  if (loop_ == nullptr) return;
  set_idle(false);  // libev asks for ev_ref before stopping an unreferenced watcher
  ev_timer_stop(loop_->loop_, as_timer(watcher_));
  --loop_->armed_;
  loop_ = nullptr;
}

void timer::set_idle(bool idle) noexcept {
  if (loop_ == nullptr || idle == idle_) return;
  idle_ = idle;
  loop_->count_armed(!idle);
}

io_watcher::io_watcher(callback cb, void* context) noexcept : callback_(cb), context_(context) {
  ev_io* w = ::new (watcher_) ev_io;
  ev_init(w, [](struct ::ev_loop*, ev_io* fired, int revents) noexcept {
    auto* self = static_cast<io_watcher*>(fired->data);
    self->callback_(*self, revents & (EV_READ | EV_WRITE));
  });
  w->data = this;
}

void io_watcher::start(event_loop& loop, int fd, int events) noexcept {
  if (loop_ == &loop && fd_ == fd && events_ == events) {
    set_idle(false);
    return;
  }
  if (paused_ == &loop && fd_ == fd && events_ == events) {
    // libev cleared the "fd set" flag at the first start: without ev_io_set
    // it sees the same events wanted and makes no epoll_ctl.
    ev_io_start(loop.loop_, as_io(watcher_));
    paused_ = nullptr;
    loop_ = &loop;
    ++loop.armed_;
    return;
  }
  stop();
  ev_io* w = as_io(watcher_);
  ev_io_set(w, fd, events);
  ev_io_start(loop.loop_, w);
  loop_ = &loop;
  fd_ = fd;
  events_ = events;
  ++loop.armed_;
}

void io_watcher::stop() noexcept {
  paused_ = nullptr;
  if (loop_ == nullptr) return;
  set_idle(false);  // libev asks for ev_ref before stopping an unreferenced watcher
  ev_io_stop(loop_->loop_, as_io(watcher_));
  --loop_->armed_;
  loop_ = nullptr;
}

void io_watcher::pause() noexcept {
  event_loop* loop = loop_;
  stop();
  paused_ = loop;
}

void io_watcher::set_idle(bool idle) noexcept {
  if (loop_ == nullptr || idle == idle_) return;
  idle_ = idle;
  loop_->count_armed(!idle);
}

signal_watcher::signal_watcher(callback cb, void* context) noexcept : callback_(cb), context_(context) {
  ev_signal* w = ::new (watcher_) ev_signal;
  ev_init(w, [](struct ::ev_loop*, ev_signal* fired, int) noexcept {
    auto* self = static_cast<signal_watcher*>(fired->data);
    self->callback_(*self);
  });
  w->data = this;
}

bool signal_watcher::start(event_loop& loop, int signo) noexcept {
  stop();
  if (signo <= 0 || signo >= NSIG) return false;
  event_loop* expected = nullptr;
  if (!signal_owners[signo].compare_exchange_strong(expected, &loop) && expected != &loop) return false;
  ev_signal* w = as_signal(watcher_);
  ev_signal_set(w, signo);
  ev_signal_start(loop.loop_, w);
  loop_ = &loop;
  signo_ = signo;
  ++loop.armed_;
  ++loop.signal_watchers_[signo];
  return true;
}

void signal_watcher::stop() noexcept {
  if (loop_ == nullptr) return;
  ev_signal_stop(loop_->loop_, as_signal(watcher_));
  --loop_->armed_;
  if (--loop_->signal_watchers_[signo_] == 0) signal_owners[signo_].store(nullptr);
  loop_ = nullptr;
}

event_loop::event_loop(void (*on_notify)(void*) noexcept, void* context)
    : loop_(ev_loop_new(EVFLAG_AUTO | EVFLAG_NOENV | EVFLAG_NOSIGMASK)),
      on_notify_(on_notify),
      context_(context) {
  if (loop_ == nullptr) {
    std::fputs("tendril: ev_loop_new failed (out of file descriptors or memory?)\n", stderr);
    std::abort();
  }
  ev_async* w = ::new (async_) ev_async;
  ev_async_init(w, [](struct ::ev_loop*, ev_async* fired, int) noexcept {
    auto* self = static_cast<event_loop*>(fired->data);
    self->on_notify_(self->context_);
  });
  w->data = this;
  ev_async_start(loop_, w);
  ev_unref(loop_);  // see the invariants above
}

event_loop::~event_loop() {
  ev_ref(loop_);  // balances the ev_unref, as libev asks before stopping the watcher
  ev_async_stop(loop_, as_async(async_));
  ev_loop_destroy(loop_);
}

bool event_loop::run_once(bool may_block) noexcept {
  int alive = ev_run(loop_, may_block ? EVRUN_ONCE : EVRUN_NOWAIT);
  return alive != 0 || keep_alive_ > 0;
}

void event_loop::count_armed(bool counted) noexcept {
  if (counted) {
    ev_ref(loop_);
    ++armed_;
  } else {
    ev_unref(loop_);
    --armed_;
  }
}

void event_loop::notify() noexcept { ev_async_send(loop_, as_async(async_)); }

void event_loop::add_keep_alive() noexcept {
  if (keep_alive_++ == 0) ev_ref(loop_);
}

void event_loop::remove_keep_alive() noexcept {
  if (--keep_alive_ == 0) ev_unref(loop_);
}

unsigned event_loop::iterations() const noexcept { return ev_iteration(loop_); }

}  // namespace tendril::detail
