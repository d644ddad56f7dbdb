// block_cache: every block given back is kept, and what a window left
// untaken goes back to malloc, down to the floor. A zero-length window makes
// every check end one, so the windows here are counted in checks, not time.

#include <cstddef>
#include <new>
#include <vector>

#include <catch2/catch.hpp>

#include <tendril/fiber/detail/block_cache.hpp>

namespace {

using tendril::detail::block_cache;
constexpr std::size_t block_bytes = 64;
constexpr std::size_t check = block_cache::keeps_per_check;

void keep_new_blocks(block_cache& cache, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) cache.keep(::operator new(block_bytes));
}

std::vector<void*> take_blocks(block_cache& cache, std::size_t n) {
  std::vector<void*> taken;
  for (std::size_t i = 0; i < n; ++i) taken.push_back(cache.take());
  return taken;
}

}  // namespace

TEST_CASE("a block cache keeps every block given back, however many, and hands them out again") {
  block_cache cache(16);  // a window of a second: no check ends one here
  keep_new_blocks(cache, 16 + 10 * check);
  CHECK(cache.size() == 16 + 10 * check);
  std::vector<void*> taken = take_blocks(cache, 16 + 10 * check);
  CHECK(cache.size() == 0);
  CHECK(cache.take() == nullptr);
  for (void* block : taken) {
    REQUIRE(block != nullptr);
    cache.keep(block);
  }
  CHECK(cache.size() == taken.size());
}

TEST_CASE("a block cache frees the blocks a whole window left untaken, beyond its floor") {
  block_cache cache(16, std::chrono::nanoseconds(0));
  // The first check ends the first window at once: nothing is freed.
  keep_new_blocks(cache, 16 + check);
  CHECK(cache.size() == 16 + check);

  // The next window: 100 blocks are taken and given back, and more new ones
  // kept until the check; of the 940 that never moved, all but the floor's
  // 16 are freed.
  std::vector<void*> taken = take_blocks(cache, 100);
  for (void* block : taken) cache.keep(block);
  keep_new_blocks(cache, check - 100);
  CHECK(cache.size() == 16 + check);

  // A window in which the cache was drained to its floor frees nothing.
  taken = take_blocks(cache, check);
  for (void* block : taken) cache.keep(block);
  CHECK(cache.size() == 16 + check);
}
