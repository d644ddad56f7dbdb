// The floor under tendril's switch: raw boost::context::fiber, which tendril's
// greenlet is built on, with nothing around it (no handles, no values, no
// parent, no switch hook).
//
//   switch         resume() ping-pong between two fibers; ns per switch, one
//                  direction (a round trip is two switches).
//   switch_fp_flags  the same with the floating-point status flags differing
//                  between the two fibers (see switch_bench.cpp).
//   create_finish  create a fiber on a pooled stack, resume it, let it return;
//                  ns per fiber.

#include <boost/context/fiber.hpp>
#include <boost/context/pooled_fixedsize_stack.hpp>

#include <cstdint>
#include <memory>
#include <utility>

#include "../measure.hpp"

namespace ctx = boost::context;
using tendril::bench::do_not_optimize;
using tendril::bench::fp_flags;
using tendril::bench::measure;
using tendril::bench::report;
using tendril::bench::sample;

namespace {

/// time_switch(round_trips, flags) times one-way resume() between two fibers.
sample time_switch(std::int64_t round_trips, fp_flags flags) {
  tendril::bench::clear_fp_flags();
  bool stop = false;
  std::int64_t bounces = 0;
  ctx::fiber other{[&](ctx::fiber&& back) {
    while (!stop) {
      ++bounces;
      back = std::move(back).resume();
    }
    return std::move(back);
  }};
  for (int i = 0; i < 10000; ++i) other = std::move(other).resume();  // warm-up; also starts it
  tendril::bench::set_fp_flags(flags);                                // in main only

  sample s = measure(round_trips, [&](std::int64_t n) {
    for (std::int64_t i = 0; i < n; ++i) other = std::move(other).resume();
  });

  stop = true;
  other = std::move(other).resume();  // lets it return; `other` is now empty
  do_not_optimize(bounces);
  return s.split(2);
}

/// time_create_finish(count) times creating, starting and finishing one fiber
/// on a warm stack from boost's pooled allocator.
sample time_create_finish(std::int64_t count) {
  ctx::pooled_fixedsize_stack pool(256 * 1024);
  std::int64_t runs = 0;
  auto one = [&] {
    ctx::fiber f{std::allocator_arg, pool, [&runs](ctx::fiber&& back) {
                   ++runs;
                   return std::move(back);
                 }};
    f = std::move(f).resume();
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
  report("switch", "boost_context", time_switch(round_trips, fp_flags::same), "ns/switch");
  report("switch_fp_flags", "boost_context", time_switch(round_trips, fp_flags::differ), "ns/switch");

  std::int64_t fibers = tendril::bench::iterations(2'000'000);
  report("create_finish", "boost_context", time_create_finish(fibers), "ns/greenlet");
}
