#!/usr/bin/python3
"""Python greenlet (Debian python3-greenlet), the semantics tendril copies.

  switch         g.switch() ping-pong between the main greenlet and another;
                 ns per switch, one direction (a round trip is two switches).
  switch_value   the same, each switch carrying an int that the receiver adds
                 one to and sends back.
  create_finish  greenlet(f).switch(), f returning at once; ns per greenlet.

Both numbers include the interpreter running the loop around the switch: that
is what a greenlet user pays, just as tendril's numbers include its C++ loop.
Timed like the C++ programs (bench/measure.hpp): batches timed with
time.perf_counter, the median batch reported, with the same result lines.
Run it with /usr/bin/python3, the interpreter Debian's greenlet is built for.
"""

import os
import statistics
import time

from greenlet import greenlet, getcurrent

BATCHES = 1000


def iterations(default_n):
    """default_n, scaled by TENDRIL_BENCH_SCALE like the C++ programs."""
    scale = float(os.environ.get("TENDRIL_BENCH_SCALE", "1"))
    return max(1, int(default_n * scale))


def measure(ops, batch):
    """Calls batch(n) BATCHES times with n = ops / BATCHES; returns (median ns per op, ops, cpu share)."""
    per_batch = max(1, ops // BATCHES)
    ns = []
    cpu_start, wall_start = time.thread_time(), time.perf_counter()
    for _ in range(BATCHES):
        start = time.perf_counter()
        batch(per_batch)
        ns.append((time.perf_counter() - start) * 1e9 / per_batch)
    share = (time.thread_time() - cpu_start) / (time.perf_counter() - wall_start)
    return statistics.median(ns), per_batch * BATCHES, min(1.0, share)


def report(bench, sample, unit, split=1):
    """Prints a result line; split=2 counts each measured round trip as two switches."""
    ns, ops, share = sample
    print(f"result bench={bench} impl=greenlet value={ns / split:.3f} unit={unit} n={ops * split} "
          f"cpu={share:.2f}", flush=True)


def time_switch(round_trips):
    main = getcurrent()
    stop = False

    def bounce():
        while not stop:
            main.switch()

    other = greenlet(bounce)
    for _ in range(10000):  # warm-up; also starts it
        other.switch()

    def batch(n):
        for _ in range(n):
            other.switch()

    sample = measure(round_trips, batch)
    stop = True
    other.switch()  # lets it return
    assert other.dead
    return sample


def time_switch_value(round_trips):
    main = getcurrent()

    def echo(v):
        while v >= 0:
            v = main.switch(v + 1)

    other = greenlet(echo)
    total = 0
    for i in range(10000):
        total += other.switch(i)

    def batch(n):
        nonlocal total
        for i in range(n):
            total += other.switch(i & 0xFFFF)

    sample = measure(round_trips, batch)
    other.switch(-1)
    assert other.dead and total > 0
    return sample


def time_create_finish(count):
    def run():
        return None

    def batch(n):
        for _ in range(n):
            greenlet(run).switch()

    batch(10000)
    return measure(count, batch)


def main():
    round_trips = iterations(2_500_000)
    report("switch", time_switch(round_trips), "ns/switch", split=2)
    report("switch_value", time_switch_value(round_trips), "ns/switch", split=2)
    report("create_finish", time_create_finish(iterations(300_000)), "ns/greenlet")


if __name__ == "__main__":
    main()
