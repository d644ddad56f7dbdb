#pragma once
// wait_for_any(): park until any of several fds is ready, for poll,
// select and their relatives, on the hub's own io watchers (one per fd,
// armed only for the wait). The caller then re-runs the real call with a
// zero timeout, which gives the exact result.

#include <cstddef>

#include <tendril/hub/park.hpp>

#include "waiting.hpp"

namespace tendril::patch_detail {

/// fd_interest is one fd and what to wait for (detail::fd_readable |
/// detail::fd_writable).
struct fd_interest {
  int fd;
  int events;
};

/// wait_for_any(fds, count, deadline) parks the calling fiber until one of
/// `fds` is ready, `deadline` passes (timed_out), or close() closes one of
/// them (ready: the real call then reports it). Never throws.
wait_status wait_for_any(const fd_interest* fds, std::size_t count, clock::time_point deadline) noexcept;

/// wake_waits_on(fd) stops the watchers of every wait_for_any of this
/// thread that watches `fd` and wakes its fiber: `fd` is about to close,
/// and libev asks for its watchers to be stopped first.
void wake_waits_on(int fd) noexcept;

/// interest_list holds fd_interests, inline for a few, on the heap beyond.
class interest_list {
 public:
  interest_list() = default;
  interest_list(const interest_list&) = delete;
  interest_list& operator=(const interest_list&) = delete;
  ~interest_list() { delete[] heap_; }

  /// reserve(n) makes room for n; false when memory ran out.
  bool reserve(std::size_t n) noexcept;
  void add(int fd, int events) noexcept { data()[size_++] = {fd, events}; }
  const fd_interest* data() const noexcept { return heap_ != nullptr ? heap_ : inline_; }
  std::size_t size() const noexcept { return size_; }

 private:
  fd_interest* data() noexcept { return heap_ != nullptr ? heap_ : inline_; }
  static constexpr std::size_t inline_count = 8;
  fd_interest inline_[inline_count];
  fd_interest* heap_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace tendril::patch_detail
