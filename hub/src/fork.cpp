// fork(): what the child process gets.
//
// The rule (hub/README.md, "fork"): in the child only the thread that
// called fork exists (POSIX), and on it only the fiber that called fork
// goes on. Its next tendril call gets a fresh hub: a new libev loop, with
// no timers, watchers or fibers. Every other fiber of the parent's stays
// suspended where it was: never resumed, never unwound, never freed
// (detail::abandon_other_greenlets). Unwinding would run the parent's code
// in the child: destructors that flush buffers a second time, or say
// goodbye on a socket the parent still uses. The hubs of the parent's
// other threads leave the registry, so posting to them fails as it does
// for a thread that has exited. When the fiber that forked is a task, it
// is the child's whole program: when it returns, the child flushes stdio
// and exits (_exit: the parent's atexit handlers and static destructors
// do not run twice), with status 0, or 1 after printing its failure.
//
// Rejected: ev_loop_fork on the parent's loop, keeping the hub. Every
// watcher of the parent's fibers would stay in it, and one on a socket the
// parent shares (a listener) would wake a fiber that must not run, or spin
// the loop on an event nobody consumes.

#include "fork.hpp"

#include <pthread.h>
#include <unistd.h>

#include <cstdio>
#include <mutex>

#include <tendril/fiber/detail/state_access.hpp>

#include "hub.hpp"
#include "hub_registry.hpp"
#include "monitor.hpp"
#include "task_state.hpp"

namespace tendril::detail {
namespace {

// The locks another thread could hold at the moment of the fork are taken
// first, so the child never inherits one held by a thread it does not have.
void before_fork() noexcept {
  monitor_before_fork();
  hub_registry::lock_for_fork();
}

void after_fork_in_parent() noexcept {
  hub_registry::unlock_after_fork();
  monitor_after_fork(/*in_child=*/false);
}

void after_fork_in_child() noexcept {
  hub_registry::unlock_after_fork();
  hub_registry::forget_all_after_fork();
  monitor_after_fork(/*in_child=*/true);
  if (hub* h = this_thread_hub) {
    h->mark_forked_away();
    this_thread_hub = nullptr;  // the next tendril call makes a fresh hub
  }
  abandon_other_greenlets();
}

}  // namespace

void install_fork_handlers() noexcept {
  static std::once_flag once;
  std::call_once(once, [] { ::pthread_atfork(&before_fork, &after_fork_in_parent, &after_fork_in_child); });
}

void end_forked_child(task_state* t, std::exception_ptr failure) noexcept {
  int status = 0;
  if (failure != nullptr) {
    status = 1;
    std::string what = "unknown exception";
    try {
      std::rethrow_exception(failure);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    std::fprintf(stderr, "%s failed in the child process %d it forked: %s\n", t->describe().c_str(),
                 static_cast<int>(::getpid()), what.c_str());
  }
  std::fflush(nullptr);
  ::_exit(status);
}

}  // namespace tendril::detail
