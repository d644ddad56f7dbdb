// tendril's sync objects: a mutex free and fought over, a bounded queue and
// an unbuffered channel between two tasks, and an event waking 1000 tasks.
//
//   mutex_uncontended     lock()+unlock() of a free mutex by one fiber; ns
//                         per pair.
//   mutex_contended       4 tasks, each `lock; yield; unlock` in a loop; ns
//                         per pair, all tasks together. The yield inside the
//                         lock is what makes the others find it taken.
//   queue_put_get         one task put()s ints into a queue of capacity 64,
//                         another get()s them; ns per item.
//   channel_ping_pong     two tasks bounce an int over two channels
//                         (unbuffered); ns per round trip.
//   event_broadcast_1000  1000 tasks wait on an event, the main task sets it
//                         and waits until all have run; ns per woken waiter.
//
// With --threads 2 (bench/run pins the program to two CPUs), the queue and
// the ping-pong run between the main tasks of two hubs, one per std::thread,
// each in its own tendril::run: queue_put_get_2t, channel_ping_pong_2t.
//
// Peers print the same bench names: peers/boost_fiber_sync.cpp,
// peers/go_sync, peers/gevent_sync.py.

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

#include <tendril/hub/join.hpp>
#include <tendril/hub/run.hpp>
#include <tendril/hub/sleep.hpp>
#include <tendril/hub/task.hpp>
#include <tendril/sync/channel.hpp>
#include <tendril/sync/event.hpp>
#include <tendril/sync/mutex.hpp>
#include <tendril/sync/queue.hpp>

#include "measure.hpp"

using tendril::bench::do_not_optimize;
using tendril::bench::iterations;
using tendril::bench::measure;
using tendril::bench::report;
using tendril::bench::sample;

namespace {

constexpr int contenders = 4;
constexpr std::size_t queue_capacity = 64;
constexpr int broadcast_waiters = 1000;
constexpr int end_of_stream = -1;  // the queue's and the channel's last item

/// fail(what) reports a benchmark that did not do what it claims and exits,
/// so that bench/run reports the program as failed rather than its numbers.
[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "sync_bench: %s\n", what);
  std::exit(1);
}

/// time_std_mutex(pairs) is the floor: std::mutex, which never parks anyone here.
sample time_std_mutex(std::int64_t pairs) {
  std::mutex m;
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
  if (counter != 10000 + s.ops) fail("a std::mutex lock was lost");
  return s;
}

sample time_mutex_uncontended(std::int64_t pairs) {
  tendril::mutex m;
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

/// time_mutex_contended(pairs): each batch spawns `contenders` tasks that
/// each do a quarter of the batch's pairs, and joins them.
sample time_mutex_contended(std::int64_t pairs) {
  tendril::mutex m;
  std::int64_t counter = 0, expected = 0;
  std::vector<tendril::task<void>> group;
  auto batch = [&](std::int64_t n) {
    std::int64_t each = std::max<std::int64_t>(1, n / contenders);
    expected += each * contenders;
    group.clear();
    for (int f = 0; f < contenders; ++f) {
      group.push_back(tendril::spawn([&m, &counter, each] {
        for (std::int64_t i = 0; i < each; ++i) {
          m.lock();
          ++counter;
          tendril::yield();
          m.unlock();
        }
      }));
    }
    tendril::joinall(group);
  };
  batch(4000);
  sample s = measure(pairs, batch);
  if (counter != expected) fail("a contended lock was lost");
  return s;
}

/// drain(q) gets until end_of_stream and returns how many items came before it.
std::int64_t drain(tendril::queue<int>& q) {
  std::int64_t got = 0;
  for (int value = q.get(); value != end_of_stream; value = q.get()) {
    ++got;
    do_not_optimize(value);
  }
  return got;
}

/// fill(q, put) is a batch that puts n items into q, counted in `put`.
auto fill(tendril::queue<int>& q, std::int64_t& put) {
  return [&q, &put](std::int64_t n) {
    for (std::int64_t i = 0; i < n; ++i) q.put(static_cast<int>(i));
    put += n;
  };
}

/// time_queue_put_get(items): a consumer task gets until end_of_stream; the
/// timed batches put. In the steady state the producer is held up by the
/// full queue, so its rate is the pair's.
sample time_queue_put_get(std::int64_t items) {
  tendril::queue<int> q(queue_capacity);
  std::int64_t got = 0, put = 0;
  auto consumer = tendril::spawn([&] { got = drain(q); });
  auto batch = fill(q, put);
  batch(10000);
  sample s = measure(items, batch);
  q.put(end_of_stream);
  consumer.join();
  if (got != put) fail("the consumer did not get every item");
  return s;
}

/// echo(ping, pong) answers every value with value + 1 until end_of_stream.
void echo(tendril::channel<int>& ping, tendril::channel<int>& pong) {
  for (int value = ping.get(); value != end_of_stream; value = ping.get()) pong.put(value + 1);
}

/// bounce(ping, pong) is a batch of n round trips.
auto bounce(tendril::channel<int>& ping, tendril::channel<int>& pong) {
  return [&ping, &pong](std::int64_t n) {
    for (std::int64_t i = 0; i < n; ++i) {
      ping.put(static_cast<int>(i));
      if (pong.get() != static_cast<int>(i) + 1) fail("ping-pong lost a value");
    }
  };
}

sample time_channel_ping_pong(std::int64_t round_trips) {
  tendril::channel<int> ping, pong;
  auto other = tendril::spawn([&] { echo(ping, pong); });
  auto batch = bounce(ping, pong);
  batch(10000);
  sample s = measure(round_trips, batch);
  ping.put(end_of_stream);
  other.join();
  return s;
}

/// time_event_broadcast(wakes): `broadcast_waiters` tasks wait on events[g]
/// and then on events[g ^ 1]. A round clears the other event (every waiter
/// is past it: the previous round ended when all had counted themselves),
/// sets events[g] and waits until all have run. One batch is one round.
sample time_event_broadcast(std::int64_t wakes) {
  tendril::event events[2];
  tendril::event all_ran;
  int ran = 0, generation = 0;
  std::int64_t woken = 0;
  bool stop = false;
  std::vector<tendril::task<void>> waiters;
  for (int i = 0; i < broadcast_waiters; ++i) {
    waiters.push_back(tendril::spawn([&] {
      for (int g = 0;; g ^= 1) {
        events[g].wait();
        if (stop) return;
        ++woken;
        if (++ran == broadcast_waiters) all_ran.set();
      }
    }));
  }
  auto broadcast = [&] {
    ran = 0;
    all_ran.clear();
    events[generation ^ 1].clear();
    events[generation].set();
    generation ^= 1;
  };
  auto batch = [&](std::int64_t n) {
    for (std::int64_t done = 0; done < n; done += broadcast_waiters) {
      broadcast();
      all_ran.wait();
    }
  };
  batch(10 * broadcast_waiters);
  std::int64_t ops = std::max<std::int64_t>(wakes, broadcast_waiters);
  sample s = measure(ops, batch, static_cast<int>(ops / broadcast_waiters));
  stop = true;
  broadcast();
  tendril::joinall(waiters);
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

/// across_hubs(timed, other) runs other() as the main task of a second
/// thread's hub and timed() as the main task of this thread's. cpu is the
/// process's CPU time over the wall time, at most 1: the share of the time at
/// least one of the two threads was on a CPU (a hub with nothing to run
/// sleeps in the kernel until the other thread wakes it).
template <class Timed, class Other>
sample across_hubs(Timed timed, Other other) {
  std::thread peer([&] { tendril::run(other); });
  std::int64_t cpu_start = process_cpu_ns();
  auto wall_start = std::chrono::steady_clock::now();
  sample s = tendril::run(timed);
  std::int64_t wall = (std::chrono::steady_clock::now() - wall_start) / std::chrono::nanoseconds(1);
  std::int64_t cpu = process_cpu_ns() - cpu_start;
  peer.join();
  s.cpu_share = std::min(1.0, static_cast<double>(cpu) / static_cast<double>(wall));
  return s;
}

sample time_queue_put_get_2t(std::int64_t items) {
  tendril::queue<int> q(queue_capacity);
  std::int64_t got = 0, put = 0;
  sample s = across_hubs(
      [&] {
        auto batch = fill(q, put);
        batch(10000);
        sample timed = measure(items, batch);
        q.put(end_of_stream);
        return timed;
      },
      [&] { got = drain(q); });
  if (got != put) fail("the consumer hub did not get every item");
  return s;
}

sample time_channel_ping_pong_2t(std::int64_t round_trips) {
  tendril::channel<int> ping, pong;
  return across_hubs(
      [&] {
        auto batch = bounce(ping, pong);
        batch(1000);
        sample timed = measure(round_trips, batch);
        ping.put(end_of_stream);
        return timed;
      },
      [&] { echo(ping, pong); });
}

}  // namespace

int main(int argc, char** argv) {
  bool two_threads = argc == 3 && std::strcmp(argv[1], "--threads") == 0 && std::strcmp(argv[2], "2") == 0;
  if (argc != 1 && !two_threads) {
    std::fprintf(stderr, "usage: sync_bench [--threads 2]\n");
    return 2;
  }
  if (two_threads) {
    report("queue_put_get_2t", "tendril", time_queue_put_get_2t(iterations(2'000'000)), "ns/item");
    report("channel_ping_pong_2t", "tendril", time_channel_ping_pong_2t(iterations(100'000)),
           "ns/round_trip");
    return 0;
  }
  report("mutex_uncontended", "std_mutex", time_std_mutex(iterations(10'000'000)), "ns/pair");
  tendril::run([] {
    report("mutex_uncontended", "tendril", time_mutex_uncontended(iterations(10'000'000)), "ns/pair");
    report("mutex_contended", "tendril", time_mutex_contended(iterations(2'000'000)), "ns/pair");
    report("queue_put_get", "tendril", time_queue_put_get(iterations(5'000'000)), "ns/item");
    report("channel_ping_pong", "tendril", time_channel_ping_pong(iterations(2'000'000)), "ns/round_trip");
    report("event_broadcast_1000", "tendril", time_event_broadcast(iterations(1'000'000)), "ns/wake");
  });
}
