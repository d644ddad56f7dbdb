#pragma once
// What every benchmark program shares: batched timing, a guard against the
// optimiser, and the one line format bench/run reads.
//
// A program measures each case once per run, after a warm-up, and prints
//
//   result bench=<case> impl=<implementation> value=<number> unit=<unit> n=<operations> cpu=<share>
//
// bench/run repeats whole programs, pinned to one CPU, and takes the median of
// `value` per (bench, impl). Repeating processes rather than loops inside one
// process lets the median see what varies between runs (page placement, ASLR,
// the stack pool's first mmap), which is what a user sees too.
//
// Inside a run the operations are timed in 1000 batches with steady_clock and
// the median batch is reported. A batch (50 us to 1 ms) is shorter than a
// scheduler time slice: on a shared machine the CPU is taken away for
// milliseconds at a time, and a batch that was preempted is an outlier the
// median ignores, where one long loop would silently absorb the pause.
// `cpu` is the share of the timed wall-clock time this thread was on the CPU;
// below ~0.9 the machine was busy and bench/run says so.

#include <algorithm>
#include <cfenv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string_view>
#include <vector>

namespace tendril::bench {

/// do_not_optimize(v) makes the compiler believe `v` is read and may have
/// been changed, so the work that produced it cannot be removed or hoisted
/// (the same trick as google-benchmark's DoNotOptimize).
template <class T>
inline void do_not_optimize(T& value) noexcept {
  asm volatile("" : "+m"(value) : : "memory");
}

/// iterations(default_n) is `default_n`, or that times the environment
/// variable TENDRIL_BENCH_SCALE (a quick smoke run uses 0.01).
inline std::int64_t iterations(std::int64_t default_n) {
  const char* scale = std::getenv("TENDRIL_BENCH_SCALE");
  if (scale == nullptr) return default_n;
  auto n = static_cast<std::int64_t>(static_cast<double>(default_n) * std::atof(scale));
  return n > 0 ? n : 1;
}

/// One measured case.
struct sample {
  double ns = 0;         ///< median over batches, nanoseconds per operation
  std::int64_t ops = 0;  ///< operations timed
  double cpu_share = 1;  ///< thread CPU time / wall time over the timed batches

  /// split(k) is the same sample counted in k-times smaller operations (a
  /// ping-pong round trip is two switches).
  sample split(int k) const { return {ns / k, ops * k, cpu_share}; }
};

/// thread_cpu_ns() is the calling thread's CPU time, in integer nanoseconds.
inline std::int64_t thread_cpu_ns() noexcept {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return std::int64_t{t.tv_sec} * 1'000'000'000 + t.tv_nsec;
}

/// measure(ops, batch) times about `ops` operations: it calls batch(n), which
/// must perform n operations, `batches` times, and returns the median batch's
/// time per operation. Warm up before calling it.
///
/// No floating-point arithmetic happens until every batch is done, and the
/// code around a measure() call must keep it so: jump_fcontext saves and
/// restores MXCSR, sticky exception flags included, and on this machine
/// loading an MXCSR that differs from the current one costs about 100 ns.
/// One inexact division between batches would set the precision flag in the
/// main context but not in the fiber, and every later switch would pay that
/// instead of the switch being measured. (The `switch_fp_flags` cases
/// measure that penalty on purpose; see fp_flags.)
template <class F>
sample measure(std::int64_t ops, F&& batch, int batches = 1000) {
  using clock = std::chrono::steady_clock;
  std::int64_t per_batch = std::max<std::int64_t>(1, ops / batches);
  std::vector<std::int64_t> ns(static_cast<std::size_t>(batches));
  std::int64_t cpu_start = thread_cpu_ns();
  auto wall_start = clock::now();
  for (std::int64_t& slot : ns) {
    auto start = clock::now();
    batch(per_batch);
    slot = std::chrono::duration_cast<std::chrono::nanoseconds>(clock::now() - start).count();
  }
  std::int64_t wall = std::chrono::duration_cast<std::chrono::nanoseconds>(clock::now() - wall_start).count();
  std::int64_t cpu = thread_cpu_ns() - cpu_start;
  std::nth_element(ns.begin(), ns.begin() + batches / 2, ns.end());
  double median = static_cast<double>(ns[static_cast<std::size_t>(batches / 2)]);
  return {median / static_cast<double>(per_batch), per_batch * batches,
          std::min(1.0, static_cast<double>(cpu) / static_cast<double>(wall))};
}

/// fp_flags says whether a ping-pong runs with the same floating-point
/// status flags (MXCSR) in both contexts, as a benchmark normally must, or
/// with different ones, which measures the cost described at measure().
enum class fp_flags { same, differ };

/// clear_fp_flags() clears the flags; call it before creating the contexts of
/// a ping-pong, which capture them.
inline void clear_fp_flags() { std::feclearexcept(FE_ALL_EXCEPT); }

/// set_fp_flags(f) sets the inexact flag in the calling context when `f` is
/// fp_flags::differ, as any inexact floating-point operation would.
/// (feraiseexcept(FE_INEXACT) would not do: glibc raises it on the x87 unit,
/// and MXCSR is what jump_fcontext restores.)
inline void set_fp_flags(fp_flags f) {
  if (f == fp_flags::differ) {
    volatile double third = 1.0;
    third = third / 3.0;  // an SSE division: sets MXCSR's precision flag
  }
}

/// report() prints one result line.
inline void report(std::string_view bench, std::string_view impl, const sample& s, std::string_view unit) {
  std::printf("result bench=%.*s impl=%.*s value=%.3f unit=%.*s n=%lld cpu=%.2f\n",
              static_cast<int>(bench.size()), bench.data(), static_cast<int>(impl.size()), impl.data(), s.ns,
              static_cast<int>(unit.size()), unit.data(), static_cast<long long>(s.ops), s.cpu_share);
  std::fflush(stdout);
}

}  // namespace tendril::bench
