// curl_multi_get: the hand-written floor under tendril's HTTP client
// (bench/http_client_bench.cpp): the same libcurl, driven through the
// multi-socket API by a libev loop, with no fibers. It keeps C transfers in
// flight, each on its own easy handle, and starts the next GET on a handle
// as soon as its last one is done, until 10,000 have been made; C = 100,
// then 1000. Run by bench/io_load.py nginx against nginx-light:
//
//   curl_multi_get URL
//
// Each easy handle is set up once and re-added for every GET (curl keeps its
// options), as a hand-written loop would; the write callback copies the body
// into the handle's buffer, as tendril copies it into the response. One multi
// handle for both cases, as one tendril hub has one. Like tendril's program:
// 1000 untimed GETs per case first (which open its connections), every
// response a 200 with the whole 2 KB page, two result lines per case (GETs
// per second; the process's CPU-seconds per 10,000 GETs).

#include <curl/curl.h>
#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

enum { page_bytes = 2048 };

struct slot {
  CURL* easy;
  char body[page_bytes];
  size_t received;  // may exceed page_bytes: then the page was wrong
};

// A socket curl asked us to watch; curl_multi_assign links it to the socket.
struct watched {
  ev_io io;
};

static struct ev_loop* loop;
static CURLM* multi;
static ev_timer curl_timer;
static long long started, finished, total;

static void fail(const char* what) {
  fprintf(stderr, "curl_multi_get: %s\n", what);
  exit(1);
}

static size_t on_write(char* data, size_t size, size_t count, void* context) {
  struct slot* s = context;
  size_t n = size * count;
  if (s->received + n <= page_bytes) memcpy(s->body + s->received, data, n);
  s->received += n;
  return n;
}

// finish_transfers(): for each transfer curl reports done, check it and start
// the next GET on its handle while GETs are left to start.
static void finish_transfers(void) {
  CURLMsg* message;
  int left;
  while ((message = curl_multi_info_read(multi, &left)) != NULL) {
    if (message->msg != CURLMSG_DONE) continue;
    CURL* easy = message->easy_handle;
    struct slot* s;
    long status = 0;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char**)&s);
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    if (message->data.result != CURLE_OK) fail(curl_easy_strerror(message->data.result));
    if (status != 200 || s->received != page_bytes) fail("not a 200 with the whole page");
    curl_multi_remove_handle(multi, easy);
    ++finished;
    if (started < total) {
      ++started;
      s->received = 0;
      curl_multi_add_handle(multi, easy);
    }
  }
  if (finished == total) ev_break(loop, EVBREAK_ONE);
}

static void on_io(struct ev_loop* l, ev_io* io, int events) {
  (void)l;
  int running;
  int flags = ((events & EV_READ) ? CURL_CSELECT_IN : 0) | ((events & EV_WRITE) ? CURL_CSELECT_OUT : 0);
  curl_multi_socket_action(multi, io->fd, flags, &running);
  finish_transfers();
}

static void on_timer(struct ev_loop* l, ev_timer* timer, int events) {
  (void)l;
  (void)timer;
  (void)events;
  int running;
  curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, &running);
  finish_transfers();
}

// CURLMOPT_SOCKETFUNCTION: watch `fd` for what curl asks, or stop watching it.
static int on_socket(CURL* easy, curl_socket_t fd, int what, void* data, void* socket_data) {
  (void)easy;
  (void)data;
  struct watched* w = socket_data;
  if (what == CURL_POLL_REMOVE) {
    if (w != NULL) {
      ev_io_stop(loop, &w->io);
      free(w);
      curl_multi_assign(multi, fd, NULL);
    }
    return 0;
  }
  int events = ((what & CURL_POLL_IN) ? EV_READ : 0) | ((what & CURL_POLL_OUT) ? EV_WRITE : 0);
  if (w == NULL) {
    if ((w = malloc(sizeof *w)) == NULL) fail("out of memory");
    ev_io_init(&w->io, on_io, fd, events);
    curl_multi_assign(multi, fd, w);
  } else {
    ev_io_stop(loop, &w->io);
    ev_io_set(&w->io, fd, events);
  }
  ev_io_start(loop, &w->io);
  return 0;
}

// CURLMOPT_TIMERFUNCTION: call back in `ms` milliseconds (-1: never).
static int on_timer_change(CURLM* m, long ms, void* data) {
  (void)m;
  (void)data;
  ev_timer_stop(loop, &curl_timer);
  if (ms >= 0) {
    ev_timer_set(&curl_timer, (double)ms / 1000.0, 0.);
    ev_timer_start(loop, &curl_timer);
  }
  return 0;
}

// fetch(slots, concurrency, count): `count` GETs, `concurrency` in flight.
static void fetch(struct slot* slots, int concurrency, long long count) {
  started = finished = 0;
  total = count;
  for (int i = 0; i < concurrency && started < total; ++i, ++started) {
    slots[i].received = 0;
    curl_multi_add_handle(multi, slots[i].easy);
  }
  ev_run(loop, 0);
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
    fprintf(stderr, "usage: %s URL\n", argv[0]);
    return 2;
  }
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) fail("curl_global_init failed");
  loop = ev_loop_new(EVFLAG_AUTO);
  multi = curl_multi_init();
  if (loop == NULL || multi == NULL) fail("cannot make the loop or the multi handle");
  ev_init(&curl_timer, on_timer);
  curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, on_socket);
  curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, on_timer_change);

  const int cases[] = {100, 1000};
  for (int c = 0; c < 2; ++c) {
    int concurrency = cases[c];
    struct slot* slots = calloc((size_t)concurrency, sizeof *slots);
    if (slots == NULL) fail("out of memory");
    for (int i = 0; i < concurrency; ++i) {
      CURL* easy = slots[i].easy = curl_easy_init();
      if (easy == NULL) fail("curl_easy_init failed");
      curl_easy_setopt(easy, CURLOPT_URL, argv[1]);
      curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
      curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_write);
      curl_easy_setopt(easy, CURLOPT_WRITEDATA, &slots[i]);
      curl_easy_setopt(easy, CURLOPT_PRIVATE, &slots[i]);
    }
    fetch(slots, concurrency, 1000);  // warm-up: opens `concurrency` connections
    long long count = iterations(10000);
    double wall = now(), cpu = process_cpu_seconds();
    fetch(slots, concurrency, count);
    wall = now() - wall;
    cpu = process_cpu_seconds() - cpu;
    double share = cpu / wall < 1 ? cpu / wall : 1;
    printf("result bench=http_get_c%d impl=curl_multi value=%.4f unit=req/s n=%lld cpu=%.2f\n", concurrency,
           (double)count / wall, count, share);
    printf("result bench=http_get_c%d_cpu impl=curl_multi value=%.4f unit=cpu-s/10k n=%lld cpu=%.2f\n",
           concurrency, cpu * 10000 / (double)count, count, share);
    fflush(stdout);
    for (int i = 0; i < concurrency; ++i) curl_easy_cleanup(slots[i].easy);
    free(slots);
  }
  curl_multi_cleanup(multi);
  ev_loop_destroy(loop);
  curl_global_cleanup();
  return 0;
}
