// Command go_httpget is Go's net/http client as a peer of tendril's HTTP
// client (bench/http_client_bench.cpp): 10,000 GETs of a 2 KB page from
// nginx-light with 100 and with 1000 goroutines, each fetching one page
// after another, on one P (runtime.GOMAXPROCS(1)), pinned to one CPU like
// tendril's hub. Run by bench/io_load.py nginx:
//
//	go_httpget URL
//
// One http.Client (one Transport: the connection pool) for both cases, with
// MaxIdleConnsPerHost raised to the concurrency: Go's default keeps only 2
// idle connections per host, and the other 98 or 998 goroutines would open
// and close a connection for every GET. Each body is read whole
// (io.ReadAll), as tendril returns it in the response. Like tendril's
// program: 1000 untimed GETs per case first, every response a 200 with the
// whole page, two result lines per case (GETs per second; the process's
// CPU-seconds per 10,000 GETs).
package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"tendril/bench/peers/go/measure"
	"time"
)

const pageBytes = 2048

// fetch makes `total` GETs of url from `concurrency` goroutines.
func fetch(client *http.Client, url string, concurrency int, total int64) {
	var started atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < concurrency; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for started.Add(1) <= total {
				response, err := client.Get(url)
				if err != nil {
					measure.Fail(err.Error())
				}
				body, err := io.ReadAll(response.Body)
				response.Body.Close()
				if err != nil || response.StatusCode != 200 || len(body) != pageBytes {
					measure.Fail(fmt.Sprintf("GET %s: status %d, %d bytes, %v", url, response.StatusCode,
						len(body), err))
				}
			}
		}()
	}
	wg.Wait()
}

func report(bench string, ops int64, wall time.Duration, cpu time.Duration) {
	share := float64(cpu) / float64(wall)
	if share > 1 {
		share = 1
	}
	fmt.Printf("result bench=%s impl=go value=%.4f unit=req/s n=%d cpu=%.2f\n", bench,
		float64(ops)/wall.Seconds(), ops, share)
	fmt.Printf("result bench=%s_cpu impl=go value=%.4f unit=cpu-s/10k n=%d cpu=%.2f\n", bench,
		cpu.Seconds()*10000/float64(ops), ops, share)
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: go_httpget URL")
		os.Exit(2)
	}
	runtime.GOMAXPROCS(1)
	url := os.Args[1]
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConns = 0 // no limit over all hosts
	client := &http.Client{Transport: transport}
	for _, concurrency := range []int{100, 1000} {
		transport.MaxIdleConnsPerHost = concurrency
		fetch(client, url, concurrency, 1000) // warm-up: opens `concurrency` connections
		total := measure.Iterations(10000)
		cpuStart, wallStart := measure.ProcessCPU(), time.Now()
		fetch(client, url, concurrency, total)
		report(fmt.Sprintf("http_get_c%d", concurrency), total, time.Since(wallStart),
			measure.ProcessCPU()-cpuStart)
	}
}
