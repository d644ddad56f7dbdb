// Uses the installed headers and libraries: switches into a greenlet and
// back; built against tendril::patch, turns patching on first.

#include <any>
#include <cstdio>
#include <utility>

#include <tendril/tendril.hpp>
#ifdef TENDRIL_CONSUMER_PATCH
#include <tendril/patch.hpp>
#endif

int main() {
#ifdef TENDRIL_CONSUMER_PATCH
  tendril::patch_all();  // the main greenlet of a thread without a hub: still libc's calls
  if (tendril::patch::enabled()) {
    std::fprintf(stderr, "consumer: patching is enabled where no hub runs\n");
    return 1;
  }
#endif
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
