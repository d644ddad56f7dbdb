// Stack overflow reports.
//
// A guarded stack's overflow faults on its guard page. The SIGSEGV handler
// runs on an alternate signal stack (the fiber's own is full), checks that
// the fault address is the current fiber's guard page, prints which fiber
// overflowed with write(2) only, and aborts. Any other SIGSEGV goes to the
// handler that was installed before ours, or to the default action.
//
// A compact stack has no guard page; its canary is checked when the stack is
// released, which reports the overflow after the fact (the stack below it may
// already be corrupted, hence abort rather than continue).
//
// Rejected: probing the stack pointer on every switch (cost on the hot path
// for a check that a guard page gives for free).

#include "stack_overflow.hpp"

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <mutex>

#include <tendril/fiber/detail/signal_text.hpp>

#include "greenlet_state.hpp"
#include "thread_state.hpp"

namespace tendril::detail {
namespace {

constexpr std::size_t alt_stack_size = 64 * 1024;

struct sigaction previous_segv_action;

void write_to_stderr(const signal_text& text) noexcept {
  std::string_view v = text.view();
  ssize_t ignored = ::write(STDERR_FILENO, v.data(), v.size());
  (void)ignored;
}

signal_text overflow_message(const greenlet_state& g, std::size_t stack_size) noexcept {
  signal_text m;
  m.append("stack overflow in fiber ");
  append_greenlet_label(m, &g);
  m.append(" (stack ");
  m.append_number(stack_size / 1024);
  m.append(" KiB)\n");
  return m;
}

// The process cannot continue: a SIGABRT handler of the program's (or of its
// test framework) would run on a thread whose fiber stack is exhausted or
// corrupted, so the abort goes straight to the default action.
[[noreturn]] void die() noexcept {
  ::signal(SIGABRT, SIG_DFL);
  std::abort();
}

bool hit_guard_page(const void* address) noexcept {
  thread_state* ts = thread_state::find();
  if (ts == nullptr || ts->current == nullptr) return false;
  const stack_region& s = ts->current->stack;
  auto* a = static_cast<const char*>(address);
  return s.kind == stack_kind::guarded && a >= s.limit - guard_size && a < s.limit;
}

void on_segv(int signal, siginfo_t* info, void* context) {
  if (hit_guard_page(info->si_addr)) {
    const greenlet_state& g = *thread_state::find()->current;
    write_to_stderr(overflow_message(g, g.stack.size));
    die();
  }
  const struct sigaction& previous = previous_segv_action;
  if ((previous.sa_flags & SA_SIGINFO) != 0) {
    previous.sa_sigaction(signal, info, context);
  } else if (previous.sa_handler != SIG_DFL && previous.sa_handler != SIG_IGN) {
    previous.sa_handler(signal);
  } else {
    // Returning re-executes the faulting access under the default action.
    ::sigaction(SIGSEGV, &previous, nullptr);
  }
}

}  // namespace

void append_greenlet_label(signal_text& out, const greenlet_state* s) noexcept {
  out.append_number(s->id);
  const std::string& name = s->name_for_crash();
  if (!name.empty()) {
    out.append(" \"");
    out.append(name);
    out.append("\"");
  }
}

void install_overflow_handler() noexcept {
  // Checked at every new guarded mapping, not once: programs (and test
  // frameworks) that save and restore SIGSEGV would otherwise remove it.
  static std::mutex mutex;
  std::lock_guard lock(mutex);
  struct sigaction current {};
  ::sigaction(SIGSEGV, nullptr, &current);
  if ((current.sa_flags & SA_SIGINFO) != 0 && current.sa_sigaction == &on_segv) return;
  struct sigaction action {};
  action.sa_sigaction = &on_segv;
  action.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
  sigemptyset(&action.sa_mask);
  ::sigaction(SIGSEGV, &action, &previous_segv_action);
}

void* install_alt_stack() noexcept {
  stack_t current{};
  if (::sigaltstack(nullptr, &current) == 0 && (current.ss_flags & SS_DISABLE) == 0) return nullptr;
  void* memory = ::mmap(nullptr, alt_stack_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (memory == MAP_FAILED) return nullptr;
  stack_t alt{};
  alt.ss_sp = memory;
  alt.ss_size = alt_stack_size;
  if (::sigaltstack(&alt, nullptr) != 0) {
    ::munmap(memory, alt_stack_size);
    return nullptr;
  }
  return memory;
}

void remove_alt_stack(void* alt_stack) noexcept {
  if (alt_stack == nullptr) return;
  stack_t disable{};
  disable.ss_flags = SS_DISABLE;
  ::sigaltstack(&disable, nullptr);
  ::munmap(alt_stack, alt_stack_size);
}

void report_canary_overflow(const greenlet_state& owner, std::size_t stack_size) noexcept {
  signal_text m = overflow_message(owner, stack_size);
  m.append(
      "  (a compact stack without guard page: its canary was overwritten, found when the fiber finished;"
      " the stack below it may be corrupted)\n");
  write_to_stderr(m);
  die();
}

}  // namespace tendril::detail
