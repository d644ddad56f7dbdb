// Boost.Fiber (Debian libboost-fiber-dev), the C++ fiber library whose API
// tendril's sync layer mirrors, as it comes: one thread, the default
// round_robin scheduler, fibers on the default stack allocator
// (fixedsize_stack: 128 KiB from malloc, no guard page), with glibc told to
// keep freed memory (see main()).
//
//   yield            boost::this_fiber::yield() ping-pong between the main
//                    fiber and one other; ns per yield, one hand-over (a
//                    round trip is two yields).
//   spawn_join       create 1000 fibers whose body is ++counter, then join
//                    them all; ns per fiber.
//   parked_rss_100k  100,000 fibers waiting on one condition_variable: the
//                    process's resident memory grown from before the first
//                    was created until all wait, per fiber.
//
// There is no parked_rss_1m here: a million 128 KiB stacks is 128 GiB of
// address space and, at ~9.5 KB resident each, 9.5 GB of this 24 GiB
// machine's memory, with ten seconds of page faults a run; the 100k case
// already shows the cost.
//
// Peer of bench/hub_bench.cpp; see bench/README.md.

#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <vector>

#include <boost/fiber/condition_variable.hpp>
#include <boost/fiber/fiber.hpp>
#include <boost/fiber/mutex.hpp>
#include <boost/fiber/operations.hpp>

#include "../measure.hpp"

namespace fibers = boost::fibers;
using tendril::bench::do_not_optimize;
using tendril::bench::measure;
using tendril::bench::report;
using tendril::bench::sample;

namespace {

/// fail(what) reports a benchmark that did not do what it claims and exits,
/// so that bench/run reports the program as failed rather than its numbers.
[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "boost_fiber_sched: %s\n", what);
  std::exit(1);
}

/// time_yield(round_trips) times one-way yield() between the main fiber and
/// another. round_robin's ready queue holds those two and the scheduler's
/// dispatcher fiber, which requeues itself each time it resumes a fiber so
/// that the queue is never empty: each round trip passes through it once,
/// and that is part of what a yield costs here. The other fiber counts its
/// turns, which proves the two alternate.
sample time_yield(std::int64_t round_trips) {
  tendril::bench::clear_fp_flags();  // jump_fcontext restores MXCSR; see measure()
  bool stop = false;
  std::int64_t bounces = 0;
  fibers::fiber other([&] {
    while (!stop) {
      ++bounces;
      boost::this_fiber::yield();
    }
  });
  std::int64_t yields = 0;
  auto batch = [&](std::int64_t n) {
    for (std::int64_t i = 0; i < n; ++i) boost::this_fiber::yield();
    yields += n;
  };
  batch(10000);  // warm-up; also starts `other`

  sample s = measure(round_trips, batch);

  stop = true;
  other.join();
  if (bounces != yields) fail("yield did not alternate between the two fibers");
  return s.split(2);
}

/// time_spawn_join(tasks) times creating fibers in batches and joining each
/// batch. A new fiber is only made ready (launch::post); the first join
/// lets the whole batch run.
sample time_spawn_join(std::int64_t tasks) {
  tendril::bench::clear_fp_flags();
  std::int64_t counter = 0;
  std::vector<fibers::fiber> batch_fibers;
  auto batch = [&](std::int64_t n) {
    for (std::int64_t i = 0; i < n; ++i) batch_fibers.emplace_back([&counter] { ++counter; });
    for (fibers::fiber& f : batch_fibers) f.join();
    batch_fibers.clear();  // keeps its capacity: no vector growth inside the timing
  };
  batch(1000);  // warm-up: the allocator's free lists now hold stacks

  sample s = measure(tasks, batch);

  if (counter != 1000 + s.ops) fail("a fiber did not run");
  do_not_optimize(counter);
  return s;
}

/// resident_bytes() is the process's resident set size now.
std::int64_t resident_bytes() {
  std::FILE* statm = std::fopen("/proc/self/statm", "r");
  long pages = 0;
  if (statm == nullptr || std::fscanf(statm, "%*s %ld", &pages) != 1) fail("cannot read /proc/self/statm");
  std::fclose(statm);
  return std::int64_t{pages} * sysconf(_SC_PAGESIZE);
}

/// parked_rss(count) is the resident memory per fiber of `count` fibers that
/// all wait on one condition variable (in the sample's value: bytes, not ns),
/// and the CPU share while creating them. The fibers are then released and
/// joined, which proves they were alive.
sample parked_rss(std::int64_t count) {
  fibers::mutex mutex;
  fibers::condition_variable released_cv;
  bool released = false;
  std::int64_t parked = 0;
  std::int64_t woken = 0;
  // The handles are allocated and touched before the baseline: the result is
  // what a fiber costs, not the vector holding them.
  std::vector<fibers::fiber> waiters(static_cast<std::size_t>(count));
  // Gives back to the kernel the memory that the timed cases freed: pages
  // still resident would be reused by these stacks without being counted.
  malloc_trim(0);

  std::int64_t before = resident_bytes();
  std::int64_t cpu_start = tendril::bench::thread_cpu_ns();
  auto wall_start = std::chrono::steady_clock::now();
  for (fibers::fiber& waiter : waiters) {
    waiter = fibers::fiber([&] {
      std::unique_lock lock(mutex);
      ++parked;
      released_cv.wait(lock, [&] { return released; });
      ++woken;
    });
  }
  // round_robin runs every new fiber before this one again, so one yield
  // parks them all; the loop does not depend on that.
  while (parked < count) boost::this_fiber::yield();
  std::int64_t after = resident_bytes();
  std::int64_t cpu = tendril::bench::thread_cpu_ns() - cpu_start;
  std::int64_t wall = (std::chrono::steady_clock::now() - wall_start) / std::chrono::nanoseconds(1);

  {
    std::lock_guard lock(mutex);
    released = true;
  }
  released_cv.notify_all();
  for (fibers::fiber& waiter : waiters) waiter.join();
  if (woken != count) fail("a parked fiber was not woken");
  return {static_cast<double>(after - before) / static_cast<double>(count), count,
          std::min(1.0, static_cast<double>(cpu) / static_cast<double>(wall))};
}

}  // namespace

int main() {
  // The default stack allocator takes each 128 KiB stack from malloc, and
  // glibc, left to itself, gives the 128 MB of a batch of 1000 back to the
  // kernel once they are freed (it trims the top of the heap), so that every
  // new fiber page-faults its stack in again: 2.5-7.5 us per fiber instead
  // of ~350 ns, varying with whatever else happens to lie in the heap. That
  // is glibc's heuristic at work, not Boost.Fiber, so freed stacks stay
  // resident for reuse here, as tendril's and Go's stay cached. (Stacks stay
  // on the heap, where glibc itself puts them after the first one is freed.)
  mallopt(M_MMAP_THRESHOLD, 1 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  report("yield", "boost_fiber", time_yield(tendril::bench::iterations(5'000'000)), "ns/yield");
  report("spawn_join", "boost_fiber", time_spawn_join(tendril::bench::iterations(1'000'000)), "ns/task");
  report("parked_rss_100k", "boost_fiber", parked_rss(tendril::bench::iterations(100'000)), "B/task");
}
