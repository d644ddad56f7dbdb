// The waiting structure of every synchronisation object (sync/README.md).
//
// Invariants:
// - A waiter is linked in at most one list, and only while its owner waits;
//   whoever unlinks it to wake it sets `granted` under the object's lock.
// - A granted fiber on another thread has its wake queued (and counted in
//   flight) before the lock is released, so by the time the waiter sees
//   `granted` the wake is either handled or counted, and
//   settle_remote_wakes() can wait it out. The system call that rouses its
//   hub comes after the release (spinlock::unlock), so the woken fiber does
//   not spin on the lock while it runs.
// - A thread without a hub blocks on its node's futex word; the granter sets
//   the word and wakes it under the lock, so the node is still alive.
//
// Rejected: std::condition_variable per waiter for plain threads (a mutex
// and a condition variable per wait, where a futex word on the stack does).

#include <tendril/sync/detail/wait_list.hpp>

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <ctime>
#include <sstream>

#include <tendril/error.hpp>

namespace tendril::detail {

namespace {

// futex_wait_until(word, deadline): blocks while *word == 0, until woken or
// `deadline` (steady_clock, which is CLOCK_MONOTONIC) passes.
void futex_wait_until(std::atomic<std::uint32_t>& word, clock::time_point deadline) {
  timespec abs{};
  timespec* timeout = nullptr;
  if (deadline != no_deadline) {
    auto since_epoch = deadline.time_since_epoch();
    auto secs = std::chrono::duration_cast<std::chrono::seconds>(since_epoch);
    abs.tv_sec = static_cast<time_t>(secs.count());
    abs.tv_nsec =
        static_cast<long>(std::chrono::duration_cast<std::chrono::nanoseconds>(since_epoch - secs).count());
    timeout = &abs;
  }
  ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), FUTEX_WAIT_BITSET_PRIVATE, 0u, timeout,
            nullptr, FUTEX_BITSET_MATCH_ANY);
}

void futex_wake(std::atomic<std::uint32_t>& word) {
  ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
}

}  // namespace

void wait_list::push_back(waiter& w) noexcept {
  w.prev = tail_;
  w.next = nullptr;
  if (tail_ != nullptr)
    tail_->next = &w;
  else
    head_ = &w;
  tail_ = &w;
  w.linked = true;
}

void wait_list::remove(waiter& w) noexcept {
  if (w.prev != nullptr)
    w.prev->next = w.next;
  else
    head_ = w.next;
  if (w.next != nullptr)
    w.next->prev = w.prev;
  else
    tail_ = w.prev;
  w.prev = w.next = nullptr;
  w.linked = false;
}

waiter* wait_list::pop_front() noexcept {
  waiter* w = head_;
  if (w != nullptr) remove(*w);
  return w;
}

void grant(waiter& w) noexcept {
  w.granted = true;
  if (!w.fiber.empty()) {
    try {
      w.fiber.wake_deferred();  // sent when the lock is released
    } catch (...) {
      // Only a cross-thread wake allocates (its queue entry); without memory
      // the waiter would sleep forever, which is worse than stopping here.
      std::fputs("tendril: out of memory waking a fiber on another thread\n", stderr);
      std::terminate();
    }
    return;
  }
  w.futex.store(1, std::memory_order_release);
  futex_wake(w.futex);
}

bool wait_granted(spinlock& lock, wait_list& list, waiter& w, clock::time_point deadline,
                  const wait_reason& why, void (*pass_on)(void* object, waiter& w) noexcept, void* object) {
  const bool on_hub = this_thread_has_hub();
  if (on_hub) w.fiber = waker::current();
  list.push_back(w);
  lock.unlock();

  if (!on_hub) {
    while (w.futex.load(std::memory_order_acquire) == 0 && clock::now() < deadline)
      futex_wait_until(w.futex, deadline);
    lock.lock();
    if (w.linked) list.remove(w);
    bool granted = w.granted;
    lock.unlock();
    return granted;
  }

  try {
    for (;;) {
      bool woken = park(why, deadline);
      lock.lock();
      if (!w.linked || !woken) break;  // granted (unlinked by the granter), or the deadline passed
      w.fiber = waker::current();      // woken without a grant: wait again, with a waker for the next park
      lock.unlock();
    }
  } catch (...) {
    lock.lock();
    if (w.linked) {
      list.remove(w);
    } else {
      pass_on(object, w);  // granted at the moment of the interrupt: give it to someone else
    }
    lock.unlock();
    if (!w.linked && w.granted) settle_remote_wakes();
    throw;
  }
  // Here with the lock held.
  if (w.linked) list.remove(w);  // the deadline passed first
  bool granted = w.granted;
  lock.unlock();
  if (granted) settle_remote_wakes();
  return granted;
}

holder holder::current() {
  holder h;
  if (this_thread_has_hub())
    h.fiber = waker::current();
  else
    h.thread = std::this_thread::get_id();
  return h;
}

std::string holder::describe() const {
  if (!fiber.empty()) return fiber.describe();
  std::ostringstream out;
  out << "thread " << thread;
  return out.str();
}

std::string describe_object(const char* type, const std::string& name, const void* address) {
  if (!name.empty()) return std::string(type) + " \"" + name + '"';
  char text[32];
  std::snprintf(text, sizeof text, " %p", address);
  return type + std::string(text);
}

}  // namespace tendril::detail
