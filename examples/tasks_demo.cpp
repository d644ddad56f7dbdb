// tasks_demo: green threads on the hub, after gevent's tutorial.
//
// Tasks read like blocking code: each one sleeps (as a crawler would wait on
// the network), and while one sleeps the hub runs the others. The output
// depends only on the program, never on timing (examples/tasks_demo.expected
// holds it, and the example test compares).

#include <chrono>
#include <iostream>
#include <stdexcept>
#include <string>
#include <vector>

#include <tendril/tendril.hpp>

using namespace std::chrono_literals;

namespace {

// fetch pretends to download a page: it parks for a while, then answers.
std::string fetch(int page) {
  tendril::sleep(page % 3 * 10ms);
  return "page " + std::to_string(page) + " (" + std::to_string(100 + page * 7) + " bytes)";
}

// 1. spawn starts tasks; joinall waits for all of them. They wait
//    concurrently, so ten 0-20 ms waits take about 20 ms, not 100.
void spawn_and_joinall() {
  std::cout << "== spawn and joinall: ten downloads wait at the same time\n";
  std::vector<tendril::task<std::string>> downloads;
  for (int page = 0; page < 10; ++page) downloads.push_back(tendril::spawn(fetch, page));
  tendril::joinall(downloads);
  for (auto& d : downloads) std::cout << "  " << d.get() << '\n';
}

// 2. Tasks start in the order they were spawned, once the spawner parks.
void start_order() {
  std::cout << "== tasks start in spawn order, when the spawner parks\n";
  std::vector<tendril::task<void>> tasks;
  for (int i = 0; i < 3; ++i)
    tasks.push_back(tendril::spawn([i] { std::cout << "  task " << i << " runs\n"; }));
  std::cout << "  spawned three; now joining\n";
  tendril::joinall(tasks);
}

// 2b. sleep(0) hands the thread to the other ready tasks and comes back:
//     gevent's first lesson, with the same four lines.
void sleep_zero() {
  std::cout << "== sleep(0) switches to the other task and back\n";
  auto foo = tendril::spawn([] {
    std::cout << "  running in foo\n";
    tendril::sleep(0s);
    std::cout << "  explicit context switch to foo again\n";
  });
  auto bar = tendril::spawn([] {
    std::cout << "  explicit context to bar\n";
    tendril::sleep(0s);
    std::cout << "  implicit context switch back to bar\n";
  });
  tendril::joinall(std::vector<tendril::task<void>>{foo, bar});
}

// 3. A timeout scope raises timeout_error at the park point.
void timeouts() {
  std::cout << "== a timeout interrupts a wait\n";
  try {
    tendril::timeout limit(10ms);
    tendril::sleep(10s);
  } catch (const tendril::timeout_error&) {
    std::cout << "  the 10 s sleep was cut short by the 10 ms timeout\n";
  }
  std::string answer = tendril::with_timeout(
      10ms, [] { return fetch(8); }, std::string("no answer in time"));
  std::cout << "  with_timeout: " << answer << '\n';
}

// 4. Killing a task unwinds it: its destructors run.
void kill_a_task() {
  std::cout << "== kill unwinds a task\n";
  auto worker = tendril::spawn([] {
    struct cleanup {
      ~cleanup() { std::cout << "  worker cleaned up\n"; }
    } guard;
    tendril::sleep(1h);
  });
  tendril::yield();  // let it start and park
  worker.kill();
  std::cout << "  killed: " << std::boolalpha << worker.killed() << '\n';
}

// 5. An exception in a task comes back from get().
void failures() {
  std::cout << "== a task's exception is rethrown by get()\n";
  auto broken = tendril::spawn([]() -> int { throw std::runtime_error("no route to host"); });
  try {
    broken.get();
  } catch (const std::exception& e) {
    std::cout << "  get() threw: " << e.what() << '\n';
  }
}

}  // namespace

int main() {
  tendril::run([] {
    spawn_and_joinall();
    start_order();
    sleep_zero();
    timeouts();
    kill_a_task();
    failures();
  });
}
