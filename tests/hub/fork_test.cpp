// fork(): the child goes on with only the fiber that forked, on a fresh
// hub; the parent's other fibers never run there, not even to unwind; a
// task that forked ends the child when it returns; the parent's hub and
// fibers go on untouched.
//
// The child reports what it saw as letters on a pipe and exits; the parent
// checks the letters and the exit status. Catch2 assertions run in the
// parent only.

#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <string>
#include <utility>

#include <catch2/catch.hpp>

#include <tendril/error.hpp>
#include <tendril/fiber/greenlet.hpp>
#include <tendril/hub/hub.hpp>
#include <tendril/hub/join.hpp>
#include <tendril/hub/sleep.hpp>
#include <tendril/hub/task.hpp>
#include <tendril/io/thread_pool.hpp>

#include "support/hub_fixture.hpp"

namespace {

using tendril::spawn;
using tendril::testing::gate;
using tendril::testing::hub_check;

// Where the child reports; -1 in the parent, so that the parent's own
// fibers, which run there later, report nothing.
int report_fd = -1;

void report(const std::string& letters) {
  if (report_fd >= 0) (void)!::write(report_fd, letters.data(), letters.size());
}

// Writes 'U' if it is ever destroyed in the child: a fiber's stack unwound.
struct unwind_witness {
  ~unwind_witness() { report("U"); }
};

struct child_result {
  std::string letters;
  int status = -1;
};

// forked_child() forks with a pipe for the child's letters: 0 in the
// child, the child's pid in the parent; collect(pid) then reads the letters
// until the child has closed the pipe (exited), and its exit status.
int letters_from_child = -1;

pid_t forked_child() {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(fds[0]);
    report_fd = fds[1];
    return 0;
  }
  ::close(fds[1]);
  letters_from_child = fds[0];
  return pid;
}

child_result collect(pid_t pid) {
  child_result result;
  char buffer[256];
  for (ssize_t n; (n = ::read(letters_from_child, buffer, sizeof buffer)) > 0;)
    result.letters.append(buffer, n);
  ::close(std::exchange(letters_from_child, -1));
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  result.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

}  // namespace

TEST_CASE("a child forked by the main greenlet goes on alone on a fresh hub") {
  hub_check check;
  gate g;
  bool parked_ran_on = false;
  auto parked = spawn([&] {
    unwind_witness w;
    g.wait();
    report("P");  // only in the child, if the parked task ran there
    parked_ran_on = true;
  });
  tendril::sleep(std::chrono::milliseconds(0));  // it starts and parks
  bool queued_ran = false;
  auto queued = spawn([&] {
    unwind_witness w;
    report("Q");
    queued_ran = true;
  });
  const tendril::hub_ref parent_hub = tendril::hub_ref::current();

  pid_t pid = forked_child();
  if (pid == 0) {
    if (tendril::hub_ref::current() != parent_hub) report("F");  // a fresh hub
    if (tendril::this_hub_stats().tasks == 0) report("0");       // with none of the parent's tasks
    g.open();                                      // would wake the parked task, if it were the child's
    tendril::sleep(std::chrono::milliseconds(0));  // a queued task would run here
    auto answer = spawn([] { return 42; });
    if (answer.get() == 42) report("J");
    try {
      parked.join();
    } catch (const tendril::error&) {
      report("E");  // a handle from before the fork names a task of the parent's
    }
    if (tendril::run_in_thread([] { return 7; }) == 7) report("T");  // the thread pool starts anew
    report("D");
    std::exit(0);  // a normal exit: thread exit must not unwind the parent's fibers
  }
  child_result child = collect(pid);
  INFO("child letters: " << child.letters);
  CHECK(child.status == 0);
  CHECK(child.letters == "F0JETD");

  // The parent's fibers go on in the parent.
  CHECK_FALSE(parked_ran_on);
  g.open();
  tendril::joinall({parked, queued});
  CHECK(parked_ran_on);
  CHECK(queued_ran);
}

TEST_CASE("a child forked by a task runs that task alone and exits when it returns") {
  hub_check check;
  bool sibling_ran = false;
  auto forker = spawn([&] {
    auto sibling = spawn([&] {
      report("S");
      sibling_ran = true;
    });
    pid_t pid = forked_child();
    if (pid == 0) {
      tendril::sleep(std::chrono::milliseconds(1));  // the child's hub runs its loop
      auto helper = spawn([] { return 5; });
      if (helper.get() == 5) report("J");
      report("C");
      return child_result{};  // ends the child, with status 0
    }
    child_result child = collect(pid);
    sibling.join();
    return child;
  });
  child_result child = forker.get();
  INFO("child letters: " << child.letters);
  CHECK(child.status == 0);
  CHECK(child.letters == "JC");
  CHECK(sibling_ran);  // in the parent
}

TEST_CASE("a task that fails in the child it forked ends it with status 1") {
  hub_check check;
  auto forker = spawn([] {
    pid_t pid = forked_child();
    if (pid == 0) {
      report("C");
      throw std::runtime_error("child task failed");
    }
    return collect(pid);
  });
  child_result child = forker.get();
  CHECK(child.status == 1);
  CHECK(child.letters == "C");
}

TEST_CASE("switching to a greenlet suspended at the fork throws in the child") {
  hub_check check;
  tendril::greenlet suspended([] {
    unwind_witness w;
    tendril::greenlet::switch_to_parent();
    report("R");
  });
  suspended.switch_to();
  pid_t pid = forked_child();
  if (pid == 0) {
    try {
      suspended.switch_to();
    } catch (const tendril::error& e) {
      if (std::string(e.what()).find("forked") != std::string::npos) report("X");
    }
    std::exit(0);
  }
  child_result child = collect(pid);
  INFO("child letters: " << child.letters);
  CHECK(child.status == 0);
  CHECK(child.letters == "X");
  suspended.switch_to();  // the parent's goes on
  CHECK(suspended.dead());
}
