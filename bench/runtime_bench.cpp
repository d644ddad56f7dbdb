// tendril's M:N runtime (issue 7): work spread over two hubs, and what it
// costs to cross from one hub to the other.
//
//   fanout_compute        a task on hub 0 rt.spawn()s 100 tasks that each do
//                         about 50 us of integer work, then get()s them all;
//                         ns per task, with runtime{1} (impl runtime_1t) and
//                         runtime{2} (impl runtime_2t).
//   fanout_speedup        runtime{1}'s time per task over runtime{2}'s, in
//                         the same process: how much the second thread buys.
//   fanout_skewed         fanout_compute on runtime{2} where only the tasks
//                         placed on hub 1 compute (the others return at
//                         once): round robin gives hub 1 all the work, and
//                         only stealing spreads it. impl tendril (steal on,
//                         the default) and tendril_no_steal; ns per task.
//   steal_speedup         tendril_no_steal's time over tendril's.
//   channel_ping_pong_2t  a task on hub 0 and a task on hub 1 of a
//                         runtime{2} bounce an int over two unbuffered
//                         channels; ns per round trip. impl tendril_runtime:
//                         sync_bench --threads 2 prints impl tendril for the
//                         same exchange between two plain threads' hubs.
//   spawn_join_2t         a task on hub 0 of a runtime{2} rt.spawn()s 1000
//                         tasks that return at once, wherever the placement
//                         puts them, then joins them; ns per task.
//   spawn_join_2t_remote  the share of those tasks that ran on hub 1 (shown
//                         in bench/run's spread only: a check that the case
//                         really crossed hubs).
//
// bench/run pins the program to two CPUs. The main thread has no hub: it
// starts each runtime, hands the timed side to hub 0 with run_on and
// sleeps until it is done, so the runtime's two threads have the CPUs.
//
// Each case makes its own runtime and joins it: no case inherits another's
// threads, stacks or queues. `cpu` is the process's CPU time over the wall
// time of the case, at most 1 (as sync_bench's two-thread cases); for
// fanout_compute it is over the wall time times the runtime's threads,
// since that case is meant to keep every thread busy.
//
// Peers: go_sched -procs 2 (spawn_join_2t), go_sync -procs 2
// (channel_ping_pong_2t), both impl go_procs2.

#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include <tendril/hub/hub.hpp>
#include <tendril/hub/join.hpp>
#include <tendril/hub/runtime.hpp>
#include <tendril/hub/task.hpp>
#include <tendril/sync/channel.hpp>

#include "measure.hpp"

using tendril::bench::clear_fp_flags;
using tendril::bench::do_not_optimize;
using tendril::bench::iterations;
using tendril::bench::measure;
using tendril::bench::report;
using tendril::bench::sample;

namespace {

constexpr int fanout_width = 100;       // tasks per fan-out
constexpr int work_iterations = 30000;  // about 50 us on the bench machine (1.6 ns each)
constexpr int spawn_group = 1000;       // tasks per spawn+join batch, as hub_bench
constexpr int end_of_stream = -1;       // the ping-pong's last value

/// fail(what) reports a benchmark that did not do what it claims and exits,
/// so that bench/run reports the program as failed rather than its numbers.
[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "runtime_bench: %s\n", what);
  std::exit(1);
}

/// process_cpu_ns() is the CPU time of every thread of the process.
std::int64_t process_cpu_ns() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto ns = [](const timeval& t) { return std::int64_t{t.tv_sec} * 1'000'000'000 + t.tv_usec * 1000; };
  return ns(usage.ru_utime) + ns(usage.ru_stime);
}

/// on_hub0(rt, cpus, timed) runs timed(), which returns a sample, as a task
/// on hub 0 of `rt` and waits for it from this hub-less thread. The sample's
/// cpu becomes the process's CPU time over `cpus` times the wall time, at
/// most 1; measure() would give hub 0's thread alone.
template <class Timed>
sample on_hub0(tendril::runtime& rt, int cpus, Timed timed) {
  std::int64_t cpu_start = process_cpu_ns();
  auto wall_start = std::chrono::steady_clock::now();
  sample s = tendril::run_on(rt.hub(0), timed);
  std::int64_t wall = (std::chrono::steady_clock::now() - wall_start) / std::chrono::nanoseconds(1);
  std::int64_t cpu = process_cpu_ns() - cpu_start;
  s.cpu_share = std::min(1.0, static_cast<double>(cpu) / (static_cast<double>(wall) * cpus));
  return s;
}

/// compute(seed, steps) is about steps * 1.6 ns of integer work (50 us
/// for work_iterations): a multiply-xorshift chain, each step depending on
/// the last, that no compiler folds into a formula.
std::uint64_t compute(std::uint64_t seed, int steps = work_iterations) {
  std::uint64_t x = seed;
  for (int i = 0; i < steps; ++i) x = (x ^ (x >> 31)) * 0x9E3779B97F4A7C15ULL + unsigned(i);
  do_not_optimize(x);
  return x;
}

/// time_fanout(threads, tasks): on a runtime{threads}, batches of one
/// fan-out each: rt.spawn() `fanout_width` compute tasks, then get() every
/// value. Spawned from a task so that, as in a server, the spawner is one
/// of the runtime's tasks and takes its share of the placement.
using placement = tendril::runtime::placement;

tendril::runtime::options runtime_options(std::size_t threads, placement place, bool steal = true) {
  tendril::runtime::options o;
  o.threads = threads;
  o.place = place;
  o.steal = steal;
  return o;
}

/// work: every fan-out task computes, or (skewed) only the odd ones, which
/// round robin puts on hub 1 (the spawner's own hub 0 takes the even ones).
enum class work { even, skewed };

sample time_fanout(std::size_t threads, std::int64_t tasks, placement place, work spread = work::even,
                   bool steal = true) {
  clear_fp_flags();  // the runtime's threads start with this thread's MXCSR
  tendril::runtime rt{runtime_options(threads, place, steal)};
  std::uint64_t checksum = 0;
  std::int64_t ran = 0;
  std::vector<tendril::task<std::uint64_t>> group;
  group.reserve(fanout_width);
  auto batch = [&](std::int64_t n) {
    for (std::int64_t done = 0; done < n; done += fanout_width) {
      group.clear();
      for (int i = 0; i < fanout_width; ++i) {
        int steps = spread == work::skewed && i % 2 == 0 ? 0 : work_iterations;
        group.push_back(rt.spawn(compute, std::uint64_t(ran + i), steps));
      }
      for (const auto& t : group) checksum += t.get();
      ran += fanout_width;
    }
  };
  sample s = on_hub0(rt, static_cast<int>(threads), [&] {
    batch(2 * fanout_width);  // warm-up: the threads' stack pools, the caches
    return measure(tasks, batch, std::max<int>(1, static_cast<int>(tasks / fanout_width)));
  });
  rt.join();
  do_not_optimize(checksum);
  if (ran != 2 * fanout_width + s.ops) fail("the fan-outs ran fewer tasks than measure() counted");
  return s;
}

/// echo(ping, pong) answers every value with value + 1 until end_of_stream.
void echo(tendril::channel<int>& ping, tendril::channel<int>& pong) {
  for (int value = ping.get(); value != end_of_stream; value = ping.get()) pong.put(value + 1);
}

/// time_channel_ping_pong_2t(round_trips): the timed side on hub 0 sends
/// and waits for the answer; echo() answers on hub 1. As sync_bench's
/// channel_ping_pong_2t, with the runtime's hubs for the two plain threads.
sample time_channel_ping_pong_2t(std::int64_t round_trips) {
  clear_fp_flags();
  tendril::runtime rt{2};
  tendril::channel<int> ping, pong;
  auto answerer = tendril::spawn_on(rt.hub(1), [&] { echo(ping, pong); });
  auto batch = [&](std::int64_t n) {
    for (std::int64_t i = 0; i < n; ++i) {
      ping.put(static_cast<int>(i));
      if (pong.get() != static_cast<int>(i) + 1) fail("ping-pong lost a value");
    }
  };
  sample s = on_hub0(rt, 1, [&] {
    batch(1000);
    sample timed = measure(round_trips, batch);
    ping.put(end_of_stream);
    return timed;
  });
  answerer.get();
  rt.join();
  return s;
}

/// time_spawn_join_2t(tasks) is spawn_join_2t; it also returns, in
/// `remote`, the share of the tasks that ran on a hub other than the
/// spawner's (hub 1), counted in the untimed warm-up.
sample time_spawn_join_2t(std::int64_t tasks, sample& remote, placement place) {
  clear_fp_flags();
  tendril::runtime rt{runtime_options(2, place)};
  std::atomic<std::int64_t> runs{0}, elsewhere{0};
  std::int64_t spawned = 0;
  std::vector<tendril::task<void>> group;
  group.reserve(spawn_group);
  auto batch = [&](std::int64_t n) {
    for (std::int64_t done = 0; done < n; done += spawn_group) {
      group.clear();
      for (int i = 0; i < spawn_group; ++i) {
        group.push_back(rt.spawn([&runs] { runs.fetch_add(1, std::memory_order_relaxed); }));
      }
      tendril::joinall(group);
      spawned += spawn_group;
    }
  };
  sample s = on_hub0(rt, 1, [&] {
    tendril::hub_ref origin = tendril::hub_ref::current();
    for (int round = 0; round < 20; ++round) {  // warm-up: fills both hubs' stack pools
      group.clear();
      for (int i = 0; i < spawn_group; ++i) {
        group.push_back(rt.spawn([&runs, &elsewhere, origin] {
          if (tendril::hub_ref::current() != origin) elsewhere.fetch_add(1, std::memory_order_relaxed);
          runs.fetch_add(1, std::memory_order_relaxed);
        }));
      }
      tendril::joinall(group);
      spawned += spawn_group;
    }
    return measure(tasks, batch, std::max<int>(1, static_cast<int>(tasks / spawn_group)));
  });
  rt.join();
  if (runs.load() != spawned) fail("a spawned task did not run");
  remote = {static_cast<double>(elsewhere.load()) / (20.0 * spawn_group), 20 * spawn_group, s.cpu_share};
  return s;
}

}  // namespace

int main() {
  // The default placement (round robin: impl tendril) and least_loaded
  // beside it: the issue asks for both to be measured and the faster to be
  // the default.
  sample one = time_fanout(1, iterations(20'000), placement::round_robin);
  sample two = time_fanout(2, iterations(20'000), placement::round_robin);
  sample two_ll = time_fanout(2, iterations(20'000), placement::least_loaded);
  report("fanout_compute", "runtime_1t", one, "ns/task");
  report("fanout_compute", "runtime_2t", two, "ns/task");
  report("fanout_compute", "runtime_2t_least_loaded", two_ll, "ns/task");
  report("fanout_speedup", "tendril", {one.ns / two.ns, two.ops, two.cpu_share}, "x");
  report("fanout_speedup", "least_loaded", {one.ns / two_ll.ns, two_ll.ops, two_ll.cpu_share}, "x");
  sample skewed = time_fanout(2, iterations(20'000), placement::round_robin, work::skewed);
  sample skewed_no_steal =
      time_fanout(2, iterations(20'000), placement::round_robin, work::skewed, /*steal=*/false);
  report("fanout_skewed", "tendril", skewed, "ns/task");
  report("fanout_skewed", "tendril_no_steal", skewed_no_steal, "ns/task");
  report("steal_speedup", "tendril", {skewed_no_steal.ns / skewed.ns, skewed.ops, skewed.cpu_share}, "x");
  report("channel_ping_pong_2t", "tendril_runtime", time_channel_ping_pong_2t(iterations(100'000)),
         "ns/round_trip");
  sample remote;
  report("spawn_join_2t", "tendril",
         time_spawn_join_2t(iterations(1'000'000), remote, placement::round_robin), "ns/task");
  report("spawn_join_2t_remote", "tendril", remote, "share");
  sample remote_ll;
  report("spawn_join_2t", "least_loaded",
         time_spawn_join_2t(iterations(1'000'000), remote_ll, placement::least_loaded), "ns/task");
  report("spawn_join_2t_remote", "least_loaded", remote_ll, "share");
}
