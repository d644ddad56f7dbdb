#pragma once
// Queues for fibers and threads: queue (FIFO), lifo_queue, priority_queue
// and joinable_queue (Python's queue.Queue/LifoQueue/PriorityQueue,
// gevent.queue.Queue/JoinableQueue, asyncio.Queue), plus close() as in Go.
//
//   tendril::queue<job> jobs(100, "jobs");        // at most 100 waiting
//   jobs.put(job{...});                           // parks while full
//   job next = jobs.get();                        // parks while empty
//
// T may be move-only; its move constructor must be noexcept.

#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <utility>

#include <tendril/error.hpp>
#include <tendril/hub/park.hpp>
#include <tendril/sync/detail/queue_core.hpp>

namespace tendril {

/// queue_closed is thrown by get, get_for and get_until on a closed queue
/// (or channel) once it is empty; what() names the queue and the caller.
class queue_closed : public error {
 public:
  using error::error;
};

namespace detail {

/// basic_queue<T, Buffer> is the API every queue shares; Buffer orders the items.
template <class T, class Buffer>
class basic_queue {
 public:
  basic_queue(const basic_queue&) = delete;
  basic_queue& operator=(const basic_queue&) = delete;

  /// put(item) adds `item`, handing it straight to the longest-waiting get
  /// if there is one.
  ///
  /// Blocking:      parks the calling fiber while the queue is full (a
  ///                thread without a hub blocks); blocked puts proceed in
  ///                the order they started waiting.
  /// Deadline:      put_for/put_until return false, `item` untouched, when
  ///                it passes; try_put never waits.
  /// Cancellation:  a kill or expired timeout scope raises here and the
  ///                item is not put; a free slot granted at that moment
  ///                goes on to the next waiting put.
  /// Thread-safety: any fiber on any hub, or any thread.
  /// Errors:        tendril::error naming the queue and the caller when the
  ///                queue is closed (before or while waiting).
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
  /// try_put(item) puts if there is room now; false (item untouched) if
  /// full(), which includes the moment a slot freed by a get is on its way
  /// to a waiting put (a newcomer does not overtake it).
  bool try_put(T&& item) { return put_until(std::move(item), clock::time_point::min()); }
  bool try_put(const T& item) { return put_until(item, clock::time_point::min()); }

  /// get() removes and returns the next item.
  ///
  /// Blocking:      parks the calling fiber while the queue is empty (a
  ///                thread without a hub blocks); waiting gets receive
  ///                items in the order they started waiting.
  /// Deadline:      get_for/get_until return nullopt when it passes;
  ///                try_get never waits.
  /// Cancellation:  a kill or expired timeout scope raises here and takes
  ///                nothing; an item handed over at that moment goes to the
  ///                next waiting get, or back to the front of the queue.
  /// Thread-safety: any fiber on any hub, or any thread.
  /// Errors:        queue_closed once the queue is closed and empty (a
  ///                waiting get too); try_get returns nullopt instead.
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
  /// try_get() is the next item if there is one now, else nullopt.
  std::optional<T> try_get() { return get_until(clock::time_point::min()); }

  /// close() ends the queue: every waiting put and every later put throws
  /// tendril::error; gets take what is left, then throw queue_closed; every
  /// waiting get is woken (it is waiting, so nothing is left). Closing
  /// twice does nothing. Thread-safety: any fiber or thread.
  void close() noexcept { core_.close(); }
  bool closed() const noexcept { return core_.closed(); }

  /// size() is how many items wait in the queue. It can exceed maxsize()
  /// by the items given back by gets interrupted as they were handed one.
  std::size_t size() const noexcept { return core_.size(); }
  bool empty() const noexcept { return size() == 0; }
  /// full() is true when a put would wait now (never for maxsize() 0): no
  /// slot is free, or a freed one is on its way to a waiting put.
  bool full() const noexcept { return core_.full(); }
  /// maxsize() is the bound given to the constructor; 0 means unbounded.
  std::size_t maxsize() const noexcept { return core_.maxsize(); }

  /// describe() is `queue "name"` (or `queue 0x...`; lifo_queue, ...).
  std::string describe() const { return core_.describe(); }

 protected:
  template <class... BufferArgs>
  basic_queue(const char* kind, std::size_t maxsize, std::string name, BufferArgs&&... buffer_args)
      : buffer_(std::forward<BufferArgs>(buffer_args)...), core_(kind, buffer_, maxsize, std::move(name)) {}
  ~basic_queue() = default;

  Buffer buffer_;
  queue_core core_;
};

}  // namespace detail

/// queue<T> is first in, first out. maxsize 0 (the default) is unbounded,
/// as Python's Queue(maxsize=0); a bounded queue makes put wait while full.
template <class T>
class queue : public detail::basic_queue<T, detail::fifo_buffer<T>> {
 public:
  /// queue(maxsize, name): the name shows in errors and wait reasons.
  explicit queue(std::size_t maxsize = 0, std::string name = {})
      : detail::basic_queue<T, detail::fifo_buffer<T>>("queue", maxsize, std::move(name)) {}
};

/// lifo_queue<T> is last in, first out (a stack); otherwise a queue.
template <class T>
class lifo_queue : public detail::basic_queue<T, detail::lifo_buffer<T>> {
 public:
  explicit lifo_queue(std::size_t maxsize = 0, std::string name = {})
      : detail::basic_queue<T, detail::lifo_buffer<T>>("lifo_queue", maxsize, std::move(name)) {}
};

/// priority_queue<T, Compare> gets items in std::priority_queue's order:
/// the greatest by Compare first, so with std::less (the default) get()
/// returns the largest item. std::greater<T> gives Python's PriorityQueue
/// (smallest first). Equal items come out in no particular order; add a
/// sequence number to T to make them FIFO.
template <class T, class Compare = std::less<T>>
class priority_queue : public detail::basic_queue<T, detail::heap_buffer<T, Compare>> {
 public:
  explicit priority_queue(std::size_t maxsize = 0, std::string name = {}, Compare compare = Compare())
      : detail::basic_queue<T, detail::heap_buffer<T, Compare>>("priority_queue", maxsize, std::move(name),
                                                                std::move(compare)) {}
};

/// joinable_queue<T> is a queue that counts unfinished items: each put
/// adds one, task_done() removes one, and join() waits until none is left
/// (Python's Queue.task_done/join, gevent's JoinableQueue).
template <class T>
class joinable_queue : public detail::basic_queue<T, detail::fifo_buffer<T>> {
  using base = detail::basic_queue<T, detail::fifo_buffer<T>>;

 public:
  explicit joinable_queue(std::size_t maxsize = 0, std::string name = {})
      : base("joinable_queue", maxsize, std::move(name)) {}

  /// task_done() says one item taken from the queue has been dealt with;
  /// the last one wakes every join.
  /// Thread-safety: any fiber or thread.
  /// Errors: tendril::error naming the queue and the caller when called more
  /// times than items were put.
  void task_done() { base::core_.task_done(); }

  /// join() waits until every item put has been marked task_done (at once if
  /// none is unfinished).
  ///
  /// Blocking:      parks the calling fiber (a thread without a hub blocks).
  /// Deadline:      join_for/join_until return false when it passes.
  /// Cancellation:  a kill or expired timeout scope raises here; the waiter
  ///                is removed first.
  /// Thread-safety: any fiber on any hub, or any thread.
  /// Errors:        none of its own (closing does not end a join).
  void join() { join_until(no_deadline); }
  template <class Rep, class Period>
  bool join_for(const std::chrono::duration<Rep, Period>& timeout) {
    return join_until(deadline_after(std::chrono::duration_cast<clock::duration>(timeout)));
  }
  bool join_until(clock::time_point deadline) { return base::core_.join_until(deadline); }

  /// unfinished() is how many items were put and not yet marked task_done.
  std::size_t unfinished() const noexcept { return base::core_.unfinished(); }
};

}  // namespace tendril
