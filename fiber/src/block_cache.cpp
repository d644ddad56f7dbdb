#include <tendril/fiber/detail/block_cache.hpp>

namespace tendril::detail {

void block_cache::release_unused() noexcept {
  keeps_to_check_ = keeps_per_check;
  clock::time_point now = clock::now();
  if (now < window_end_) return;
  // The untaken ones past the floor; the floor's blocks are always kept.
  for (std::size_t unused = low_water_ > floor_ ? low_water_ - floor_ : 0; unused > 0; --unused)
    ::operator delete(take());
  window_end_ = now + window_;
  low_water_ = count_;
}

}  // namespace tendril::detail
