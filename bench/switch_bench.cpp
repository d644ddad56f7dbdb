// tendril's greenlet switch, the cost every other layer (hub, sync, io) pays
// on each park and wake-up.
//
//   switch         switch_to() ping-pong between the main greenlet and another,
//                  no value; ns per switch, one direction (a round trip is two
//                  switch_to calls, so ns = total / number of switch_to calls).
//   switch_fp_flags  the same, with the floating-point status flags (MXCSR)
//                  differing between the two contexts, as after an inexact
//                  operation in one of them: jump_fcontext restores MXCSR on
//                  every switch, and loading a changed value back to back
//                  stalls (about 100 ns per raw switch on our 2-core VM).
//   switch_value   the same as switch, each switch carrying an int in the
//                  std::any and the receiver reading it back out.
//   create_finish  construct a greenlet, switch_to it, let its run return and
//                  drop the handle, on a warm pooled stack; ns per greenlet.
//
// Peers: bench/peers/boost_context_switch.cpp, bench/peers/greenlet_switch.py.

#include <tendril/fiber/greenlet.hpp>

#include <any>
#include <cstdint>

#include "measure.hpp"

using tendril::greenlet;
using tendril::bench::do_not_optimize;
using tendril::bench::fp_flags;
using tendril::bench::measure;
using tendril::bench::report;
using tendril::bench::sample;

namespace {

/// time_switch(round_trips, flags) times one-way switch_to() with no value.
sample time_switch(std::int64_t round_trips, fp_flags flags) {
  tendril::bench::clear_fp_flags();
  greenlet main = greenlet::current();
  bool stop = false;
  std::int64_t bounces = 0;
  greenlet other([&] {
    while (!stop) {
      ++bounces;
      main.switch_to();
    }
  });
  for (int i = 0; i < 10000; ++i) other.switch_to();  // warm-up; also starts it
  tendril::bench::set_fp_flags(flags);                // in main only

  sample s = measure(round_trips, [&](std::int64_t n) {
    for (std::int64_t i = 0; i < n; ++i) other.switch_to();
  });

  stop = true;
  other.switch_to();  // lets run return
  do_not_optimize(bounces);
  return s.split(2);
}

/// time_switch_value(round_trips) times one-way switch_to(int), the receiver
/// converting the std::any back to int each time.
sample time_switch_value(std::int64_t round_trips) {
  greenlet main = greenlet::current();
  greenlet echo([&](std::any first) {
    int v = greenlet::value_as<int>(std::move(first));
    while (v >= 0) v = main.switch_to<int>(v + 1);
  });
  std::int64_t sum = 0;
  for (int i = 0; i < 10000; ++i) sum += echo.switch_to<int>(i);

  sample s = measure(round_trips, [&](std::int64_t n) {
    for (std::int64_t i = 0; i < n; ++i) sum += echo.switch_to<int>(static_cast<int>(i & 0xffff));
  });

  echo.switch_to(-1);  // lets run return
  do_not_optimize(sum);
  return s.split(2);
}

/// time_create_finish(count) times creating, starting and finishing a greenlet
/// whose run returns at once. The warm-up leaves a stack in the thread's
/// pool, so every timed greenlet reuses it: no mmap in the loop.
sample time_create_finish(std::int64_t count) {
  std::int64_t runs = 0;
  auto one = [&runs] {
    greenlet g([&runs] { ++runs; });
    g.switch_to();
  };
  for (int i = 0; i < 10000; ++i) one();

  sample s = measure(count, [&](std::int64_t n) {
    for (std::int64_t i = 0; i < n; ++i) one();
  });
  do_not_optimize(runs);
  return s;
}

}  // namespace

int main() {
  std::int64_t round_trips = tendril::bench::iterations(5'000'000);
  report("switch", "tendril", time_switch(round_trips, fp_flags::same), "ns/switch");
  report("switch_fp_flags", "tendril", time_switch(round_trips, fp_flags::differ), "ns/switch");
  report("switch_value", "tendril", time_switch_value(round_trips), "ns/switch");

  std::int64_t greenlets = tendril::bench::iterations(2'000'000);
  report("create_finish", "tendril", time_create_finish(greenlets), "ns/greenlet");
}
