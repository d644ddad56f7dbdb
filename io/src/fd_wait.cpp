// wait_readable / wait_writable and close(): fibers waiting for fds.
//
// Invariants:
// - A wait is an fd_wait on the waiting fiber's stack: an io_watcher armed
//   for the wait only, and links into this hub's fd_table under its fd.
//   It is unlinked and its watcher stopped before wait_fd returns or
//   throws, so nothing refers to a dead frame.
// - The watcher's callback (on the hub, inside the loop) stops the watcher
//   and wakes the fiber; it never switches. Stopping it at once keeps a
//   level-triggered fd from firing on every loop iteration while the woken
//   fiber waits its turn in the ready queue.
// - close() wakes the waiters with an error and stops their watchers before
//   ::close, as libev asks: the fd number may be reused the moment it closes.
//
// Cost, measured (bench/run --only io): a start/stop per wait is not free.
// After a stop, libev's epoll backend takes the next (now unwanted) event
// as spurious and does EPOLL_CTL_MOD/DEL; the restart then does ADD (EEXIST)
// and MOD: about 1.5 epoll_ctl per request in the HTTP server benchmark.
// The way out (issue 5) is one watcher per fd that stays armed between
// waits and is stopped lazily when it fires with nobody waiting; it must
// then not count as "alive" for the would-block-forever report.
//
// Rejected:
// - A hash map from fd to waiters: fds are small dense integers, so a vector
//   indexed by fd is both smaller and faster.

#include <tendril/io/wait.hpp>

#include <unistd.h>

#include <cerrno>
#include <string>
#include <vector>

#include <tendril/error.hpp>
#include <tendril/hub/detail/event_loop.hpp>

namespace tendril {
namespace {

struct fd_wait;

// This hub's fibers waiting on each fd, as intrusive lists indexed by fd.
struct fd_table final : detail::hub_service {
  std::vector<fd_wait*> heads;

  void link(fd_wait* w);
  void unlink(fd_wait* w) noexcept;
  fd_wait* first(int fd) const noexcept {
    return static_cast<std::size_t>(fd) < heads.size() ? heads[static_cast<std::size_t>(fd)] : nullptr;
  }
};

struct fd_wait {
  fd_wait(int fd, int events)
      : watcher(
            [](detail::io_watcher& fired, int) noexcept {
              auto* self = static_cast<fd_wait*>(fired.context());
              fired.stop();
              self->fiber.wake();
            },
            this),
        fd(fd),
        events(events),
        fiber(waker::current()) {}

  detail::io_watcher watcher;
  int fd;
  int events;
  waker fiber;
  fd_wait* prev = nullptr;
  fd_wait* next = nullptr;
};

void fd_table::link(fd_wait* w) {
  auto index = static_cast<std::size_t>(w->fd);
  if (index >= heads.size()) heads.resize(index + 1, nullptr);
  w->next = heads[index];
  if (w->next != nullptr) w->next->prev = w;
  heads[index] = w;
}

void fd_table::unlink(fd_wait* w) noexcept {
  if (w->prev != nullptr)
    w->prev->next = w->next;
  else
    heads[static_cast<std::size_t>(w->fd)] = w->next;
  if (w->next != nullptr) w->next->prev = w->prev;
  w->prev = w->next = nullptr;
}

std::string describe_fd_wait(const wait_reason& why) {
  return std::string(why.what) + " (fd " + std::to_string(why.detail) + ")";
}

bool wait_fd(int fd, int events, clock::time_point deadline) {
  const char* what = events == detail::fd_readable ? "fd readable" : "fd writable";
  if (fd < 0) throw error(std::string("wait for ") + what + " on invalid fd " + std::to_string(fd));
  fd_table& table = detail::this_hub_service<fd_table>();
  fd_wait w(fd, events);
  table.link(&w);
  struct leave {
    fd_table& table;
    fd_wait& w;
    ~leave() {
      w.watcher.stop();
      table.unlink(&w);
    }
  } on_exit{table, w};
  w.watcher.start(detail::this_thread_loop(), fd, events);
  return park({.what = what, .object = nullptr, .detail = fd, .describe = &describe_fd_wait}, deadline);
}

}  // namespace

bool wait_readable(int fd, clock::time_point deadline) { return wait_fd(fd, detail::fd_readable, deadline); }

bool wait_writable(int fd, clock::time_point deadline) { return wait_fd(fd, detail::fd_writable, deadline); }

void close(int fd) {
  if (auto* table = detail::find_hub_service_of<fd_table>()) {
    for (fd_wait* w = table->first(fd); w != nullptr; w = w->next) {
      w->watcher.stop();
      std::string direction = w->events == detail::fd_readable ? "read" : "write";
      w->fiber.wake_with(
          std::make_exception_ptr(system_error(std::make_error_code(std::errc::bad_file_descriptor),
                                               "fd " + std::to_string(fd) + " was closed while " +
                                                   w->fiber.describe() + " waited to " + direction + " it")));
    }
  }
  if (::close(fd) != 0 && errno != EINTR)
    throw system_error(std::error_code(errno, std::generic_category()), "close of fd " + std::to_string(fd));
}

int detail::waiters_on(int fd) noexcept {
  auto* table = detail::find_hub_service_of<fd_table>();
  int count = 0;
  if (table != nullptr)
    for (fd_wait* w = table->first(fd); w != nullptr; w = w->next) ++count;
  return count;
}

}  // namespace tendril
