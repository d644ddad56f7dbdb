#pragma once
// What the io benchmarks' client programs share (bench/http_client_bench.cpp,
// bench/dns_bench.cpp): a rate over one timed run rather than the median of
// 1000 batches. A run of 10,000 requests with 100-1000 in flight has no
// meaningful batch smaller than itself (requests overlap), so the program
// times the whole run, wall clock and the process's CPU time (every thread,
// libcurl's and c-ares's included), and prints two result lines:
//
//   result bench=<case> impl=<impl> value=<operations per second> unit=<what>/s n=<ops> cpu=<share>
//   result bench=<case>_cpu impl=<impl> value=<CPU-seconds per 10k operations> unit=cpu-s/10k n=<ops>
//   cpu=<share>
//
// `cpu` is the process's CPU time over the wall time, at most 1: below 1 the
// client waited for its server (or the machine was busy).

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string_view>

namespace tendril::bench {

/// process_cpu_seconds() is the CPU time of every thread of this process so far.
inline double process_cpu_seconds() noexcept {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) * 1e-6;
  };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

/// timed_run measures one run: construct it, do the operations, call done(ops).
class timed_run {
 public:
  timed_run() : wall_start_(std::chrono::steady_clock::now()), cpu_start_(process_cpu_seconds()) {}

  /// done(ops) ends the run; report() then prints it.
  void done(std::int64_t ops) {
    wall_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start_).count();
    cpu_ = process_cpu_seconds() - cpu_start_;
    ops_ = ops;
  }

  /// report(bench, impl, rate_unit) prints the two result lines.
  void report(std::string_view bench, std::string_view impl, std::string_view rate_unit) const {
    const double share = std::min(1.0, cpu_ / wall_);
    const auto ops = static_cast<double>(ops_);
    print(bench, "", impl, ops / wall_, rate_unit, share);
    print(bench, "_cpu", impl, cpu_ * 10'000 / ops, "cpu-s/10k", share);
  }

 private:
  void print(std::string_view bench, std::string_view suffix, std::string_view impl, double value,
             std::string_view unit, double share) const {
    std::printf("result bench=%.*s%.*s impl=%.*s value=%.4f unit=%.*s n=%lld cpu=%.2f\n",
                static_cast<int>(bench.size()), bench.data(), static_cast<int>(suffix.size()), suffix.data(),
                static_cast<int>(impl.size()), impl.data(), value, static_cast<int>(unit.size()), unit.data(),
                static_cast<long long>(ops_), share);
    std::fflush(stdout);
  }

  std::chrono::steady_clock::time_point wall_start_;
  double cpu_start_;
  double wall_ = 0;
  double cpu_ = 0;
  std::int64_t ops_ = 0;
};

}  // namespace tendril::bench
