// Fiber stacks: sizes, pooling, the compact fallback past the guarded-stack
// budget, and stack overflow, which is tested in child processes because it
// must abort (greenlet's habit: crash cases are separate processes).

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <any>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include <tendril/fiber/greenlet.hpp>
#include <tendril/fiber/stack.hpp>

#include "support/fiber_leak_check.hpp"

namespace {

using tendril::current_stack_stats;
using tendril::greenlet;
using tendril::testing::fiber_leak_check;
constexpr std::size_t kib = 1024;

std::size_t page_size() { return static_cast<std::size_t>(::sysconf(_SC_PAGESIZE)); }
std::size_t round_up_to_page(std::size_t n) { return (n + page_size() - 1) / page_size() * page_size(); }

void park() { greenlet::switch_to_parent(); }

greenlet::options sized(std::size_t bytes) {
  greenlet::options opts;
  opts.stack_size = bytes;
  return opts;
}

// The calling greenlet's usable stack size, measured from inside it.
std::size_t stack_size_inside(greenlet::options opts) {
  return greenlet([] { return greenlet::current().stack_size(); }, greenlet(), std::move(opts))
      .switch_to<std::size_t>();
}

// Touches every byte of a `bytes`-long local buffer; noinline so the buffer
// really lives in this frame.
template <std::size_t bytes>
[[gnu::noinline]] unsigned fill_local_buffer() {
  char buffer[bytes];
  volatile char* p = buffer;
  for (std::size_t i = 0; i < bytes; ++i) p[i] = static_cast<char>(i % 251);
  unsigned sum = 0;
  for (std::size_t i = 0; i < bytes; ++i) sum += static_cast<unsigned char>(p[i]);
  return sum;
}

// What fill_local_buffer<bytes>() returns, computed without a buffer.
unsigned expected_fill_sum(std::size_t bytes) {
  unsigned sum = 0;
  for (std::size_t i = 0; i < bytes; ++i) sum += static_cast<unsigned>(i % 251);
  return sum;
}

// Recurses until the stack runs out; the work after the call stops tail calls.
[[gnu::noinline]] int recurse_forever(int depth) {
  volatile char frame[512];
  frame[0] = static_cast<char>(depth);
  if (depth < 0) return 0;
  return recurse_forever(depth + 1) + frame[0];
}

struct child_result {
  int status = 0;
  std::string stderr_text;
};

// Runs this test executable again in a child process, selecting the hidden
// test case(s) tagged `tag`, and returns how it died and what it printed on
// stderr.
//
// Why exec and not just fork: the overflow handler is installed once per
// process, when the first guarded stack is mapped, and Catch2 saves and
// restores SIGSEGV's action around every test case. In a process that has
// already run another test case, that restore has removed tendril's handler
// for good, so a forked child would die from a plain SIGSEGV. A fresh process
// installs it inside the child's own test case, as a real program would.
child_result run_child_test(const char* tag) {
  int pipe_fds[2];
  REQUIRE(::pipe(pipe_fds) == 0);
  std::fflush(stdout);
  std::fflush(stderr);
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    rlimit no_core{0, 0};
    ::setrlimit(RLIMIT_CORE, &no_core);
    ::close(pipe_fds[0]);
    ::dup2(pipe_fds[1], 2);
    ::close(pipe_fds[1]);
    int null_fd = ::open("/dev/null", O_WRONLY);
    ::dup2(null_fd, 1);  // the child's Catch2 report is noise here
    ::execl("/proc/self/exe", "stack_test", tag, static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(pipe_fds[1]);
  child_result result;
  char buffer[4096];
  for (ssize_t n; (n = ::read(pipe_fds[0], buffer, sizeof buffer)) != 0;) {
    if (n < 0) continue;  // EINTR
    result.stderr_text.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(pipe_fds[0]);
  REQUIRE(::waitpid(pid, &result.status, 0) == pid);
  return result;
}

// "child: id=<n>" as the child printed it.
[[maybe_unused]] std::string reported_id(const std::string& text) {
  auto at = text.find("child: id=");
  if (at == std::string::npos) return "?";
  at += 10;
  return text.substr(at, text.find('\n', at) - at);
}

[[maybe_unused]] bool died_from(int status, int signal) {
  return WIFSIGNALED(status) && WTERMSIG(status) == signal;
}
[[maybe_unused]] bool died_abnormally(int status) { return !(WIFEXITED(status) && WEXITSTATUS(status) == 0); }

struct restore_default_stack_size {
  std::size_t saved = tendril::default_stack_size();
  ~restore_default_stack_size() { tendril::set_default_stack_size(saved); }
};

struct restore_guarded_stack_limit {
  std::size_t saved = tendril::guarded_stack_limit();
  ~restore_guarded_stack_limit() { tendril::set_guarded_stack_limit(saved); }
};

}  // namespace

TEST_CASE("the default stack is 256 KiB and set_default_stack_size rounds up to pages") {
  fiber_leak_check leaks;
  restore_default_stack_size restore;
  CHECK(tendril::default_stack_size() == 256 * kib);
  CHECK(stack_size_inside({}) == 256 * kib);

  tendril::set_default_stack_size(100'000);
  CHECK(tendril::default_stack_size() == round_up_to_page(100'000));
  CHECK(stack_size_inside({}) == round_up_to_page(100'000));

  tendril::set_default_stack_size(1);
  CHECK(tendril::default_stack_size() == 16 * kib);
  CHECK(greenlet::current().stack_size() == 0);  // the main greenlet runs on the thread's stack
}

TEST_CASE("the stack_size option is respected, rounded up to whole pages") {
  fiber_leak_check leaks;
  for (std::size_t requested : {64 * kib, std::size_t{100'000}, 300 * kib + 1, 1024 * kib}) {
    CAPTURE(requested);
    std::size_t size = stack_size_inside(sized(requested));
    CHECK(size == round_up_to_page(requested));
  }
}

TEST_CASE("a greenlet can use most of its stack") {
  fiber_leak_check leaks;
  unsigned sum = greenlet([] { return fill_local_buffer<200 * kib>(); }, greenlet(), sized(256 * kib))
                     .switch_to<unsigned>();
  CHECK(sum == expected_fill_sum(200 * kib));
}

TEST_CASE("finished greenlets' stacks are pooled and reused") {
  fiber_leak_check leaks;
  tendril::trim_stack_pool();
  const tendril::stack_stats start = current_stack_stats();
  CHECK(start.pooled == 0);

  greenlet g(park);
  g.switch_to();
  CHECK(current_stack_stats().in_use == start.in_use + 1);
  g.switch_to();
  REQUIRE(g.dead());
  const tendril::stack_stats after_one = current_stack_stats();
  CHECK(after_one.in_use == start.in_use);
  CHECK(after_one.pooled == 1);

  for (int i = 0; i < 100; ++i) {
    greenlet reuse(park);
    reuse.switch_to();
    const tendril::stack_stats during = current_stack_stats();
    CHECK(during.pooled == 0);  // taken from the pool, not mapped afresh
    CHECK(during.guarded_mapped == after_one.guarded_mapped);
    reuse = greenlet();  // unwound: its stack goes back too
    CHECK(current_stack_stats().pooled == 1);
  }
  CHECK(current_stack_stats().in_use == start.in_use);

  tendril::trim_stack_pool();
  const tendril::stack_stats trimmed = current_stack_stats();
  CHECK(trimmed.pooled == 0);
  CHECK(trimmed.guarded_mapped + 1 == after_one.guarded_mapped);
}

TEST_CASE("a greenlet finishing into unstarted parents of its stack size hands its stack on to them") {
  fiber_leak_check leaks;
  tendril::trim_stack_pool();
  // A chain: each greenlet's parent is the next, unstarted; the last one's
  // is main. Each adds one to what the one before it returned.
  constexpr int length = 100;
  std::vector<std::size_t> stack_sizes;
  greenlet up;  // the parent of the greenlet made next
  for (int i = 0; i < length; ++i) {
    up = greenlet(
        [&stack_sizes](std::any v) {
          stack_sizes.push_back(greenlet::current().stack_size());
          return std::any_cast<int>(v) + 1;
        },
        up, sized(64 * kib));
  }
  CHECK(up.switch_to<int>(0) == length);
  CHECK(stack_sizes == std::vector<std::size_t>(length, 64 * kib));
  const tendril::stack_stats after = current_stack_stats();
  CHECK(after.pooled == 1);  // one stack served them all, in turn
  tendril::trim_stack_pool();
}

TEST_CASE("a greenlet finishing into an unstarted parent that wants another stack size gets it its own") {
  fiber_leak_check leaks;
  tendril::trim_stack_pool();
  std::size_t parent_stack = 0;
  greenlet parent(
      [&](std::any v) {
        parent_stack = greenlet::current().stack_size();
        return std::any_cast<int>(v) + 1;
      },
      greenlet(), sized(128 * kib));
  greenlet child([] { return 41; }, parent, sized(64 * kib));
  CHECK(child.switch_to<int>() == 42);
  CHECK(parent_stack == 128 * kib);
  CHECK(current_stack_stats().pooled == 2);
  tendril::trim_stack_pool();
}

TEST_CASE("past the guarded-stack budget stacks are compact: 100,000 parked greenlets") {
  fiber_leak_check leaks;
  restore_guarded_stack_limit restore;
#if defined(__SANITIZE_THREAD__)
  // ThreadSanitizer tracks each greenlet as a fiber and dies past 8128
  // threads and fibers together; fewer still overflow the budget of 64.
  constexpr std::size_t count = 4'000;
#else
  constexpr std::size_t count = 100'000;
#endif
  constexpr std::size_t budget = 64;
  tendril::trim_stack_pool();
  tendril::set_guarded_stack_limit(budget);
  const tendril::stack_stats start = current_stack_stats();

  std::size_t unwound = 0;
  auto parked = [&unwound] {
    try {
      park();
    } catch (const tendril::greenlet_exit&) {
      ++unwound;
      throw;
    }
  };
  std::vector<greenlet> greenlets;
  greenlets.reserve(count);
  for (std::size_t i = 0; i < count; ++i)
    greenlets.emplace_back(parked, greenlet(), sized(32 * kib)).switch_to();

  const tendril::stack_stats during = current_stack_stats();
  CHECK(during.in_use == start.in_use + count);
  CHECK(during.compact_in_use > 0);
  CHECK(during.compact_in_use >= start.compact_in_use + count - budget);
  CHECK(during.guarded_mapped <= budget);
  CHECK(tendril::active_greenlet_count() >= count);

  greenlets.clear();
  CHECK(unwound == count);
  const tendril::stack_stats after = current_stack_stats();
  CHECK(after.in_use == start.in_use);
  CHECK(after.compact_in_use == start.compact_in_use);
  tendril::trim_stack_pool();
}

// The child halves of the death tests; hidden ([.] tags), run only by run_child_test.
TEST_CASE("child: overflow a guarded stack", "[.guarded_overflow_child]") {
  greenlet g([] { recurse_forever(0); }, greenlet(), {.name = "overflower", .stack_size = 64 * kib});
  std::fprintf(stderr, "child: id=%llu\n", static_cast<unsigned long long>(g.id()));
  std::fflush(stderr);
  g.switch_to();
  std::fputs("child: survived the overflow\n", stderr);
}

// Overflows a compact stack into its canary in a greenlet whose parent is
// `parent` (empty: the caller), and returns if that goes unnoticed.
void overflow_compact_stack(const greenlet& parent) {
  tendril::set_guarded_stack_limit(0);
  // Neighbours of the same size are carved first from the same slab, so what
  // the scribbler writes below its stack lands in slab memory, not unmapped.
  greenlet n1(park, greenlet(), sized(64 * kib)), n2(park, greenlet(), sized(64 * kib));
  n1.switch_to();
  n2.switch_to();
  greenlet g(
      [] {
        std::size_t size = greenlet::current().stack_size();
        char* sp = static_cast<char*>(__builtin_frame_address(0));
        // From just below this frame down past the bottom of the stack: the
        // frames above this one put `sp - size` below the bottom.
        for (volatile char* p = sp - 512; p >= sp - size; --p) *p = 0x5a;
        std::fputs("child: finishing\n", stderr);
      },
      parent, {.name = "scribbler", .stack_size = 64 * kib});
  if (current_stack_stats().compact_in_use < 2) std::fputs("child: stacks are not compact\n", stderr);
  g.switch_to();
  std::fputs("child: survived the overflow\n", stderr);
}

TEST_CASE("child: overflow a compact stack into its canary", "[.compact_overflow_child]") {
  overflow_compact_stack(greenlet());
}

TEST_CASE("child: overflow a compact stack, then finish into an unstarted parent",
          "[.compact_overflow_into_unstarted_child]") {
  // The scribbler's stack would go on to this parent, in place: the canary
  // is checked on the way.
  overflow_compact_stack(
      greenlet([] { std::fputs("child: the parent ran\n", stderr); }, greenlet(), sized(64 * kib)));
}

TEST_CASE("a stack overflow into the guard page aborts, naming the fiber") {
  child_result child = run_child_test("[.guarded_overflow_child]");
  INFO("child's stderr:\n" << child.stderr_text);
  CHECK_THAT(child.stderr_text, Catch::Contains("child: id="));
  CHECK_THAT(child.stderr_text, !Catch::Contains("survived"));
#if defined(__SANITIZE_ADDRESS__)
  // AddressSanitizer installs its own SIGSEGV handler, which reports the
  // overflow itself and exits; only the abnormal death is common to both.
  CHECK(died_abnormally(child.status));
#else
  CHECK(died_from(child.status, SIGABRT));
  std::string expected =
      "stack overflow in fiber " + reported_id(child.stderr_text) + " \"overflower\" (stack 64 KiB)";
  CHECK_THAT(child.stderr_text, Catch::Contains(expected));
#endif
}

TEST_CASE("a compact stack overflowed into its canary aborts when its greenlet finishes") {
  const char* tag = GENERATE("[.compact_overflow_child]", "[.compact_overflow_into_unstarted_child]");
  child_result child = run_child_test(tag);
  INFO(tag << " child's stderr:\n" << child.stderr_text);
  CHECK_THAT(child.stderr_text, !Catch::Contains("not compact"));
  CHECK_THAT(child.stderr_text, !Catch::Contains("survived"));
  CHECK_THAT(child.stderr_text, !Catch::Contains("the parent ran"));
#if defined(__SANITIZE_ADDRESS__)
  CHECK(died_abnormally(child.status));  // ASan may report the wild writes first
#else
  CHECK_THAT(child.stderr_text, Catch::Contains("child: finishing"));
  CHECK(died_from(child.status, SIGABRT));
  CHECK_THAT(child.stderr_text, Catch::Contains("stack overflow in fiber"));
#endif
}
