"""gevent_http_get: gevent with urllib3 as a peer of tendril's HTTP client
(bench/http_client_bench.cpp): 10,000 GETs of a 2 KB page from nginx-light
with 100 and with 1000 greenlets, each fetching one page after another.
Run by bench/io_load.py nginx:

    gevent_http_get.py URL

urllib3 (python3-urllib3) is made cooperative by gevent's monkey-patching of
socket, the way gevent users run it. One HTTPConnectionPool per case with
maxsize = the concurrency (urllib3 keeps that many connections for reuse),
block=True so that no GET opens a connection the pool would then discard.
Each body is read whole (preload_content, urllib3's default). Like tendril's
program: 1000 untimed GETs per case first, every response a 200 with the
whole page, two result lines per case (GETs per second; the process's
CPU-seconds per 10,000 GETs).
"""

from gevent import monkey

monkey.patch_all()

import resource  # noqa: E402 (after patch_all, as gevent requires)
import sys  # noqa: E402
import time  # noqa: E402

import gevent  # noqa: E402
import urllib3  # noqa: E402

import gevent_measure  # noqa: E402

PAGE_BYTES = 2048



def process_cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def fetch(pool, path, concurrency, total):
    started = 0

    def worker():
        nonlocal started
        while started < total:
            started += 1
            response = pool.request("GET", path, retries=False)
            if response.status != 200 or len(response.data) != PAGE_BYTES:
                raise RuntimeError(f"GET {path}: status {response.status}, {len(response.data)} bytes")

    workers = [gevent.spawn(worker) for _ in range(concurrency)]
    gevent.joinall(workers, raise_error=True)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: gevent_http_get.py URL")
    url = urllib3.util.parse_url(sys.argv[1])
    for concurrency in (100, 1000):
        pool = urllib3.HTTPConnectionPool(url.host, url.port, maxsize=concurrency, block=True)
        fetch(pool, url.request_uri, concurrency, 1000)  # warm-up: opens `concurrency` connections
        total = gevent_measure.iterations(10000)
        cpu, wall = process_cpu(), time.perf_counter()
        fetch(pool, url.request_uri, concurrency, total)
        wall, cpu = time.perf_counter() - wall, process_cpu() - cpu
        share = min(1.0, cpu / wall)
        line = "result bench=http_get_c{}{} impl=gevent_urllib3 value={:.4f} unit={} n={} cpu={:.2f}"
        print(line.format(concurrency, "", total / wall, "req/s", total, share))
        print(line.format(concurrency, "_cpu", cpu * 10000 / total, "cpu-s/10k", total, share), flush=True)
        pool.close()


if __name__ == "__main__":
    main()
