"""aiohttp_crawl: asyncio with aiohttp as a peer of tendril's crawler
(examples/crawler, issue 8): the same crawl of the built-in site with N
worker tasks. Run by bench/io_load.py site against `crawler --serve` on the
other CPU:

    aiohttp_crawl.py URL N

The crawl is the crawler's: start at URL; N worker tasks take URLs from an
asyncio.Queue and GET each (keep-alive HTTP/1.1, redirects followed; one
ClientSession whose TCPConnector allows N connections); from a 200
text/html page they take the href of each <a> (the standard library's
html.parser, as the gevent peer), resolve it against the page's URL
(urljoin), drop the fragment, keep it if it is http(s) on the start's host,
and queue it if it was never queued; queue.join() says when nothing is left.
asyncio's default event loop (python3-aiohttp 3.8 from Debian; no uvloop).
The benchmark's site answers every page with 200, so any other answer or
error ends the program (status 1).

Prints `result bench=crawl_cN impl=aiohttp value=<pages/s> unit=pages/s
n=<pages> cpu=<share>`: the crawl timed from the first request to the last
answer, cpu = the process's CPU time over that wall time.
"""

import asyncio
import sys
import time
from urllib.parse import urlsplit

import aiohttp

from crawl_links import links, process_cpu  # beside this file


async def crawl(start, workers):
    """Crawls from `start` with `workers` tasks; returns (pages fetched, wall seconds, CPU seconds)."""
    host = urlsplit(start).netloc
    queue = asyncio.Queue()
    seen = {start}
    pages = 0
    failure = None

    async def work(session):
        nonlocal pages, failure
        while True:
            url = await queue.get()
            try:
                async with session.get(url, max_redirects=5) as response:
                    page = await response.read()
                    if response.status != 200:
                        raise RuntimeError(f"GET {url}: status {response.status}")
                    if response.content_type == "text/html":
                        pages += 1
                        for link in links(page, str(response.url), host):  # after redirects
                            if link not in seen:
                                seen.add(link)
                                queue.put_nowait(link)
            except Exception as e:  # noqa: BLE001 (the crawl goes on without its links; crawl() raises it)
                failure = failure or e
            finally:
                queue.task_done()

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=workers)) as session:
        cpu, wall = process_cpu(), time.perf_counter()
        queue.put_nowait(start)
        tasks = [asyncio.create_task(work(session)) for _ in range(workers)]
        await queue.join()
        wall, cpu = time.perf_counter() - wall, process_cpu() - cpu
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    if failure is not None:
        raise failure
    return pages, wall, cpu


def main():
    if len(sys.argv) != 3 or not sys.argv[2].isdigit() or int(sys.argv[2]) < 1:
        sys.exit("usage: aiohttp_crawl.py URL N")
    workers = int(sys.argv[2])
    pages, wall, cpu = asyncio.run(crawl(sys.argv[1], workers))
    print(f"result bench=crawl_c{workers} impl=aiohttp value={pages / wall:.4f} unit=pages/s n={pages} "
          f"cpu={min(1.0, cpu / wall):.2f}", flush=True)


if __name__ == "__main__":
    main()
