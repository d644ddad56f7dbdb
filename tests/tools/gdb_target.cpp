// The program tools/tendril-gdb.py is tested on (tests/tools/CMakeLists.txt):
// named tasks parked in functions with distinctive names, on two hubs, then
// a call to tendril_gdb_breakpoint_here(), where gdb stops it.
//
// On the main thread's hub, alpha sleeps (wait reason "sleep") and beta
// parks with a wait reason of its own ("gdb_target_gate", detail 4242). A
// second thread's hub has gamma, sleeping. Each parking function does work
// after its park, so the park is not a tail call and the function stays on
// the stack.

#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>

#include <tendril/hub/park.hpp>
#include <tendril/hub/sleep.hpp>
#include <tendril/hub/task.hpp>

namespace {

volatile int parks_returned = 0;
std::atomic<bool> gamma_parked{false};
std::atomic<bool> stop{false};

}  // namespace

[[gnu::noinline]] void gdb_target_alpha_sleeps() {
  tendril::sleep(std::chrono::hours(1));
  parks_returned = parks_returned + 1;
}

[[gnu::noinline]] void gdb_target_beta_parks() {
  tendril::park({.what = "gdb_target_gate", .detail = 4242});
  parks_returned = parks_returned + 1;
}

[[gnu::noinline]] void gdb_target_gamma_sleeps() {
  tendril::sleep(std::chrono::hours(1));
  parks_returned = parks_returned + 1;
}

/// tendril_gdb_breakpoint_here() is where the test's gdb stops the program:
/// every task is parked by then.
extern "C" [[gnu::noinline]] void tendril_gdb_breakpoint_here() { asm volatile("" ::: "memory"); }

int main() {
  // The second hub: its thread's exit kills gamma.
  std::thread other([] {
    auto gamma = tendril::spawn({.name = "gamma", .stack_size = 0}, gdb_target_gamma_sleeps);
    tendril::yield();
    gamma_parked = true;
    while (!stop) tendril::sleep(std::chrono::milliseconds(1));
  });
  auto alpha = tendril::spawn({.name = "alpha", .stack_size = 0}, gdb_target_alpha_sleeps);
  auto beta = tendril::spawn({.name = "beta", .stack_size = 0}, gdb_target_beta_parks);
  tendril::yield();  // behind both tasks in the ready queue: each runs until it parks
  while (!gamma_parked) std::this_thread::yield();
  tendril_gdb_breakpoint_here();
  alpha.kill();
  beta.kill();
  stop = true;
  other.join();
  std::puts("gdb_target: done");
  return 0;
}
