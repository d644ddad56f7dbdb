// curl_multi_crawl: the hand-written limit under tendril's crawler
// (examples/crawler, issue 8): the same crawl with no fibers. One thread,
// libcurl's multi-socket API driven by a libev loop (as curl_multi_get.c
// drives it, and as tendril's hub drives its own multi handle), N easy
// handles in flight. bench/io_load.py site runs it against `crawler --serve`
// on the other CPU:
//
//   curl_multi_crawl URL N
//
// The crawl is the crawler's: start at URL; fetch each page (keep-alive
// HTTP/1.1, redirects followed); take the links of each 200 text/html page
// with crawler::extract_links (examples/crawler/links.cpp, compiled in:
// gumbo and curl_url, the same code and cost as tendril's crawler); keep
// those on the start's origin; queue each URL not seen before; until
// nothing is queued or in flight. The frontier is a deque and a hash set.
// Each easy handle is set up once and re-added with the next URL, as a
// hand-written loop would; the idle ones take queued URLs once per loop
// iteration (on_before_poll), as tendril's fibers, woken during an
// iteration, start their next fetches after it. The benchmark's site answers every page with 200,
// so any other answer, or a failed transfer, ends the program (status 1).
//
// Prints `result bench=crawl_cN impl=curl_multi value=<pages/s> unit=pages/s
// n=<pages> cpu=<share>`: the crawl timed from the first request to the
// last answer, cpu = the process's CPU time over that wall time.

#include <curl/curl.h>
#include <ev.h>
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "links.hpp"

namespace {

constexpr std::size_t max_links = 10000;  // crawler::crawl_options's default

[[noreturn]] void fail(std::string_view what) {
  std::fprintf(stderr, "curl_multi_crawl: %.*s\n", static_cast<int>(what.size()), what.data());
  std::exit(1);
}

struct slot {
  CURL* easy = nullptr;
  std::string body;
};

// A socket curl asked us to watch; curl_multi_assign links it to the socket.
struct watched {
  ev_io io;
};

struct ev_loop* loop;
CURLM* multi;
ev_timer curl_timer;
ev_prepare before_poll;

std::string origin;  // the start's: links elsewhere are not followed
std::deque<std::string> queued;
std::unordered_set<std::string> seen;
std::vector<slot*> idle;
std::size_t in_flight = 0;
long long pages = 0;

std::size_t on_write(char* data, std::size_t size, std::size_t count, void* context) {
  static_cast<slot*>(context)->body.append(data, size * count);
  return size * count;
}

// start_transfers(): a queued URL on each idle handle.
void start_transfers() {
  while (!idle.empty() && !queued.empty()) {
    slot* s = idle.back();
    idle.pop_back();
    s->body.clear();
    curl_easy_setopt(s->easy, CURLOPT_URL, queued.front().c_str());  // curl copies the string
    queued.pop_front();
    curl_multi_add_handle(multi, s->easy);
    ++in_flight;
  }
}

// visit(s): the page `s` fetched: its links, new ones queued.
void visit(slot& s) {
  long status = 0;
  char* type = nullptr;
  char* effective = nullptr;
  curl_easy_getinfo(s.easy, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_getinfo(s.easy, CURLINFO_CONTENT_TYPE, &type);
  curl_easy_getinfo(s.easy, CURLINFO_EFFECTIVE_URL, &effective);
  if (status != 200) fail(std::string(effective) + ": status " + std::to_string(status));
  if (type == nullptr || std::string_view(type).substr(0, 9) != "text/html") return;
  ++pages;
  const std::optional<crawler::url> base = crawler::parse_url(effective);  // after redirects
  if (!base) fail(std::string("not an http(s) URL: ") + effective);
  for (const crawler::url& link : crawler::extract_links(s.body, *base, max_links).links) {
    if (link.origin() != origin) continue;
    std::string text = link.text();
    if (seen.insert(text).second) queued.push_back(std::move(text));
  }
}

// finish_transfers(): each transfer curl reports done is visited and its
// handle goes back to the idle ones.
void finish_transfers() {
  CURLMsg* message;
  int left;
  while ((message = curl_multi_info_read(multi, &left)) != nullptr) {
    if (message->msg != CURLMSG_DONE) continue;
    CURL* easy = message->easy_handle;
    slot* s = nullptr;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, reinterpret_cast<char**>(&s));
    if (message->data.result != CURLE_OK) fail(curl_easy_strerror(message->data.result));
    curl_multi_remove_handle(multi, easy);
    --in_flight;
    visit(*s);
    idle.push_back(s);
  }
}

// on_before_poll: the idle handles take the queued URLs once per loop
// iteration, after every ready socket was handled, so their requests leave
// together at the next timer call. Started from finish_transfers instead,
// each request went out at the next socket's action (curl runs expired
// handles in every call) while the loop went on parsing: one request at a
// time, each waking the site's idle server, which cost the loop 10-20%
// more CPU per page in the kernel (perf: sock_def_readable under sendto).
void on_before_poll(struct ev_loop*, ev_prepare*, int) {
  start_transfers();
  if (in_flight == 0) ev_break(loop, EVBREAK_ONE);  // then nothing is queued either
}

void on_io(struct ev_loop*, ev_io* io, int events) {
  int running;
  const int flags = ((events & EV_READ) ? CURL_CSELECT_IN : 0) | ((events & EV_WRITE) ? CURL_CSELECT_OUT : 0);
  curl_multi_socket_action(multi, io->fd, flags, &running);
  finish_transfers();
}

void on_timer(struct ev_loop*, ev_timer*, int) {
  int running;
  curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, &running);
  finish_transfers();
}

// CURLMOPT_SOCKETFUNCTION: watch `fd` for what curl asks, or stop watching it.
int on_socket(CURL*, curl_socket_t fd, int what, void*, void* socket_data) {
  auto* w = static_cast<watched*>(socket_data);
  if (what == CURL_POLL_REMOVE) {
    if (w != nullptr) {
      ev_io_stop(loop, &w->io);
      delete w;
      curl_multi_assign(multi, fd, nullptr);
    }
    return 0;
  }
  const int events = ((what & CURL_POLL_IN) ? EV_READ : 0) | ((what & CURL_POLL_OUT) ? EV_WRITE : 0);
  if (w == nullptr) {
    w = new watched;
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
int on_timer_change(CURLM*, long ms, void*) {
  ev_timer_stop(loop, &curl_timer);
  if (ms >= 0) {
    ev_timer_set(&curl_timer, static_cast<double>(ms) / 1000.0, 0.);
    ev_timer_start(loop, &curl_timer);
  }
  return 0;
}

double process_cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) * 1e-6;
}

}  // namespace

int main(int argc, char** argv) {
  const int fibers = argc == 3 ? std::atoi(argv[2]) : 0;
  if (fibers <= 0) {
    std::fprintf(stderr, "usage: %s URL N\n", argv[0]);
    return 2;
  }
  const std::optional<crawler::url> start = crawler::parse_url(argv[1]);
  if (!start) fail(std::string("not an http(s) URL: ") + argv[1]);
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) fail("curl_global_init failed");
  loop = ev_loop_new(EVFLAG_AUTO);
  multi = curl_multi_init();
  if (loop == nullptr || multi == nullptr) fail("cannot make the loop or the multi handle");
  ev_init(&curl_timer, on_timer);
  ev_prepare_init(&before_poll, on_before_poll);
  ev_prepare_start(loop, &before_poll);
  curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, on_socket);
  curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, on_timer_change);

  std::vector<slot> slots(static_cast<std::size_t>(fibers));
  for (slot& s : slots) {
    CURL* easy = s.easy = curl_easy_init();
    if (easy == nullptr) fail("curl_easy_init failed");
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(easy, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(easy, CURLOPT_USERAGENT, "curl_multi_crawl/1");
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(easy, CURLOPT_PRIVATE, &s);
    idle.push_back(&s);
  }

  origin = start->origin();
  seen.insert(start->text());
  queued.push_back(start->text());
  const auto wall_start = std::chrono::steady_clock::now();
  const double cpu_start = process_cpu_seconds();
  ev_run(loop, 0);
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  const double cpu = process_cpu_seconds() - cpu_start;
  std::printf("result bench=crawl_c%d impl=curl_multi value=%.4f unit=pages/s n=%lld cpu=%.2f\n", fibers,
              static_cast<double>(pages) / wall, pages, cpu / wall < 1 ? cpu / wall : 1.0);
  std::fflush(stdout);

  for (slot& s : slots) curl_easy_cleanup(s.easy);
  curl_multi_cleanup(multi);
  ev_loop_destroy(loop);
  curl_global_cleanup();
  return 0;
}
