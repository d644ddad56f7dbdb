#pragma once
// What another thread can learn about a hub whose thread is busy (it has
// not come back to its loop): which fiber holds the thread, and that
// fiber's call stack. Taken by a signal sent to the thread, whose handler
// writes both into the hub's sample slot; the blocking monitor and dumps
// of a hub that does not answer read it. See busy_sample.cpp.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <tendril/fiber/call_stack.hpp>
#include <tendril/fiber/detail/signal_text.hpp>

namespace tendril::detail {

/// sample_slot is where a hub's thread answers a sample request, shared
/// (shared_ptr) by the hub and whoever asks, so that a hub exiting while
/// asked leaves the asker a valid slot.
struct sample_slot {
  static constexpr int max_frames = 64;

  std::mutex askers;                     ///< one request at a time
  std::atomic<std::uint32_t> asked{0};   ///< the request's number, taken by the handler (0: none)
  std::atomic<std::uint32_t> answer{0};  ///< the number of the request last answered
  std::uint32_t last_number = 0;         ///< guarded by askers
  // Written by the handler before it publishes `answer`.
  signal_text fiber;
  void* frames[max_frames];
  int frame_count = 0;
};

/// busy_sample is one answer: the fiber and where it stands.
struct busy_sample {
  std::string fiber;  ///< `task 5 "name"`, `greenlet 1`, or "the hub itself"
  call_stack where;
};

/// sample_busy_thread(slot, tid, wait) asks thread `tid` (a hub's, whose
/// slot it is) for a sample and waits up to `wait` for the answer. Empty
/// when the thread did not answer in time (under ThreadSanitizer, signals
/// wait for the thread's next system call).
std::optional<busy_sample> sample_busy_thread(sample_slot& slot, long tid, std::chrono::milliseconds wait);

/// install_sample_handler() installs the signal handler (SIGURG, which is
/// ignored by default and which tendril sends only to its hub threads;
/// a signal not asked for goes to the handler that was there before).
/// Idempotent.
void install_sample_handler() noexcept;

}  // namespace tendril::detail
