// Command go_crawl is Go's peer of tendril's crawler (examples/crawler,
// issue 8): the same crawl of the built-in site with N goroutines and
// net/http, on one P (runtime.GOMAXPROCS(1)), pinned to one CPU like
// tendril's hub. Run by bench/io_load.py site against `crawler --serve` on
// the other CPU:
//
//	go_crawl URL N
//
// The crawl is the crawler's: start at URL; N worker goroutines take URLs
// from a frontier (a queue, a set of every URL queued, and a count of URLs
// queued or in flight: the crawl is over when it reaches zero, as in
// examples/crawler/memory_frontier.cpp); each GETs its URL (keep-alive
// HTTP/1.1, redirects followed), reads the body whole, and from a 200
// text/html page takes the href of each <a>, resolves it against the
// page's URL, drops the fragment, keeps it if it is http(s) on the start's
// host, and queues it if it was never queued. One http.Client, its
// MaxIdleConnsPerHost raised to N (Go's default keeps 2 idle connections
// per host, and the other workers would open one per page). The
// benchmark's site answers every page with 200, so any other answer or
// error ends the program (status 1).
//
// Links: Debian's golang-go has no HTML parser (golang.org/x/net/html is
// not in the standard library), so hrefs() is a small scanner of <a> tags,
// which does less than the gumbo parse in the C++ crawlers: it knows
// neither comments nor <script>. That is the usual Go crawler without
// dependencies, and it favours this peer.
//
// Prints `result bench=crawl_cN impl=go value=<pages/s> unit=pages/s
// n=<pages> cpu=<share>`: the crawl timed from the first request to the
// last answer, cpu = the process's CPU time over that wall time.
package main

import (
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"tendril/bench/peers/go/measure"
	"time"
)

// frontier: what is left to fetch; take() waits while others may still add.
type frontier struct {
	mu      sync.Mutex
	more    *sync.Cond
	queue   []string
	seen    map[string]bool
	pending int // queued or taken and not done
}

func newFrontier() *frontier {
	f := &frontier{seen: map[string]bool{}}
	f.more = sync.NewCond(&f.mu)
	return f
}

func (f *frontier) add(urls []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, u := range urls {
		if !f.seen[u] {
			f.seen[u] = true
			f.queue = append(f.queue, u)
			f.pending++
			f.more.Signal()
		}
	}
}

// take returns the next URL, or false once nothing is queued or in flight.
func (f *frontier) take() (string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for len(f.queue) == 0 && f.pending > 0 {
		f.more.Wait()
	}
	if len(f.queue) == 0 {
		return "", false
	}
	u := f.queue[0]
	f.queue = f.queue[1:]
	return u, true
}

func (f *frontier) done() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.pending--; f.pending == 0 {
		f.more.Broadcast()
	}
}

// hrefs returns the href of each <a> tag in page, character references
// decoded (see the top of the file for what it does not know).
func hrefs(page string) []string {
	var found []string
	for i := 0; ; {
		lt := strings.IndexByte(page[i:], '<')
		if lt < 0 {
			return found
		}
		i += lt + 1
		if i+1 >= len(page) || page[i]|0x20 != 'a' || !isSpace(page[i+1]) {
			continue
		}
		end := strings.IndexByte(page[i:], '>')
		if end < 0 {
			return found
		}
		if value, ok := attribute(page[i+1:i+end], "href"); ok {
			found = append(found, html.UnescapeString(value))
		}
		i += end
	}
}

// attribute returns the value of attribute `name` in the inside of a tag.
func attribute(tag, name string) (string, bool) {
	at := strings.Index(strings.ToLower(tag), name)
	if at < 0 {
		return "", false
	}
	rest := strings.TrimLeft(tag[at+len(name):], " \t\n\r\f")
	if !strings.HasPrefix(rest, "=") {
		return "", false
	}
	rest = strings.TrimLeft(rest[1:], " \t\n\r\f")
	if rest != "" && (rest[0] == '"' || rest[0] == '\'') {
		if end := strings.IndexByte(rest[1:], rest[0]); end >= 0 {
			return rest[1 : 1+end], true
		}
		return "", false
	}
	if end := strings.IndexAny(rest, " \t\n\r\f"); end >= 0 {
		return rest[:end], true
	}
	return rest, true
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' }

// visit fetches u and returns the links to follow from it; counts pages.
func visit(client *http.Client, u, host string, pages *atomic.Int64) []string {
	response, err := client.Get(u)
	if err != nil {
		measure.Fail(err.Error())
	}
	body, err := io.ReadAll(response.Body)
	response.Body.Close()
	if err != nil || response.StatusCode != 200 {
		measure.Fail(fmt.Sprintf("GET %s: status %d, %v", u, response.StatusCode, err))
	}
	if !strings.HasPrefix(response.Header.Get("Content-Type"), "text/html") {
		return nil
	}
	pages.Add(1)
	base := response.Request.URL // after redirects
	var next []string
	for _, href := range hrefs(string(body)) {
		link, err := base.Parse(strings.TrimSpace(href))
		if err != nil || (link.Scheme != "http" && link.Scheme != "https") || link.Host != host {
			continue
		}
		link.Fragment, link.RawFragment = "", ""
		next = append(next, link.String())
	}
	return next
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: go_crawl URL N")
		os.Exit(2)
	}
	workers, err := strconv.Atoi(os.Args[2])
	start, err2 := url.Parse(os.Args[1])
	if err != nil || err2 != nil || workers <= 0 {
		fmt.Fprintln(os.Stderr, "usage: go_crawl URL N")
		os.Exit(2)
	}
	runtime.GOMAXPROCS(1)
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConns = 0 // no limit over all hosts
	transport.MaxIdleConnsPerHost = workers
	client := &http.Client{Transport: transport}

	var pages atomic.Int64
	f := newFrontier()
	cpuStart, wallStart := measure.ProcessCPU(), time.Now()
	f.add([]string{start.String()})
	var wg sync.WaitGroup
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for u, ok := f.take(); ok; u, ok = f.take() {
				f.add(visit(client, u, start.Host, &pages))
				f.done()
			}
		}()
	}
	wg.Wait()
	wall := time.Since(wallStart)
	share := measure.CPUShare(cpuStart, wallStart)
	fmt.Printf("result bench=crawl_c%d impl=go value=%.4f unit=pages/s n=%d cpu=%.2f\n", workers,
		float64(pages.Load())/wall.Seconds(), pages.Load(), share)
}
