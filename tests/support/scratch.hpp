#pragma once
// What every real-server fixture (nginx, dnsmasq, postgres, redis) needs
// besides its server: a directory of its own for config, logs and data,
// removed with it, and a free loopback port to try.

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <system_error>

namespace tendril::testing {

/// scratch_dir is a new directory /tmp/tendril-<who>-XXXXXX, removed with
/// everything in it when it goes. A fixture declares it as its first
/// member: destroyed last, after the fixture has stopped its server, and
/// also when the fixture's constructor throws.
class scratch_dir {
 public:
  explicit scratch_dir(const std::string& who) : path_("/tmp/tendril-" + who + "-XXXXXX") {
    if (::mkdtemp(path_.data()) == nullptr) throw std::runtime_error(who + ": mkdtemp failed");
  }
  scratch_dir(const scratch_dir&) = delete;
  scratch_dir& operator=(const scratch_dir&) = delete;
  ~scratch_dir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }

  const std::string& path() const noexcept { return path_; }
  /// file(name) is the path of `name` inside it.
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

/// bound_loopback_port(type) binds a socket of `type` (SOCK_STREAM or
/// SOCK_DGRAM) to 127.0.0.1:`port` (0: any) and returns the port it got, or
/// 0 if that port is taken; the socket is closed again.
inline std::uint16_t bound_loopback_port(int type, std::uint16_t port = 0) {
  int s = ::socket(AF_INET, type | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  socklen_t length = sizeof addr;
  const bool ok = s >= 0 && ::bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
                  ::getsockname(s, reinterpret_cast<sockaddr*>(&addr), &length) == 0;
  if (s >= 0) ::close(s);
  return ok ? ntohs(addr.sin_port) : 0;
}

/// free_tcp_port(who) is a TCP port free on 127.0.0.1 a moment ago.
/// Another process may take it before the server binds it: fixtures retry
/// with another. Errors: std::runtime_error naming `who`.
inline std::uint16_t free_tcp_port(const std::string& who) {
  std::uint16_t port = bound_loopback_port(SOCK_STREAM);
  if (port == 0) throw std::runtime_error(who + ": cannot find a free port");
  return port;
}

}  // namespace tendril::testing
