// wait_readable / wait_writable and close(): fibers waiting for fds.
//
// Glossary:
// - fd_wait: one fiber's wait, on its stack, linked into its fd's watch.
// - fd_watch: this hub's io_watcher for one fd number, and the waits on it.
// - owned fd: one that tendril opened (detail::fd_opened) and closes with
//   tendril::close: a tendril::socket's.
//
// Invariants:
// - A wait links into its fd's watch before it parks and unlinks before
//   wait_fd returns or throws, so nothing refers to a dead frame.
// - While waits are linked and not woken, the watcher is armed for at
//   least their events and is not idle. Its callback (on the hub, inside
//   the loop) wakes the waits whose events occurred; it never switches.
// - Once it has woken them, the watcher narrows to what the waits not woken
//   yet want, or pauses if that is nothing (io_watcher::pause). Epoll is
//   level-triggered: until a woken fiber runs and reads, every poll would
//   report its fd again, and with thousands of woken fibers queued a pass
//   through the ready queue spans many polls (a soak test's 10,000
//   connections spent most of their time there). The fiber's next wait
//   resumes the paused watcher; when that comes before the next poll, as it
//   mostly does, libev makes no system call.
// - When the last wait leaves, an owned fd's watcher stays armed, idle
//   (io_watcher::set_idle), for the connection's next wait; any other fd's
//   watcher stops, since its fd may be closed behind tendril's back. A kept
//   watcher is trusted only while the fd's generation is the one it was
//   armed for (fd_generation.hpp): an fd number reused since then gets a
//   fresh start, which is what makes epoll register the new file.
// - close() (detail::wake_fd_waiters) wakes the waits with an error and
//   stops the watcher before ::close, as libev asks.
//
// Why keep watchers armed: a start and a stop per wait cost about 1.5
// epoll_ctl per request in the HTTP server benchmark (after a stop, libev's
// epoll backend takes the next event as spurious and does EPOLL_CTL_MOD or
// DEL; the restart does ADD, EEXIST, MOD). A kept watcher costs none until
// the connection closes.
//
// Rejected:
// - A hash map from fd to watch: fds are small dense integers, so a vector
//   indexed by fd is both smaller and faster.
// - Keeping every fd's watcher armed: an fd closed with ::close and its
//   number reused by a plain open() would leave a kept watcher that epoll
//   no longer reports, and a later wait on the new file would hang.

#include <tendril/io/wait.hpp>

#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <exception>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include <tendril/error.hpp>
#include <tendril/hub/detail/event_loop.hpp>

#include "fd_generation.hpp"

namespace tendril {
namespace {

struct fd_wait {
  int events;
  bool owned;
  waker fiber = waker::current();
  bool woken = false;
  fd_wait* prev = nullptr;
  fd_wait* next = nullptr;
};

class fd_watch {
 public:
  explicit fd_watch(int fd) noexcept : fd_(fd), watcher_(&on_ready, this) {}

  fd_wait* first() const noexcept { return waits_; }

  // enter(w) links w and arms the watcher for it.
  void enter(fd_wait& w) noexcept {
    if (w.owned)
      trust_generation();
    else if (waits_ == nullptr)
      watcher_.stop();  // kept (idle or paused) for an owned fd; this caller may have reopened the number
    link(w);
    int armed_for = watcher_.armed() ? watcher_.events() : 0;
    // A no-op but for leaving idle when it is armed for these events already.
    watcher_.start(detail::this_thread_loop(), fd_, armed_for | wanted_events());
  }

  // leave(w) unlinks w; the last wait out keeps the watcher idle or stops it.
  void leave(fd_wait& w) noexcept {
    unlink(w);
    if (waits_ != nullptr) return;
    if (w.owned && generation_ != 0)
      watcher_.set_idle(true);
    else
      watcher_.stop();
  }

  // closing() stops the watcher for good: the fd is about to close.
  void closing() noexcept {
    watcher_.stop();
    generation_ = 0;
  }

  // released() stops an idle watcher: the fd's owner gave it away.
  void released() noexcept {
    generation_ = 0;
    if (waits_ == nullptr) watcher_.stop();
  }

 private:
  // trust_generation() makes the watcher one armed for the fd's current
  // generation, restarting it if it was armed for another.
  void trust_generation() noexcept {
    std::uint32_t current = detail::fd_generation(fd_);
    if (generation_ == current) return;
    watcher_.stop();  // enter() restarts it, which registers the fd's new file with epoll
    generation_ = current;
  }

  int wanted_events() const noexcept {
    int events = 0;
    for (fd_wait* w = waits_; w != nullptr; w = w->next) events |= w->events;
    return events;
  }

  static void on_ready(detail::io_watcher& fired, int events) noexcept {
    auto* self = static_cast<fd_watch*>(fired.context());
    int unwoken = 0;  // what the waits not woken yet still want
    for (fd_wait* w = self->waits_; w != nullptr; w = w->next) {
      if (!w->woken && (w->events & events) != 0) {
        w->woken = true;
        w->fiber.wake();
      }
      if (!w->woken) unwoken |= w->events;
    }
    if ((fired.events() & ~unwoken) == 0) return;
    if (unwoken == 0)
      fired.pause();  // its fiber's next wait resumes it, most often before the next poll: free
    else
      fired.start(detail::this_thread_loop(), self->fd_, unwoken);
  }

  void link(fd_wait& w) noexcept {
    w.next = waits_;
    if (w.next != nullptr) w.next->prev = &w;
    waits_ = &w;
  }

  void unlink(fd_wait& w) noexcept {
    if (w.prev != nullptr)
      w.prev->next = w.next;
    else
      waits_ = w.next;
    if (w.next != nullptr) w.next->prev = w.prev;
    w.prev = w.next = nullptr;
  }

  int fd_;
  detail::io_watcher watcher_;
  fd_wait* waits_ = nullptr;
  std::uint32_t generation_ = 0;  // non-zero: kept armed while the fd's generation is this
};

// This hub's watches, indexed by fd; made on an fd's first wait and kept,
// as fd numbers are reused.
struct fd_table final : detail::hub_service {
  std::vector<std::unique_ptr<fd_watch>> watches;

  fd_watch& watch(int fd) {
    auto index = static_cast<std::size_t>(fd);
    if (index >= watches.size()) watches.resize(index + 1);
    if (watches[index] == nullptr) watches[index] = std::make_unique<fd_watch>(fd);
    return *watches[index];
  }
  fd_watch* find(int fd) const noexcept {
    auto index = static_cast<std::size_t>(fd);
    return fd >= 0 && index < watches.size() ? watches[index].get() : nullptr;
  }
};

fd_watch* find_watch(int fd) noexcept {
  auto* table = detail::find_hub_service_of<fd_table>();
  return table != nullptr ? table->find(fd) : nullptr;
}

std::string describe_fd_wait(const wait_reason& why) {
  return std::string(why.what) + " (fd " + std::to_string(why.detail) + ")";
}

// closed_error(fd, w) is what a wait on `fd` raises when `fd` closes under
// it; null (a plain wake, after which the retried call finds the fd
// closed) if there is no memory to say so.
std::exception_ptr closed_error(int fd, const fd_wait& w) noexcept {
  try {
    std::string direction = w.events == detail::fd_readable ? "read" : "write";
    return std::make_exception_ptr(system_error(std::make_error_code(std::errc::bad_file_descriptor),
                                                "fd " + std::to_string(fd) + " was closed while " +
                                                    w.fiber.describe() + " waited to " + direction + " it"));
  } catch (const std::bad_alloc&) {
    return nullptr;
  }
}

bool wait_fd(int fd, int events, bool owned, clock::time_point deadline) {
  const char* what = events == detail::fd_readable ? "fd readable" : "fd writable";
  if (fd < 0) throw error(std::string("wait for ") + what + " on invalid fd " + std::to_string(fd));
  fd_watch& watch = detail::this_hub_service<fd_table>().watch(fd);
  fd_wait w{.events = events, .owned = owned};
  watch.enter(w);
  struct leave {
    fd_watch& watch;
    fd_wait& w;
    ~leave() { watch.leave(w); }
  } on_exit{watch, w};
  return park({.what = what, .object = nullptr, .detail = fd, .describe = &describe_fd_wait}, deadline);
}

}  // namespace

bool wait_readable(int fd, clock::time_point deadline) {
  return wait_fd(fd, detail::fd_readable, /*owned=*/false, deadline);
}

bool wait_writable(int fd, clock::time_point deadline) {
  return wait_fd(fd, detail::fd_writable, /*owned=*/false, deadline);
}

bool detail::wait_owned_readable(int fd, clock::time_point deadline) {
  return wait_fd(fd, detail::fd_readable, /*owned=*/true, deadline);
}

bool detail::wait_owned_writable(int fd, clock::time_point deadline) {
  return wait_fd(fd, detail::fd_writable, /*owned=*/true, deadline);
}

void detail::fd_opened(int fd) { detail::advance_fd_generation(fd); }

void detail::fd_released(int fd) noexcept {
  detail::retire_fd_generation(fd);
  if (fd_watch* watch = find_watch(fd)) watch->released();
}

void detail::wake_fd_waiters(int fd) noexcept {
  detail::retire_fd_generation(fd);
  fd_watch* watch = find_watch(fd);
  if (watch == nullptr) return;
  for (fd_wait* w = watch->first(); w != nullptr; w = w->next) w->fiber.wake_with(closed_error(fd, *w));
  watch->closing();
}

void close(int fd) {
  detail::wake_fd_waiters(fd);
  if (::close(fd) != 0 && errno != EINTR)
    throw system_error(std::error_code(errno, std::generic_category()), "close of fd " + std::to_string(fd));
}

int detail::waiters_on(int fd) noexcept {
  int count = 0;
  if (fd_watch* watch = find_watch(fd))
    for (fd_wait* w = watch->first(); w != nullptr; w = w->next) ++count;
  return count;
}

}  // namespace tendril
