// channel: a rendezvous. Two FIFO lists of waiters, puts and gets, under one
// spinlock; at most one of them is non-empty, since whoever arrives to find
// the other side waiting takes its front waiter instead of waiting.
//
// Invariants (with lock_ held):
// - A put meeting a waiting get moves its item into the get's slot; a get
//   meeting a waiting put moves the item out of the put's stack, then
//   grants it. Either way the item changes hands once, under the lock.
// - returned_ holds only items handed to a get interrupted at that moment
//   while no other get waited (there is no put to give them back to: it
//   has returned). Gets take them before anything else, so getters_ is
//   non-empty only while returned_ is empty.
//
// Rejected: making a get that meets a waiting put grant it "bring your item"
// and park until it does, so that a put interrupted at that moment would
// keep its item. Every such get would park (two switches per item instead
// of none); Go's channels and gevent's Channel also hand over at once, and
// the put then reports the interrupt although its item was delivered.

#include <tendril/sync/channel.hpp>

#include <mutex>

#include <tendril/error.hpp>

namespace tendril::detail {

channel_core::~channel_core() = default;

std::string channel_core::describe_get(const wait_reason& why) {
  return "get from " + static_cast<const channel_core*>(why.object)->describe();
}
std::string channel_core::describe_put(const wait_reason& why) {
  return "put into " + static_cast<const channel_core*>(why.object)->describe();
}

// A put interrupted as a get took its item: the item is delivered.
void channel_core::nothing_to_pass_on(void*, waiter&) noexcept {}

bool channel_core::put_until(void* item, clock::time_point deadline) {
  lock_.lock();
  if (closed_) {
    lock_.unlock();
    throw_put_closed();
  }
  if (waiter* getter = getters_.pop_front()) {
    returned_.hand(item, static_cast<item_transfer*>(getter->payload)->item);
    grant(*getter);
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
  // remote: a fiber of another hub, or a thread, may come to get it.
  const wait_reason why{"channel put", this, 0, &describe_put, /*remote=*/true};
  if (!wait_granted(lock_, putters_, w, deadline, why, &nothing_to_pass_on, this)) return false;
  if (t.closed) throw_put_closed();
  return true;
}

bool channel_core::get_until(void* slot, clock::time_point deadline) {
  lock_.lock();
  if (returned_.size() != 0) {
    returned_.pop(slot);
    lock_.unlock();
    return true;
  }
  if (waiter* putter = putters_.pop_front()) {
    returned_.hand(static_cast<item_transfer*>(putter->payload)->item, slot);
    grant(*putter);
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
  const wait_reason why{"channel get", this, 0, &describe_get, /*remote=*/true};
  if (!wait_granted(lock_, getters_, w, deadline, why, &pass_on_get, this)) return false;
  if (t.closed) throw_get_closed();
  return true;
}

// An item handed to a get interrupted at that moment.
void channel_core::pass_on_get(void* self, waiter& w) noexcept {
  auto* core = static_cast<channel_core*>(self);
  give_back_locked(core->getters_, core->returned_, w);
}

void channel_core::close() noexcept {
  std::lock_guard guard(lock_);
  if (closed_) return;
  closed_ = true;
  close_waiters_locked(getters_, putters_);
}

bool channel_core::closed() const noexcept {
  std::lock_guard guard(lock_);
  return closed_;
}

void channel_core::throw_put_closed() const {
  throw error(holder::current().describe() + " cannot put into " + describe() + ": it is closed");
}

void channel_core::throw_get_closed() const {
  throw queue_closed(holder::current().describe() + " cannot get from " + describe() + ": it is closed");
}

std::string channel_core::describe() const { return describe_object("channel", name_, this); }

}  // namespace tendril::detail
