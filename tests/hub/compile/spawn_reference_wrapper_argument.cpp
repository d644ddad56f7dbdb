// Compiled by a test, not by the build (see tests/CMakeLists.txt): spawn
// passes a std::ref argument to a reference parameter, as std::thread does
// ("Arguments are copied or moved into the task, as std::thread does").

#include <functional>
#include <thread>

#include <tendril/hub/task.hpp>

void spawn_with_reference_wrapper_argument() {
  int target = 0;
  auto body = [](int& r) { r = 1; };
  std::thread(body, std::ref(target)).join();  // the model
  tendril::task<void> t = tendril::spawn(body, std::ref(target));
  (void)t;
}
