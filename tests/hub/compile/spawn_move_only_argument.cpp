// Compiled by a test, not by the build (see tests/CMakeLists.txt): spawn
// accepts a move-only argument and moves it into the task, as std::thread
// does ("Arguments are copied or moved into the task, as std::thread does").

#include <memory>
#include <thread>
#include <utility>

#include <tendril/hub/task.hpp>

void spawn_with_move_only_argument() {
  auto body = [](std::unique_ptr<int> p) { return *p; };
  std::thread(body, std::make_unique<int>(1)).join();  // the model
  tendril::task<int> t = tendril::spawn(body, std::make_unique<int>(1));
  (void)t;
}
