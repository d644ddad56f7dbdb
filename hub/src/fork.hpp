#pragma once
// What a child process gets after fork(): see fork.cpp and hub/README.md.

#include <exception>

namespace tendril::detail {

/// install_fork_handlers() registers tendril's pthread_atfork handlers,
/// once per process (the first hub does).
void install_fork_handlers() noexcept;

class task_state;

/// end_forked_child(t, failure) ends a child process whose forking task
/// `t` has returned (failure: what it threw, or null): prints the failure,
/// flushes stdio and _exits.
[[noreturn]] void end_forked_child(task_state* t, std::exception_ptr failure) noexcept;

}  // namespace tendril::detail
