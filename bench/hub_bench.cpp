// tendril's hub: yields, spawn+join, and the memory of parked tasks.
//
//   yield            two tasks hand the CPU back and forth with yield(); ns
//                    per yield (one hand-over).
//   spawn_join       spawn 1000 trivial tasks, then joinall them; ns per task.
//   spawn_join_100k  the same in batches of 100,000: more tasks alive at once
//                    than any cache of free blocks of a fixed size would hold.
//   parked_rss_100k  RSS growth per task while 100,000 tasks are parked on
//   parked_rss_1m    one event (here a vector of wakers), then released and
//                    joined; bytes per task. The 1M case is what the issue's
//                    stacks-at-scale goal asks for.
//
// Peers print the same bench names: peers/boost_fiber_sched.cpp,
// peers/go_sched, peers/gevent_hub.py.

#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <vector>

#include <tendril/hub/join.hpp>
#include <tendril/hub/park.hpp>
#include <tendril/hub/run.hpp>
#include <tendril/hub/sleep.hpp>
#include <tendril/hub/task.hpp>

#include "measure.hpp"

using tendril::bench::do_not_optimize;
using tendril::bench::measure;
using tendril::bench::report;
using tendril::bench::sample;

namespace {

sample time_yield(std::int64_t round_trips) {
  bool stop = false;
  std::int64_t bounces = 0;
  auto other = tendril::spawn([&] {
    while (!stop) {
      ++bounces;
      tendril::yield();
    }
  });
  for (int i = 0; i < 10000; ++i) tendril::yield();  // warm-up; also starts `other`

  sample s = measure(round_trips, [](std::int64_t n) {
    for (std::int64_t i = 0; i < n; ++i) tendril::yield();
  });

  stop = true;
  other.join();
  do_not_optimize(bounces);
  return s.split(2);  // each of our yields is two hand-overs
}

sample time_spawn_join(std::int64_t tasks, std::int64_t batch) {
  std::int64_t runs = 0;
  std::vector<tendril::task<void>> group;
  group.reserve(batch);
  auto one_batch = [&] {
    group.clear();
    for (std::int64_t i = 0; i < batch; ++i) group.push_back(tendril::spawn([&runs] { ++runs; }));
    tendril::joinall(group);
  };
  for (std::int64_t warm = 0; warm < 20'000; warm += batch) one_batch();  // fills the pools and caches

  // A timed batch is whole spawn batches, at least 10,000 tasks.
  std::int64_t per_timed = std::max<std::int64_t>(batch, 10'000);
  sample s = measure(
      tasks,
      [&](std::int64_t n) {
        for (std::int64_t done = 0; done < n; done += batch) one_batch();
      },
      std::max<int>(1, static_cast<int>(tasks / per_timed)));
  do_not_optimize(runs);
  return s;
}

std::int64_t rss_bytes() {
  long pages = 0, resident = 0;
  if (std::FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    std::fclose(f);
  }
  return resident * ::sysconf(_SC_PAGESIZE);
}

sample parked_rss(std::int64_t count) {
  // The handles' storage is allocated and touched before the baseline, and
  // memory freed by earlier cases is returned first (as the peers do), so
  // the difference is what the parked tasks themselves cost.
  std::vector<tendril::waker> parked(static_cast<std::size_t>(count));
  std::vector<tendril::task<void>> tasks(static_cast<std::size_t>(count));
  std::int64_t parked_count = 0;
  ::malloc_trim(0);
  std::int64_t before = rss_bytes();
  for (std::int64_t i = 0; i < count; ++i) {
    tasks[static_cast<std::size_t>(i)] = tendril::spawn([&parked, &parked_count, i] {
      parked[static_cast<std::size_t>(i)] = tendril::waker::current();
      ++parked_count;
      tendril::park({"bench event"});
    });
  }
  while (parked_count < count) tendril::yield();  // all parked now
  std::int64_t after = rss_bytes();
  for (const tendril::waker& w : parked) w.wake();
  tendril::joinall(tasks);
  sample s;
  s.ns = static_cast<double>(after - before) / static_cast<double>(count);  // bytes, in the value column
  s.ops = count;
  return s;
}

}  // namespace

int main() {
  tendril::run([] {
    report("yield", "tendril", time_yield(tendril::bench::iterations(5'000'000)), "ns/yield");
    report("spawn_join", "tendril", time_spawn_join(tendril::bench::iterations(2'000'000), 1000), "ns/task");
    report("parked_rss_100k", "tendril", parked_rss(tendril::bench::iterations(100'000)), "B/task");
    // The hub keeps the blocks of the 100k case's tasks for reuse (a second
    // has not passed: see block_cache.hpp), which puts this case ~1.5% below
    // a fresh process's figure, as Go's does (peers/go/sched).
    report("parked_rss_1m", "tendril", parked_rss(tendril::bench::iterations(1'000'000)), "B/task");
    // Last: its batches would leave 100,000 blocks cached for the cases above.
    report("spawn_join_100k", "tendril",
           time_spawn_join(std::max<std::int64_t>(tendril::bench::iterations(5'000'000), 100'000), 100'000),
           "ns/task");
  });
}
