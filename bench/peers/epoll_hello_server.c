// epoll_hello_server: the hand-written floor under tendril's HTTP hello server
// (bench/io_load.py serve). One thread, one level-triggered epoll set,
// non-blocking sockets, keep-alive; a request is everything up to an empty
// line (enough for wrk's GETs, which have no body), answered with the same
// bytes tendril's http::server sends for examples/http_hello.cpp.
//
//   epoll_hello_server PORT     serves 127.0.0.1:PORT until SIGTERM or SIGINT
//
// Per request: one read, one write, and a share of an epoll_wait. Nothing
// else: no parser, no allocation, no timers. That is the point of a floor.

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

static const char response[] =
    "HTTP/1.1 200 OK\r\nContent-Length: 14\r\nContent-Type: text/plain\r\n\r\nHello, world!\n";
enum { response_size = sizeof response - 1, buffer_size = 16 * 1024, max_fds = 65536 };

// One connection: bytes read that do not yet end a request, and the answer
// bytes not yet written (only when the socket's send buffer was full).
struct connection {
  char in[buffer_size];
  size_t in_size;
  char* out;
  size_t out_size;
};

static struct connection* connections[max_fds];
static int epoll_fd;
static volatile sig_atomic_t stopping;

static void on_signal(int signal_number) {
  (void)signal_number;
  stopping = 1;
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

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s PORT\n", argv[0]);
    return 2;
  }
  struct sigaction action = {.sa_handler = on_signal};
  sigaction(SIGTERM, &action, NULL);
  sigaction(SIGINT, &action, NULL);
  signal(SIGPIPE, SIG_IGN);

  int listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int on = 1;
  struct sockaddr_in address = {.sin_family = AF_INET,
                                .sin_port = htons((uint16_t)atoi(argv[1])),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  if (listener < 0 || setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0 ||
      bind(listener, (struct sockaddr*)&address, sizeof address) != 0 || listen(listener, 1024) != 0)
    die("listen");
  epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event e = {.events = EPOLLIN, .data.fd = listener};
  if (epoll_fd < 0 || epoll_ctl(epoll_fd, EPOLL_CTL_ADD, listener, &e) != 0) die("epoll");

  struct epoll_event events[256];
  while (!stopping) {
    int n = epoll_wait(epoll_fd, events, 256, -1);
    if (n < 0 && errno != EINTR) die("epoll_wait");
    for (int i = 0; i < n; ++i) {
      int fd = events[i].data.fd;
      if (fd == listener)
        on_acceptable(listener);
      else if (connections[fd] == NULL)
        continue;  // dropped earlier in this batch
      else if (events[i].events & EPOLLOUT)
        on_writable(fd);
      else
        on_readable(fd);
    }
  }
  for (int fd = 0; fd < max_fds; ++fd)
    if (connections[fd] != NULL) drop(fd);
  close(epoll_fd);
  close(listener);
  return 0;
}
