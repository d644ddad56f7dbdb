#pragma once
// When and how a patched call waits, shared by every interposer.
//
// A call is *cooperative* when patching is on (patch_all()), the calling
// thread is not inside an unpatched scope, and the caller may park (a fiber
// on its thread's hub: not the hub itself, nor a libev callback, nor a
// thread without a hub). A cooperative call that would block parks the
// fiber instead; any other call is libc's, except on an fd that patch made
// non-blocking, where a blocking call is emulated with the real poll().

#include <cerrno>

#include <atomic>
#include <cstdint>

#include <tendril/hub/park.hpp>

namespace tendril::patch_detail {

/// patching_on is set by patch_all() and never cleared.
extern constinit std::atomic<bool> patching_on;
/// unpatched_depth counts the calling thread's open unpatched scopes.
extern constinit thread_local int unpatched_depth __attribute__((tls_model("initial-exec")));

/// patching() is the first test of every interposer: one relaxed load.
inline bool patching() noexcept { return patching_on.load(std::memory_order_relaxed); }

/// cooperative() is true when a call made now should park rather than block.
inline bool cooperative() noexcept { return patching() && unpatched_depth == 0 && detail::can_park(); }

/// cancelled() is true when the calling fiber has an interrupt pending (a
/// kill handed back by an earlier patched call, an expired timeout scope):
/// every patched call that could block then fails at once with ECANCELED,
/// so C retry loops end and the fiber reaches its next park, which raises it.
bool cancelled() noexcept;

/// wait_status is how a wait ended.
enum class wait_status {
  ready,        ///< the fd is ready (or may be): retry the call
  timed_out,    ///< the deadline (SO_RCVTIMEO, SO_SNDTIMEO, a poll timeout) passed
  closed,       ///< tendril::close() closed the fd under the waiting fiber: EBADF
  cancelled,    ///< a kill or an expired timeout scope, kept pending: ECANCELED
  interrupted,  ///< a signal interrupted the real poll of an emulated wait: EINTR
  no_memory,    ///< the wait could not be set up: ENOMEM
};

/// status_errno(s) is the errno a call reports for `s`; `timed_out` is the
/// errno for a passed deadline (EAGAIN, or EINPROGRESS for connect).
int status_errno(wait_status s, int timed_out = EAGAIN) noexcept;

/// deadline_in(ns) is now + ns nanoseconds; ns <= 0 means no deadline.
clock::time_point deadline_in(std::int64_t ns) noexcept;

/// park_on_fd(fd, write, deadline) parks the calling fiber until fd is
/// readable (writable), through io's wait_readable/wait_writable. Never
/// throws: an interrupt is handed back to the fiber (defer_interrupt).
wait_status park_on_fd(int fd, bool write, clock::time_point deadline) noexcept;

/// block_on_fd(fd, write, deadline) blocks the thread in the real poll():
/// a non-cooperative caller's blocking call on an fd patch made non-blocking.
wait_status block_on_fd(int fd, bool write, clock::time_point deadline) noexcept;

/// guarded(f) runs f(), which may park, and maps how it ended; never throws.
/// f returns true when ready, false when its deadline passed.
template <class F>
wait_status guarded(F&& f) noexcept;

/// wait_status_of_current_exception() maps the exception being handled
/// (handing an interrupt back to the fiber); for guarded().
wait_status wait_status_of_current_exception() noexcept;

template <class F>
wait_status guarded(F&& f) noexcept {
  try {
    return f() ? wait_status::ready : wait_status::timed_out;
  } catch (...) {
    return wait_status_of_current_exception();
  }
}

}  // namespace tendril::patch_detail
