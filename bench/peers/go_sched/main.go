// Command go_sched is Go's scheduler as a peer of tendril's hub
// (bench/hub_bench.cpp): goroutines on one P (runtime.GOMAXPROCS(1)), so
// that, like a tendril hub, one thread runs them all. Debian golang-go,
// standard library only.
//
//	yield            runtime.Gosched() ping-pong between the main goroutine
//	                 and one other; ns per yield, one hand-over (a round trip
//	                 is two Gosched calls).
//	spawn_join       start 1000 goroutines whose body adds one to a counter,
//	                 then wait for them all with a sync.WaitGroup; ns per
//	                 goroutine.
//	parked_rss_100k  100,000 goroutines blocked receiving from one channel:
//	parked_rss_1m    the process's resident memory grown from before the first
//	                 was started until all are blocked, per goroutine. Closing
//	                 the channel then releases them, and all must finish.
//
// Timed like the C++ programs (bench/measure.hpp): after a warm-up, the
// operations run in 1000 batches, each timed on its own, and the median
// batch is reported, in the same result lines. `cpu` is the process's CPU
// time over the wall time of the timed batches: with one P and taskset, the
// runtime's threads share the one CPU.
package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// batches is how many timed batches measure splits the operations into.
const batches = 1000

// sample is one measured case.
type sample struct {
	value    float64 // ns per operation (bytes per goroutine in the RSS cases)
	ops      int64   // operations measured
	cpuShare float64 // process CPU time / wall time while measuring
}

// split is the same sample counted in k-times smaller operations.
func (s sample) split(k int64) sample {
	return sample{s.value / float64(k), s.ops * k, s.cpuShare}
}

// iterations is defaultN, or that times TENDRIL_BENCH_SCALE (smoke runs).
func iterations(defaultN int64) int64 {
	scale, err := strconv.ParseFloat(os.Getenv("TENDRIL_BENCH_SCALE"), 64)
	if err != nil {
		return defaultN
	}
	if n := int64(float64(defaultN) * scale); n > 0 {
		return n
	}
	return 1
}

// processCPU is the CPU time of the whole process, the runtime's threads included.
func processCPU() time.Duration {
	var usage syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &usage); err != nil {
		fail("getrusage: " + err.Error())
	}
	return time.Duration(usage.Utime.Nano() + usage.Stime.Nano())
}

// cpuShare is the share of the wall time since wallStart the process was on a CPU.
func cpuShare(cpuStart time.Duration, wallStart time.Time) float64 {
	share := float64(processCPU()-cpuStart) / float64(time.Since(wallStart))
	if share > 1 {
		return 1
	}
	return share
}

// measure calls batch(n), which must perform n operations, `batches` times
// with n = ops / batches, and returns the median batch's time per operation.
func measure(ops int64, batch func(n int64)) sample {
	perBatch := ops / batches
	if perBatch < 1 {
		perBatch = 1
	}
	ns := make([]int64, batches)
	cpuStart, wallStart := processCPU(), time.Now()
	for i := range ns {
		start := time.Now()
		batch(perBatch)
		ns[i] = int64(time.Since(start))
	}
	share := cpuShare(cpuStart, wallStart)
	sort.Slice(ns, func(i, j int) bool { return ns[i] < ns[j] })
	return sample{float64(ns[batches/2]) / float64(perBatch), perBatch * batches, share}
}

// timeYield times one-way Gosched between the main goroutine and another.
// Gosched puts the caller at the back of the run queue, so with only these
// two runnable each call resumes the other one; the other goroutine counts
// its turns, and the count must equal the main goroutine's yields.
func timeYield(roundTrips int64) sample {
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

	s := measure(roundTrips, batch)

	stop.Store(true)
	if bounces := <-bounced; bounces != yields {
		fail(fmt.Sprintf("Gosched did not alternate: %d yields, %d turns of the other goroutine", yields, bounces))
	}
	return s.split(2)
}

// timeSpawnJoin times starting goroutines in batches and waiting for each batch.
func timeSpawnJoin(tasks int64) sample {
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
	batch(1000) // warm-up: the runtime now keeps dead goroutines and their stacks for reuse

	s := measure(tasks, batch)

	if counter.Load() != 1000+s.ops {
		fail("a goroutine did not run")
	}
	return s
}

// residentBytes is the process's resident set size now.
func residentBytes() int64 {
	statm, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		fail(err.Error())
	}
	fields := strings.Fields(string(statm)) // size, resident, ... in pages
	if len(fields) < 2 {
		fail("unexpected /proc/self/statm: " + string(statm))
	}
	pages, err := strconv.ParseInt(fields[1], 10, 64)
	if err != nil {
		fail("unexpected /proc/self/statm: " + err.Error())
	}
	return pages * int64(os.Getpagesize())
}

// parkedRSS is the resident memory per goroutine of `count` goroutines that
// all block receiving from one channel (in the sample's value: bytes), and
// the CPU share while starting them. Closing the channel then releases
// them, and all must finish, which proves they were alive.
func parkedRSS(count int64) sample {
	release := make(chan struct{})
	var parked, finished sync.WaitGroup
	parked.Add(int(count))
	finished.Add(int(count))
	// Collects the earlier cases' garbage and gives freed memory back to the
	// kernel: pages still resident would be reused by these goroutines
	// without being counted.
	debug.FreeOSMemory()

	before := residentBytes()
	cpuStart, wallStart := processCPU(), time.Now()
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
	share := cpuShare(cpuStart, wallStart)

	close(release)
	finished.Wait()
	return sample{float64(after-before) / float64(count), count, share}
}

// fail reports a benchmark that did not do what it claims and exits, so that
// bench/run reports the program as failed rather than its numbers.
func fail(what string) {
	fmt.Fprintln(os.Stderr, "go_sched:", what)
	os.Exit(1)
}

// report prints one result line, as bench/measure.hpp's report() does.
func report(bench string, s sample, unit string) {
	fmt.Printf("result bench=%s impl=go value=%.3f unit=%s n=%d cpu=%.2f\n",
		bench, s.value, unit, s.ops, s.cpuShare)
}

func main() {
	runtime.GOMAXPROCS(1)
	report("yield", timeYield(iterations(5_000_000)), "ns/yield")
	report("spawn_join", timeSpawnJoin(iterations(1_000_000)), "ns/task")
	report("parked_rss_100k", parkedRSS(iterations(100_000)), "B/task")
	// The runtime never frees a dead goroutine's descriptor: this case reuses
	// the 100k case's, which puts it ~2% below a fresh process's figure.
	report("parked_rss_1m", parkedRSS(iterations(1_000_000)), "B/task")
}
