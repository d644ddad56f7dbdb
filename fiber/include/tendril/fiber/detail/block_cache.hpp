#pragma once
// block_cache: a bounded free list of equal-sized heap blocks, owned by one
// thread. Greenlet states (fiber/) and task states (hub/) are recycled through
// one each, so a spawn burst reuses warm blocks instead of calling malloc.

#include <cstddef>
#include <new>

namespace tendril::detail {

class block_cache {
 public:
  explicit block_cache(std::size_t limit) noexcept : limit_(limit) {}
  block_cache(const block_cache&) = delete;
  block_cache& operator=(const block_cache&) = delete;
  ~block_cache() { clear(); }

  /// take() is a kept block, or null when there is none.
  void* take() noexcept {
    node* n = head_;
    if (n == nullptr) return nullptr;
    head_ = n->next;
    --count_;
    return n;
  }

  /// keep(block) holds on to a block from ::operator new; false when the
  /// cache is full (the caller frees it). The free list lives in the blocks
  /// themselves, so keeping never allocates.
  bool keep(void* block) noexcept {
    if (count_ >= limit_) return false;
    head_ = ::new (block) node{head_};
    ++count_;
    return true;
  }

  /// clear() frees every kept block.
  void clear() noexcept {
    while (void* block = take()) ::operator delete(block);
  }

 private:
  struct node {
    node* next;
  };
  node* head_ = nullptr;
  std::size_t count_ = 0;
  const std::size_t limit_;
};

}  // namespace tendril::detail
