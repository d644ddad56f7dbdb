// cares_resolve: the hand-written floor under tendril's resolver
// (bench/dns_bench.cpp): the same c-ares call, ares_getaddrinfo, on a channel
// set up as tendril's (ARES_OPT_SOCK_STATE_CB, lookups "fb": /etc/hosts,
// then DNS; resolv.conf's timeout and tries), driven by a libev loop with no
// fibers: an ev_io per socket c-ares asks for, one timer re-armed from
// ares_timeout after every call into c-ares. It keeps 1000 lookups in
// flight and starts the next one from each answer's callback, until 10,000
// are done. Run by bench/io_load.py dnsmasq:
//
//   cares_resolve SERVER     SERVER: "127.0.0.1:PORT"
//
// Like tendril's program: IPv4 only (AF_INET: one A query per lookup), name
// i % 1000 for the i-th (h<i>.bench.test), each answer checked against its
// name's address (10.0.X.Y), 1000 untimed lookups first, two result lines
// (lookups per second; the process's CPU-seconds per 10,000 lookups).

#include <ares.h>
#include <arpa/inet.h>
#include <ev.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

enum { names = 1000, in_flight = 1000, max_fds = 65536 };

static struct ev_loop* loop;
static ares_channel channel;
static ev_timer ares_timer;
static ev_io* watchers[max_fds];
static long long started, finished, total;

static void fail(const char* what) {
  fprintf(stderr, "cares_resolve: %s\n", what);
  exit(1);
}

// arm_timer(): call back when c-ares next wants to retry or time out.
static void arm_timer(void) {
  struct timeval tv;
  ev_timer_stop(loop, &ares_timer);
  if (ares_timeout(channel, NULL, &tv) == NULL) return;
  ev_timer_set(&ares_timer, (double)tv.tv_sec + (double)tv.tv_usec * 1e-6, 0.);
  ev_timer_start(loop, &ares_timer);
}

static void start_lookup(void);

static void on_result(void* arg, int status, int timeouts, struct ares_addrinfo* result) {
  (void)timeouts;
  uint32_t expected = 10u << 24 | (uint32_t)(uintptr_t)arg;
  if (status != ARES_SUCCESS) fail(ares_strerror(status));
  const struct ares_addrinfo_node* node = result->nodes;
  if (node == NULL || node->ai_family != AF_INET ||
      ntohl(((const struct sockaddr_in*)node->ai_addr)->sin_addr.s_addr) != expected)
    fail("wrong address");
  ares_freeaddrinfo(result);
  ++finished;
  if (started < total) start_lookup();
  if (finished == total) ev_break(loop, EVBREAK_ONE);
}

static void start_lookup(void) {
  int name = (int)(started++ % names);
  char host[32];
  snprintf(host, sizeof host, "h%d.bench.test", name);
  struct ares_addrinfo_hints hints = {.ai_family = AF_INET};
  ares_getaddrinfo(channel, host, NULL, &hints, on_result, (void*)(uintptr_t)name);
}

static void on_io(struct ev_loop* l, ev_io* io, int events) {
  (void)l;
  ares_process_fd(channel, (events & EV_READ) ? io->fd : ARES_SOCKET_BAD,
                  (events & EV_WRITE) ? io->fd : ARES_SOCKET_BAD);
  arm_timer();
}

static void on_timer(struct ev_loop* l, ev_timer* timer, int events) {
  (void)l;
  (void)timer;
  (void)events;
  ares_process_fd(channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
  arm_timer();
}

// ARES_OPT_SOCK_STATE_CB: watch `fd` as c-ares asks, or stop watching it.
static void on_sock_state(void* data, ares_socket_t fd, int readable, int writable) {
  (void)data;
  if (fd < 0 || fd >= max_fds) fail("socket out of range");
  ev_io* w = watchers[fd];
  if (w == NULL) {
    if ((w = watchers[fd] = malloc(sizeof *w)) == NULL) fail("out of memory");
    ev_init(w, on_io);
  }
  ev_io_stop(loop, w);
  if (!readable && !writable) return;
  ev_io_set(w, fd, (readable ? EV_READ : 0) | (writable ? EV_WRITE : 0));
  ev_io_start(loop, w);
}

// resolve_all(count): `count` lookups, `in_flight` at a time.
static void resolve_all(long long count) {
  started = finished = 0;
  total = count;
  while (started < total && started < in_flight) start_lookup();
  arm_timer();
  if (finished < total) ev_run(loop, 0);
}

static double process_cpu_seconds(void) {
  struct rusage u;
  getrusage(RUSAGE_SELF, &u);
  return (double)u.ru_utime.tv_sec + (double)u.ru_utime.tv_usec * 1e-6 + (double)u.ru_stime.tv_sec +
         (double)u.ru_stime.tv_usec * 1e-6;
}

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static long long iterations(long long n) {
  const char* scale = getenv("TENDRIL_BENCH_SCALE");
  if (scale == NULL) return n;
  long long scaled = (long long)((double)n * atof(scale));
  return scaled > 0 ? scaled : 1;
}

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s 127.0.0.1:PORT\n", argv[0]);
    return 2;
  }
  if (ares_library_init(ARES_LIB_INIT_ALL) != ARES_SUCCESS) fail("ares_library_init failed");
  loop = ev_loop_new(EVFLAG_AUTO);
  if (loop == NULL) fail("ev_loop_new failed");
  ev_init(&ares_timer, on_timer);
  struct ares_options options = {.sock_state_cb = on_sock_state, .lookups = "fb"};
  if (ares_init_options(&channel, &options, ARES_OPT_SOCK_STATE_CB | ARES_OPT_LOOKUPS) != ARES_SUCCESS)
    fail("ares_init_options failed");
  if (ares_set_servers_ports_csv(channel, argv[1]) != ARES_SUCCESS) fail("cannot parse the server address");

  resolve_all(1000);  // warm-up
  long long count = iterations(10000);
  double wall = now(), cpu = process_cpu_seconds();
  resolve_all(count);
  wall = now() - wall;
  cpu = process_cpu_seconds() - cpu;
  double share = cpu / wall < 1 ? cpu / wall : 1;
  printf("result bench=dns_resolve_1000 impl=c_ares value=%.4f unit=lookups/s n=%lld cpu=%.2f\n",
         (double)count / wall, count, share);
  printf("result bench=dns_resolve_1000_cpu impl=c_ares value=%.4f unit=cpu-s/10k n=%lld cpu=%.2f\n",
         cpu * 10000 / (double)count, count, share);
  ares_destroy(channel);
  ares_library_cleanup();
  ev_loop_destroy(loop);
  return 0;
}
