#include <chrono>
#include <iostream>
#include <string>
#include <vector>

#include <tendril/tendril.hpp>

using namespace std::chrono_literals;

std::string fetch(int page) {
  tendril::sleep(20ms);  // parks this task; the hub runs the others meanwhile
  return "page " + std::to_string(page);
}

int main() {
  tendril::run([] {
    std::vector<tendril::task<std::string>> pages;
    for (int i = 0; i < 100; ++i) pages.push_back(tendril::spawn(fetch, i));
    tendril::joinall(pages);  // about 20 ms in all, not 2 s
    for (auto& p : pages) std::cout << p.get() << '\n';
  });
}
