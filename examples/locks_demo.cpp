// locks_demo: the threading tutorials' lessons, with fibers.
//
// Fibers switch only where they park or yield, but a yield in the middle of
// a read-modify-write is all a race needs. The output depends only on the
// program (examples/locks_demo.expected holds it).

#include <algorithm>
#include <iostream>
#include <mutex>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include <tendril/tendril.hpp>

namespace {

// 1. Ten fibers add 100 each to a shared counter, yielding mid-update.
int count_up(tendril::mutex* guard) {
  int counter = 0;
  std::vector<tendril::task<void>> workers;
  for (int i = 0; i < 10; ++i) {
    workers.push_back(tendril::spawn([&counter, guard] {
      for (int k = 0; k < 100; ++k) {
        std::unique_lock<tendril::mutex> hold;
        if (guard != nullptr) hold = std::unique_lock(*guard);
        int seen = counter;
        tendril::yield();  // another fiber runs here, as a thread could be preempted
        counter = seen + 1;
      }
    }));
  }
  tendril::joinall(workers);
  return counter;
}

// 2. A semaphore lets at most three "downloads" run at once.
int limited_downloads() {
  tendril::semaphore slots(3, "download slots");
  int running = 0, most = 0;
  std::vector<tendril::task<void>> downloads;
  for (int i = 0; i < 10; ++i) {
    downloads.push_back(tendril::spawn([&] {
      slots.acquire();
      most = std::max(most, ++running);
      tendril::yield();
      --running;
      slots.release();
    }));
  }
  tendril::joinall(downloads);
  return most;
}

// 3. Two fibers take two locks in opposite order: a deadlock, reported.
std::string deadlock() {
  tendril::mutex left("left"), right("right");
  try {
    tendril::run([&] {
      auto a = tendril::spawn(tendril::spawn_options{"a"}, [&] {
        std::lock_guard first(left);
        tendril::yield();
        std::lock_guard second(right);
      });
      auto b = tendril::spawn(tendril::spawn_options{"b"}, [&] {
        std::lock_guard first(right);
        tendril::yield();
        std::lock_guard second(left);
      });
      tendril::joinall({a, b});
    });
  } catch (const tendril::error& e) {
    // Keep the lines about the locks, without the ids that vary.
    std::istringstream lines(e.what());
    std::string line, out;
    while (std::getline(lines, line))
      if (line.find("mutex") != std::string::npos)
        out += std::regex_replace(line, std::regex("task [0-9]+"), "task") + '\n';
    return out;
  }
  return "no deadlock?\n";
}

}  // namespace

int main() {
  tendril::run([] {
    std::cout << "== a counter, ten fibers, 100 increments each, a yield mid-update\n";
    std::cout << "  without a mutex: " << count_up(nullptr) << " (updates were lost)\n";
    tendril::mutex guard("counter");
    std::cout << "  with a mutex:    " << count_up(&guard) << '\n';
    std::cout << "== a semaphore of 3 around ten downloads\n";
    std::cout << "  at most " << limited_downloads() << " ran at once\n";
  });
  std::cout << "== two locks taken in opposite order\n" << deadlock();
}
