// libev_hello_server: the hello server written directly on libev, the loop
// under tendril's hub (bench/io_load.py serve). The same work as
// epoll_hello_server.c: one ev_io per connection, one read per readable
// event, every request it completed (up to an empty line) answered with the
// bytes tendril's http::server sends for examples/http_hello.cpp, one write.
// What it adds over the epoll floor is libev's own bookkeeping: the cost of
// the loop tendril builds on, without fibers.
//
//   libev_hello_server PORT     serves 127.0.0.1:PORT until SIGTERM or SIGINT

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <ev.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const char response[] =
    "HTTP/1.1 200 OK\r\nContent-Length: 14\r\nContent-Type: text/plain\r\n\r\nHello, world!\n";
enum { response_size = sizeof response - 1, buffer_size = 16 * 1024 };

struct connection {
  ev_io watcher;  // first: the callback gets it and casts back
  char in[buffer_size];
  size_t in_size;
  char* out;  // answer bytes not yet written (the send buffer was full)
  size_t out_size;
};

static void drop(struct ev_loop* loop, struct connection* c) {
  ev_io_stop(loop, &c->watcher);
  close(c->watcher.fd);
  free(c->out);
  free(c);
}

// flush(loop, c, data, size): as in epoll_hello_server.c; 0, or -1 when the connection is gone.
static int flush(struct ev_loop* loop, struct connection* c, const char* data, size_t size) {
  while (size > 0) {
    ssize_t n = write(c->watcher.fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN) return -1;
      if ((c->out = malloc(size)) == NULL) return -1;
      memcpy(c->out, data, size);
      c->out_size = size;
      ev_io_stop(loop, &c->watcher);
      ev_io_set(&c->watcher, c->watcher.fd, EV_WRITE);
      ev_io_start(loop, &c->watcher);
      return 0;
    }
    data += n;
    size -= (size_t)n;
  }
  return 0;
}

static void on_writable(struct ev_loop* loop, struct connection* c) {
  char* pending = c->out;
  size_t size = c->out_size;
  c->out = NULL;
  c->out_size = 0;
  ev_io_stop(loop, &c->watcher);
  ev_io_set(&c->watcher, c->watcher.fd, EV_READ);
  ev_io_start(loop, &c->watcher);
  int failed = flush(loop, c, pending, size);
  free(pending);
  if (failed) drop(loop, c);
}

static void on_connection(struct ev_loop* loop, ev_io* watcher, int events) {
  struct connection* c = (struct connection*)watcher;
  if (events & EV_WRITE) {
    on_writable(loop, c);
    return;
  }
  ssize_t n = read(watcher->fd, c->in + c->in_size, buffer_size - c->in_size);
  if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
    drop(loop, c);
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
      if (flush(loop, c, answers, answers_size) != 0) {
        drop(loop, c);
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
    drop(loop, c);
    return;
  }
  if (answers_size > 0 && flush(loop, c, answers, answers_size) != 0) drop(loop, c);
}

static void on_acceptable(struct ev_loop* loop, ev_io* listener, int events) {
  (void)events;
  for (;;) {
    int fd = accept4(listener->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      return;
    }
    struct connection* c = calloc(1, sizeof(struct connection));
    if (c == NULL) {
      close(fd);
      continue;
    }
    ev_io_init(&c->watcher, on_connection, fd, EV_READ);
    ev_io_start(loop, &c->watcher);
  }
}

static void on_signal(struct ev_loop* loop, ev_signal* watcher, int events) {
  (void)watcher;
  (void)events;
  ev_break(loop, EVBREAK_ALL);
}

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s PORT\n", argv[0]);
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  int listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int on = 1;
  struct sockaddr_in address = {.sin_family = AF_INET,
                                .sin_port = htons((uint16_t)atoi(argv[1])),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  if (listener < 0 || setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0 ||
      bind(listener, (struct sockaddr*)&address, sizeof address) != 0 || listen(listener, 1024) != 0) {
    perror("listen");
    return 1;
  }
  struct ev_loop* loop = ev_loop_new(EVFLAG_AUTO);  // epoll on Linux, as tendril's hub
  if (loop == NULL) {
    fprintf(stderr, "libev: ev_loop_new failed\n");
    return 1;
  }
  ev_io accepting;
  ev_io_init(&accepting, on_acceptable, listener, EV_READ);
  ev_io_start(loop, &accepting);
  ev_signal terminate, interrupt;
  ev_signal_init(&terminate, on_signal, SIGTERM);
  ev_signal_init(&interrupt, on_signal, SIGINT);
  ev_signal_start(loop, &terminate);
  ev_signal_start(loop, &interrupt);
  ev_run(loop, 0);
  close(listener);
  return 0;
}
