#pragma once
// dnsmasq: a real DNS server for tests. It starts /usr/sbin/dnsmasq on
// 127.0.0.1 at a free port, serving a test zone given as dnsmasq config
// lines ("host-record=a.test,192.0.2.1"), and stops it when it goes:
//
//   tendril::testing::dnsmasq server({"host-record=a.test,192.0.2.1"});
//   tendril::dns::set_servers(server.address());
//
// Every name the records do not give is NXDOMAIN (search domains from the
// host's resolv.conf included), and nothing is forwarded anywhere. The constructor returns once
// dnsmasq answers a query (for "ready.test", always served), never after a
// sleep. Its config, pid file and log live in a temporary directory that is
// removed with it. It keeps no fd open in the test process.

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
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

#include "support/scratch.hpp"

extern char** environ;

namespace tendril::testing {

class dnsmasq {
 public:
  /// dnsmasq(records) starts the server with `records` (dnsmasq config lines)
  /// and returns once it answers. Errors: std::runtime_error with dnsmasq's
  /// log when it does not start (after a few ports were tried).
  explicit dnsmasq(const std::vector<std::string>& records) {
    std::ofstream config(file("dnsmasq.conf"));
    config << "host-record=ready.test,127.0.0.1\n";
    for (const std::string& line : records) config << line << '\n';
    config.close();
    std::string log;
    for (int attempt = 0; attempt < 5; ++attempt) {
      if (start(free_port()) && wait_until_ready()) return;
      log = read_log();
      stop();
    }
    throw std::runtime_error("dnsmasq did not start; its log:\n" + log);
  }
  dnsmasq(const dnsmasq&) = delete;
  dnsmasq& operator=(const dnsmasq&) = delete;
  ~dnsmasq() { stop(); }

  /// port() is the UDP (and TCP) port it listens on, on 127.0.0.1.
  std::uint16_t port() const noexcept { return port_; }
  /// address() is "127.0.0.1:port", as dns::set_servers takes it.
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  std::string file(const char* name) const { return dir_.file(name); }

  // free_port() is a port free for both UDP and TCP on 127.0.0.1 a moment
  // ago. Another process may take it before dnsmasq binds it: the
  // constructor then tries another.
  static std::uint16_t free_port() {
    for (int attempt = 0; attempt < 100; ++attempt) {
      std::uint16_t port = bound_loopback_port(SOCK_DGRAM);
      if (port != 0 && bound_loopback_port(SOCK_STREAM, port) == port) return port;
    }
    throw std::runtime_error("dnsmasq: cannot find a port free for UDP and TCP");
  }

  bool start(std::uint16_t port) {
    port_ = port;
    std::vector<std::string> args = {
        "/usr/sbin/dnsmasq",
        "--keep-in-foreground",
        "--conf-file=" + file("dnsmasq.conf"),
        "--pid-file=" + file("dnsmasq.pid"),
        "--log-facility=" + file("dnsmasq.log"),
        "--port=" + std::to_string(port),
        "--listen-address=127.0.0.1",
        "--bind-interfaces",
        "--no-resolv",
        "--no-hosts",
        "--local=/#/",  // every name it does not serve is NXDOMAIN; nothing is forwarded
        "--cache-size=0",
    };
    if (::geteuid() == 0) {  // as root (CI), stay root instead of becoming nobody/dip
      args.push_back("--user=root");
      args.push_back("--group=root");
    }
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    const std::string output = file("dnsmasq.out");
    posix_spawn_file_actions_addopen(&actions, 1, output.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    const int failed = ::posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (failed != 0) pid_ = -1;
    return failed == 0;
  }

  // wait_until_ready() asks dnsmasq for ready.test until it answers (true),
  // it exits (false) or 20 s pass (false).
  bool wait_until_ready() {
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0) return false;
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    to.sin_port = htons(port_);
    // A query for ready.test, type A, class IN, id 0x7e57, recursion desired.
    static constexpr unsigned char query[] = {0x7e, 0x57, 1,   0,   0, 1,   0,   0,   0,   0, 0, 0, 5, 'r',
                                              'e',  'a',  'd', 'y', 4, 't', 'e', 's', 't', 0, 0, 1, 0, 1};
    bool ready = false;
    while (!ready && std::chrono::steady_clock::now() < give_up) {
      if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = -1;  // it exited (the port was taken, or a bad option)
        break;
      }
      ::sendto(s, query, sizeof query, 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
      pollfd p{s, POLLIN, 0};
      if (::poll(&p, 1, 50) == 1) {
        unsigned char answer[512];
        const ssize_t n = ::recv(s, answer, sizeof answer, 0);
        ready = n >= 12 && answer[0] == 0x7e && answer[1] == 0x57 && (answer[3] & 0x0f) == 0;
      }
    }
    ::close(s);
    return ready;
  }

  void stop() noexcept {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
  }

  std::string read_log() const {
    std::string text;
    for (const char* name : {"dnsmasq.out", "dnsmasq.log"}) {
      std::ifstream in(file(name));
      text.append(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
    return text;
  }

  scratch_dir dir_{"dnsmasq"};  // first: removed after the server has stopped
  std::uint16_t port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace tendril::testing
