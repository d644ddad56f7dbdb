"""gevent_dns: gevent's c-ares resolver as a peer of tendril's
(bench/dns_bench.cpp): 10,000 lookups with 1000 greenlets, each calling
getaddrinfo one name after another, against dnsmasq (bench/io_load.py
dnsmasq serves h0.bench.test .. h999.bench.test as 10.0.X.Y):

    gevent_dns.py 127.0.0.1:PORT

gevent.resolver.ares.Resolver, pointed at the server with its `servers` and
`udp_port` options; its getaddrinfo is c-ares's ares_getaddrinfo (gevent
20.5 and later; Debian's gevent links the system's c-ares 1.18), asked for
AF_INET and SOCK_STREAM: one A query per lookup, as tendril's and the raw
c-ares peer's. Like tendril's program: name i % 1000 for the i-th, each
answer checked, 1000 untimed lookups first, two result lines (lookups per
second; the process's CPU-seconds per 10,000 lookups).
"""

import resource
import socket
import sys
import time

import gevent
from gevent.resolver.ares import Resolver

import gevent_measure

NAMES = 1000
GREENLETS = 1000



def process_cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def resolve_all(resolver, total):
    started = 0

    def worker():
        nonlocal started
        while started < total:
            name = started % NAMES
            started += 1
            found = resolver.getaddrinfo(f"h{name}.bench.test", None, socket.AF_INET, socket.SOCK_STREAM)
            if found[0][4][0] != f"10.0.{name // 256}.{name % 256}":
                raise RuntimeError(f"h{name}.bench.test: wrong address {found[0][4][0]}")

    gevent.joinall([gevent.spawn(worker) for _ in range(GREENLETS)], raise_error=True)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: gevent_dns.py 127.0.0.1:PORT")
    host, port = sys.argv[1].rsplit(":", 1)
    resolver = Resolver(servers=[host], udp_port=int(port), tcp_port=int(port))
    resolve_all(resolver, 1000)  # warm-up
    total = gevent_measure.iterations(10000)
    cpu, wall = process_cpu(), time.perf_counter()
    resolve_all(resolver, total)
    wall, cpu = time.perf_counter() - wall, process_cpu() - cpu
    share = min(1.0, cpu / wall)
    line = "result bench=dns_resolve_1000{} impl=gevent_ares value={:.4f} unit={} n={} cpu={:.2f}"
    print(line.format("", total / wall, "lookups/s", total, share))
    print(line.format("_cpu", cpu * 10000 / total, "cpu-s/10k", total, share), flush=True)
    resolver.close()


if __name__ == "__main__":
    main()
