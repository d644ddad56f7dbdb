#pragma once
// Per-thread allocation of fiber stacks: guarded stacks while the process's
// mapping budget lasts, compact slab stacks after it; a warm pool of both.

#include <cstddef>
#include <cstdint>
#include <vector>

namespace tendril::detail {

class greenlet_state;

enum class stack_kind : std::uint8_t { none, guarded, compact };

/// A stack's usable memory: [limit, limit + size); it grows down from limit + size.
struct stack_region {
  char* limit = nullptr;
  std::size_t size = 0;
  stack_kind kind = stack_kind::none;
  unsigned valgrind_id = 0;

  char* top() const noexcept { return limit + size; }
};

inline constexpr std::size_t guard_size = 4096;

/// round_stack_size(n) is n rounded up to whole pages, at least the minimum.
std::size_t round_stack_size(std::size_t bytes) noexcept;

/// stack_allocator hands out stacks for one thread. Not thread-safe: only its
/// thread allocates and releases (a greenlet's stack is released on its own
/// thread, by whoever it switched to when it died).
class stack_allocator {
 public:
  stack_allocator() = default;
  stack_allocator(const stack_allocator&) = delete;
  stack_allocator& operator=(const stack_allocator&) = delete;
  ~stack_allocator();

  /// allocate(size) returns a stack of at least `size` usable bytes (rounded
  /// up to pages), from the pool when one of that size is free.
  /// Errors: tendril::system_error when the kernel refuses the mapping.
  stack_region allocate(std::size_t size);

  /// release(stack, owner) returns a stack to the pool (or unmaps it beyond
  /// the pool limit). Aborts with the owner named if a compact stack's canary
  /// shows it overflowed.
  void release(stack_region stack, const greenlet_state& owner) noexcept;

  /// pass_on(stack, owner, size) is true when a dying greenlet's `stack` is
  /// what allocate(size) would hand out, so the greenlet it dies into can
  /// run on it in place (see greenlet.cpp's finish). Like release(), aborts
  /// with the owner named if a compact stack's canary shows it overflowed.
  bool pass_on(const stack_region& stack, const greenlet_state& owner, std::size_t size) const noexcept {
    if (stack.size != round_stack_size(size)) return false;  // released instead, and checked there
    if (stack.kind == stack_kind::compact) check_canary(stack, owner);
    return true;
  }

  /// trim() unmaps every pooled guarded stack and releases pooled compact stacks' memory.
  void trim() noexcept;

  std::size_t in_use() const noexcept { return in_use_; }
  std::size_t compact_in_use() const noexcept { return compact_in_use_; }
  std::size_t pooled() const noexcept;

 private:
  struct free_list {
    std::size_t size;
    std::vector<stack_region> stacks;
  };
  struct slab {
    char* base;
    std::size_t bytes;
    std::size_t stack_size;  ///< every stack carved from it has this size
    std::size_t used;        ///< bytes carved so far, from the bottom
  };

  /// list_for(size) is the pool's list for that size; spawning reuses one
  /// size over and over, so the last list found is checked inline first.
  free_list& list_for(std::size_t size) {
    if (last_list_ < pool_.size() && pool_[last_list_].size == size) [[likely]]
      return pool_[last_list_];
    return find_list(size);
  }
  free_list& find_list(std::size_t size);
  static void check_canary(const stack_region& stack, const greenlet_state& owner) noexcept;
  stack_region map_guarded(std::size_t size);
  stack_region carve_compact(std::size_t size);

  std::vector<free_list> pool_;
  std::size_t last_list_ = 0;  ///< index of the list list_for() found last
  std::vector<slab> slabs_;
  std::size_t in_use_ = 0;
  std::size_t compact_in_use_ = 0;
};

/// guarded_stacks_mapped() is the process-wide count of guarded stacks mapped.
std::size_t guarded_stacks_mapped() noexcept;

}  // namespace tendril::detail
