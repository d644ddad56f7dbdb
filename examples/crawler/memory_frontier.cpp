// memory_frontier: the frontier in this process's memory (frontier.hpp).
//
// A tendril::queue holds the items to fetch, so take() is a plain get():
// it parks the calling fiber, on whichever hub, until an item comes, and
// close() wakes every waiter. A set of every URL ever queued does the
// de-duplication.
//
// When is the crawl over? `pending` counts the items queued plus those
// taken and not yet done. Only a fiber holding a taken item adds (or the
// crawl's start, before any take), so `pending` cannot reach zero while
// more may come; the done() that brings it to zero closes the queue, and
// every take() parked on it returns nullopt. Counting queued and in-flight
// items apart would need the get and the in-flight increment to be one
// step: between them another fiber's done() could see neither and end the
// crawl under a fiber about to add.
//
// The seen set sits behind a std::mutex: its critical section is a hash
// insert and a put into an unbounded queue, which never parks.

#include <atomic>
#include <limits>
#include <mutex>
#include <unordered_set>
#include <utility>

#include <tendril/sync/queue.hpp>

#include "frontier.hpp"

namespace crawler {

namespace {

class memory_frontier final : public frontier {
 public:
  explicit memory_frontier(std::size_t max_pages) : max_pages_(max_pages) {}

  std::size_t add(const std::vector<std::string>& urls, unsigned depth) override {
    std::lock_guard guard(lock_);
    std::size_t queued = 0;
    for (const std::string& u : urls) {
      if (closed_ || seen_.size() >= max_pages_ || !seen_.insert(u).second) continue;
      pending_.fetch_add(1, std::memory_order_relaxed);
      items_.put({u, depth});
      ++queued;
    }
    return queued;
  }

  void mark_seen(const std::string& url) override {
    std::lock_guard guard(lock_);
    seen_.insert(url);
  }

  std::optional<frontier_item> take() override {
    if (pending_.load(std::memory_order_acquire) == 0) close_queue();  // nothing was ever added
    try {
      frontier_item item = items_.get();
      if (closed_.load(std::memory_order_acquire)) return std::nullopt;
      in_flight_.fetch_add(1, std::memory_order_relaxed);
      return item;
    } catch (const tendril::queue_closed&) {
      return std::nullopt;
    }
  }

  void done(const frontier_item&) override {
    in_flight_.fetch_sub(1, std::memory_order_relaxed);
    if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) close_queue();
  }

  void close() override {
    {
      std::lock_guard guard(lock_);
      closed_.store(true, std::memory_order_release);
    }
    close_queue();
  }

  std::size_t queued() override { return items_.size(); }
  std::size_t seen() override {
    std::lock_guard guard(lock_);
    return seen_.size();
  }
  std::size_t in_flight() override { return in_flight_.load(std::memory_order_relaxed); }

 private:
  void close_queue() noexcept { items_.close(); }

  const std::size_t max_pages_;
  std::mutex lock_;
  std::unordered_set<std::string> seen_;
  std::atomic<bool> closed_{false};  // close() was called: take() hands out nothing more
  std::atomic<std::size_t> pending_{0};
  std::atomic<std::size_t> in_flight_{0};
  tendril::queue<frontier_item> items_{0, "frontier"};
};

}  // namespace

std::unique_ptr<frontier> make_memory_frontier(std::size_t max_pages) {
  return std::make_unique<memory_frontier>(max_pages);
}

}  // namespace crawler
