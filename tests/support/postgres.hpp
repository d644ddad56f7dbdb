#pragma once
// postgres: a real PostgreSQL server for tests. It makes a fresh cluster with
// initdb in a temporary directory, starts Debian's postgres (the newest
// /usr/lib/postgresql/<major>/bin) on 127.0.0.1 at a free port, with its Unix
// socket in that directory, and stops it when it goes:
//
//   tendril::testing::postgres server;
//   PGconn* c = PQconnectdb(server.conninfo().c_str());
//
// Its role `tendril` is a superuser that connects without a password (trust)
// to the database `postgres`. It is tuned to start fast and take many
// clients, not to keep data: fsync off, 300 connections, small buffers. The
// constructor returns once the server says it is ready (in its pid file, as
// pg_ctl -w reads it) and pg_isready connects over TCP, never after a fixed
// sleep: an open port is not enough, as PostgreSQL answers "the database
// system is starting up" until its startup ends. It keeps no fd open in the
// test process. Debian's own cluster (/var/lib/postgresql, port 5432,
// /run/postgresql) is neither needed nor touched, running or not.
//
// PostgreSQL refuses to run as root. As root (CI), initdb and postgres run as
// Debian's `postgres` user, who owns the temporary directory, through
// `setpriv`, which changes user and execs: the spawned pid is the postmaster
// itself, and signals reach it unchanged. Rejected: `runuser -u postgres`
// stays as the server's parent (to close a PAM session), turns the SIGINT of
// a fast shutdown into a SIGTERM (a smart shutdown, which waits for clients
// to leave) and SIGKILLs the postmaster 2 s later, leaving its backends
// behind. Also rejected: setuid in the child, which posix_spawn cannot do,
// and a hand-written fork in a threaded test may call only async-signal-safe
// functions before exec: more code for what setpriv does.

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include "support/scratch.hpp"
#include "support/spawn_attributes.hpp"

extern char** environ;

namespace tendril::testing {

class postgres {
 public:
  /// postgres() makes a cluster, starts the server and returns once it
  /// accepts connections: 0.6 s on an idle 2-core machine, 2 s on a busy
  /// one, nearly all of it initdb's. Errors: std::runtime_error with
  /// initdb's output or the server's log when it does not start (after a few
  /// ports were tried), or when run as root without a `postgres` user.
  postgres() {
    try {
      bin_ = find_bin_dir();
      if (::geteuid() == 0) run_as_postgres_user();
      make_cluster();
      for (int attempt = 0; attempt < 5; ++attempt) {
        port_ = free_tcp_port("postgres");
        if (start() && wait_until_ready()) return;
        stop();
      }
      throw std::runtime_error("postgres did not start; its log:\n" + log());
    } catch (...) {
      stop();
      throw;
    }
  }
  postgres(const postgres&) = delete;
  postgres& operator=(const postgres&) = delete;
  ~postgres() { stop(); }

  /// port() is its TCP port on 127.0.0.1 (and its Unix socket's number).
  std::uint16_t port() const noexcept { return port_; }
  /// host() is "127.0.0.1"; user() is the superuser "tendril".
  static std::string host() { return "127.0.0.1"; }
  static std::string user() { return "tendril"; }
  /// conninfo() is a libpq connection string for TCP to the database
  /// `postgres`. It turns SSL and GSS encryption off, so a connection's first
  /// bytes are its startup packet whatever the client's environment
  /// (PGSSLMODE, a Kerberos ticket cache) says.
  std::string conninfo() const {
    return "host=127.0.0.1 port=" + std::to_string(port_) +
           " user=tendril dbname=postgres sslmode=disable gssencmode=disable";
  }
  /// socket_dir() is the directory of its Unix socket (.s.PGSQL.<port>), as
  /// libpq's host= takes it.
  const std::string& socket_dir() const noexcept { return dir_.path(); }
  /// log() is what initdb and the server have printed so far.
  std::string log() const { return read(file("initdb.log")) + read(file("postgres.log")); }

 private:
  std::string file(const char* name) const { return dir_.file(name); }

  static std::string read(const std::string& path) {
    std::ifstream in(path);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }

  // find_bin_dir() is the newest /usr/lib/postgresql/<major>/bin with a
  // postgres in it: the major version that Debian's `postgresql` package
  // brings changes with the release (15 in Debian 12).
  static std::string find_bin_dir() {
    int newest = -1;
    std::error_code error;
    for (const auto& entry : std::filesystem::directory_iterator("/usr/lib/postgresql", error)) {
      const std::string name = entry.path().filename().string();
      int major = -1;
      const auto [end, parse_error] = std::from_chars(name.data(), name.data() + name.size(), major);
      if (parse_error == std::errc() && end == name.data() + name.size() && major > newest &&
          ::access((entry.path() / "bin/postgres").c_str(), X_OK) == 0)
        newest = major;
    }
    if (newest < 0)
      throw std::runtime_error(
          "postgres: no /usr/lib/postgresql/<major>/bin/postgres; install Debian's postgresql package "
          "(tools/setup-deps)");
    return "/usr/lib/postgresql/" + std::to_string(newest) + "/bin";
  }

  // run_as_postgres_user() gives the temporary directory to `postgres` and
  // makes initdb and the server run as that user (see the top of this file).
  void run_as_postgres_user() {
    const passwd* account = ::getpwnam("postgres");
    if (account == nullptr)
      throw std::runtime_error(
          "postgres: as root, the server runs as the `postgres` user, and there is none (Debian's "
          "postgresql package makes it)");
    if (::chown(dir_.path().c_str(), account->pw_uid, account->pw_gid) != 0)
      throw std::runtime_error("postgres: cannot give " + dir_.path() + " to the postgres user");
    as_server_user_ = {"/usr/bin/setpriv", "--reuid=" + std::to_string(account->pw_uid),
                       "--regid=" + std::to_string(account->pw_gid), "--clear-groups", "--"};
  }

  // server_command(program, args) is `program` with `args`, run as the user
  // the server runs as.
  std::vector<std::string> server_command(const char* program, std::vector<std::string> args) const {
    std::vector<std::string> command = as_server_user_;
    command.push_back(bin_ + "/" + program);
    command.insert(command.end(), args.begin(), args.end());
    return command;
  }

  // run(args, output) runs a program to its end, its output appended to
  // `output`; true when it exits with 0. With `started`, it returns at once
  // and the caller waits for the pid stored there.
  static bool run(std::vector<std::string> args, const std::string& output, pid_t* started = nullptr) {
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, output.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    const default_signal_spawn attributes;  // SIGINT, which stops it, arrives
    pid_t pid = -1;
    const int failed = ::posix_spawn(&pid, argv[0], &actions, attributes.get(), argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (failed != 0) return false;
    if (started != nullptr) {
      *started = pid;
      return true;
    }
    int status = 0;
    pid_t reaped = -1;
    while ((reaped = ::waitpid(pid, &status, 0)) < 0 && errno == EINTR) {
    }
    return reaped == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0;
  }

  // make_cluster() runs initdb once; the constructor's port retries reuse
  // its cluster. The C locale exists everywhere (no locales package) and,
  // with --no-sync, keeps initdb near 0.5 s.
  void make_cluster() const {
    if (!run(server_command("initdb", {"--pgdata=" + file("data"), "--username=tendril", "--auth=trust",
                                       "--encoding=UTF8", "--locale=C", "--no-sync", "--no-instructions"}),
             file("initdb.log")))
      throw std::runtime_error("postgres: initdb failed:\n" + read(file("initdb.log")));
  }

  bool start() {
    // fsync, synchronous_commit and full_page_writes off: nothing here
    // outlives a crash. 300 connections: tests open 200 and more at once,
    // each a backend process; shared memory stays small, as each backend
    // costs little of it, so the server starts fast on a 2-core machine.
    // No autovacuum, JIT or WAL senders: nothing a test waits for.
    return run(server_command("postgres", {"-D", file("data"),
                                           "-h", "127.0.0.1",
                                           "-p", std::to_string(port_),
                                           "-k", dir_.path(),
                                           "-c", "fsync=off",
                                           "-c", "synchronous_commit=off",
                                           "-c", "full_page_writes=off",
                                           "-c", "max_connections=300",
                                           "-c", "shared_buffers=32MB",
                                           "-c", "huge_pages=off",
                                           "-c", "autovacuum=off",
                                           "-c", "jit=off",
                                           "-c", "wal_level=minimal",
                                           "-c", "max_wal_senders=0"}),
               file("postgres.log"), &pid_);
  }

  // says_ready() is true once the server's postmaster.pid says "ready" on
  // its eighth line, as pg_ctl -w waits for: it has bound its port and
  // finished starting up.
  bool says_ready() const {
    std::ifstream in(file("data/postmaster.pid"));
    std::string line;
    int lines = 0;
    while (lines < 8 && std::getline(in, line)) ++lines;
    return lines == 8 && line.rfind("ready", 0) == 0;
  }

  // accepts() is true when pg_isready connects over TCP. It runs in a child
  // so that the probe never goes through the test process's libpq or
  // tendril's patched calls, the code under test.
  bool accepts() const {
    return run({bin_ + "/pg_isready", "--quiet", "--host=127.0.0.1", "--port=" + std::to_string(port_),
                "--username=tendril", "--dbname=postgres", "--timeout=5"},
               "/dev/null");
  }

  // wait_until_ready() waits until the server says it is ready and then
  // accepts a connection (true), until it exits (false: the port was taken)
  // or 30 s pass. A probe alone could reach a server that took the port
  // first (a parallel test's): it may never answer, or answer for ours.
  bool wait_until_ready() {
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < give_up) {
      if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = -1;
        return false;
      }
      if (says_ready() && accepts()) return true;
      ::poll(nullptr, 0, 5);  // between looks, while the server starts
    }
    return false;
  }

  // reaped_within(pid, timeout) waits up to `timeout` for `pid` to exit;
  // true when it did.
  static bool reaped_within(pid_t pid, std::chrono::milliseconds timeout) noexcept {
    const auto give_up = std::chrono::steady_clock::now() + timeout;
    do {
      if (::waitpid(pid, nullptr, WNOHANG) == pid) return true;
      ::poll(nullptr, 0, 2);
    } while (std::chrono::steady_clock::now() < give_up);
    return false;
  }

  // stop() asks for a fast shutdown (SIGINT: end the sessions, checkpoint,
  // exit after every backend), and an immediate one (SIGQUIT) if that takes
  // over 10 s, say behind a backend stuck in a test's query. Either way the
  // postmaster exits only after its children.
  void stop() noexcept {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGINT);
    if (!reaped_within(pid_, std::chrono::seconds(10))) {
      ::kill(pid_, SIGQUIT);
      while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
      }
    }
    pid_ = -1;
  }

  scratch_dir dir_{"postgres"};  // first: removed after the server has stopped
  std::string bin_;
  std::vector<std::string> as_server_user_;  // empty unless run as root
  std::uint16_t port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace tendril::testing
