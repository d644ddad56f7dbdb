// tendril::dump: every hub and every fiber, with wait reasons, holders,
// stack use and call stacks; deadlocks (cycles of waits) in dumps and in
// the would-block-forever error; hubs on other threads, answering or busy;
// and the dump signal.

#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include <catch2/catch.hpp>

#include <tendril/error.hpp>
#include <tendril/hub/dump.hpp>
#include <tendril/hub/hub.hpp>
#include <tendril/hub/join.hpp>
#include <tendril/hub/park.hpp>
#include <tendril/hub/runtime.hpp>
#include <tendril/hub/sleep.hpp>
#include <tendril/hub/task.hpp>

#include "support/hub_fixture.hpp"

namespace {

using namespace std::chrono_literals;
using tendril::spawn;
using tendril::spawn_options;
using tendril::testing::gate;
using tendril::testing::hub_check;

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// Frames with names a call stack can be checked for.
[[gnu::noinline]] void wait_at_the_gate(gate& g) {
  g.wait();
  asm volatile("");  // keeps the call from being a tail call
}

[[gnu::noinline]] void hold_the_thread(const std::atomic<bool>& release) {
  while (!release.load())
    std::this_thread::sleep_for(1ms);  // blocks the hub's thread: what dumps must survive
}

// The line of a dump that describes `what`, or "".
std::string line_of(const std::string& dump, const std::string& what) {
  std::istringstream lines(dump);
  for (std::string line; std::getline(lines, line);)
    if (contains(line, what)) return line;
  return "";
}

}  // namespace

TEST_CASE("a dump lists each fiber with its state and wait and the call stack where it waits") {
  hub_check check;
  gate g;
  auto waiter = spawn(spawn_options{.name = "gatekeeper"}, [&] { wait_at_the_gate(g); });
  auto joiner = spawn(spawn_options{.name = "joiner"}, [&] { waiter.join(); });
  auto sleeper = spawn(spawn_options{.name = "sleeper"}, [] { tendril::sleep(1h); });
  tendril::sleep(0ms);  // all three start and park
  auto unstarted = spawn(spawn_options{.name = "late"}, [] {});

  std::string text = tendril::dump();
  INFO(text);
  CHECK(contains(text, "tendril: 1 hub in process"));
  CHECK(contains(text, tendril::hub_ref::current().describe() + ": 4 tasks"));

  std::string gatekeeper = line_of(text, waiter.describe() + ":");
  CHECK(contains(gatekeeper, "parked "));
  CHECK(contains(gatekeeper, "waits on gate"));
  CHECK(contains(gatekeeper, "used of 256 KiB"));
  CHECK(contains(text, "wait_at_the_gate"));  // its call stack

  std::string joining = line_of(text, joiner.describe() + ":");
  CHECK(contains(joining, "waits on joining " + waiter.describe()));

  CHECK(contains(line_of(text, sleeper.describe() + ":"), "waits on sleep"));
  CHECK(contains(line_of(text, unstarted.describe() + ":"), "not started"));
  CHECK(contains(text, "running (it asked for this dump)"));
  CHECK_FALSE(contains(text, "deadlock"));

  g.open();
  sleeper.kill();
  tendril::joinall({waiter, joiner, sleeper, unstarted});
}

TEST_CASE("a cycle of joins shows as a deadlock in the dump and in the would-block-forever error") {
  hub_check check;
  tendril::task<void> first;
  tendril::task<void> second;
  first = spawn(spawn_options{.name = "first"}, [&] { second.join(); });
  second = spawn(spawn_options{.name = "second"}, [&] { first.join(); });
  tendril::sleep(0ms);

  std::string text = tendril::dump();
  INFO(text);
  bool one_way = contains(
      text, "deadlock: " + first.describe() + " -> " + second.describe() + " -> " + first.describe());
  bool other_way = contains(
      text, "deadlock: " + second.describe() + " -> " + first.describe() + " -> " + second.describe());
  CHECK((one_way || other_way));

  // Nothing else can wake them: joining either reports it, with the cycle.
  std::string error;
  try {
    first.join();
  } catch (const tendril::error& e) {
    error = e.what();
  }
  INFO(error);
  CHECK(contains(error, "would block forever"));
  CHECK(contains(error, "deadlock: "));
  first.kill();
  second.kill();
}

TEST_CASE("a dump from a plain thread covers every hub of a runtime") {
  tendril::runtime rt(2);
  std::atomic<int> parked{0};
  std::vector<gate*> gates(2);
  std::vector<tendril::task<void>> tasks;
  for (std::size_t i = 0; i < 2; ++i)
    tasks.push_back(
        tendril::spawn_on(rt.hub(i), spawn_options{.name = "worker-" + std::to_string(i)}, [&, i] {
          gate g;
          gates[i] = &g;
          ++parked;
          wait_at_the_gate(g);
        }));
  while (parked.load() != 2) std::this_thread::yield();

  std::string text;
  std::thread([&] { text = tendril::dump(); }).join();
  INFO(text);
  for (std::size_t i = 0; i < 2; ++i) {
    CHECK(contains(text, rt.hub(i).describe() + ": "));
    CHECK(contains(line_of(text, tasks[i].describe() + ":"), "waits on gate"));
  }
  for (std::size_t i = 0; i < 2; ++i) rt.hub(i).post([&gates, i] { gates[i]->open(); });
  rt.join();
}

TEST_CASE("a cycle of joins across two hubs shows as a deadlock across hubs") {
  tendril::runtime rt(2);
  tendril::task<void> first;
  tendril::task<void> second;
  // Each waits until both handles exist (the flag orders their writes
  // before its reads), then joins the other.
  std::atomic<bool> handles_set{false};
  first = tendril::spawn_on(rt.hub(0), spawn_options{.name = "east"}, [&] {
    while (!handles_set.load()) tendril::sleep(1ms);
    second.join();
  });
  second = tendril::spawn_on(rt.hub(1), spawn_options{.name = "west"}, [&] {
    while (!handles_set.load()) tendril::sleep(1ms);
    first.join();
  });
  handles_set = true;

  // Both parked in their joins: each hub's stats count one parked fiber.
  auto parked_on = [&](std::size_t i) { return rt.hub(i).stats().parked == 1; };
  std::string text;
  for (auto give_up = std::chrono::steady_clock::now() + 30s; std::chrono::steady_clock::now() < give_up;) {
    if (parked_on(0) && parked_on(1)) {
      text = tendril::dump();
      if (contains(text, "deadlock across hubs")) break;
    }
    std::this_thread::sleep_for(1ms);
  }
  rt.stop(0s);
  INFO(text);
  std::string line = line_of(text, "deadlock across hubs: ");
  CHECK(contains(line, first.describe() + " on " + rt.hub(0).describe()));
  CHECK(contains(line, second.describe() + " on " + rt.hub(1).describe()));
}

TEST_CASE("a hub whose thread is held does not answer and is shown with the fiber holding it") {
  tendril::runtime rt(1);
  std::atomic<bool> release{false};
  std::atomic<bool> holding{false};
  auto holder = tendril::spawn_on(rt.hub(0), spawn_options{.name = "holder"}, [&] {
    holding = true;
    hold_the_thread(release);
  });
  while (!holding.load()) std::this_thread::yield();

  std::string text = tendril::dump();
  release = true;
  rt.join();
  INFO(text);
  CHECK(contains(text, "did not answer within 1 s"));
  CHECK(contains(text, holder.describe() + " holds its thread"));
  CHECK(contains(text, "hold_the_thread"));
}

TEST_CASE("the dump signal writes a dump to stderr and the process goes on") {
  hub_check check;
  gate g;
  auto waiter = spawn(spawn_options{.name = "on-signal"}, [&] { wait_at_the_gate(g); });
  tendril::sleep(0ms);

  tendril::set_dump_signal(SIGUSR2);
  CHECK(tendril::dump_signal() == SIGUSR2);
  std::string text;
  {
    tendril::testing::stderr_capture err;
    ::raise(SIGUSR2);
    // The monitor thread writes it, once it is done with the hubs' answers.
    for (auto deadline = std::chrono::steady_clock::now() + 30s;
         !contains(text, "wait_at_the_gate") && std::chrono::steady_clock::now() < deadline;) {
      tendril::sleep(1ms);  // this hub must answer the monitor's dump: keep its loop running
      text = err.peek();
    }
    text = err.finish();
  }
  INFO(text);
  CHECK(contains(text, "tendril: dump of process"));
  CHECK(contains(line_of(text, waiter.describe() + ":"), "waits on gate"));

  tendril::set_dump_signal(0);
  CHECK(tendril::dump_signal() == 0);
  struct sigaction now {};
  ::sigaction(SIGUSR2, nullptr, &now);
  CHECK(now.sa_handler == SIG_DFL);  // given back
  CHECK_THROWS_AS(tendril::set_dump_signal(SIGKILL), tendril::error);
  g.open();
  waiter.join();
}
