#!/usr/bin/python3
"""gevent (Debian python3-gevent), whose hub and tasks tendril copies: the peer of bench/hub_bench.cpp.

  yield            gevent.sleep(0) ping-pong between the main greenlet and one
                   other; ns per yield, one hand-over (a round trip is two
                   sleep(0) calls, each passing through the hub).
  spawn_join       gevent.spawn 1000 greenlets whose body adds one to a
                   counter, then gevent.joinall them; ns per greenlet.
  parked_rss_100k  100,000 greenlets waiting on one gevent.event.Event: the
                   process's resident memory grown from before the first was
                   spawned until all wait, per greenlet. Setting the event
                   then releases them, and all must finish.

There is no parked_rss_1m here: a million greenlets would take ~8.4 GB of
this 24 GiB machine and, at 12-20 us each to spawn, 15-25 s a run, for a
figure the 100k case already gives.

Timed like the C++ programs (bench/measure.hpp): after a warm-up, batches
timed with time.perf_counter, the median batch reported, with the same
result lines. The numbers include the interpreter running the loop around
each call: that is what a gevent user pays, just as tendril's numbers include
its C++ loop. Run it with /usr/bin/python3, the interpreter Debian's gevent is
built for.
"""

import os
import time

import gevent
from gevent.event import Event

from gevent_measure import iterations, measure, report


def time_yield(round_trips):
    """sleep(0) queues a callback that switches back, then switches to the hub,
    which runs the callbacks in order: with two greenlets yielding, each call
    resumes the other one. The other counts its turns, and the count must
    equal the main greenlet's yields."""
    stop = False
    bounces = 0
    yields = 0

    def bounce():
        nonlocal bounces
        while not stop:
            bounces += 1
            gevent.sleep(0)

    other = gevent.spawn(bounce)

    def batch(n):
        nonlocal yields
        for _ in range(n):
            gevent.sleep(0)
        yields += n

    batch(10000)  # warm-up; also starts the other greenlet
    sample = measure(round_trips, batch)
    stop = True
    other.join()
    if bounces != yields:
        raise SystemExit(f"gevent_hub: sleep(0) did not alternate: {yields} yields, {bounces} other turns")
    return sample


def time_spawn_join(tasks):
    """Spawns greenlets in 300 batches (of 1000 at full scale) and joins each
    batch: at 12-20 us a greenlet, 1000 batches of 1000 would take 12-20 s a run."""
    counter = 0

    def body():
        nonlocal counter
        counter += 1

    def batch(n):
        gevent.joinall([gevent.spawn(body) for _ in range(n)])

    batch(1000)  # warm-up
    sample = measure(tasks, batch, batches=300)
    if counter != 1000 + sample[1]:
        raise SystemExit("gevent_hub: a greenlet did not run")
    return sample


def resident_bytes():
    """The process's resident set size now."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def parked_rss(count):
    """Returns (bytes per greenlet, count, cpu share while spawning) for `count`
    greenlets all waiting on one Event, then releases and joins them."""
    released = Event()
    parked = 0
    woken = 0

    def wait():
        nonlocal parked, woken
        parked += 1
        released.wait()
        woken += 1

    # The list of handles exists before the baseline: the result is what a
    # greenlet costs, not the list holding them. (Unlike the C++ and Go
    # peers, nothing needs giving back to the kernel first: what the timed
    # cases freed and kept resident is too little to show, measured with
    # gc.collect() and malloc_trim() here and without.)
    waiters = [None] * count

    before = resident_bytes()
    cpu_start, wall_start = time.thread_time(), time.perf_counter()
    for i in range(count):
        waiters[i] = gevent.spawn(wait)
    while parked < count:  # the spawned greenlets start from the hub's callbacks
        gevent.sleep(0)
    after = resident_bytes()
    share = (time.thread_time() - cpu_start) / (time.perf_counter() - wall_start)

    released.set()
    gevent.joinall(waiters)
    if woken != count:
        raise SystemExit("gevent_hub: a parked greenlet was not woken")
    return (after - before) / count, count, min(1.0, share)


def main():
    report("yield", time_yield(iterations(150_000)), "ns/yield", split=2)
    report("spawn_join", time_spawn_join(iterations(300_000)), "ns/task")
    report("parked_rss_100k", parked_rss(iterations(100_000)), "B/task")


if __name__ == "__main__":
    main()
