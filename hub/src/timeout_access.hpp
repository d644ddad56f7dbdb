#pragma once
// The hub's view of a timeout scope's private state.

#include <tendril/hub/timeout.hpp>

namespace tendril::detail {

struct timeout_access {
  static timeout* outer(const timeout& t) noexcept { return t.outer_; }
};

}  // namespace tendril::detail
