// greenlet_demo: a tour of greenlet switching, after Python greenlet's tutorial.
//
// Nothing here is concurrent and nothing waits on I/O: control moves only
// where the code says switch_to(), so the output below is always the same
// (examples/greenlet_demo.expected holds it, and the example test compares).

#include <any>
#include <iostream>
#include <stdexcept>
#include <string>
#include <utility>

#include <tendril/fiber/greenlet.hpp>

using tendril::greenlet;

namespace {

// says_on_exit prints a line when it is destroyed, to show when unwinding runs.
struct says_on_exit {
  const char* line;
  ~says_on_exit() { std::cout << line << '\n'; }
};

// 1. Two greenlets hand control to each other; each switch_to() resumes the
//    other exactly where it left off.
void ping_pong() {
  std::cout << "== ping-pong: control moves only at switch_to()\n";
  greenlet gr1, gr2;
  gr1 = greenlet([&] {
    std::cout << "12\n";
    gr2.switch_to();
    std::cout << "34\n";
  });
  gr2 = greenlet([&] {
    says_on_exit cleanup{"gr2 was unwound when its last handle dropped, so 78 was never printed"};
    std::cout << "56\n";
    gr1.switch_to();
    std::cout << "78\n";
  });
  gr1.switch_to();
  // gr1 finished, so control came back to its parent: here. gr2 is still
  // suspended inside gr1.switch_to(); leaving this scope drops it, which
  // throws greenlet_exit into it so its destructors run.
}

// 2. switch_to(v) delivers v: as run's argument on the first switch, later as
//    the value the other side's pending switch_to() returns. A finished
//    greenlet's return value goes to its parent.
void passing_values() {
  std::cout << "== values travel with the switch\n";
  greenlet gr1, gr2;
  gr1 = greenlet([&](std::any start) {
    auto greeting = greenlet::value_as<std::string>(std::move(start));
    int z = gr2.switch_to<int>(greeting + " world");
    std::cout << "gr1 got " << z << " back from gr2\n";
    return z * 2;
  });
  gr2 = greenlet([&](std::any start) {
    std::cout << "gr2 started with \"" << greenlet::value_as<std::string>(std::move(start)) << "\"\n";
    gr1.switch_to(42);
  });
  int result = gr1.switch_to<int>(std::string("hello"));
  std::cout << "main got " << result << ": gr1 returned it, and main is gr1's parent\n";
}

// 3. An exception escaping a greenlet is rethrown in its parent; throw_in()
//    raises one inside a suspended greenlet, which may handle it.
void exceptions() {
  std::cout << "== exceptions cross switches\n";
  greenlet parser([](std::any input) -> int {
    throw std::invalid_argument("not a number: " + greenlet::value_as<std::string>(std::move(input)));
  });
  try {
    parser.switch_to(std::string("forty-two"));
  } catch (const std::invalid_argument& e) {
    std::cout << "main caught \"" << e.what() << "\"; parser is " << (parser.dead() ? "dead" : "alive")
              << '\n';
  }

  greenlet worker([] {
    try {
      greenlet::current().parent().switch_to(std::string("worker is waiting"));
    } catch (const std::runtime_error& e) {
      return std::string("worker handled \"") + e.what() + "\" and returned";
    }
    return std::string("worker was resumed normally");
  });
  std::cout << worker.switch_to<std::string>() << '\n';
  std::cout << greenlet::value_as<std::string>(worker.throw_in(std::runtime_error("stop"))) << '\n';
}

// yield_value(v) hands v to the calling greenlet's parent, and returns when
// the parent switches back for the next one: a generator's `yield`.
void yield_value(std::any value) { greenlet::current().parent().switch_to(std::move(value)); }

// 4. A producer yields to its parent, the consumer, one value at a time. When
//    the producer returns nothing, the consumer receives an empty value.
void generator() {
  std::cout << "== a greenlet as a generator\n";
  greenlet fibonacci([](std::any limit) {
    const long last = greenlet::value_as<long>(std::move(limit));
    for (long a = 0, b = 1; a <= last; a = std::exchange(b, a + b)) yield_value(a);
  });
  std::cout << "fibonacci up to 100:";
  for (std::any v = fibonacci.switch_to(100L); v.has_value(); v = fibonacci.switch_to()) {
    std::cout << ' ' << greenlet::value_as<long>(std::move(v));
  }
  std::cout << "\nthe producer is " << (fibonacci.dead() ? "dead" : "alive") << '\n';
}

}  // namespace

int main() {
  ping_pong();
  passing_values();
  exceptions();
  generator();
  std::cout << "done: " << tendril::active_greenlet_count() << " greenlets left running\n";
}
