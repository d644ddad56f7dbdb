#pragma once
// Collection of greenlets whose last handle is gone, and unwinding of
// suspended ones (greenlet_lifetime.cpp).

#include <any>
#include <exception>

namespace tendril::detail {

class greenlet_state;
class thread_state;

/// collect(ts, g) handles a greenlet of `ts` with no strong references left:
/// a suspended one is unwound with greenlet_exit first, a running one is
/// marked orphaned (collected once it switches away), anything else is freed.
void collect(thread_state& ts, greenlet_state* g) noexcept;

/// unwind(ts, g) throws greenlet_exit into suspended `g` with the current
/// greenlet as its temporary parent; returns true if it died. An exception it
/// lets escape is printed, since the callers (destructors, thread exit) have
/// nobody to give it to.
bool unwind(thread_state& ts, greenlet_state* g) noexcept;

/// destroy_fiber_locals(g) destroys g's fiber_local values (fiber_local.cpp).
void destroy_fiber_locals(greenlet_state* g) noexcept;

/// transfer() is the library's switch operation: throw_in, unwinding, and
/// every switch_to that prepare_switch declines (greenlet.cpp).
std::any transfer(greenlet_state* target, std::any&& value, std::exception_ptr&& error);

}  // namespace tendril::detail
