// many_threads: the M:N runtime in three lessons.
//
// 1. Fan-out: a runtime of two threads runs CPU-bound tasks on both (they
//    are placed on its hubs in turn); get() collects the results from the
//    main thread, which has no hub of its own.
// 2. A pipeline across threads: a producer task on hub 0 and a consumer
//    task on hub 1 pass items through one tendril::channel, the same type
//    fibers of one hub use (every sync type works across hubs).
// 3. A server on every hub: runtime_server accepts connections and runs
//    each handler on a hub in turn; clients on the main thread's own hub
//    ask it, then rt.stop() stops the server and the threads.
//
// Which thread runs what is up to the runtime, so the program prints only
// what does not depend on it (examples/many_threads.expected holds it).

#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <iostream>
#include <string>
#include <vector>

#include <tendril/tendril.hpp>

namespace {

// count_primes(from, to) is the number of primes in [from, to), by trial division.
int count_primes(std::uint32_t from, std::uint32_t to) {
  int count = 0;
  for (std::uint32_t n = std::max<std::uint32_t>(from, 2); n < to; ++n) {
    bool prime = true;
    for (std::uint32_t d = 2; d * d <= n && prime; ++d) prime = n % d != 0;
    count += prime ? 1 : 0;
  }
  return count;
}

}  // namespace

int main() {
  tendril::runtime rt{2};

  // 1. Fan-out.
  std::vector<tendril::task<int>> parts;
  constexpr std::uint32_t chunk = 50'000;
  for (std::uint32_t i = 0; i < 8; ++i) parts.push_back(rt.spawn(count_primes, i * chunk, (i + 1) * chunk));
  int primes = 0;
  for (const auto& p : parts) primes += p.get();  // blocks this thread, which has no hub
  std::cout << "primes below 400000: " << primes << '\n';

  // 2. A pipeline across threads.
  tendril::channel<int> numbers;
  auto producer = tendril::spawn_on(rt.hub(0), [&] {
    for (int i = 1; i <= 100; ++i) numbers.put(i);
    numbers.close();
  });
  auto consumer = tendril::spawn_on(rt.hub(1), [&] {
    long sum = 0;
    try {
      for (;;) sum += numbers.get();
    } catch (const tendril::queue_closed&) {
    }
    return sum;
  });
  producer.join();
  std::cout << "the consumer on hub 1 summed " << consumer.get() << " from the producer on hub 0\n";

  // 3. A server on every hub.
  tendril::runtime_server echo(rt, tendril::endpoint::loopback(0),
                               [](tendril::socket c, const tendril::endpoint&) {
                                 char buffer[256];
                                 while (std::size_t n = c.read_some(buffer, sizeof buffer))
                                   c.write_all(buffer, n);
                               });
  std::vector<std::string> answers = tendril::run([&] {
    std::vector<tendril::task<std::string>> clients;
    for (int i = 0; i < 4; ++i)
      clients.push_back(tendril::spawn([&, i] {
        tendril::socket s = tendril::socket::tcp();
        s.connect(echo.local_endpoint());
        s.write_all("hello " + std::to_string(i));
        s.shutdown(SHUT_WR);
        std::string reply;
        char buffer[64];
        while (std::size_t n = s.read_some(buffer, sizeof buffer)) reply.append(buffer, n);
        return reply;
      }));
    std::vector<std::string> out;
    for (const auto& c : clients) out.push_back(c.get());
    return out;
  });
  for (const std::string& a : answers) std::cout << "echoed: " << a << '\n';
  std::vector<std::size_t> accepted = echo.accepted();
  std::cout << "connections per hub: " << accepted[0] << ' ' << accepted[1] << '\n';  // dealt in turn

  // The server stops first (its stop hook), then the threads; true: no task
  // had to be killed. It returns as soon as everything has ended.
  std::cout << "stopped cleanly: " << std::boolalpha << rt.stop(std::chrono::seconds(10)) << '\n';
}
