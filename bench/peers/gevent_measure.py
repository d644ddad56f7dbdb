"""The timing the gevent peers share, as bench/measure.hpp is for the C++ programs.

After a warm-up (the caller's), batches timed with time.perf_counter; the
median batch is reported as a `result bench=... impl=gevent ...` line.
"""

import os
import statistics
import time

BATCHES = 1000


def iterations(default_n):
    """default_n, scaled by TENDRIL_BENCH_SCALE like the C++ programs."""
    scale = float(os.environ.get("TENDRIL_BENCH_SCALE", "1"))
    return max(1, int(default_n * scale))


def measure(ops, batch, batches=BATCHES):
    """Calls batch(n) `batches` times with n = ops / batches; returns (median ns per op, ops, cpu share)."""
    per_batch = max(1, ops // batches)
    ns = []
    cpu_start, wall_start = time.thread_time(), time.perf_counter()
    for _ in range(batches):
        start = time.perf_counter()
        batch(per_batch)
        ns.append((time.perf_counter() - start) * 1e9 / per_batch)
    share = (time.thread_time() - cpu_start) / (time.perf_counter() - wall_start)
    return statistics.median(ns), per_batch * batches, min(1.0, share)


def report(bench, sample, unit, split=1):
    """Prints a result line; split=2 counts each measured operation as two (a round trip as two yields)."""
    value, ops, share = sample
    print(f"result bench={bench} impl=gevent value={value / split:.3f} unit={unit} n={ops * split} "
          f"cpu={share:.2f}", flush=True)
