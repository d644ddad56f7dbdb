// with_postgres: not an example, the CTest driver that gives the libpq
// example a server. It starts a throwaway PostgreSQL with the test suite's
// fixture (tests/support/postgres.hpp: initdb in a temporary directory, run
// as the `postgres` user when root, a free port on 127.0.0.1), runs
//
//   with_postgres COMMAND [ARGS...]
//
// with PGHOST, PGPORT, PGUSER, PGDATABASE, PGSSLMODE and PGGSSENCMODE set so
// that libpq's defaults reach that server, stops the server and exits with
// COMMAND's status (or 1 if the server did not start, 128 + N if COMMAND
// was killed by signal N). examples/CMakeLists.txt runs the usual
// run_example.cmake under it, so the example is checked like every other.

#include <spawn.h>
#include <sys/wait.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>

#include "support/postgres.hpp"

extern char** environ;

namespace {

// run(argv) runs argv[0] (looked up in PATH) to its end; returns its exit status.
int run(char** argv) {
  pid_t pid = -1;
  if (const int failed = ::posix_spawnp(&pid, argv[0], nullptr, nullptr, argv, environ); failed != 0) {
    std::fprintf(stderr, "with_postgres: cannot run %s: %s\n", argv[0], std::strerror(failed));
    return 127;
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s COMMAND [ARGS...]\n", argv[0]);
    return 2;
  }
  try {
    tendril::testing::postgres server;
    ::setenv("PGHOST", tendril::testing::postgres::host().c_str(), 1);
    ::setenv("PGPORT", std::to_string(server.port()).c_str(), 1);
    ::setenv("PGUSER", tendril::testing::postgres::user().c_str(), 1);
    ::setenv("PGDATABASE", "postgres", 1);
    // As the fixture's conninfo(): the first bytes are the startup packet,
    // whatever the environment says about SSL and Kerberos.
    ::setenv("PGSSLMODE", "disable", 1);
    ::setenv("PGGSSENCMODE", "disable", 1);
    return run(argv + 1);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "with_postgres: %s\n", e.what());
    return 1;
  }
}
