// Command go_sched is Go's scheduler as a peer of tendril's hub
// (bench/hub_bench.cpp) and of its M:N runtime (bench/runtime_bench.cpp).
// Debian golang-go, standard library only.
//
// Without flags, goroutines run on one P (runtime.GOMAXPROCS(1)), so that,
// like a tendril hub, one thread runs them all:
//
//	yield            runtime.Gosched() ping-pong between the main goroutine
//	                 and one other; ns per yield, one hand-over (a round trip
//	                 is two Gosched calls).
//	spawn_join       start 1000 goroutines whose body adds one to a counter,
//	                 then wait for them all with a sync.WaitGroup; ns per
//	                 goroutine.
//	spawn_join_100k  the same in batches of 100,000.
//	parked_rss_100k  100,000 goroutines blocked receiving from one channel:
//	parked_rss_1m    the process's resident memory grown from before the first
//	                 was started until all are blocked, per goroutine. Closing
//	                 the channel then releases them, and all must finish.
//
// With -procs 2 (bench/run pins the program to two CPUs), GOMAXPROCS is 2 and
// only spawn_join runs, reported as spawn_join_2t, impl=go_procs2: the
// main goroutine starts each batch, and Go decides where the goroutines run
// (a new goroutine goes to the starter's P, and the idle P steals from it).
//
// Timed like the C++ programs (bench/measure.hpp): after a warm-up, the
// operations run in 1000 batches, each timed on its own, and the median
// batch is reported, in the same result lines. `cpu` is the process's CPU
// time over the wall time of the timed batches: with one P and taskset, the
// runtime's threads share the one CPU.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"tendril/bench/peers/go/measure"
	"time"
)

// timeYield times one-way Gosched between the main goroutine and another.
// Gosched puts the caller at the back of the run queue, so with only these
// two runnable each call resumes the other one; the other goroutine counts
// its turns, and the count must be close to the main goroutine's yields.
func timeYield(roundTrips int64) measure.Sample {
	var stop atomic.Bool
	bounced := make(chan int64)
	go func() {
		var bounces int64
		for !stop.Load() {
			bounces++
			runtime.Gosched()
		}
		bounced <- bounces
	}()
	var yields int64
	batch := func(n int64) {
		for i := int64(0); i < n; i++ {
			runtime.Gosched()
		}
		yields += n
	}
	batch(10000) // warm-up; also starts the other goroutine

	s := measure.Run(roundTrips, 1000, batch)

	stop.Store(true)
	// The runtime's own goroutines (GC workers, timers) occasionally take a
	// turn in between, so the two need not alternate exactly (a few percent
	// apart was seen); far fewer turns would mean Gosched did not switch.
	if bounces := <-bounced; bounces < yields*9/10 || bounces > yields+1 {
		measure.Fail(fmt.Sprintf("Gosched did not alternate: %d yields, %d turns of the other goroutine", yields, bounces))
	}
	return s.Split(2)
}

// timeSpawnJoin times starting goroutines in batches and waiting for each batch.
func timeSpawnJoin(tasks, size int64) measure.Sample {
	var counter atomic.Int64 // atomic: goroutines may not share a plain variable, even on one P
	var wg sync.WaitGroup
	batch := func(n int64) {
		wg.Add(int(n))
		for i := int64(0); i < n; i++ {
			go func() {
				counter.Add(1)
				wg.Done()
			}()
		}
		wg.Wait()
	}
	batch(size) // warm-up: the runtime now keeps dead goroutines and their stacks for reuse

	batches := tasks / size
	if batches < 1 {
		batches = 1
	}
	s := measure.Run(batches*size, int(batches), batch)

	if counter.Load() != size+s.Ops {
		measure.Fail("a goroutine did not run")
	}
	return s
}

// residentBytes is the process's resident set size now.
func residentBytes() int64 {
	statm, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		measure.Fail(err.Error())
	}
	fields := strings.Fields(string(statm)) // size, resident, ... in pages
	if len(fields) < 2 {
		measure.Fail("unexpected /proc/self/statm: " + string(statm))
	}
	pages, err := strconv.ParseInt(fields[1], 10, 64)
	if err != nil {
		measure.Fail("unexpected /proc/self/statm: " + err.Error())
	}
	return pages * int64(os.Getpagesize())
}

// parkedRSS is the resident memory per goroutine of `count` goroutines that
// all block receiving from one channel (in the sample's value: bytes), and
// the CPU share while starting them. Closing the channel then releases
// them, and all must finish, which proves they were alive.
func parkedRSS(count int64) measure.Sample {
	release := make(chan struct{})
	var parked, finished sync.WaitGroup
	parked.Add(int(count))
	finished.Add(int(count))
	// Collects the earlier cases' garbage and gives freed memory back to the
	// kernel: pages still resident would be reused by these goroutines
	// without being counted.
	debug.FreeOSMemory()

	before := residentBytes()
	cpuStart, wallStart := measure.ProcessCPU(), time.Now()
	for i := int64(0); i < count; i++ {
		go func() {
			parked.Done()
			<-release
			finished.Done()
		}()
	}
	// The last Done wakes this goroutine only after its own goroutine has
	// blocked: a woken goroutine waits for the running one to give up the P.
	parked.Wait()
	after := residentBytes()
	share := measure.CPUShare(cpuStart, wallStart)

	close(release)
	finished.Wait()
	return measure.Sample{Value: float64(after-before) / float64(count), Ops: count, CPUShare: share}
}

func main() {
	procs := flag.Int("procs", 1, "GOMAXPROCS: 1 for the one-thread cases, 2 for spawn+join across two")
	flag.Parse()
	switch *procs {
	case 1:
		runtime.GOMAXPROCS(1)
		measure.Report("yield", "go", timeYield(measure.Iterations(5_000_000)), "ns/yield")
		measure.Report("spawn_join", "go", timeSpawnJoin(measure.Iterations(1_000_000), 1000), "ns/task")
		measure.Report("parked_rss_100k", "go", parkedRSS(measure.Iterations(100_000)), "B/task")
		// The runtime never frees a dead goroutine's descriptor: this case reuses
		// the 100k case's, which puts it ~2% below a fresh process's figure.
		measure.Report("parked_rss_1m", "go", parkedRSS(measure.Iterations(1_000_000)), "B/task")
		// Last, so that the parked cases do not reuse its batches' goroutines.
		measure.Report("spawn_join_100k", "go", timeSpawnJoin(measure.Iterations(5_000_000), 100_000), "ns/task")
	case 2:
		runtime.GOMAXPROCS(2)
		measure.Report("spawn_join_2t", "go_procs2", timeSpawnJoin(measure.Iterations(1_000_000), 1000), "ns/task")
	default:
		measure.Fail("-procs takes 1 or 2")
	}
}
