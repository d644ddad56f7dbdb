// Package measure is the timing the Go peers share, as bench/measure.hpp is
// for the C++ programs: after a warm-up (the caller's), the operations run
// in batches, each timed on its own, and the median batch is reported in
// the same `result bench=... impl=... value=...` lines. `cpu` is the
// process's CPU time over the wall time of the timed batches, at most 1.
package measure

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
	"time"
)

// Sample is one measured case.
type Sample struct {
	Value    float64 // ns per operation (bytes per goroutine in the RSS cases)
	Ops      int64   // operations measured
	CPUShare float64 // process CPU time / wall time while measuring
}

// Split is the same sample counted in k-times smaller operations.
func (s Sample) Split(k int64) Sample {
	return Sample{s.Value / float64(k), s.Ops * k, s.CPUShare}
}

// Iterations is defaultN, or that times TENDRIL_BENCH_SCALE (smoke runs).
func Iterations(defaultN int64) int64 {
	scale, err := strconv.ParseFloat(os.Getenv("TENDRIL_BENCH_SCALE"), 64)
	if err != nil {
		return defaultN
	}
	if n := int64(float64(defaultN) * scale); n > 0 {
		return n
	}
	return 1
}

// ProcessCPU is the CPU time of the whole process, the runtime's threads included.
func ProcessCPU() time.Duration {
	var usage syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &usage); err != nil {
		Fail("getrusage: " + err.Error())
	}
	return time.Duration(usage.Utime.Nano() + usage.Stime.Nano())
}

// CPUShare is the share of the wall time since wallStart the process was on a CPU.
func CPUShare(cpuStart time.Duration, wallStart time.Time) float64 {
	share := float64(ProcessCPU()-cpuStart) / float64(time.Since(wallStart))
	if share > 1 {
		return 1
	}
	return share
}

// Run calls batch(n), which must perform n operations, `batches` times with
// n = ops / batches, and returns the median batch's time per operation.
func Run(ops int64, batches int, batch func(n int64)) Sample {
	perBatch := ops / int64(batches)
	if perBatch < 1 {
		perBatch = 1
	}
	ns := make([]int64, batches)
	cpuStart, wallStart := ProcessCPU(), time.Now()
	for i := range ns {
		start := time.Now()
		batch(perBatch)
		ns[i] = int64(time.Since(start))
	}
	share := CPUShare(cpuStart, wallStart)
	sort.Slice(ns, func(i, j int) bool { return ns[i] < ns[j] })
	return Sample{float64(ns[batches/2]) / float64(perBatch), perBatch * int64(batches), share}
}

// Fail reports a benchmark that did not do what it claims and exits, so that
// bench/run reports the program as failed rather than its numbers.
func Fail(what string) {
	fmt.Fprintln(os.Stderr, filepath.Base(os.Args[0])+":", what)
	os.Exit(1)
}

// Report prints one result line, as bench/measure.hpp's report() does.
func Report(bench, impl string, s Sample, unit string) {
	fmt.Printf("result bench=%s impl=%s value=%.3f unit=%s n=%d cpu=%.2f\n",
		bench, impl, s.Value, unit, s.Ops, s.CPUShare)
}
