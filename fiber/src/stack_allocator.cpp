// Fiber stacks.
//
// Invariants:
// - Every stack is lazily committed (MAP_NORESERVE, never touched in full):
//   a parked fiber costs the pages its frames touched, not its stack size.
// - A guarded stack is [guard page PROT_NONE][usable]: two kernel mappings.
//   The process-wide count of guarded stacks stays under guarded_stack_limit(),
//   leaving the rest of vm.max_map_count to the program.
// - A compact stack is a slice of a slab (adjacent anonymous mappings with the
//   same protection merge, so a slab is one mapping however many stacks it
//   holds). Its lowest bytes are a canary checked when it comes back: they
//   must still be zero, as mmap (or madvise) left them. A written canary
//   would commit the stack's lowest page, doubling what a parked fiber costs
//   (one page at the top, where its frames are, is all it needs); a fiber
//   that runs past the bottom writes return addresses and locals there.
// - Stacks are released on the thread that allocated them, so the pool needs
//   no lock.
//
// Rejected: a guard page for every stack (caps a stock kernel near 32k
// fibers); segmented or copied stacks (pointers into the stack would break,
// and C libraries that patch/ makes cooperative keep such pointers).

#include "stack_allocator.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <mutex>

#include <tendril/error.hpp>
#include <tendril/fiber/stack.hpp>

#include "greenlet_state.hpp"
#include "stack_overflow.hpp"
#include "thread_state.hpp"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define TENDRIL_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define TENDRIL_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#if TENDRIL_VALGRIND
#include <valgrind/valgrind.h>
#endif

namespace tendril::detail {
namespace {

constexpr std::size_t page_size = 4096;
constexpr std::size_t minimum_stack = 16 * 1024;
constexpr std::size_t slab_bytes = 16 * 1024 * 1024;
constexpr std::size_t pool_limit = 256;  // free stacks kept per thread and size
constexpr std::size_t canary_words = 8;

std::atomic<std::size_t> default_size{256 * 1024};
std::atomic<std::size_t> guarded_mapped{0};
std::atomic<std::size_t> guarded_limit{0};
std::once_flag guarded_limit_once;

std::size_t initial_guarded_limit() {
  if (const char* env = std::getenv("TENDRIL_GUARDED_STACKS")) return std::strtoull(env, nullptr, 10);
  std::size_t max_maps = 65530;
  std::ifstream("/proc/sys/vm/max_map_count") >> max_maps;
  std::size_t reserve = std::max<std::size_t>(4096, max_maps / 8);
  return max_maps > reserve ? (max_maps - reserve) / 2 : 0;
}

std::size_t current_guarded_limit() {
  std::call_once(guarded_limit_once, [] { guarded_limit.store(initial_guarded_limit()); });
  return guarded_limit.load(std::memory_order_relaxed);
}

// Reading an untouched page maps the kernel's shared zero page: checking
// costs no memory.
bool canary_intact(const stack_region& s) noexcept {
  auto* words = reinterpret_cast<const volatile std::uint64_t*>(s.limit);
  for (std::size_t i = 0; i < canary_words; ++i) {
    if (words[i] != 0) return false;
  }
  return true;
}

void register_with_valgrind(stack_region& s) noexcept {
#if TENDRIL_VALGRIND
  s.valgrind_id = VALGRIND_STACK_REGISTER(s.limit, s.top());
#else
  (void)s;
#endif
}

void deregister_from_valgrind(const stack_region& s) noexcept {
#if TENDRIL_VALGRIND
  VALGRIND_STACK_DEREGISTER(s.valgrind_id);
#else
  (void)s;
#endif
}

void unmap_guarded(const stack_region& s) noexcept {
  deregister_from_valgrind(s);
  ::munmap(s.limit - guard_size, s.size + guard_size);
  guarded_mapped.fetch_sub(1, std::memory_order_relaxed);
}

}  // namespace

std::size_t round_stack_size(std::size_t bytes) noexcept {
  bytes = std::max(bytes, minimum_stack);
  return (bytes + page_size - 1) / page_size * page_size;
}

std::size_t guarded_stacks_mapped() noexcept { return guarded_mapped.load(std::memory_order_relaxed); }

stack_allocator::~stack_allocator() {
  trim();
  if (compact_in_use_ == 0) {
    for (const slab& s : slabs_) ::munmap(s.base, s.bytes);
  }  // else leaked along with the greenlets that refused to unwind
}

stack_allocator::free_list& stack_allocator::find_list(std::size_t size) {
  for (last_list_ = 0; last_list_ < pool_.size(); ++last_list_) {
    if (pool_[last_list_].size == size) return pool_[last_list_];
  }
  return pool_.emplace_back(free_list{size, {}});  // last_list_ == its index
}

stack_region stack_allocator::allocate(std::size_t size) {
  size = round_stack_size(size);
  free_list& list = list_for(size);
  stack_region s;
  if (!list.stacks.empty()) {
    s = list.stacks.back();
    list.stacks.pop_back();
  } else {
    s = guarded_mapped.load(std::memory_order_relaxed) < current_guarded_limit() ? map_guarded(size)
                                                                                 : stack_region{};
    if (s.kind == stack_kind::none) s = carve_compact(size);
  }
  ++in_use_;
  if (s.kind == stack_kind::compact) ++compact_in_use_;
  return s;
}

// Returns an empty region when the kernel is out of mappings, so the caller
// falls back to a compact stack.
stack_region stack_allocator::map_guarded(std::size_t size) {
  void* base = ::mmap(nullptr, size + guard_size, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
  if (base == MAP_FAILED) return {};
  if (::mprotect(base, guard_size, PROT_NONE) != 0) {
    ::munmap(base, size + guard_size);
    return {};
  }
  install_overflow_handler();
  guarded_mapped.fetch_add(1, std::memory_order_relaxed);
  stack_region s{static_cast<char*>(base) + guard_size, size, stack_kind::guarded};
  register_with_valgrind(s);
  return s;
}

stack_region stack_allocator::carve_compact(std::size_t size) {
  // Slabs only fill (a freed compact stack goes to the free list), so the one
  // slab of this size that can have room is the newest. Searching from the
  // back keeps a million parked fibers from scanning thousands of full slabs.
  auto newest =
      std::find_if(slabs_.rbegin(), slabs_.rend(), [size](const slab& s) { return s.stack_size == size; });
  auto it = newest == slabs_.rend() ? slabs_.end() : std::prev(newest.base());
  if (it == slabs_.end() || it->used + size > it->bytes) {
    std::size_t bytes = std::max(size, slab_bytes / size * size);
    void* base =
        ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base == MAP_FAILED)
      throw system_error(std::error_code(errno, std::generic_category()), "mapping a fiber stack slab");
    it = slabs_.insert(slabs_.end(), slab{static_cast<char*>(base), bytes, size, 0});
  }
  stack_region s{it->base + it->used, size, stack_kind::compact};
  it->used += size;
  register_with_valgrind(s);
  return s;
}

void stack_allocator::release(stack_region s, const greenlet_state& owner) noexcept {
  --in_use_;
  if (s.kind == stack_kind::compact) {
    --compact_in_use_;
    check_canary(s, owner);
  }
  TENDRIL_UNPOISON(s.limit, s.size);  // frames of the dead fiber must not poison the next one
  free_list& list = list_for(s.size);
  if (list.stacks.size() >= pool_limit) {
    if (s.kind == stack_kind::guarded) {
      unmap_guarded(s);
      return;
    }
    ::madvise(s.limit, s.size, MADV_DONTNEED);  // keep the slice, give back its memory
  }
  list.stacks.push_back(s);
}

void stack_allocator::check_canary(const stack_region& s, const greenlet_state& owner) noexcept {
  if (!canary_intact(s)) report_canary_overflow(owner, s.size);
}

void stack_allocator::trim() noexcept {
  for (free_list& list : pool_) {
    auto compact_end = std::partition(list.stacks.begin(), list.stacks.end(),
                                      [](const stack_region& s) { return s.kind == stack_kind::compact; });
    for (auto it = compact_end; it != list.stacks.end(); ++it) unmap_guarded(*it);
    list.stacks.erase(compact_end, list.stacks.end());
    for (const stack_region& s : list.stacks) ::madvise(s.limit, s.size, MADV_DONTNEED);
  }
}

std::size_t stack_allocator::pooled() const noexcept {
  std::size_t n = 0;
  for (const free_list& list : pool_) n += list.stacks.size();
  return n;
}

}  // namespace tendril::detail

namespace tendril {

std::size_t default_stack_size() noexcept { return detail::default_size.load(std::memory_order_relaxed); }

void set_default_stack_size(std::size_t bytes) noexcept {
  detail::default_size.store(detail::round_stack_size(bytes), std::memory_order_relaxed);
}

std::size_t guarded_stack_limit() noexcept { return detail::current_guarded_limit(); }

void set_guarded_stack_limit(std::size_t stacks) noexcept {
  detail::current_guarded_limit();  // so a later first use does not overwrite it
  detail::guarded_limit.store(stacks, std::memory_order_relaxed);
}

stack_stats current_stack_stats() noexcept {
  stack_stats stats;
  stats.guarded_mapped = detail::guarded_stacks_mapped();
  if (detail::thread_state* ts = detail::thread_state::find()) {
    stats.in_use = ts->stacks.in_use();
    stats.compact_in_use = ts->stacks.compact_in_use();
    stats.pooled = ts->stacks.pooled();
  }
  return stats;
}

void trim_stack_pool() noexcept {
  if (detail::thread_state* ts = detail::thread_state::find()) ts->stacks.trim();
}

}  // namespace tendril
