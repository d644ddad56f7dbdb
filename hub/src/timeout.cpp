// Timeout scopes. A scope is a node in its fiber's stack of open scopes
// (fiber_record::timeouts, innermost first) with a libev timer stored inline.
// When the timer fires the scope is marked expired and the fiber, if parked,
// is made ready; hub::raise_interrupts throws timeout_error for the outermost
// expired scope at every park inside it.
//
// Rejected: one pending-exception slot per fiber for timeouts. With nested
// scopes, a second expiry would overwrite (or be lost behind) the first, and
// a timeout_error caught inside its own scope would not stay sticky.

#include <tendril/hub/timeout.hpp>

#include <new>

#include "hub.hpp"
#include "timeout_access.hpp"

namespace tendril {

namespace {
detail::timer* timer_in(unsigned char* storage) {
  return std::launder(reinterpret_cast<detail::timer*>(storage));
}
}  // namespace

timeout::timeout(clock::time_point deadline) {
  static_assert(sizeof(detail::timer) <= sizeof(timer_) && alignof(detail::timer) <= 8);
  detail::hub& h = detail::hub::get();
  record_ = h.current_record();
  outer_ = record_->timeouts;
  record_->timeouts = this;
  if (deadline == no_deadline) return;
  auto* t = ::new (timer_) detail::timer(
      [](detail::timer& fired) noexcept {
        auto* self = static_cast<timeout*>(fired.context());
        self->expired_ = true;
        self->record_->owner.load(std::memory_order_acquire)->timeout_expired(self->record_);
      },
      this);
  armed_ = true;
  t->start(h.loop(), deadline);
}

timeout::~timeout() {
  if (armed_) timer_in(timer_)->~timer();
  if (expired_) --record_->expired_timeouts;
  // Normally the innermost scope; unlink it wherever it is all the same.
  timeout** link = &record_->timeouts;
  while (*link != nullptr && *link != this) link = &(*link)->outer_;
  if (*link == this) *link = outer_;
}

}  // namespace tendril
