// pool_map: "fetch" ten pages through a pool of three fetchers, first with
// map (the results in the order asked for), then with imap_unordered (each
// result as soon as it arrives, while the others are still being fetched).
//
// The network is fake: fetching a page takes a few turns of the hub (each
// page its own number of yields), so the output depends only on the program
// (examples/pool_map.expected holds it).

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include <tendril/tendril.hpp>

namespace {

const int turns_to_fetch[] = {50, 20, 80, 10, 30, 70, 20, 40, 60, 10};

int fetching = 0;       // fetches running now
int most_fetching = 0;  // and the most at any time

std::string fetch(int page) {
  most_fetching = std::max(most_fetching, ++fetching);
  for (int turn = 0; turn < turns_to_fetch[page]; ++turn) tendril::yield();  // "waiting for the network"
  --fetching;
  return "page " + std::to_string(page) + " (" + std::to_string(turns_to_fetch[page]) + " turns)";
}

}  // namespace

int main() {
  tendril::run([] {
    tendril::pool fetchers(3, "fetchers");
    std::vector<int> pages{0, 1, 2, 3, 4, 5, 6, 7, 8, 9};

    std::puts("map, in the order asked for:");
    for (const std::string& body : fetchers.map(fetch, pages)) std::printf("  %s\n", body.c_str());

    std::puts("imap_unordered, as they arrive:");
    for (const std::string& body : fetchers.imap_unordered(fetch, pages)) std::printf("  %s\n", body.c_str());

    std::printf("at most %d fetches at once, with %zu slots\n", most_fetching, fetchers.capacity());
  });
}
