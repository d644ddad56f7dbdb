#pragma once
// channel: an unbuffered rendezvous between fibers and threads
// (gevent.queue.Channel, Go's unbuffered chan, Boost.Fiber's unbuffered_channel).
//
//   tendril::channel<std::string> lines("lines");
//   lines.put("hello");                 // parks until a get has taken it
//   std::string line = lines.get();     // parks until a put brings one
//
// T may be move-only; its move constructor must be noexcept.

#include <chrono>
#include <optional>
#include <string>
#include <utility>

#include <tendril/hub/park.hpp>
#include <tendril/sync/detail/queue_core.hpp>
#include <tendril/sync/queue.hpp>  // queue_closed

namespace tendril {

/// channel<T> holds no items: each put waits for a get and hands its item
/// over directly. Waiting puts and gets are served in the order they started.
template <class T>
class channel {
 public:
  /// channel(name): the name shows in errors and wait reasons.
  explicit channel(std::string name = {}) : core_(returned_, std::move(name)) {}
  channel(const channel&) = delete;
  channel& operator=(const channel&) = delete;

  /// put(item) hands `item` to a get: the longest-waiting one, or the next
  /// to come.
  ///
  /// Blocking:      parks the calling fiber until a get has taken the item
  ///                (a thread without a hub blocks).
  /// Deadline:      put_for/put_until return false, `item` untouched, when
  ///                it passes with no get; try_put succeeds only if a get
  ///                is waiting.
  /// Cancellation:  a kill or expired timeout scope raises here. If a get
  ///                took the item at that very moment, the get keeps it: a
  ///                rendezvous cannot be undone, so the put raises although
  ///                its item was delivered.
  /// Thread-safety: any fiber on any hub, or any thread.
  /// Errors:        tendril::error naming the channel and the caller when it
  ///                is closed (before or while waiting).
  void put(T item) { core_.put_until(&item, no_deadline); }
  template <class Rep, class Period>
  bool put_for(T&& item, const std::chrono::duration<Rep, Period>& timeout) {
    return put_until(std::move(item), deadline_after(std::chrono::duration_cast<clock::duration>(timeout)));
  }
  template <class Rep, class Period>
  bool put_for(const T& item, const std::chrono::duration<Rep, Period>& timeout) {
    return put_until(item, deadline_after(std::chrono::duration_cast<clock::duration>(timeout)));
  }
  bool put_until(T&& item, clock::time_point deadline) { return core_.put_until(&item, deadline); }
  bool put_until(const T& item, clock::time_point deadline) {
    T copy(item);
    return core_.put_until(&copy, deadline);
  }
  bool try_put(T&& item) { return put_until(std::move(item), clock::time_point::min()); }
  bool try_put(const T& item) { return put_until(item, clock::time_point::min()); }

  /// get() takes an item from a put: the longest-waiting one, or the next
  /// to come.
  ///
  /// Blocking:      parks the calling fiber until a put brings an item (a
  ///                thread without a hub blocks).
  /// Deadline:      get_for/get_until return nullopt when it passes;
  ///                try_get succeeds only if a put is waiting.
  /// Cancellation:  a kill or expired timeout scope raises here and takes
  ///                nothing; an item handed over at that moment goes to the
  ///                next waiting get, or is kept for the next get to come.
  /// Thread-safety: any fiber on any hub, or any thread.
  /// Errors:        queue_closed once the channel is closed (and any item
  ///                kept as above has been taken); try_get returns nullopt.
  T get() {
    std::optional<T> slot;
    core_.get_until(&slot, no_deadline);
    return std::move(*slot);
  }
  template <class Rep, class Period>
  std::optional<T> get_for(const std::chrono::duration<Rep, Period>& timeout) {
    return get_until(deadline_after(std::chrono::duration_cast<clock::duration>(timeout)));
  }
  std::optional<T> get_until(clock::time_point deadline) {
    std::optional<T> slot;
    core_.get_until(&slot, deadline);
    return slot;
  }
  std::optional<T> try_get() { return get_until(clock::time_point::min()); }

  /// close() ends the channel: waiting and later puts throw tendril::error,
  /// waiting and later gets throw queue_closed. Closing twice does nothing.
  /// Thread-safety: any fiber or thread.
  void close() noexcept { core_.close(); }
  bool closed() const noexcept { return core_.closed(); }

  /// describe() is `channel "name"` (or `channel 0x...`).
  std::string describe() const { return core_.describe(); }

 private:
  detail::fifo_buffer<T> returned_;
  detail::channel_core core_;
};

}  // namespace tendril
