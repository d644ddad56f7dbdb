// Boost.Fiber (Debian libboost-fiber-dev), whose API tendril's sync layer
// mirrors, as it comes: the default round_robin scheduler on each thread,
// fibers on the default stack allocator.
//
//   mutex_uncontended     lock()+unlock() of a free fibers::mutex by one
//                         fiber; ns per pair.
//   mutex_contended       4 fibers, each `lock; this_fiber::yield(); unlock`
//                         in a loop; ns per pair, all fibers together.
//   queue_put_get         one fiber push()es ints into a buffered_channel of
//                         capacity 64, another pop()s them; ns per item.
//   channel_ping_pong     two fibers bounce an int over two
//                         unbuffered_channels; ns per round trip.
//   event_broadcast_1000  1000 fibers wait on a condition_variable for the
//                         next generation, the main fiber bumps it and calls
//                         notify_all; ns per woken waiter.
//
// With --threads 2 (bench/run pins the program to two CPUs), the queue and the
// ping-pong run between the main fibers of two std::threads, each with its
// own round_robin scheduler: queue_put_get_2t, channel_ping_pong_2t.
//
// Where Boost.Fiber differs from the others in the same shape:
// - buffered_channel's capacity must be a power of two and it holds one
//   item less (a ring of 64 slots holds 63).
// - fibers::mutex lets the unlocking fiber take the lock again before the
//   waiter it woke runs (barging); the woken waiter finds it taken and waits
//   again. tendril hands the lock to the waiter (FIFO).
// - There is no event: the closest honest equivalent is the idiom Boost's
//   documentation gives for one, a condition_variable over a fibers::mutex
//   and a generation counter. Each woken waiter re-takes the mutex, which
//   tendril's event does not need; on one thread it is never contended.
//
// Peer of bench/sync_bench.cpp; see bench/README.md.

#include <malloc.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

#include <boost/fiber/buffered_channel.hpp>
#include <boost/fiber/condition_variable.hpp>
#include <boost/fiber/fiber.hpp>
#include <boost/fiber/mutex.hpp>
#include <boost/fiber/operations.hpp>
#include <boost/fiber/unbuffered_channel.hpp>

#include "../measure.hpp"

namespace fibers = boost::fibers;
using tendril::bench::do_not_optimize;
using tendril::bench::iterations;
using tendril::bench::measure;
using tendril::bench::report;
using tendril::bench::sample;

namespace {

constexpr int contenders = 4;
constexpr std::size_t queue_capacity = 64;
constexpr int broadcast_waiters = 1000;

/// fail(what) reports a benchmark that did not do what it claims and exits,
/// so that bench/run reports the program as failed rather than its numbers.
[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "boost_fiber_sync: %s\n", what);
  std::exit(1);
}

sample time_mutex_uncontended(std::int64_t pairs) {
  tendril::bench::clear_fp_flags();  // jump_fcontext restores MXCSR; see measure()
  fibers::mutex m;
  std::int64_t counter = 0;
  auto batch = [&](std::int64_t n) {
    for (std::int64_t i = 0; i < n; ++i) {
      m.lock();
      ++counter;
      do_not_optimize(counter);
      m.unlock();
    }
  };
  batch(10000);
  sample s = measure(pairs, batch);
  if (counter != 10000 + s.ops) fail("a lock was lost");
  return s;
}

/// time_mutex_contended(pairs): each batch starts `contenders` fibers that
/// each do a quarter of the batch's pairs, and joins them. The yield inside
/// the lock is what makes the others find it taken.
sample time_mutex_contended(std::int64_t pairs) {
  tendril::bench::clear_fp_flags();
  fibers::mutex m;
  std::int64_t counter = 0, expected = 0;
  std::vector<fibers::fiber> group;
  auto batch = [&](std::int64_t n) {
    std::int64_t each = std::max<std::int64_t>(1, n / contenders);
    expected += each * contenders;
    for (int f = 0; f < contenders; ++f) {
      group.emplace_back([&, each] {
        for (std::int64_t i = 0; i < each; ++i) {
          m.lock();
          ++counter;
          boost::this_fiber::yield();
          m.unlock();
        }
      });
    }
    for (fibers::fiber& f : group) f.join();
    group.clear();
  };
  batch(4000);
  sample s = measure(pairs, batch);
  if (counter != expected) fail("a contended lock was lost");
  return s;
}

/// drain(ch) pops until the channel is closed and returns how many it got.
template <class Channel>
std::int64_t drain(Channel& ch) {
  std::int64_t got = 0;
  int value = 0;
  while (ch.pop(value) == fibers::channel_op_status::success) {
    ++got;
    do_not_optimize(value);
  }
  return got;
}

sample time_queue_put_get(std::int64_t items) {
  tendril::bench::clear_fp_flags();
  fibers::buffered_channel<int> ch(queue_capacity);
  std::int64_t got = 0;
  fibers::fiber consumer([&] { got = drain(ch); });
  std::int64_t put = 0;
  auto batch = [&](std::int64_t n) {
    for (std::int64_t i = 0; i < n; ++i) ch.push(static_cast<int>(i));
    put += n;
  };
  batch(10000);
  sample s = measure(items, batch);
  ch.close();
  consumer.join();
  if (got != put) fail("the consumer did not get every item");
  return s;
}

sample time_channel_ping_pong(std::int64_t round_trips) {
  tendril::bench::clear_fp_flags();
  fibers::unbuffered_channel<int> ping, pong;
  fibers::fiber echo([&] {
    int value = 0;
    while (ping.pop(value) == fibers::channel_op_status::success) pong.push(value + 1);
  });
  auto batch = [&](std::int64_t n) {
    for (std::int64_t i = 0; i < n; ++i) {
      ping.push(static_cast<int>(i));
      if (pong.value_pop() != static_cast<int>(i) + 1) fail("ping-pong lost a value");
    }
  };
  batch(10000);
  sample s = measure(round_trips, batch);
  ping.close();
  echo.join();
  return s;
}

/// time_event_broadcast(wakes): `broadcast_waiters` fibers wait for the
/// generation to change; a round bumps it, notify_all()s and waits until
/// every waiter has run and counted itself. One batch is one round.
sample time_event_broadcast(std::int64_t wakes) {
  tendril::bench::clear_fp_flags();
  fibers::mutex m;
  fibers::condition_variable next_generation, all_ran;
  std::int64_t generation = 0;
  int ran = 0;
  bool stop = false;
  std::int64_t woken = 0;
  std::vector<fibers::fiber> waiters;
  for (int i = 0; i < broadcast_waiters; ++i) {
    waiters.emplace_back([&] {
      std::unique_lock lock(m);
      // Generation 0 is the one the waiters were created in: they may first
      // run after the first round has begun.
      for (std::int64_t seen = 0;; seen = generation) {
        next_generation.wait(lock, [&] { return generation != seen; });
        if (stop) return;
        ++woken;
        if (++ran == broadcast_waiters) all_ran.notify_one();
      }
    });
  }
  auto round = [&] {
    std::unique_lock lock(m);
    ran = 0;
    ++generation;
    next_generation.notify_all();
    all_ran.wait(lock, [&] { return ran == broadcast_waiters; });
  };
  auto batch = [&](std::int64_t n) {
    for (std::int64_t done = 0; done < n; done += broadcast_waiters) round();
  };
  batch(10 * broadcast_waiters);
  std::int64_t ops = std::max<std::int64_t>(wakes, broadcast_waiters);
  sample s = measure(ops, batch, static_cast<int>(ops / broadcast_waiters));
  {
    std::lock_guard lock(m);
    stop = true;
    ++generation;
  }
  next_generation.notify_all();
  for (fibers::fiber& f : waiters) f.join();
  if (woken != 10 * broadcast_waiters + s.ops) fail("a waiter was not woken");
  return s;
}

/// process_cpu_ns() is the CPU time of every thread of the process.
std::int64_t process_cpu_ns() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto ns = [](const timeval& t) { return std::int64_t{t.tv_sec} * 1'000'000'000 + t.tv_usec * 1000; };
  return ns(usage.ru_utime) + ns(usage.ru_stime);
}

/// across_threads(timed, other) runs other() on a second thread (its main
/// fiber, its own scheduler) and timed() here; cpu is the process's CPU time
/// over the wall time, at most 1: the share of time at least one of the two
/// threads was on a CPU.
template <class Timed, class Other>
sample across_threads(Timed timed, Other other) {
  std::thread peer(other);
  std::int64_t cpu_start = process_cpu_ns();
  auto wall_start = std::chrono::steady_clock::now();
  sample s = timed();
  std::int64_t wall = (std::chrono::steady_clock::now() - wall_start) / std::chrono::nanoseconds(1);
  std::int64_t cpu = process_cpu_ns() - cpu_start;
  peer.join();
  s.cpu_share = std::min(1.0, static_cast<double>(cpu) / static_cast<double>(wall));
  return s;
}

sample time_queue_put_get_2t(std::int64_t items) {
  tendril::bench::clear_fp_flags();
  fibers::buffered_channel<int> ch(queue_capacity);
  std::int64_t got = 0, put = 0;
  sample s = across_threads(
      [&] {
        auto batch = [&](std::int64_t n) {
          for (std::int64_t i = 0; i < n; ++i) ch.push(static_cast<int>(i));
          put += n;
        };
        batch(10000);
        sample timed = measure(items, batch);
        ch.close();
        return timed;
      },
      [&] { got = drain(ch); });
  if (got != put) fail("the consumer thread did not get every item");
  return s;
}

sample time_channel_ping_pong_2t(std::int64_t round_trips) {
  tendril::bench::clear_fp_flags();
  fibers::unbuffered_channel<int> ping, pong;
  return across_threads(
      [&] {
        auto batch = [&](std::int64_t n) {
          for (std::int64_t i = 0; i < n; ++i) {
            ping.push(static_cast<int>(i));
            if (pong.value_pop() != static_cast<int>(i) + 1) fail("ping-pong lost a value");
          }
        };
        batch(1000);
        sample timed = measure(round_trips, batch);
        ping.close();
        return timed;
      },
      [&] {
        int value = 0;
        while (ping.pop(value) == fibers::channel_op_status::success) pong.push(value + 1);
      });
}

}  // namespace

int main(int argc, char** argv) {
  bool two_threads = argc == 3 && std::strcmp(argv[1], "--threads") == 0 && std::strcmp(argv[2], "2") == 0;
  if (argc != 1 && !two_threads) {
    std::fprintf(stderr, "usage: boost_fiber_sync [--threads 2]\n");
    return 2;
  }
  if (two_threads) {
    report("queue_put_get_2t", "boost_fiber", time_queue_put_get_2t(iterations(2'000'000)), "ns/item");
    report("channel_ping_pong_2t", "boost_fiber", time_channel_ping_pong_2t(iterations(100'000)),
           "ns/round_trip");
    return 0;
  }
  // mutex_contended starts 4 fibers a batch, each with a 128 KiB stack from
  // malloc; left to itself glibc gives freed stacks back to the kernel and
  // every new fiber faults its stack in again. Kept resident for reuse, as
  // tendril's and Go's stacks are (the same settings as boost_fiber_sched;
  // see bench/README.md, "Boost.Fiber's stacks").
  mallopt(M_MMAP_THRESHOLD, 1 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  report("mutex_uncontended", "boost_fiber", time_mutex_uncontended(iterations(10'000'000)), "ns/pair");
  report("mutex_contended", "boost_fiber", time_mutex_contended(iterations(2'000'000)), "ns/pair");
  report("queue_put_get", "boost_fiber", time_queue_put_get(iterations(5'000'000)), "ns/item");
  report("channel_ping_pong", "boost_fiber", time_channel_ping_pong(iterations(2'000'000)), "ns/round_trip");
  report("event_broadcast_1000", "boost_fiber", time_event_broadcast(iterations(1'000'000)), "ns/wake");
}
