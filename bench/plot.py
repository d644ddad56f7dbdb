#!/usr/bin/python3
"""bench/plot.py: draw docs/BENCHMARKS.md's plots from bench/run's raw output.

    bench/run --json results.json            # or --only crawl, --only hub_bench, ...
    bench/plot.py results.json docs/img      # one PNG per plot whose benchmarks ran

Each plot puts one line per implementation (tendril and its peers) through
the medians of a benchmark measured at several sizes: throughput against
concurrency (fibers, connections) and memory against fiber count. A plot is
drawn only from what the JSON holds; one with no data is skipped, and its
name is said. Installs python3-matplotlib (Debian) with apt-get when it is
missing, through sudo when not root, as bench/run installs its peers.

Run it with Debian's python3 (/usr/bin/python3): the package goes there.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path


def ensure_matplotlib():
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print("bench/plot.py: installing python3-matplotlib", file=sys.stderr)
        sudo = [] if os.geteuid() == 0 else ["sudo"]
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(sudo + ["apt-get", "update"], check=True, env=env, stdout=subprocess.DEVNULL)
        subprocess.run(sudo + ["apt-get", "install", "-y", "--no-install-recommends", "python3-matplotlib"],
                       check=True, env=env, stdout=subprocess.DEVNULL)
    import matplotlib
    matplotlib.use("Agg")  # files only, no display


# name: (title, x axis label, y axis label, [(x, bench)], goal line or None)
PLOTS = {
    "crawl_throughput": ("Crawl of the built-in site", "fibers (goroutines, greenlets, tasks)", "pages/s",
                         [(100, "crawl_c100"), (1000, "crawl_c1000")], None),
    "http_client_throughput": ("10k GETs of 2 KB from nginx", "fibers", "requests/s",
                               [(100, "http_get_c100"), (1000, "http_get_c1000")], None),
    "libpq_throughput": ("libpq SELECT 1", "connections", "queries/s",
                         [(10, "libpq_n10"), (100, "libpq_n100"), (1000, "libpq_n1000")], None),
    "parked_memory": ("Memory per parked task", "parked tasks", "bytes per task (RSS)",
                      [(100_000, "parked_rss_100k"), (1_000_000, "parked_rss_1m")], (5120, "goal: 5 KiB")),
}

# How the implementations are named in the legend; others appear as printed.
NAMES = {
    "tendril": "tendril", "curl_multi": "raw curl_multi loop", "go": "Go", "gevent": "gevent",
    "gevent_urllib3": "gevent + urllib3", "aiohttp": "asyncio + aiohttp", "boost_fiber": "Boost.Fiber",
    "async": "libpq async API, one thread", "threads": "one OS thread per connection",
}


def medians(results):
    """{(bench, impl): (median, unit)} over every run."""
    return {(r["bench"], r["impl"]): (statistics.median(r["values"]), r["unit"]) for r in results}


def draw(name, spec, values, machine, outdir):
    import matplotlib.pyplot as plt

    title, xlabel, ylabel, points, goal = spec
    impls = sorted({impl for (bench, impl) in values for _, b in points if bench == b},
                   key=lambda i: (i != "tendril", NAMES.get(i, i)))
    if not impls:
        return False
    figure, axes = plt.subplots(figsize=(7, 4.2))
    for impl in impls:
        xs = [x for x, bench in points if (bench, impl) in values]
        ys = [values[(bench, impl)][0] for x, bench in points if (bench, impl) in values]
        axes.plot(xs, ys, marker="o", linewidth=2.5 if impl == "tendril" else 1.5, label=NAMES.get(impl, impl))
    if goal is not None:
        axes.axhline(goal[0], color="gray", linestyle="--", linewidth=1, label=goal[1])
    axes.set_xscale("log")  # sizes grow tenfold
    axes.set_xticks([x for x, _ in points])
    axes.set_xticklabels([f"{x:,}" for x, _ in points])
    axes.set_ylim(bottom=0)
    axes.set_title(title)
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.grid(True, alpha=0.3)
    axes.legend(fontsize="small")
    figure.text(0.01, 0.01, f"{machine.get('date', '')}, {machine.get('cpu', '')}; medians of bench/run",
                fontsize="x-small", alpha=0.7)
    figure.tight_layout(rect=(0, 0.03, 1, 1))
    path = outdir / f"{name}.png"
    figure.savefig(path, dpi=110)
    plt.close(figure)
    print(f"bench/plot.py: wrote {path}")
    return True


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("results", type=Path, help="a file written by bench/run --json")
    parser.add_argument("outdir", type=Path, help="where the PNG files go (created if missing)")
    args = parser.parse_args()
    raw = json.loads(args.results.read_text())
    ensure_matplotlib()
    args.outdir.mkdir(parents=True, exist_ok=True)
    values = medians(raw["results"])
    skipped = [name for name, spec in PLOTS.items() if not draw(name, spec, values, raw["machine"], args.outdir)]
    if skipped:
        print(f"bench/plot.py: no data for {', '.join(skipped)} (their benchmarks did not run)")
    if len(skipped) == len(PLOTS):
        sys.exit("bench/plot.py: nothing to plot")


if __name__ == "__main__":
    main()
