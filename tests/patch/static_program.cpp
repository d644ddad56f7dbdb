// A program with tendril linked statically, for tendril-run's warning: its
// hub is its own copy, which the preloaded library cannot see, so patching
// cannot reach its fibers. It blocks nowhere, so it ends either way.

#include <tendril/hub/task.hpp>

int main() {
  auto t = tendril::spawn([] { return 42; });
  return t.get() == 42 ? 0 : 1;
}
