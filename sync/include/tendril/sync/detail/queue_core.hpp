#pragma once
// The untyped halves of the queues and of channel: the lock, the waiters,
// closing, and every waiting and granting decision (sync/src/queue.cpp,
// sync/src/channel.cpp). The typed half, the buffer of items, sits beside
// them in the public template and is reached through item_buffer. Not API.
//
// Items cross the untyped code as pointers: an `item` is a T* that a put
// moves from only when it succeeds; a `slot` is an empty std::optional<T>*
// that a get fills.

#include <algorithm>
#include <cstddef>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <tendril/hub/park.hpp>
#include <tendril/sync/detail/wait_list.hpp>

namespace tendril::detail {

/// item_buffer is the typed half of a queue: where items wait, in the
/// queue's order. Every call is made with the queue's lock held.
class item_buffer {
 public:
  /// size() is how many items wait.
  virtual std::size_t size() const noexcept = 0;
  /// push(item) moves *item in. Errors: what allocation throws (nothing changed).
  virtual void push(void* item) = 0;
  /// pop(slot) moves the next item into *slot. Precondition: size() > 0.
  virtual void pop(void* slot) noexcept = 0;
  /// unpop(slot) moves the item in *slot back to where pop takes it next
  /// (an item taken by a get that was interrupted). Ends the process if
  /// memory runs out: there is nowhere else to keep the item.
  virtual void unpop(void* slot) noexcept = 0;
  /// hand(item, slot) moves *item into *slot: a put meeting a waiting get.
  virtual void hand(void* item, void* slot) noexcept = 0;
  /// hand_on(from, to) moves the item in slot *from into slot *to.
  virtual void hand_on(void* from, void* to) noexcept = 0;

 protected:
  ~item_buffer() = default;
};

/// typed_items<T> is the part of item_buffer that does not depend on the order.
template <class T>
class typed_items : public item_buffer {
  static_assert(std::is_nothrow_move_constructible_v<T>,
                "tendril queues hand items over under a spinlock: T's move constructor must be noexcept");

 public:
  void hand(void* item, void* slot) noexcept final { as_slot(slot).emplace(std::move(as_item(item))); }
  void hand_on(void* from, void* to) noexcept final {
    as_slot(to).emplace(std::move(*as_slot(from)));
    as_slot(from).reset();
  }

 protected:
  ~typed_items() = default;
  static T& as_item(void* item) noexcept { return *static_cast<T*>(item); }
  static std::optional<T>& as_slot(void* slot) noexcept { return *static_cast<std::optional<T>*>(slot); }
};

/// fifo_buffer<T>: first in, first out.
template <class T>
class fifo_buffer final : public typed_items<T> {
  using base = typed_items<T>;

 public:
  std::size_t size() const noexcept override { return items_.size(); }
  void push(void* item) override { items_.push_back(std::move(base::as_item(item))); }
  void pop(void* slot) noexcept override {
    base::as_slot(slot).emplace(std::move(items_.front()));
    items_.pop_front();
  }
  void unpop(void* slot) noexcept override {
    items_.push_front(std::move(*base::as_slot(slot)));
    base::as_slot(slot).reset();
  }

 private:
  std::deque<T> items_;
};

/// lifo_buffer<T>: last in, first out.
template <class T>
class lifo_buffer final : public typed_items<T> {
  using base = typed_items<T>;

 public:
  std::size_t size() const noexcept override { return items_.size(); }
  void push(void* item) override { items_.push_back(std::move(base::as_item(item))); }
  void pop(void* slot) noexcept override {
    base::as_slot(slot).emplace(std::move(items_.back()));
    items_.pop_back();
  }
  void unpop(void* slot) noexcept override {
    items_.push_back(std::move(*base::as_slot(slot)));
    base::as_slot(slot).reset();
  }

 private:
  std::vector<T> items_;
};

/// heap_buffer<T, Compare>: std::priority_queue's order (the greatest by
/// Compare first). A heap in a vector rather than std::priority_queue,
/// whose top() cannot be moved from.
template <class T, class Compare>
class heap_buffer final : public typed_items<T> {
  static_assert(std::is_nothrow_move_assignable_v<T>,
                "a priority_queue reorders items under a spinlock: T's move assignment must be noexcept");
  using base = typed_items<T>;

 public:
  explicit heap_buffer(Compare compare) : compare_(std::move(compare)) {}
  std::size_t size() const noexcept override { return items_.size(); }
  void push(void* item) override {
    items_.push_back(std::move(base::as_item(item)));
    std::push_heap(items_.begin(), items_.end(), compare_);
  }
  void pop(void* slot) noexcept override {
    std::pop_heap(items_.begin(), items_.end(), compare_);
    base::as_slot(slot).emplace(std::move(items_.back()));
    items_.pop_back();
  }
  void unpop(void* slot) noexcept override {
    items_.push_back(std::move(*base::as_slot(slot)));
    base::as_slot(slot).reset();
    std::push_heap(items_.begin(), items_.end(), compare_);
  }

 private:
  std::vector<T> items_;
  Compare compare_;
};

/// item_transfer is what a waiting put or get hands the other side
/// (waiter::payload) in a queue or a channel.
struct item_transfer {
  void* item;           ///< a put's T*, or a get's std::optional<T>*
  bool closed = false;  ///< woken by close(), with nothing handed over
};

/// give_back_locked(getters, buffer, w): the item handed to get `w`, which
/// was interrupted at that moment, goes to the next waiting get, or back
/// where the next get takes it. Nothing when `w` was woken by close().
void give_back_locked(wait_list& getters, item_buffer& buffer, waiter& w) noexcept;

/// close_waiters_locked(getters, putters) wakes every waiter, marked closed.
void close_waiters_locked(wait_list& getters, wait_list& putters) noexcept;

/// queue_core is everything of a queue but its items (sync/src/queue.cpp).
class queue_core {
 public:
  /// queue_core(kind, buffer, maxsize, name): `kind` is static text
  /// ("queue", "lifo_queue"...); `buffer` outlives the core.
  queue_core(const char* kind, item_buffer& buffer, std::size_t maxsize, std::string name) noexcept
      : kind_(kind), buffer_(buffer), maxsize_(maxsize), name_(std::move(name)) {}
  queue_core(const queue_core&) = delete;
  queue_core& operator=(const queue_core&) = delete;
  ~queue_core();

  /// put_until(item, deadline) is true once *item was moved in; false,
  /// *item untouched, when full at the deadline (clock::time_point::min():
  /// do not wait).
  bool put_until(void* item, clock::time_point deadline);
  /// get_until(slot, deadline) is true once *slot holds the next item;
  /// false when empty at the deadline (min(): do not wait, and a closed,
  /// empty queue is false instead of queue_closed).
  bool get_until(void* slot, clock::time_point deadline);
  void close() noexcept;
  bool closed() const noexcept;
  std::size_t size() const noexcept;
  bool full() const noexcept;
  std::size_t maxsize() const noexcept { return maxsize_; }

  /// For joinable_queue: every item put counts as unfinished until task_done.
  void task_done();
  bool join_until(clock::time_point deadline);
  std::size_t unfinished() const noexcept;

  std::string describe() const;

 private:
  static void pass_on_get(void* self, waiter& w) noexcept;
  static void pass_on_put(void* self, waiter& w) noexcept;
  static std::string describe_get(const wait_reason& why);
  static std::string describe_put(const wait_reason& why);
  static std::string describe_join(const wait_reason& why);
  bool has_room_locked() const noexcept;
  void admit_putters_locked() noexcept;
  void deliver_locked(void* item);
  bool finish_granted_put(void* item, const item_transfer& t);
  [[noreturn]] void throw_put_closed() const;
  [[noreturn]] void throw_get_closed() const;

  mutable spinlock lock_;
  const char* const kind_;
  item_buffer& buffer_;
  const std::size_t maxsize_;
  std::size_t reserved_ = 0;    ///< slots granted to putters that have not put yet
  std::size_t unfinished_ = 0;  ///< items put and not yet task_done
  bool closed_ = false;
  wait_list getters_;  ///< only while buffer_ is empty
  wait_list putters_;  ///< only while the queue is full
  wait_list joiners_;
  const std::string name_;
};

/// channel_core is everything of a channel but its items (sync/src/channel.cpp).
/// `returned` holds the rare items handed to a get that was interrupted at
/// that moment while no other get waited: the next gets take them first.
class channel_core {
 public:
  channel_core(item_buffer& returned, std::string name) noexcept
      : returned_(returned), name_(std::move(name)) {}
  channel_core(const channel_core&) = delete;
  channel_core& operator=(const channel_core&) = delete;
  ~channel_core();

  /// put_until, get_until: as queue_core's, for a rendezvous.
  bool put_until(void* item, clock::time_point deadline);
  bool get_until(void* slot, clock::time_point deadline);
  void close() noexcept;
  bool closed() const noexcept;
  std::string describe() const;

 private:
  static void pass_on_get(void* self, waiter& w) noexcept;
  static void nothing_to_pass_on(void* self, waiter& w) noexcept;
  static std::string describe_get(const wait_reason& why);
  static std::string describe_put(const wait_reason& why);
  [[noreturn]] void throw_put_closed() const;
  [[noreturn]] void throw_get_closed() const;

  mutable spinlock lock_;
  item_buffer& returned_;
  bool closed_ = false;
  wait_list getters_;  ///< only while no putter waits and returned_ is empty
  wait_list putters_;  ///< only while no getter waits
  const std::string name_;
};

}  // namespace tendril::detail
