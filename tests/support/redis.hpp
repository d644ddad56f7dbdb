#pragma once
// redis: a real Redis server for tests. It starts /usr/bin/redis-server
// (Debian's redis-server) on 127.0.0.1 at a free port, with no persistence,
// and stops it when it goes:
//
//   tendril::testing::redis server;
//   redisContext* c = redisConnect(server.host().c_str(), server.port());
//
// Nothing is saved: no RDB snapshots (`save ""`), no append-only file, so
// stopping it writes nothing and a new server starts empty. Its config, log
// and working directory are a temporary directory that is removed with it.
// The constructor returns once it answers PING with +PONG (and INFO with
// its pid), never after a fixed sleep. It keeps no fd open in the test
// process. Debian's own redis-server service (port 6379), running or not,
// is neither needed nor touched. As root (CI) it stays root: Redis does not
// mind.

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstddef>
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

class redis {
 public:
  /// redis() starts the server and returns once it answers PING (in about
  /// 15 ms). Errors: std::runtime_error with its log when it does not start
  /// (after a few ports were tried).
  redis() {
    for (int attempt = 0; attempt < 5; ++attempt) {
      if (start(free_tcp_port("redis")) && wait_until_ready()) return;
      stop();
    }
    throw std::runtime_error("redis did not start; its log:\n" + log());
  }
  redis(const redis&) = delete;
  redis& operator=(const redis&) = delete;
  ~redis() { stop(); }

  /// port() is its TCP port on 127.0.0.1; host() is "127.0.0.1".
  std::uint16_t port() const noexcept { return port_; }
  static std::string host() { return "127.0.0.1"; }
  /// log() is what the server has logged so far.
  std::string log() const {
    std::ifstream in(file("redis.log"));
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }

 private:
  std::string file(const char* name) const { return dir_.file(name); }

  // write_config() writes the server's own config file. Debian's
  // /etc/redis/redis.conf is not read: its pid file, log file and directory
  // belong to the redis-server service.
  void write_config() const {
    std::ofstream config(file("redis.conf"), std::ios::trunc);
    config << "bind 127.0.0.1\n"
           << "port " << port_ << "\n"
           << "save \"\"\n"  // no RDB snapshots, not even at shutdown
           << "appendonly no\n"
           << "dir " << dir_.path() << "\n"
           << "daemonize no\n"
           // Redis acts on SIGTERM and on a blocking command's timeout (BLPOP
           // q 0.2) in its cron, run `hz` times a second: at 100 instead of
           // 10, stopping takes ~10 ms instead of ~100 and a timeout comes
           // within ~10 ms of when it is due.
           << "hz 100\n"
           << "logfile \"\"\n";  // stdout, which is redis.log
  }

  bool start(std::uint16_t port) {
    port_ = port;
    write_config();
    std::string program = "/usr/bin/redis-server";
    std::string config_file = file("redis.conf");
    char* argv[] = {program.data(), config_file.data(), nullptr};
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    const std::string output = file("redis.log");
    posix_spawn_file_actions_addopen(&actions, 1, output.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    const default_signal_spawn attributes;  // SIGTERM, which stops it, arrives
    const int failed = ::posix_spawn(&pid_, argv[0], &actions, attributes.get(), argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    if (failed != 0) pid_ = -1;
    return failed == 0;
  }

  // answers() is true when the server on port() answers PING with +PONG,
  // and INFO with this fixture's server's pid, each read within 100 ms (a
  // slower answer only costs another try). Before Redis listens, the connect
  // is refused at once. Without the pid, a server that took the port first
  // (a parallel test's) would answer for ours.
  bool answers() const {
    int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0) return false;
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    to.sin_port = htons(port_);
    static constexpr char request[] = "*1\r\n$4\r\nPING\r\n*2\r\n$4\r\nINFO\r\n$6\r\nserver\r\n";
    const std::string own_pid = "\r\nprocess_id:" + std::to_string(pid_) + "\r\n";
    std::string answer;
    if (::connect(s, reinterpret_cast<sockaddr*>(&to), sizeof to) == 0 &&
        ::send(s, request, sizeof request - 1, MSG_NOSIGNAL) == static_cast<ssize_t>(sizeof request - 1)) {
      pollfd p{s, POLLIN, 0};
      char buffer[4096];
      while (answer.find(own_pid) == std::string::npos && answer.size() < 65536 && ::poll(&p, 1, 100) == 1) {
        const ssize_t n = ::recv(s, buffer, sizeof buffer, 0);
        if (n <= 0) break;
        answer.append(buffer, static_cast<std::size_t>(n));
      }
    }
    ::close(s);
    return answer.rfind("+PONG\r\n", 0) == 0 && answer.find(own_pid) != std::string::npos;
  }

  // wait_until_ready() asks until the server answers (true), exits (false:
  // the port was taken) or 20 s pass.
  bool wait_until_ready() {
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < give_up) {
      if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = -1;
        return false;
      }
      if (answers()) return true;
      ::poll(nullptr, 0, 5);  // between attempts, while redis starts
    }
    return false;
  }

  // stop() sends SIGTERM (Redis closes its clients and exits, saving
  // nothing), and SIGKILL if it has not exited 10 s later: it has no
  // children or files to leave behind.
  void stop() noexcept {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (::waitpid(pid_, nullptr, WNOHANG) != pid_) {
      if (std::chrono::steady_clock::now() > give_up) {
        ::kill(pid_, SIGKILL);
        while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
        }
        break;
      }
      ::poll(nullptr, 0, 2);
    }
    pid_ = -1;
  }

  scratch_dir dir_{"redis"};  // first: removed after the server has stopped
  std::uint16_t port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace tendril::testing
