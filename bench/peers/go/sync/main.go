// Command go_sync is Go's synchronisation as a peer of tendril's sync layer
// (bench/sync_bench.cpp). Debian golang-go, standard library only.
//
// Without flags, goroutines run on one P (runtime.GOMAXPROCS(1)), so that,
// like a tendril hub, one thread runs them all:
//
//	mutex_uncontended     Lock()+Unlock() of a free sync.Mutex by one
//	                      goroutine; ns per pair.
//	mutex_contended       4 goroutines, each `Lock; runtime.Gosched(); Unlock`
//	                      in a loop; ns per pair, all goroutines together.
//	queue_put_get         one goroutine sends ints into a channel with a
//	                      buffer of 64, another receives them; ns per item.
//	channel_ping_pong     two goroutines bounce an int over two unbuffered
//	                      channels; ns per round trip.
//	event_broadcast_1000  1000 goroutines block receiving from the round's
//	                      channel; the main goroutine closes it (Go's
//	                      broadcast) and waits until all have run; ns per
//	                      woken waiter.
//
// With -procs 2 (bench/run pins the program to two CPUs), GOMAXPROCS is 2 and
// only the queue and the ping-pong run, reported as impl=go_procs2:
// queue_put_get_2t and channel_ping_pong_2t. Go decides where the two
// goroutines run; a woken goroutine goes to the waker's P first (runnext),
// so much of the exchange can stay on one P while the other one idles.
//
// sync.Mutex lets the unlocking goroutine take the lock again before the
// waiter it woke runs (barging, "normal mode"), until a waiter has waited
// 1 ms ("starvation mode", where Unlock hands it over). tendril hands the
// lock to the oldest waiter every time.
//
// Timed like the C++ programs (bench/measure.hpp): after a warm-up, the
// operations run in batches, each timed on its own, and the median batch is
// reported, in the same result lines. `cpu` is the process's CPU time over
// the wall time of the timed batches, at most 1.
package main

import (
	"flag"
	"runtime"
	"sync"
	"sync/atomic"
	"tendril/bench/peers/go/measure"
)

const (
	contenders       = 4    // goroutines fighting over one mutex
	queueCapacity    = 64   // the buffered channel's capacity
	broadcastWaiters = 1000 // goroutines woken by one broadcast
)

func timeMutexUncontended(pairs int64) measure.Sample {
	var m sync.Mutex
	var counter int64
	batch := func(n int64) {
		for i := int64(0); i < n; i++ {
			m.Lock()
			counter++
			m.Unlock()
		}
	}
	batch(10000)
	s := measure.Run(pairs, 1000, batch)
	if counter != 10000+s.Ops {
		measure.Fail("a lock was lost")
	}
	return s
}

// timeMutexContended: each batch starts `contenders` goroutines that each do
// a quarter of the batch's pairs, and waits for them. The Gosched inside the
// lock is what makes the others find it taken.
func timeMutexContended(pairs int64) measure.Sample {
	var m sync.Mutex
	var counter, expected int64 // counter: guarded by m
	var wg sync.WaitGroup
	batch := func(n int64) {
		each := n / contenders
		if each < 1 {
			each = 1
		}
		expected += each * contenders
		wg.Add(contenders)
		for f := 0; f < contenders; f++ {
			go func() {
				for i := int64(0); i < each; i++ {
					m.Lock()
					counter++
					runtime.Gosched()
					m.Unlock()
				}
				wg.Done()
			}()
		}
		wg.Wait()
	}
	batch(4000)
	s := measure.Run(pairs, 1000, batch)
	if counter != expected {
		measure.Fail("a contended lock was lost")
	}
	return s
}

// drain receives until ch is closed and sends how many it got on `got`.
func drain(ch <-chan int, got chan<- int64) {
	var n int64
	for range ch {
		n++
	}
	got <- n
}

// timeQueuePutGet: a consumer goroutine receives until the channel closes;
// the timed batches send. With two Ps the consumer may run on either.
func timeQueuePutGet(items int64) measure.Sample {
	ch := make(chan int, queueCapacity)
	got := make(chan int64)
	go drain(ch, got)
	var put int64
	batch := func(n int64) {
		for i := int64(0); i < n; i++ {
			ch <- int(i)
		}
		put += n
	}
	batch(10000)
	s := measure.Run(items, 1000, batch)
	close(ch)
	if <-got != put {
		measure.Fail("the consumer did not get every item")
	}
	return s
}

func timeChannelPingPong(roundTrips int64) measure.Sample {
	ping, pong := make(chan int), make(chan int)
	go func() {
		for v := range ping {
			pong <- v + 1
		}
		close(pong)
	}()
	batch := func(n int64) {
		for i := int64(0); i < n; i++ {
			ping <- int(i)
			if <-pong != int(i)+1 {
				measure.Fail("ping-pong lost a value")
			}
		}
	}
	batch(10000)
	s := measure.Run(roundTrips, 1000, batch)
	close(ping)
	<-pong
	return s
}

// round is one broadcast: closing done releases the round's waiters, who
// then wait on next (set before done is closed, so they see it).
type round struct {
	done chan struct{}
	next *round
}

// timeEventBroadcast: `broadcastWaiters` goroutines wait for the current
// round; a round closes its channel and waits until every waiter has run and
// counted itself. One batch is one round.
func timeEventBroadcast(wakes int64) measure.Sample {
	current := &round{done: make(chan struct{})}
	// ran is shared by every waiter, so it is atomic (goroutines may run in
	// parallel whatever GOMAXPROCS is); each waiter counts its own wakes and
	// adds them to woken once, on the way out.
	var ran, woken atomic.Int64
	var stop atomic.Bool
	allRan := make(chan struct{})
	var finished sync.WaitGroup
	finished.Add(broadcastWaiters)
	for i := 0; i < broadcastWaiters; i++ {
		go func(r *round) {
			defer finished.Done()
			var mine int64
			for {
				<-r.done
				if stop.Load() {
					woken.Add(mine)
					return
				}
				r = r.next
				mine++
				if ran.Add(1) == broadcastWaiters {
					allRan <- struct{}{}
				}
			}
		}(current)
	}
	broadcast := func() {
		current.next = &round{done: make(chan struct{})}
		ran.Store(0)
		close(current.done)
		current = current.next
	}
	batch := func(n int64) {
		for done := int64(0); done < n; done += broadcastWaiters {
			broadcast()
			<-allRan
		}
	}
	batch(10 * broadcastWaiters)
	if wakes < broadcastWaiters {
		wakes = broadcastWaiters
	}
	s := measure.Run(wakes, int(wakes/broadcastWaiters), batch)
	stop.Store(true)
	broadcast()
	finished.Wait()
	if woken.Load() != 10*broadcastWaiters+s.Ops {
		measure.Fail("a waiter was not woken")
	}
	return s
}

func main() {
	procs := flag.Int("procs", 1, "GOMAXPROCS: 1 for the one-thread cases, 2 for the cross-thread ones")
	flag.Parse()
	switch *procs {
	case 1:
		runtime.GOMAXPROCS(1)
		measure.Report("mutex_uncontended", "go", timeMutexUncontended(measure.Iterations(10_000_000)), "ns/pair")
		measure.Report("mutex_contended", "go", timeMutexContended(measure.Iterations(2_000_000)), "ns/pair")
		measure.Report("queue_put_get", "go", timeQueuePutGet(measure.Iterations(5_000_000)), "ns/item")
		measure.Report("channel_ping_pong", "go", timeChannelPingPong(measure.Iterations(2_000_000)), "ns/round_trip")
		measure.Report("event_broadcast_1000", "go", timeEventBroadcast(measure.Iterations(1_000_000)), "ns/wake")
	case 2:
		runtime.GOMAXPROCS(2)
		measure.Report("queue_put_get_2t", "go_procs2", timeQueuePutGet(measure.Iterations(2_000_000)), "ns/item")
		measure.Report("channel_ping_pong_2t", "go_procs2", timeChannelPingPong(measure.Iterations(100_000)), "ns/round_trip")
	default:
		measure.Fail("-procs takes 1 or 2")
	}
}
