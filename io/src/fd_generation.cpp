// fd generations as a two-level table of atomic counters indexed by fd:
// chunks are allocated on first use and never freed (fd numbers are dense
// and reused), so readers need no lock and no hazard pointers.
//
// Rejected: a global hash map under a mutex. Every socket wait reads its
// fd's generation, from any thread.

#include "fd_generation.hpp"

#include <atomic>
#include <cstddef>
#include <memory>

namespace tendril::detail {
namespace {

constexpr std::size_t chunk_size = 4096;
constexpr std::size_t chunk_count = 1024;  // 4M fds; RLIMIT_NOFILE is 1M at most by default

struct chunk {
  std::atomic<std::uint32_t> counters[chunk_size] = {};
};
std::atomic<chunk*> chunks[chunk_count];

chunk* find_chunk(int fd) noexcept {
  auto index = static_cast<std::size_t>(fd) / chunk_size;
  return fd >= 0 && index < chunk_count ? chunks[index].load(std::memory_order_acquire) : nullptr;
}

std::atomic<std::uint32_t>& counter(chunk* c, int fd) noexcept {
  return c->counters[static_cast<std::size_t>(fd) % chunk_size];
}

}  // namespace

std::uint32_t fd_generation(int fd) noexcept {
  chunk* c = find_chunk(fd);
  return c != nullptr ? counter(c, fd).load(std::memory_order_acquire) : 0;
}

std::uint32_t advance_fd_generation(int fd) {
  auto index = static_cast<std::size_t>(fd) / chunk_size;
  if (fd < 0 || index >= chunk_count) return 0;
  chunk* c = chunks[index].load(std::memory_order_acquire);
  if (c == nullptr) {
    auto fresh = std::make_unique<chunk>();  // all zero
    if (chunks[index].compare_exchange_strong(c, fresh.get(), std::memory_order_acq_rel))
      c = fresh.release();  // reachable from chunks[] for the process's life
  }
  std::uint32_t generation = counter(c, fd).fetch_add(1, std::memory_order_acq_rel) + 1;
  if (generation == 0) generation = counter(c, fd).fetch_add(1, std::memory_order_acq_rel) + 1;  // wrapped
  return generation;
}

void retire_fd_generation(int fd) noexcept {
  if (chunk* c = find_chunk(fd)) counter(c, fd).fetch_add(1, std::memory_order_acq_rel);
}

}  // namespace tendril::detail
