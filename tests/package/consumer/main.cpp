// Uses the installed headers and libraries: switches into a greenlet and back.

#include <any>
#include <cstdio>
#include <utility>

#include <tendril/tendril.hpp>

int main() {
  tendril::greenlet doubler(
      [](std::any start) { return 2 * tendril::greenlet::value_as<int>(std::move(start)); });
  const int result = doubler.switch_to<int>(21);
  if (result != 42 || !doubler.dead()) {
    std::fprintf(stderr, "consumer: expected a dead greenlet and 42, got %d\n", result);
    return 1;
  }
  std::printf("consumer: a greenlet from the installed tendril doubled 21 into %d\n", result);
  return 0;
}
