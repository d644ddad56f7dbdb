#pragma once
// What the hub needs to schedule greenlets without handles on its hot paths.
// Not API.

namespace tendril::detail {

class greenlet_state;

/// current_greenlet_state() is the calling thread's current greenlet (its
/// main greenlet is created on first use); no reference is taken.
greenlet_state* current_greenlet_state();

/// retain_state(s) adds a strong reference to `s` and returns it, for
/// `greenlet(retain_state(s))`.
greenlet_state* retain_state(greenlet_state* s) noexcept;

}  // namespace tendril::detail
