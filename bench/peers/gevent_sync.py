#!/usr/bin/python3
"""gevent (Debian python3-gevent), whose objects tendril's sync layer copies: the peer of bench/sync_bench.cpp.

  mutex_uncontended     acquire()+release() of a free
                        gevent.lock.BoundedSemaphore(1) (what a monkey-patched
                        threading.Lock is) by one greenlet; ns per pair.
  mutex_contended       4 greenlets, each `acquire; gevent.sleep(0); release`
                        in a loop; ns per pair, all greenlets together.
  queue_put_get         one greenlet put()s ints into a gevent.queue.Queue(64),
                        another get()s them; ns per item.
  channel_ping_pong     two greenlets bounce an int over two
                        gevent.queue.Channel (unbuffered); ns per round trip.
  event_broadcast_1000  1000 greenlets wait on a gevent.event.Event, the main
                        greenlet set()s it and waits until all have run; ns per
                        woken waiter. Two events alternate, as in tendril's
                        case, so that each round's can be cleared first.

gevent is slower per operation, so each case does fewer (see main()); the
cross-thread cases have no gevent peer (a hub is one thread).

Timed like the C++ programs (bench/measure.hpp): after a warm-up, batches
timed with time.perf_counter, the median batch reported, with the same
result lines. The numbers include the interpreter running the loop around
each call: that is what a gevent user pays. Run it with /usr/bin/python3,
the interpreter Debian's gevent is built for.
"""

import gevent
from gevent.event import Event
from gevent.lock import BoundedSemaphore
from gevent.queue import Channel, Queue

from gevent_measure import iterations, measure, report

CONTENDERS = 4
QUEUE_CAPACITY = 64
BROADCAST_WAITERS = 1000


def fail(what):
    raise SystemExit(f"gevent_sync: {what}")


def time_mutex_uncontended(pairs):
    lock = BoundedSemaphore(1)
    counter = 0

    def batch(n):
        nonlocal counter
        for _ in range(n):
            lock.acquire()
            counter += 1
            lock.release()

    batch(10000)
    sample = measure(pairs, batch)
    if counter != 10000 + sample[1]:
        fail("a lock was lost")
    return sample


def time_mutex_contended(pairs):
    """Each batch spawns CONTENDERS greenlets that each do a quarter of the
    batch's pairs, and joins them; 200 batches."""
    lock = BoundedSemaphore(1)
    counter = 0
    expected = 0

    def contend(each):
        nonlocal counter
        for _ in range(each):
            lock.acquire()
            counter += 1
            gevent.sleep(0)
            lock.release()

    def batch(n):
        nonlocal expected
        each = max(1, n // CONTENDERS)
        expected += each * CONTENDERS
        gevent.joinall([gevent.spawn(contend, each) for _ in range(CONTENDERS)])

    batch(400)
    sample = measure(pairs, batch, batches=200)
    if counter != expected:
        fail("a contended lock was lost")
    return sample


def time_queue_put_get(items):
    """A consumer greenlet gets until it sees None; the timed batches put."""
    queue = Queue(QUEUE_CAPACITY)
    got = 0
    put = 0

    def consume():
        nonlocal got
        while queue.get() is not None:
            got += 1

    consumer = gevent.spawn(consume)

    def batch(n):
        nonlocal put
        for i in range(n):
            queue.put(i)
        put += n

    batch(10000)
    sample = measure(items, batch)
    queue.put(None)
    consumer.join()
    if got != put:
        fail("the consumer did not get every item")
    return sample


def time_channel_ping_pong(round_trips):
    ping, pong = Channel(), Channel()

    def echo():
        while (value := ping.get()) is not None:
            pong.put(value + 1)

    other = gevent.spawn(echo)

    def batch(n):
        for i in range(n):
            ping.put(i)
            if pong.get() != i + 1:
                fail("ping-pong lost a value")

    batch(1000)
    sample = measure(round_trips, batch)
    ping.put(None)
    other.join()
    return sample


def time_event_broadcast(wakes):
    """BROADCAST_WAITERS greenlets wait on events[g]; a round clears the other
    event (every waiter is past it), sets events[g] and waits until all have
    run and counted themselves. One batch is one round; 200 batches."""
    events = [Event(), Event()]
    all_ran = Event()
    ran = 0
    woken = 0
    stop = False
    generation = 0

    def wait():
        nonlocal ran, woken
        g = 0
        while True:
            events[g].wait()
            if stop:
                return
            g ^= 1
            woken += 1
            ran += 1
            if ran == BROADCAST_WAITERS:
                all_ran.set()

    waiters = [gevent.spawn(wait) for _ in range(BROADCAST_WAITERS)]

    def broadcast():
        nonlocal ran, generation
        ran = 0
        all_ran.clear()
        events[generation ^ 1].clear()
        events[generation].set()
        generation ^= 1

    def batch(n):
        for _ in range(0, n, BROADCAST_WAITERS):
            broadcast()
            all_ran.wait()

    batch(10 * BROADCAST_WAITERS)
    wakes = max(wakes, BROADCAST_WAITERS)
    sample = measure(wakes, batch, batches=wakes // BROADCAST_WAITERS)
    stop = True
    broadcast()
    gevent.joinall(waiters)
    if woken != 10 * BROADCAST_WAITERS + sample[1]:
        fail("a waiter was not woken")
    return sample


def main():
    report("mutex_uncontended", time_mutex_uncontended(iterations(1_000_000)), "ns/pair")
    report("mutex_contended", time_mutex_contended(iterations(100_000)), "ns/pair")
    report("queue_put_get", time_queue_put_get(iterations(300_000)), "ns/item")
    report("channel_ping_pong", time_channel_ping_pong(iterations(100_000)), "ns/round_trip")
    report("event_broadcast_1000", time_event_broadcast(iterations(200_000)), "ns/wake")


if __name__ == "__main__":
    main()
