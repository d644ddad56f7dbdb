// semaphore_downloads: at most K downloads at once, with a semaphore.
//
// Spawning a task per page starts every download at the same time, which a
// real site would answer with 429s. A tendril::semaphore of K permits is the
// fix (gevent's BoundedSemaphore lesson): each task acquires a permit before
// it fetches and releases it after, so at most K requests are in flight; the
// rest park in acquire() and are let in first come, first served as permits
// come back. The site is a tendril http::server in this program, on a free
// port of 127.0.0.1, that counts how many requests it is answering at once.
// Every line printed is fixed by the program, not by timing
// (examples/semaphore_downloads.expected holds it).

#include <algorithm>
#include <chrono>
#include <iostream>
#include <string>
#include <vector>

#include <tendril/io/http.hpp>
#include <tendril/tendril.hpp>

using namespace std::chrono_literals;

namespace {

// download(slots, url) fetches `url` while holding one of `slots`' permits.
// The permit goes back however the fetch ends, error included: a lost
// permit would leave the waiting downloads parked for ever.
tendril::http::response download(tendril::semaphore& slots, const std::string& url) {
  slots.acquire();  // parks while every permit is taken
  struct permit {
    tendril::semaphore& slots;
    ~permit() { slots.release(); }
  } held{slots};
  return tendril::http::get(url, 10s);
}

}  // namespace

int main() {
  constexpr int pages = 9;
  constexpr int at_once = 3;
  tendril::run([] {
    // The site: each answer takes 100 ms, as a slow server's would.
    int answering = 0, most = 0;
    tendril::http::server site(tendril::endpoint::loopback(0), [&](const tendril::http::server_request& r) {
      most = std::max(most, ++answering);
      tendril::sleep(100ms);
      --answering;
      return tendril::http::server_response{.body = "contents of " + std::string(r.path())};
    });
    site.start();

    tendril::semaphore slots(at_once, "download slots");
    std::vector<std::string> lines(pages);
    std::vector<tendril::task<void>> downloads;
    for (int page = 0; page < pages; ++page) {
      downloads.push_back(tendril::spawn([&, page] {
        // Tasks start in spawn order, so the first three find a free permit.
        bool waited = slots.available() == 0;
        tendril::http::response answer = download(slots, site.url("/page/" + std::to_string(page)));
        lines[page] = std::to_string(answer.status) + " \"" + answer.body + "\"" +
                      (waited ? ", after waiting for a slot" : "");
      }));
    }
    tendril::joinall(downloads);

    std::cout << "== " << pages << " pages, a semaphore of " << at_once << '\n';
    for (int page = 0; page < pages; ++page) std::cout << "  page " << page << ": " << lines[page] << '\n';
    // Fewer than at_once may overlap on a slow machine; more never may.
    if (most <= at_once)
      std::cout << "the server never answered more than " << at_once << " requests at once\n";
    else
      std::cout << "the server answered " << most << " requests at once\n";

    // curl keeps its connections open for reuse; closing them lets the
    // server's connection tasks end by themselves.
    tendril::http::close_idle_connections();
    std::cout << "stopped cleanly: " << std::boolalpha << site.stop(5s) << '\n';
  });
}
