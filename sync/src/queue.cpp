// queue, lifo_queue, priority_queue, joinable_queue: a typed buffer of items
// and three FIFO lists of waiters (gets, puts, joins) under one spinlock.
//
// Invariants (with lock_ held):
// - getters_ is non-empty only while the buffer is empty: a put with gets
//   waiting hands its item straight into the longest waiter's slot, so a
//   fiber arriving later cannot take it first, and the order of waiting
//   gets is the order they receive items.
// - A put that finds the queue full waits in putters_. When a get makes
//   room, the longest waiting put is granted a *reserved slot* (reserved_)
//   and moves its item in itself when it resumes. While a reservation is
//   pending, new puts wait behind it (as a mutex handed to a waiter is not
//   free meanwhile), so items enter in the order their puts started
//   waiting.
// - Nothing granted is lost: an item handed to a get interrupted at that
//   moment goes to the next waiting get, or back where the next get takes
//   it (the front); a slot reserved for a put interrupted at that moment
//   goes to the next waiting put. So a put or get that raises did not
//   happen, and a retry after a timeout scope never duplicates an item.
//
// Rejected: moving a blocked put's item into the buffer when room is
// granted (gevent's and Go's way). It keeps fewer steps, but a put whose
// timeout scope expires at that moment would raise with its item already
// queued; the caller cannot tell, and a retry would put it twice.
// Rejected: waking a get without handing it the item, to take it from the
// buffer when it runs (gevent's way): a newcomer's try_get could take it
// first, breaking FIFO wake-ups and waking the get for nothing.

#include <tendril/sync/queue.hpp>

#include <mutex>

#include <tendril/error.hpp>

namespace tendril::detail {

void give_back_locked(wait_list& getters, item_buffer& buffer, waiter& w) noexcept {
  auto* t = static_cast<item_transfer*>(w.payload);
  if (t->closed) return;
  if (waiter* next = getters.pop_front()) {
    buffer.hand_on(t->item, static_cast<item_transfer*>(next->payload)->item);
    grant(*next);
  } else {
    buffer.unpop(t->item);
  }
}

void close_waiters_locked(wait_list& getters, wait_list& putters) noexcept {
  for (wait_list* list : {&getters, &putters}) {
    while (waiter* w = list->pop_front()) {
      static_cast<item_transfer*>(w->payload)->closed = true;
      grant(*w);
    }
  }
}

queue_core::~queue_core() = default;

std::string queue_core::describe_get(const wait_reason& why) {
  return "get from " + static_cast<const queue_core*>(why.object)->describe();
}
std::string queue_core::describe_put(const wait_reason& why) {
  return "put into " + static_cast<const queue_core*>(why.object)->describe();
}
std::string queue_core::describe_join(const wait_reason& why) {
  return "join " + static_cast<const queue_core*>(why.object)->describe();
}

namespace {
void nothing_to_pass_on(void*, waiter&) noexcept {}
}  // namespace

bool queue_core::has_room_locked() const noexcept {
  return maxsize_ == 0 || buffer_.size() + reserved_ < maxsize_;
}

// A put would wait: no slot is free, or a reserved one is on its way to a
// waiting put, which a newcomer must not overtake.
bool queue_core::full() const noexcept {
  std::lock_guard guard(lock_);
  return reserved_ != 0 || !has_room_locked();
}

bool queue_core::put_until(void* item, clock::time_point deadline) {
  lock_.lock();
  if (closed_) {
    lock_.unlock();
    throw_put_closed();
  }
  if (reserved_ == 0 && has_room_locked()) {
    try {
      deliver_locked(item);
    } catch (...) {
      lock_.unlock();
      throw;
    }
    lock_.unlock();
    return true;
  }
  if (deadline == clock::time_point::min()) {
    lock_.unlock();
    return false;
  }
  item_transfer t{item};
  waiter w;
  w.payload = &t;
  // remote: a fiber of another hub, or a thread, may make room.
  const wait_reason why{"queue put", this, 0, &describe_put, /*remote=*/true};
  if (!wait_granted(lock_, putters_, w, deadline, why, &pass_on_put, this)) return false;
  return finish_granted_put(item, t);
}

// Granted: a slot is reserved for this put (or close() woke it).
bool queue_core::finish_granted_put(void* item, const item_transfer& t) {
  if (t.closed) throw_put_closed();
  std::unique_lock guard(lock_);
  --reserved_;
  if (closed_) {
    guard.unlock();
    throw_put_closed();
  }
  try {
    deliver_locked(item);
  } catch (...) {
    admit_putters_locked();  // the slot this put gave up goes on
    throw;
  }
  admit_putters_locked();
  return true;
}

// Moves *item to the longest waiting get, or into the buffer.
void queue_core::deliver_locked(void* item) {
  if (waiter* getter = getters_.pop_front()) {
    buffer_.hand(item, static_cast<item_transfer*>(getter->payload)->item);
    grant(*getter);
  } else {
    buffer_.push(item);
  }
  ++unfinished_;
}

// Grants free slots to the waiting puts, oldest first.
void queue_core::admit_putters_locked() noexcept {
  while (!putters_.empty() && has_room_locked()) {
    waiter* putter = putters_.pop_front();
    ++reserved_;
    grant(*putter);
  }
}

// A slot reserved for a put interrupted at that moment.
void queue_core::pass_on_put(void* self, waiter& w) noexcept {
  auto* queue = static_cast<queue_core*>(self);
  if (static_cast<item_transfer*>(w.payload)->closed) return;
  --queue->reserved_;
  queue->admit_putters_locked();
}

bool queue_core::get_until(void* slot, clock::time_point deadline) {
  lock_.lock();
  if (buffer_.size() != 0) {
    buffer_.pop(slot);
    admit_putters_locked();
    lock_.unlock();
    return true;
  }
  if (closed_ || deadline == clock::time_point::min()) {
    const bool closed = closed_;
    lock_.unlock();
    if (closed && deadline != clock::time_point::min()) throw_get_closed();
    return false;
  }
  item_transfer t{slot};
  waiter w;
  w.payload = &t;
  const wait_reason why{"queue get", this, 0, &describe_get, /*remote=*/true};
  if (!wait_granted(lock_, getters_, w, deadline, why, &pass_on_get, this)) return false;
  if (t.closed) throw_get_closed();
  return true;
}

// An item handed to a get interrupted at that moment.
void queue_core::pass_on_get(void* self, waiter& w) noexcept {
  auto* core = static_cast<queue_core*>(self);
  give_back_locked(core->getters_, core->buffer_, w);
}

void queue_core::close() noexcept {
  std::lock_guard guard(lock_);
  if (closed_) return;
  closed_ = true;
  close_waiters_locked(getters_, putters_);
}

bool queue_core::closed() const noexcept {
  std::lock_guard guard(lock_);
  return closed_;
}

std::size_t queue_core::size() const noexcept {
  std::lock_guard guard(lock_);
  return buffer_.size();
}

void queue_core::task_done() {
  std::unique_lock guard(lock_);
  if (unfinished_ == 0) {
    guard.unlock();
    throw error(holder::current().describe() + " called task_done on " + describe() +
                " more times than items were put into it");
  }
  if (--unfinished_ == 0)
    while (waiter* w = joiners_.pop_front()) grant(*w);
}

bool queue_core::join_until(clock::time_point deadline) {
  lock_.lock();
  if (unfinished_ == 0) {
    lock_.unlock();
    return true;
  }
  waiter w;
  const wait_reason why{"queue join", this, 0, &describe_join, /*remote=*/true};
  return wait_granted(lock_, joiners_, w, deadline, why, &nothing_to_pass_on, this);
}

std::size_t queue_core::unfinished() const noexcept {
  std::lock_guard guard(lock_);
  return unfinished_;
}

void queue_core::throw_put_closed() const {
  throw error(holder::current().describe() + " cannot put into " + describe() + ": it is closed");
}

void queue_core::throw_get_closed() const {
  throw queue_closed(holder::current().describe() + " cannot get from " + describe() +
                     ": it is closed and empty");
}

std::string queue_core::describe() const { return describe_object(kind_, name_, this); }

}  // namespace tendril::detail
