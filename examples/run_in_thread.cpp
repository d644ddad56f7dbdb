// run_in_thread: CPU-heavy work off the hub (gevent's threadpool lesson).
//
// Fibers share their hub's thread: while one computes, no other fiber runs,
// no timer fires and no socket is served, because a fiber only lets go when
// it parks. tendril::run_in_thread(f, args...) runs f on a pool thread
// instead and parks the caller until the result is there, so the hub goes on
// serving everyone else meanwhile. Here a ticker fiber ticks every
// millisecond; counting the primes below two million on the hub stops it,
// counting them through run_in_thread does not. The counts of ticks vary
// from run to run, so the program prints only whether there were any
// (examples/run_in_thread.expected holds the output).

#include <chrono>
#include <cstdint>
#include <iostream>
#include <vector>

#include <tendril/tendril.hpp>

using namespace std::chrono_literals;

namespace {

// count_primes(from, to) is the number of primes in [from, to), by trial
// division: a few hundred milliseconds of pure CPU for the range below.
int count_primes(std::uint32_t from, std::uint32_t to) {
  int count = 0;
  for (std::uint32_t n = from < 2 ? 2 : from; n < to; ++n) {
    bool prime = true;
    for (std::uint32_t d = 2; d * d <= n && prime; ++d) prime = n % d != 0;
    count += prime ? 1 : 0;
  }
  return count;
}

constexpr std::uint32_t limit = 2'000'000;

}  // namespace

int main() {
  tendril::run([] {
    int ticks = 0;
    auto ticker = tendril::spawn([&ticks] {
      for (;;) {
        tendril::sleep(1ms);
        ++ticks;
      }
    });
    auto ticked = [&ticks](int before) { return ticks > before ? "kept ticking" : "stood still"; };

    tendril::sleep(5ms);  // the ticker is under way

    std::cout << "== on the hub: the computation holds the thread\n";
    int before = ticks;
    int primes = count_primes(0, limit);  // never parks, so the ticker cannot run
    std::cout << "  primes below " << limit << ": " << primes << "; the ticker " << ticked(before) << '\n';

    std::cout << "== through run_in_thread: a pool thread computes, the hub runs on\n";
    tendril::sleep(5ms);  // let the ticker catch up on the ticks it missed
    before = ticks;
    primes = tendril::run_in_thread(count_primes, 0, limit);  // parks this fiber only
    std::cout << "  primes below " << limit << ": " << primes << "; the ticker " << ticked(before) << '\n';

    std::cout << "== four calls at once, on four pool threads\n";
    std::vector<tendril::task<int>> quarters;
    for (std::uint32_t i = 0; i < 4; ++i)
      quarters.push_back(tendril::spawn(
          [i] { return tendril::run_in_thread(count_primes, i * limit / 4, (i + 1) * limit / 4); }));
    int total = 0;
    for (auto& q : quarters) total += q.get();
    std::cout << "  primes below " << limit << ": " << total << '\n';

    ticker.kill();
  });
}
