// An unmodified program for tendril-run: it links tendril's shared runtime
// but not patch, and never calls patch_all(). Two fibers of one thread
// share a pipe; the reader starts first, so without patching its blocking
// read would block the thread for ever (the test's timeout catches that).
// Under tendril-run it parks, the writer runs, and the program exits 0.

#include <unistd.h>

#include <cstdio>

#include <tendril/hub/join.hpp>
#include <tendril/hub/task.hpp>

int main() {
  int fds[2];
  if (::pipe(fds) != 0) return 2;
  char got = 0;
  auto reader = tendril::spawn([&] {
    if (::read(fds[0], &got, 1) != 1) got = '?';
  });
  auto writer = tendril::spawn([&] {
    if (::write(fds[1], "x", 1) != 1) std::perror("write");
  });
  tendril::joinall({reader, writer});
  ::close(fds[0]);
  ::close(fds[1]);
  std::printf("read '%c' from another fiber of the same thread\n", got);
  return got == 'x' ? 0 : 1;
}
