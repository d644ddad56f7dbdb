#pragma once
// Helpers for the proofs that, outside fibers, a patched call is libc's:
// a plain thread (no hub) making a blocking call really sleeps in the
// kernel, which /proc shows, instead of parking or spinning on EAGAIN.

#include <sys/types.h>
#include <unistd.h>

#include <fstream>
#include <iterator>
#include <string>
#include <thread>

namespace tendril::testing {

/// thread_state(tid) is the state letter of a thread of this process
/// ('R' running, 'S' asleep in the kernel, ...), from /proc; '?' if the
/// thread is gone.
inline char thread_state(pid_t tid) {
  std::ifstream stat("/proc/self/task/" + std::to_string(tid) + "/stat");
  const std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  const std::size_t paren = text.rfind(')');
  return paren != std::string::npos && paren + 2 < text.size() ? text[paren + 2] : '?';
}

/// wait_until_asleep(tid) spins the calling thread (it does not park) until
/// thread `tid` sleeps in the kernel. Call it only once `tid` is known to
/// be in, or about to enter, the blocking call: it has no deadline.
inline void wait_until_asleep(pid_t tid) {
  while (thread_state(tid) != 'S') std::this_thread::yield();
}

}  // namespace tendril::testing
