// tendril's resolver under load: 10,000 lookups with 1000 fibers, each
// calling tendril::dns::resolve one name after another, against dnsmasq on
// the other CPU (bench/io_load.py dnsmasq, which serves h0.bench.test ..
// h999.bench.test as 10.0.X.Y):
//
//   dns_bench SERVER         SERVER: "127.0.0.1:PORT"
//
//   dns_resolve_1000         lookups per second (wall clock), and
//   dns_resolve_1000_cpu     the process's CPU-seconds per 10,000 lookups
//
// Lookups ask for IPv4 only (family::ipv4: one A query each, an
// ares_getaddrinfo with AF_INET underneath), name i % 1000 for the i-th, and
// each answer must be that name's address. 1000 untimed lookups first (the
// channel, its socket, the stacks).

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include <tendril/tendril.hpp>

#include "measure.hpp"
#include "throughput.hpp"

namespace {

constexpr int names = 1000;
constexpr int fibers = 1000;

// host_name(i) is "h<i>.bench.test". (Built with append: GCC 12 warns about
// "h" + std::string with a -Wrestrict false positive.)
std::string host_name(int i) {
  std::string name = "h";
  name += std::to_string(i);
  name += ".bench.test";
  return name;
}

// resolve_all(total): `fibers` tasks look names up until `total` lookups have
// been started; rethrows the first failure.
void resolve_all(std::int64_t total) {
  std::int64_t started = 0;
  std::vector<tendril::task<void>> workers;
  workers.reserve(fibers);
  for (int i = 0; i < fibers; ++i) {
    workers.push_back(tendril::spawn([&] {
      while (started < total) {
        const int name = static_cast<int>(started++ % names);
        const std::string host = host_name(name);
        const std::vector<tendril::endpoint> found =
            tendril::dns::resolve(host, 0, tendril::dns::family::ipv4);
        const auto* address = reinterpret_cast<const sockaddr_in*>(found.front().data());
        if (found.front().family() != AF_INET || ntohl(address->sin_addr.s_addr) != (10u << 24 | name))
          throw tendril::error(host + ": wrong address " + found.front().address());
      }
    }));
  }
  tendril::joinall(workers, tendril::clock::duration::max(), /*raise_error=*/true);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s 127.0.0.1:PORT\n", argv[0]);
    return 2;
  }
  tendril::run([server = std::string(argv[1])] {
    tendril::dns::set_servers(server);
    resolve_all(1000);  // warm-up
    const std::int64_t total = tendril::bench::iterations(10'000);
    tendril::bench::timed_run run;
    resolve_all(total);
    run.done(total);
    run.report("dns_resolve_1000", "tendril", "lookups/s");
  });
}
