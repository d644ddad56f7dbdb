// libcurl's easy API, unmodified: the blocking curl_easy_perform, called by
// fibers with patch_all() on, fetches from tendril's own http::server,
// which runs in other fibers of the same thread. curl_easy_perform connects
// without blocking and waits in poll() (its internal multi handle); patch's
// poll parks the fiber there, so the server gets to run.
//
// These are deadlock tests. Without cooperative I/O curl_easy_perform would
// block the thread in poll(), the server's fibers would never accept or
// answer, and the test's timeout ends it.
//
// The URLs name 127.0.0.1: curl then needs no resolver. A host name would
// go to curl's threaded resolver: its own thread calls getaddrinfo (libc's
// call there, blocking only that thread) while the fiber waits for its
// answer in poll(), which parks. getaddrinfo called by a fiber is the DNS
// interposers' business, proved in dns_test.

#include <curl/curl.h>
#include <sys/types.h>
#include <unistd.h>

#include <atomic>
#include <cstddef>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include <tendril/hub/join.hpp>
#include <tendril/hub/task.hpp>
#include <tendril/io/endpoint.hpp>
#include <tendril/io/http_server.hpp>
#include <tendril/patch.hpp>
#include <tendril/sync/event.hpp>

#include "patch/plain_thread.hpp"
#include "support/fd_count.hpp"
#include "support/hub_fixture.hpp"

namespace {

using tendril::endpoint;
using tendril::spawn;
using tendril::task;
using tendril::http::server;
using tendril::http::server_request;
using tendril::http::server_response;
using tendril::testing::fd_leak_check;
using tendril::testing::hub_check;

// libcurl's global state, set up once before main (curl_global_init is not
// thread-safe) and released at exit.
struct curl_global {
  curl_global() { curl_global_init(CURL_GLOBAL_DEFAULT); }
  ~curl_global() { curl_global_cleanup(); }
} curl_setup;

// A megabyte that is not one byte repeated, so a misplaced chunk shows.
std::string large_body() {
  std::string body(std::size_t{1} << 20, '\0');
  for (std::size_t i = 0; i < body.size(); ++i) body[i] = static_cast<char>('a' + (i * 7 + i / 4096) % 26);
  return body;
}

server_response serve(const server_request& r) {
  if (r.path() == "/small") return {.body = "hello from a fiber\n"};
  if (r.path() == "/large") return {.body = large_body()};
  return {.status = 404, .body = "no such page\n"};
}

struct fetched {
  CURLcode code = CURLE_OK;
  long status = 0;
  std::string body;
};

std::size_t append(char* data, std::size_t size, std::size_t count, void* to) {
  static_cast<std::string*>(to)->append(data, size * count);
  return size * count;
}

// fetch(url) is a GET with the blocking curl_easy_perform, on a handle of
// its own. It uses no Catch2 assertion: plain threads call it too.
fetched fetch(const std::string& url) {
  fetched f;
  CURL* h = curl_easy_init();
  if (h == nullptr) {
    f.code = CURLE_FAILED_INIT;
    return f;
  }
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  // No SIGALRM-based timeouts: they would longjmp out of the fiber's stack.
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_PROXY, "");  // never an http_proxy from the environment
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, append);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &f.body);
  f.code = curl_easy_perform(h);
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &f.status);
  curl_easy_cleanup(h);
  return f;
}

// A tendril HTTP server on 127.0.0.1, started on this thread's hub, and
// stopped (its connection tasks finished) when it goes.
struct running_server {
  server site;
  explicit running_server(tendril::http::request_handler handler) : site(endpoint::loopback(0), handler) {
    site.start();
  }
  running_server(const running_server&) = delete;
  running_server& operator=(const running_server&) = delete;
  ~running_server() { site.stop(); }
};

}  // namespace

TEST_CASE("curl_easy_perform in a fiber fetches a small body from a tendril server on its thread") {
  tendril::patch_all();
  hub_check check;
  fd_leak_check fds;
  running_server s(serve);
  const fetched f = fetch(s.site.url("/small"));
  CHECK(f.code == CURLE_OK);
  CHECK(f.status == 200);
  CHECK(f.body == "hello from a fiber\n");
}

TEST_CASE("curl_easy_perform in a fiber fetches a 1 MB body from a tendril server on its thread") {
  tendril::patch_all();
  hub_check check;
  fd_leak_check fds;
  running_server s(serve);
  const fetched f = fetch(s.site.url("/large"));
  CHECK(f.code == CURLE_OK);
  CHECK(f.status == 200);
  CHECK(f.body.size() == std::size_t{1} << 20);
  CHECK(f.body == large_body());
}

TEST_CASE("curl_easy_perform in a fiber gets a tendril server's 404 as a response, not an error") {
  tendril::patch_all();
  hub_check check;
  fd_leak_check fds;
  running_server s(serve);
  const fetched f = fetch(s.site.url("/missing"));
  CHECK(f.code == CURLE_OK);
  CHECK(f.status == 404);
  CHECK(f.body == "no such page\n");
}

TEST_CASE("two fibers' curl_easy_perform calls are in flight at once against a server of their thread") {
  tendril::patch_all();
  hub_check check;
  fd_leak_check fds;
  // /first is answered only once /second has arrived: if one
  // curl_easy_perform had to end before the other began, neither would.
  tendril::event second_arrived("/second arrived");
  running_server s([&](const server_request& r) -> server_response {
    if (r.path() == "/first") {
      second_arrived.wait();
      return {.body = "first"};
    }
    second_arrived.set();
    return {.body = "second"};
  });
  task<fetched> first = spawn([&] { return fetch(s.site.url("/first")); });
  task<fetched> second = spawn([&] { return fetch(s.site.url("/second")); });
  tendril::joinall({first, second});
  CHECK(first.get().code == CURLE_OK);
  CHECK(first.get().body == "first");
  CHECK(second.get().code == CURLE_OK);
  CHECK(second.get().body == "second");
}

TEST_CASE("on a plain thread with patching on, curl_easy_perform is libc's: it blocks the thread") {
  tendril::patch_all();
  hub_check check;
  fd_leak_check fds;
  std::atomic<pid_t> tid{0};
  bool served_while_asleep = false;
  // The handler runs on this thread's hub while the plain thread's
  // curl_easy_perform waits for the answer, asleep in the real poll().
  running_server s([&](const server_request&) -> server_response {
    tendril::testing::wait_until_asleep(tid);
    served_while_asleep = true;
    return {.body = "to a plain thread"};
  });
  tendril::event done("plain thread's fetch done");
  bool enabled_there = true;
  fetched f;
  const std::string url = s.site.url("/plain");
  std::thread plain([&] {
    enabled_there = tendril::patch::enabled();
    tid = ::gettid();
    f = fetch(url);
    done.set();
  });
  done.wait();  // parks: the server's fibers run meanwhile
  plain.join();
  CHECK_FALSE(enabled_there);
  CHECK(served_while_asleep);
  CHECK(f.code == CURLE_OK);
  CHECK(f.body == "to a plain thread");
}
