#pragma once
// What every synchronisation object is made of: a spinlock, FIFO lists of
// waiters, and the one way to wait on them (see sync/README.md). Not API.

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>

#include <tendril/hub/park.hpp>

namespace tendril::detail {

/// spinlock guards one object's state for a few dozen instructions; nothing
/// parks or blocks while holding it. Wakes granted under it to fibers on
/// other threads are sent when it is released (waker::wake_deferred).
class spinlock {
 public:
  void lock() noexcept {
    while (locked_.exchange(true, std::memory_order_acquire)) {
      // The holder may have been preempted: after a short spin, let it run.
      for (int spins = 0; locked_.load(std::memory_order_relaxed); ++spins) {
        if (spins < max_spins)
          __builtin_ia32_pause();
        else
          std::this_thread::yield();
      }
    }
  }
  void unlock() noexcept {
    locked_.store(false, std::memory_order_release);
    if (deferred_wakes_pending) [[unlikely]]
      send_deferred_wakes();
  }

 private:
  static constexpr int max_spins = 100;
  std::atomic<bool> locked_{false};
};

/// A waiter is a node on the stack of a fiber (it has a waker) or of a plain
/// thread without a hub (it blocks on `futex`).
struct waiter {
  waiter* prev = nullptr;
  waiter* next = nullptr;
  bool linked = false;
  bool granted = false;  ///< set, under the object's lock, by whoever unlinked it to wake it
  waker fiber;
  std::atomic<std::uint32_t> futex{0};
  void* payload = nullptr;  ///< what a grant hands over, if anything
};

/// wait_list is an intrusive FIFO of waiters; guarded by the object's lock.
class wait_list {
 public:
  bool empty() const noexcept { return head_ == nullptr; }
  waiter* front() const noexcept { return head_; }
  void push_back(waiter& w) noexcept;
  void remove(waiter& w) noexcept;
  waiter* pop_front() noexcept;

 private:
  waiter* head_ = nullptr;
  waiter* tail_ = nullptr;
};

/// grant(w) marks an unlinked waiter granted and wakes it. Call with the
/// object's lock held (a wake to another thread must be on its way before
/// the waiter can see it was granted).
void grant(waiter& w) noexcept;

/// wait_granted(lock, list, w, deadline, why, pass_on, object) waits until `w`
/// is granted (true) or `deadline` passes (false). Call with `lock` held;
/// returns with it released. A kill or expired timeout scope propagates
/// after `w` is unlinked; if it raced a grant, pass_on(object, w) is called
/// first, with the lock held, to hand what was granted to someone else.
/// A fiber parks on its hub; a thread without a hub blocks.
bool wait_granted(spinlock& lock, wait_list& list, waiter& w, clock::time_point deadline,
                  const wait_reason& why, void (*pass_on)(void* object, waiter& w) noexcept, void* object);

/// holder names who holds a lock: a fiber (on a hub) or a plain thread.
struct holder {
  waker fiber;
  std::thread::id thread;

  /// current() is the calling fiber, or the calling thread when it has no hub.
  static holder current();
  bool empty() const noexcept { return fiber.empty() && thread == std::thread::id(); }
  bool same(const holder& other) const noexcept {
    return fiber.empty() ? other.fiber.empty() && thread == other.thread : fiber.same_fiber(other.fiber);
  }
  /// describe() is the fiber's description, or `thread <id>`.
  std::string describe() const;
};

/// describe_object(type, name, address) is `type "name"`, or `type 0x...`.
std::string describe_object(const char* type, const std::string& name, const void* address);

}  // namespace tendril::detail
