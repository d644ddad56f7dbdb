#pragma once
// block_cache: a free list of equal-sized heap blocks, owned by one thread.
// Greenlet states (fiber/) and task states (hub/) are recycled through one
// each, so a spawn burst reuses warm blocks instead of calling malloc.
//
// It keeps every block given back, however many: a program that spawns and
// joins 100,000 tasks at a time reaches malloc only for its first batch.
// (A fixed bound made every batch past it pay glibc's free-list
// consolidation and the page faults after its heap trimming: three times
// the cost per task.) What a one-off spike leaves behind is not kept for
// ever: the blocks that sat in the cache through a whole window of about a
// second are freed, down to `floor`. The windows are checked as blocks come
// back, so a thread that goes quiet right after a spike keeps its blocks
// until it is busy again, as malloc itself keeps freed memory.

#include <chrono>
#include <cstddef>
#include <new>

namespace tendril::detail {

class block_cache {
 public:
  static constexpr unsigned keeps_per_check = 1024;  ///< a clock read per this many keeps above the floor

  /// block_cache(floor, window): `floor` blocks are always kept; tests
  /// shorten the window.
  explicit block_cache(std::size_t floor, std::chrono::nanoseconds window = std::chrono::seconds(1)) noexcept
      : floor_(floor), window_(window) {}
  block_cache(const block_cache&) = delete;
  block_cache& operator=(const block_cache&) = delete;
  ~block_cache() { clear(); }

  /// take() is a kept block, or null when there is none.
  void* take() noexcept {
    node* n = head_;
    if (n == nullptr) return nullptr;
    head_ = n->next;
    if (--count_ < low_water_) low_water_ = count_;
    return n;
  }

  /// keep(block) holds on to a block from ::operator new. The free list
  /// lives in the blocks themselves, so keeping never allocates.
  void keep(void* block) noexcept {
    head_ = ::new (block) node{head_};
    if (++count_ > floor_ && --keeps_to_check_ == 0) release_unused();
  }

  /// clear() frees every kept block.
  void clear() noexcept {
    while (void* block = take()) ::operator delete(block);
  }

  std::size_t size() const noexcept { return count_; }

 private:
  struct node {
    node* next;
  };
  using clock = std::chrono::steady_clock;

  /// release_unused() ends the window when it is over: frees as many
  /// blocks as sat untaken through it (its low-water mark) beyond `floor`,
  /// and starts the next one. The first check ends a window at once.
  void release_unused() noexcept;

  node* head_ = nullptr;
  std::size_t count_ = 0;
  std::size_t low_water_ = 0;  ///< fewest blocks kept since the window began
  const std::size_t floor_;
  const std::chrono::nanoseconds window_;
  unsigned keeps_to_check_ = keeps_per_check;
  clock::time_point window_end_{};
};

}  // namespace tendril::detail
