// Command go_httphello is Go's net/http server as a peer of tendril's HTTP
// hello server (examples/http_hello.cpp, loaded by bench/io_load.py serve):
// the same answer ("Hello, world!\n", Content-Type text/plain) from a
// net/http handler, on one P (runtime.GOMAXPROCS(1)), so that, like a
// tendril hub, one thread runs every connection's goroutine. Debian
// golang-go, standard library only.
//
//	go_httphello PORT             serves 127.0.0.1:PORT until SIGTERM or SIGINT
//	go_httphello -procs N PORT    the same with GOMAXPROCS=N: the peer of
//	                              tendril's runtime_server on N hubs (one
//	                              listener; Go's netpoller and scheduler spread
//	                              the connections' goroutines over the Ps)
//
// net/http adds a Date header to each response; the handler adds nothing
// else than tendril's does.
package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"syscall"
)

var hello = []byte("Hello, world!\n")

func handle(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	w.Write(hello)
}

func main() {
	procs := flag.Int("procs", 1, "GOMAXPROCS: 1 beside one tendril hub, N beside a runtime of N hubs")
	flag.Parse()
	if flag.NArg() != 1 || *procs < 1 {
		fmt.Fprintln(os.Stderr, "usage: go_httphello [-procs N] PORT")
		os.Exit(2)
	}
	runtime.GOMAXPROCS(*procs)
	server := &http.Server{Addr: "127.0.0.1:" + flag.Arg(0), Handler: http.HandlerFunc(handle)}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-stop
		server.Shutdown(context.Background())
	}()
	if err := server.ListenAndServe(); err != http.ErrServerClosed {
		fmt.Fprintln(os.Stderr, "go_httphello:", err)
		os.Exit(1)
	}
}
