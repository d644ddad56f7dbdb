#pragma once
// endpoint: a socket address (IPv4, IPv6 or a Unix path), as a value.

#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace tendril {

/// endpoint holds one socket address: an IPv4 or IPv6 address and port, or
/// a Unix socket path. It is what sockets bind, connect and accept, and what
/// DNS lookups return. A default endpoint is empty (family AF_UNSPEC).
class endpoint {
 public:
  endpoint() noexcept = default;
  /// endpoint(addr, length) copies a sockaddr (as accept or recvfrom fill).
  /// Errors: tendril::error if `length` exceeds sockaddr_storage.
  endpoint(const sockaddr* addr, socklen_t length);

  /// parse(address, port) reads a numeric IPv4 or IPv6 address ("127.0.0.1",
  /// "::1", "[::1]"); it does not resolve names (see dns::resolve).
  /// Errors: tendril::error naming `address` when it is not numeric.
  static endpoint parse(std::string_view address, std::uint16_t port);
  /// ipv4_any(port) is 0.0.0.0:port; ipv6_any(port) is [::]:port;
  /// loopback(port) is 127.0.0.1:port.
  static endpoint ipv4_any(std::uint16_t port) { return parse("0.0.0.0", port); }
  static endpoint ipv6_any(std::uint16_t port) { return parse("::", port); }
  static endpoint loopback(std::uint16_t port) { return parse("127.0.0.1", port); }
  /// unix_path(path) is a Unix socket address; a path starting with '\0' is
  /// in the abstract namespace.
  /// Errors: tendril::error when `path` does not fit in sun_path.
  static endpoint unix_path(std::string_view path);

  /// family() is AF_INET, AF_INET6, AF_UNIX, or AF_UNSPEC when empty.
  int family() const noexcept { return storage_.ss_family; }
  bool empty() const noexcept { return family() == AF_UNSPEC; }
  /// port() is the port of an IP endpoint, 0 otherwise.
  std::uint16_t port() const noexcept;
  /// with_port(p) is a copy with port `p` (IP endpoints only).
  endpoint with_port(std::uint16_t port) const noexcept;
  /// address() is the numeric address without the port ("::1"), or the path.
  std::string address() const;
  /// to_string() is "127.0.0.1:80", "[::1]:80" or "unix:/path".
  std::string to_string() const;

  const sockaddr* data() const noexcept { return reinterpret_cast<const sockaddr*>(&storage_); }
  sockaddr* data() noexcept { return reinterpret_cast<sockaddr*>(&storage_); }
  socklen_t size() const noexcept { return size_; }
  /// capacity() is how much data() can hold, for calls that fill it.
  static constexpr socklen_t capacity() noexcept { return sizeof(sockaddr_storage); }
  /// resize(n) sets the size after a call filled data().
  void resize(socklen_t length) noexcept { size_ = length; }

  friend bool operator==(const endpoint& a, const endpoint& b) noexcept;

 private:
  sockaddr_storage storage_{};
  socklen_t size_ = 0;
};

}  // namespace tendril
