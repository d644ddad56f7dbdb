"""gevent_crawl: gevent with urllib3 as a peer of tendril's crawler
(examples/crawler, issue 8): the same crawl of the built-in site with a
gevent Pool of N greenlets. Run by bench/io_load.py site against
`crawler --serve` on the other CPU:

    gevent_crawl.py URL N

The crawl is the crawler's: start at URL; GET each page (keep-alive
HTTP/1.1 through urllib3, made cooperative by gevent's monkey-patching of
socket, as gevent users run it); from a 200 text/html page take the href of
each <a> (the standard library's html.parser), resolve it against the page's
URL (urljoin), drop the fragment, keep it if it is http(s) on the start's
host, and fetch it if it was never seen; until nothing is left. The main
greenlet hands each new URL to pool.spawn, which waits while N are running
(a greenlet of the pool cannot spawn into it: with the pool full, all N
would wait for each other). One HTTPConnectionPool with maxsize = N and
block=True, so that no GET opens a connection the pool would then discard.
The benchmark's site answers every page with 200, so any other answer or
error ends the program (status 1).

Prints `result bench=crawl_cN impl=gevent_urllib3 value=<pages/s>
unit=pages/s n=<pages> cpu=<share>`: the crawl timed from the first request
to the last answer, cpu = the process's CPU time over that wall time.
"""

from gevent import monkey

monkey.patch_all()

import sys  # noqa: E402 (after patch_all, as gevent requires)
import time  # noqa: E402
from urllib.parse import urljoin, urlsplit  # noqa: E402

import gevent.pool  # noqa: E402
import gevent.queue  # noqa: E402
import urllib3  # noqa: E402

from crawl_links import links, process_cpu  # noqa: E402 (beside this file)


def crawl(start, workers):
    """Crawls from `start` with a pool of `workers` greenlets; returns (pages fetched, wall seconds, CPU
    seconds)."""
    origin = urlsplit(start)
    host = origin.netloc
    http = urllib3.HTTPConnectionPool(origin.hostname, origin.port, maxsize=workers, block=True)
    found = gevent.queue.Queue()  # each visit's new links, or the exception that ended it
    seen = {start}
    pages = 0

    def visit(url):
        nonlocal pages
        try:
            # The request line takes the path (urllib3 would send a full URL as it is).
            parts = urlsplit(url)
            target = parts.path + ("?" + parts.query if parts.query else "")
            response = http.request("GET", target, retries=urllib3.Retry(total=False, redirect=5))
            if response.status != 200:
                raise RuntimeError(f"GET {url}: status {response.status}")
            new = []
            if response.headers.get("Content-Type", "").startswith("text/html"):
                pages += 1
                base = urljoin(url, response.geturl() or target)  # after redirects
                for link in links(response.data, base, host):
                    if link not in seen:
                        seen.add(link)
                        new.append(link)
            found.put(new)
        except Exception as e:  # noqa: BLE001 (carried to the main greenlet, which raises it)
            found.put(e)

    cpu, wall = process_cpu(), time.perf_counter()
    pool = gevent.pool.Pool(workers)
    pool.spawn(visit, start)
    outstanding = 1  # URLs spawned whose visit has not reported
    while outstanding:
        new = found.get()
        outstanding -= 1
        if isinstance(new, Exception):
            raise new
        for link in new:
            outstanding += 1
            pool.spawn(visit, link)  # waits while the pool is full
    wall, cpu = time.perf_counter() - wall, process_cpu() - cpu
    http.close()
    return pages, wall, cpu


def main():
    if len(sys.argv) != 3 or not sys.argv[2].isdigit() or int(sys.argv[2]) < 1:
        sys.exit("usage: gevent_crawl.py URL N")
    workers = int(sys.argv[2])
    pages, wall, cpu = crawl(sys.argv[1], workers)
    print(f"result bench=crawl_c{workers} impl=gevent_urllib3 value={pages / wall:.4f} unit=pages/s n={pages} "
          f"cpu={min(1.0, cpu / wall):.2f}", flush=True)


if __name__ == "__main__":
    main()
