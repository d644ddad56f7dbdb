// Waiting on many fds at once, and waking those waits when an fd closes.
//
// Invariants:
// - A wait lives on its fiber's stack, linked into its thread's list for
//   as long as its watchers may be armed; every watcher is stopped and the
//   wait unlinked before wait_for_any returns, however it returns.
// - A watcher callback (on the hub, inside libev) stops all of its wait's
//   watchers, so a level-triggered fd does not fire on every iteration
//   while the woken fiber waits its turn, and wakes the fiber.
//
// Rejected: one watcher per fd kept armed across calls (io's owned-fd
// scheme): patch cannot know when code it does not see closes an fd.

#include "multi_wait.hpp"

#include <new>
#include <optional>
#include <string>

#include <tendril/hub/detail/event_loop.hpp>

namespace tendril::patch_detail {
namespace {

struct multi_wait {
  waker fiber;
  std::optional<detail::io_watcher>* watchers = nullptr;
  std::size_t count = 0;
  multi_wait* next = nullptr;

  void stop_all() noexcept {
    for (std::size_t i = 0; i < count; ++i)
      if (watchers[i]) watchers[i]->stop();
  }
  bool watches(int fd) const noexcept {
    for (std::size_t i = 0; i < count; ++i)
      if (watchers[i] && watchers[i]->fd() == fd) return true;
    return false;
  }
};

// This thread's waits in progress (a hub's fibers all run on its thread).
constinit thread_local multi_wait* waits __attribute__((tls_model("initial-exec"))) = nullptr;

void unlink(multi_wait* w) noexcept {
  for (multi_wait** link = &waits; *link != nullptr; link = &(*link)->next)
    if (*link == w) {
      *link = w->next;
      return;
    }
}

void on_ready(detail::io_watcher& fired, int) noexcept {
  auto* w = static_cast<multi_wait*>(fired.context());
  w->stop_all();
  w->fiber.wake();
}

std::string describe_poll(const wait_reason& why) {
  return "poll of " + std::to_string(why.detail) + " fd" + (why.detail == 1 ? "" : "s");
}

// Watchers for one wait: inline for a few, on the heap beyond.
class watcher_storage {
 public:
  explicit watcher_storage(std::size_t n) noexcept
      : heap_(n > inline_count ? new (std::nothrow) std::optional<detail::io_watcher>[n] : nullptr),
        data_(n > inline_count ? heap_ : inline_) {}
  watcher_storage(const watcher_storage&) = delete;
  watcher_storage& operator=(const watcher_storage&) = delete;
  ~watcher_storage() { delete[] heap_; }
  std::optional<detail::io_watcher>* data() const noexcept { return data_; }

 private:
  static constexpr std::size_t inline_count = 8;
  std::optional<detail::io_watcher> inline_[inline_count];
  std::optional<detail::io_watcher>* heap_;
  std::optional<detail::io_watcher>* data_;
};

}  // namespace

bool interest_list::reserve(std::size_t n) noexcept {
  if (n <= inline_count) return true;
  heap_ = new (std::nothrow) fd_interest[n];
  return heap_ != nullptr;
}

wait_status wait_for_any(const fd_interest* fds, std::size_t count, clock::time_point deadline) noexcept {
  watcher_storage storage(count);
  if (storage.data() == nullptr) return wait_status::no_memory;
  multi_wait w;
  w.watchers = storage.data();
  w.count = count;
  struct leave {
    multi_wait& w;
    ~leave() {
      w.stop_all();
      unlink(&w);
    }
  };
  return guarded([&] {
    w.fiber = waker::current();
    w.next = waits;
    waits = &w;
    leave on_exit{w};
    detail::event_loop& loop = detail::this_thread_loop();
    for (std::size_t i = 0; i < count; ++i)
      w.watchers[i].emplace(&on_ready, &w).start(loop, fds[i].fd, fds[i].events);
    const wait_reason why{.what = "poll",
                          .object = nullptr,
                          .detail = static_cast<std::int64_t>(count),
                          .describe = &describe_poll};
    return park(why, deadline);
  });
}

void wake_waits_on(int fd) noexcept {
  for (multi_wait* w = waits; w != nullptr; w = w->next)
    if (w->watches(fd)) {
      w->stop_all();
      w->fiber.wake();
    }
}

}  // namespace tendril::patch_detail
