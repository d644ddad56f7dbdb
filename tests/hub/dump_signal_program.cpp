// How the dump signal is chosen when a process's first hub starts; run by
// CTest (tests/CMakeLists.txt), once per way of choosing, each in a fresh
// process, because the choice is made once per process.
//
//   dump_signal_program          prints dump_signal=3 (SIGQUIT)
//   dump_signal_program own      installs its own SIGQUIT handler first:
//                                dump_signal=0, and its handler is kept
//   TENDRIL_DUMP_SIGNAL=12 ...   dump_signal=12

#include <signal.h>

#include <cstdio>
#include <cstring>

#include <tendril/hub/dump.hpp>
#include <tendril/hub/sleep.hpp>

namespace {
void own_handler(int) {}
}  // namespace

int main(int argc, char** argv) {
  bool own = argc > 1 && std::strcmp(argv[1], "own") == 0;
  if (own) ::signal(SIGQUIT, &own_handler);
  tendril::yield();  // the first hub
  std::printf("dump_signal=%d\n", tendril::dump_signal());
  if (own) {
    struct sigaction now {};
    ::sigaction(SIGQUIT, nullptr, &now);
    std::printf("own handler kept=%d\n", now.sa_handler == &own_handler ? 1 : 0);
  }
}
