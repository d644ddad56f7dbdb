// tendril::run: join the main task, then every other task of the hub.
//
// Invariant: run returns or throws only once no task of this hub is left
// running, except tasks that refuse to die (they catch greenlet_exit and park
// again); those stay parked and the original exception propagates.
//
// Rejected: returning as soon as the main task ends (asyncio.run cancels
// the rest; gevent users expect spawned work to finish, as joinall does).

#include <tendril/hub/run.hpp>

#include <vector>

#include <tendril/hub/join.hpp>

#include "hub.hpp"
#include "task_state.hpp"

namespace tendril::detail {

void check_run_allowed() {
  if (task_base self = current_task(); !self.empty())
    throw error("tendril::run called from " + self.describe() +
                "; call it from a thread's main greenlet (or a plain greenlet), outside any task");
}

void run_until_idle(const task_base& main) {
  hub& h = hub::get();
  try {
    main.join();
    while (h.live_tasks() > 0) joinall(h.live_task_handles());
  } catch (...) {
    // Interrupted, or would block forever: unwind what is left, then report.
    // The shield keeps the caller's own expired timeout (or kill), which may
    // be what is propagating, from cutting the cleanup short.
    interrupt_shield hold_interrupts;
    std::vector<task_base> left = h.live_task_handles();
    for (const task_base& t : left) t.kill(nullptr, /*block=*/false);
    try {
      joinall(left);
    } catch (const error&) {
      // Some refuse to die (they catch greenlet_exit and park again): they
      // stay parked; the original exception matters more.
    }
    throw;
  }
}

}  // namespace tendril::detail
