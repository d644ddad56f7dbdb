// epoll_hello_server: the hand-written floor under tendril's HTTP hello server
// (bench/io_load.py serve). One thread, one level-triggered epoll set,
// non-blocking sockets, keep-alive; a request is everything up to an empty
// line (enough for wrk's GETs, which have no body), answered with the same
// bytes tendril's http::server sends for examples/http_hello.cpp.
//
//   epoll_hello_server PORT            serves 127.0.0.1:PORT until SIGTERM or SIGINT
//   epoll_hello_server PORT THREADS    the same on THREADS threads (1-64), each
//                                      with its own SO_REUSEPORT listener and
//                                      epoll set: the floor under tendril's
//                                      runtime_server, a hub per thread
//
// Per request: one read, one write, and a share of an epoll_wait. Nothing
// else: no parser, no allocation, no timers. That is the point of a floor.
// With several threads nothing is shared either: the kernel spreads the
// connections over the listeners (by a hash of their addresses), and a
// connection stays on the thread that accepted it.

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

static const char response[] =
    "HTTP/1.1 200 OK\r\nContent-Length: 14\r\nContent-Type: text/plain\r\n\r\nHello, world!\n";
enum {
  response_size = sizeof response - 1,
  buffer_size = 16 * 1024,
  max_fds = 65536,
  max_events = 256,
  max_threads = 64
};

// One connection: bytes read that do not yet end a request, and the answer
// bytes not yet written (only when the socket's send buffer was full).
struct connection {
  char in[buffer_size];
  size_t in_size;
  char* out;
  size_t out_size;
};

// The calling thread's connections, indexed by fd, and its epoll set: a
// connection belongs to the thread that accepted it, so threads share
// nothing. A number one thread closed and another's accept reused is in both
// tables, NULL in the first: an event left in the first thread's batch for
// it is skipped there, and never reaches the other thread's connection.
static _Thread_local struct connection** connections;
static _Thread_local int epoll_fd;
// Readable once a signal asked to stop; in every thread's epoll set and never
// read, so (level-triggered) it wakes every thread, not only the one the
// signal interrupted.
static int stop_fd;
static atomic_int stopping;  // lock-free, so the signal handler may set it

static void on_signal(int signal_number) {
  (void)signal_number;
  atomic_store(&stopping, 1);
  const uint64_t one = 1;
  ssize_t ignored = write(stop_fd, &one, sizeof one);  // write(2) is async-signal-safe
  (void)ignored;
}

static void die(const char* what) {
  perror(what);
  exit(1);
}

static void drop(int fd) {
  struct connection* c = connections[fd];
  connections[fd] = NULL;
  if (c != NULL) free(c->out);
  free(c);
  close(fd);  // also takes it out of the epoll set
}

// flush(fd, c, data, size) writes what it can; keeps the rest and watches for
// writability when the send buffer is full. Returns 0, or -1 when the
// connection is gone.
static int flush(int fd, struct connection* c, const char* data, size_t size) {
  while (size > 0) {
    ssize_t n = write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN) return -1;
      char* rest = malloc(size);
      if (rest == NULL) return -1;
      memcpy(rest, data, size);
      c->out = rest;
      c->out_size = size;
      struct epoll_event e = {.events = EPOLLOUT, .data.fd = fd};
      return epoll_ctl(epoll_fd, EPOLL_CTL_MOD, fd, &e);
    }
    data += n;
    size -= (size_t)n;
  }
  return 0;
}

// on_readable(fd): one read; answer every request it completed (pipelined
// ones in one write).
static void on_readable(int fd) {
  struct connection* c = connections[fd];
  ssize_t n = read(fd, c->in + c->in_size, buffer_size - c->in_size);
  if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
    drop(fd);
    return;
  }
  if (n < 0) return;
  c->in_size += (size_t)n;
  char answers[buffer_size];
  size_t answers_size = 0;
  char* start = c->in;
  char* end;
  while ((end = memmem(start, (size_t)(c->in + c->in_size - start), "\r\n\r\n", 4)) != NULL) {
    start = end + 4;
    if (answers_size + response_size > sizeof answers) {
      if (flush(fd, c, answers, answers_size) != 0) {
        drop(fd);
        return;
      }
      answers_size = 0;
    }
    memcpy(answers + answers_size, response, response_size);
    answers_size += response_size;
  }
  c->in_size = (size_t)(c->in + c->in_size - start);
  memmove(c->in, start, c->in_size);
  if (c->in_size == buffer_size) {  // a request header over 16 KiB: not a client of this benchmark
    drop(fd);
    return;
  }
  if (answers_size > 0 && flush(fd, c, answers, answers_size) != 0) drop(fd);
}

static void on_writable(int fd) {
  struct connection* c = connections[fd];
  char* pending = c->out;
  size_t size = c->out_size;
  c->out = NULL;
  c->out_size = 0;
  struct epoll_event e = {.events = EPOLLIN, .data.fd = fd};
  int failed = epoll_ctl(epoll_fd, EPOLL_CTL_MOD, fd, &e) != 0 || flush(fd, c, pending, size) != 0;
  free(pending);
  if (failed) drop(fd);
}

static void on_acceptable(int listener) {
  for (;;) {
    int fd = accept4(listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      return;  // EAGAIN: all taken; EMFILE and the like: try again on the next event
    }
    if (fd >= max_fds || (connections[fd] = calloc(1, sizeof(struct connection))) == NULL) {
      close(fd);
      continue;
    }
    struct epoll_event e = {.events = EPOLLIN, .data.fd = fd};
    if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &e) != 0) drop(fd);
  }
}

// One thread's share of the server: its listener and its epoll set.
struct loop {
  int listener;
  int epoll_fd;
  pthread_t thread;
};

// open_loop(port) binds a listener on 127.0.0.1:port (SO_REUSEPORT: every
// thread binds the same port) and makes its epoll set, watching it and stop_fd.
static struct loop open_loop(uint16_t port) {
  struct loop l;
  l.listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int on = 1;
  struct sockaddr_in address = {
      .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  if (l.listener < 0 || setsockopt(l.listener, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0 ||
      setsockopt(l.listener, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) != 0 ||
      bind(l.listener, (struct sockaddr*)&address, sizeof address) != 0 || listen(l.listener, 1024) != 0)
    die("listen");
  l.epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event accepting = {.events = EPOLLIN, .data.fd = l.listener};
  struct epoll_event stop = {.events = EPOLLIN, .data.fd = stop_fd};
  if (l.epoll_fd < 0 || epoll_ctl(l.epoll_fd, EPOLL_CTL_ADD, l.listener, &accepting) != 0 ||
      epoll_ctl(l.epoll_fd, EPOLL_CTL_ADD, stop_fd, &stop) != 0)
    die("epoll");
  return l;
}

// serve(loop) runs one thread's event loop until a signal asks to stop, then
// closes the connections it accepted.
static void* serve(void* argument) {
  const struct loop* l = argument;
  epoll_fd = l->epoll_fd;
  connections = calloc(max_fds, sizeof *connections);
  if (connections == NULL) die("calloc");
  struct epoll_event events[max_events];
  while (!atomic_load(&stopping)) {
    int n = epoll_wait(epoll_fd, events, max_events, -1);
    if (n < 0 && errno != EINTR) die("epoll_wait");
    for (int i = 0; i < n; ++i) {
      int fd = events[i].data.fd;
      if (fd == l->listener)
        on_acceptable(l->listener);
      else if (fd == stop_fd || connections[fd] == NULL)
        continue;  // stop_fd: the loop's condition sees it; NULL: dropped earlier in this batch
      else if (events[i].events & EPOLLOUT)
        on_writable(fd);
      else
        on_readable(fd);
    }
  }
  for (int fd = 0; fd < max_fds; ++fd)
    if (connections[fd] != NULL) drop(fd);
  free(connections);
  return NULL;
}

int main(int argc, char** argv) {
  int threads = argc == 3 ? atoi(argv[2]) : 1;
  if (argc < 2 || argc > 3 || threads < 1 || threads > max_threads) {
    fprintf(stderr, "usage: %s PORT [THREADS]   (THREADS 1-%d, default 1)\n", argv[0], max_threads);
    return 2;
  }
  stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (stop_fd < 0) die("eventfd");
  struct sigaction action = {.sa_handler = on_signal};
  sigaction(SIGTERM, &action, NULL);
  sigaction(SIGINT, &action, NULL);
  signal(SIGPIPE, SIG_IGN);

  // Every listener is bound before any thread serves, so the kernel spreads
  // the first connection already over all of them.
  static struct loop loops[max_threads];
  for (int i = 0; i < threads; ++i) loops[i] = open_loop((uint16_t)atoi(argv[1]));
  for (int i = 1; i < threads; ++i)
    if ((errno = pthread_create(&loops[i].thread, NULL, serve, &loops[i])) != 0) die("pthread_create");
  serve(&loops[0]);  // the main thread is the first loop: with one thread, no other is made
  for (int i = 1; i < threads; ++i) pthread_join(loops[i].thread, NULL);

  for (int i = 0; i < threads; ++i) {
    close(loops[i].epoll_fd);
    close(loops[i].listener);
  }
  close(stop_fd);
  return 0;
}
