// Sampling a busy hub's thread with a signal.
//
// A fiber that holds its thread (CPU work, or a blocking call tendril does
// not see) cannot be asked anything through the hub's mail: the asker sends
// SIGURG to the thread instead (Go preempts goroutines with the same
// signal: ignored by default, rarely used). The handler runs on the busy
// thread, on its alternate signal stack when it has one, and writes into
// the hub's sample slot, without allocating or locking: the running
// fiber's label (hub::describe_running) and the return addresses above the
// signal frame (backtrace(), whose unwinder is loaded before any request
// is sent, so that it does not load a library inside the handler). Then it
// publishes the request's number; the asker, which waits for that number
// with acquire ordering, reads the slot.
//
// A request is numbered so that an answer to an older one that timed out
// is never taken for the current one; requests to one slot are serialised.
// An interrupted system call restarts (SA_RESTART) or, for those that never
// restart (epoll_wait, poll, nanosleep...), returns EINTR to code that
// already has to handle it.

#include "busy_sample.hpp"

#include <execinfo.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <thread>

#include "hub.hpp"

namespace tendril::detail {
namespace {

constexpr int sample_signal = SIGURG;
struct sigaction previous_action;

void pass_on(int signo, siginfo_t* info, void* context) {
  const struct sigaction& previous = previous_action;
  if ((previous.sa_flags & SA_SIGINFO) != 0)
    previous.sa_sigaction(signo, info, context);
  else if (previous.sa_handler != SIG_DFL && previous.sa_handler != SIG_IGN)
    previous.sa_handler(signo);
}

void on_sample_signal(int signo, siginfo_t* info, void* context) {
  hub* h = this_thread_hub;
  sample_slot* slot = h != nullptr ? &h->sample() : nullptr;
  std::uint32_t number = slot != nullptr ? slot->asked.exchange(0, std::memory_order_acquire) : 0;
  if (number == 0) {
    pass_on(signo, info, context);
    return;
  }
  int saved_errno = errno;
  slot->fiber.clear();
  h->describe_running(slot->fiber);
  // The first two frames are this handler and the kernel's return trampoline.
  constexpr int own_frames = 2;
  int n = ::backtrace(slot->frames, sample_slot::max_frames);
  slot->frame_count = std::max(n - own_frames, 0);
  std::copy(slot->frames + own_frames, slot->frames + n, slot->frames);
  slot->answer.store(number, std::memory_order_release);
  errno = saved_errno;
}

}  // namespace

void install_sample_handler() noexcept {
  static std::once_flag once;
  std::call_once(once, [] {
    void* warm[1];
    (void)::backtrace(warm, 1);  // loads the unwinder (libgcc_s) now, not in a handler
    struct sigaction action {};
    action.sa_sigaction = &on_sample_signal;
    action.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;
    sigemptyset(&action.sa_mask);
    ::sigaction(sample_signal, &action, &previous_action);
  });
}

std::optional<busy_sample> sample_busy_thread(sample_slot& slot, long tid, std::chrono::milliseconds wait) {
  std::lock_guard lock(slot.askers);
  std::uint32_t number = ++slot.last_number;
  if (number == 0) number = ++slot.last_number;  // 0 means "no request"
  slot.asked.store(number, std::memory_order_release);
  if (::syscall(SYS_tgkill, ::getpid(), tid, sample_signal) != 0) {
    slot.asked.store(0, std::memory_order_relaxed);
    return std::nullopt;  // the thread has exited
  }
  auto deadline = std::chrono::steady_clock::now() + wait;
  while (slot.answer.load(std::memory_order_acquire) != number) {
    if (std::chrono::steady_clock::now() >= deadline) {
      slot.asked.store(0, std::memory_order_relaxed);
      return std::nullopt;
    }
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  busy_sample sample;
  sample.fiber = std::string(slot.fiber.view());
  sample.where = call_stack(std::vector<void*>(slot.frames, slot.frames + slot.frame_count));
  return sample;
}

}  // namespace tendril::detail
