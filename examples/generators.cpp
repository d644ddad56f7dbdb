// generators: lazy sequences written as ordinary loops, with tendril::generator.
//
// A generator's body runs on its own greenlet and hands values out with
// yield(v); the consumer's range-for resumes it for each next value. Because
// the body is a real stack, a generator can iterate other generators inside
// its body, recursively, which is how permutations() below works.
// The output is always the same: nothing here waits on anything.

#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include <tendril/fiber/generator.hpp>

using tendril::generator;

namespace {

// permutations(items) yields every ordering of `items`: for each first item,
// every permutation of the rest, from a nested generator.
generator<std::vector<int>> permutations(std::vector<int> items) {
  return generator<std::vector<int>>([items = std::move(items)](auto yield) {
    if (items.size() <= 1) {
      yield(items);
      return;
    }
    for (std::size_t i = 0; i < items.size(); ++i) {
      std::vector<int> rest = items;
      rest.erase(rest.begin() + static_cast<std::ptrdiff_t>(i));
      for (std::vector<int>& tail : permutations(std::move(rest))) {
        tail.insert(tail.begin(), items[i]);
        yield(std::move(tail));
      }
    }
  });
}

// fibonacci() never ends; the consumer decides how much of it to take.
generator<long> fibonacci() {
  return generator<long>([](auto yield) {
    struct says_on_exit {
      ~says_on_exit() { std::puts("fibonacci's body was unwound when the loop left it"); }
    } cleanup;
    long a = 0, b = 1;
    for (;;) {
      yield(a);
      a = std::exchange(b, a + b);
    }
  });
}

std::string join(const std::vector<int>& values) {
  std::string text;
  for (int v : values) text += (text.empty() ? "" : " ") + std::to_string(v);
  return text;
}

}  // namespace

int main() {
  std::puts("== permutations of 1 2 3, each from three nested generators");
  for (const std::vector<int>& p : permutations({1, 2, 3})) std::printf("%s\n", join(p).c_str());

  std::puts("== the first ten Fibonacci numbers of an endless generator");
  int taken = 0;
  for (long f : fibonacci()) {
    std::printf("%ld%s", f, ++taken < 10 ? " " : "\n");
    if (taken == 10) break;  // abandoning the generator unwinds its body here
  }
  return 0;
}
