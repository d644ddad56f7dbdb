// endpoint: conversions between socket addresses and text.

#include <tendril/io/endpoint.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <cstring>

#include <tendril/error.hpp>

namespace tendril {

endpoint::endpoint(const sockaddr* addr, socklen_t length) {
  if (length > capacity())
    throw error("socket address of " + std::to_string(length) + " bytes is larger than sockaddr_storage");
  std::memcpy(&storage_, addr, length);
  size_ = length;
}

endpoint endpoint::parse(std::string_view address, std::uint16_t port) {
  std::string text(address);
  if (text.size() >= 2 && text.front() == '[' && text.back() == ']') text = text.substr(1, text.size() - 2);
  endpoint e;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&e.storage_);
  if (::inet_pton(AF_INET, text.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    e.size_ = sizeof(sockaddr_in);
    return e;
  }
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&e.storage_);
  if (::inet_pton(AF_INET6, text.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    e.size_ = sizeof(sockaddr_in6);
    return e;
  }
  throw error("\"" + std::string(address) + "\" is not a numeric IPv4 or IPv6 address");
}

endpoint endpoint::unix_path(std::string_view path) {
  endpoint e;
  auto* un = reinterpret_cast<sockaddr_un*>(&e.storage_);
  // An abstract address may use every byte; a path needs its terminating NUL.
  bool abstract = !path.empty() && path.front() == '\0';
  if (path.size() + (abstract ? 0 : 1) > sizeof un->sun_path)
    throw error("unix socket path \"" + std::string(path) + "\" is longer than " +
                std::to_string(sizeof un->sun_path - 1) + " bytes");
  un->sun_family = AF_UNIX;
  std::memcpy(un->sun_path, path.data(), path.size());
  e.size_ = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + (abstract ? 0 : 1));
  return e;
}

std::uint16_t endpoint::port() const noexcept {
  if (family() == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&storage_)->sin_port);
  if (family() == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_port);
  return 0;
}

endpoint endpoint::with_port(std::uint16_t port) const noexcept {
  endpoint e = *this;
  if (family() == AF_INET) reinterpret_cast<sockaddr_in*>(&e.storage_)->sin_port = htons(port);
  if (family() == AF_INET6) reinterpret_cast<sockaddr_in6*>(&e.storage_)->sin6_port = htons(port);
  return e;
}

std::string endpoint::address() const {
  char text[INET6_ADDRSTRLEN] = {};
  if (family() == AF_INET) {
    ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&storage_)->sin_addr, text, sizeof text);
    return text;
  }
  if (family() == AF_INET6) {
    ::inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_addr, text, sizeof text);
    return text;
  }
  if (family() == AF_UNIX) {
    const auto* un = reinterpret_cast<const sockaddr_un*>(&storage_);
    std::size_t length =
        size_ > offsetof(sockaddr_un, sun_path) ? size_ - offsetof(sockaddr_un, sun_path) : 0;
    std::string path(un->sun_path, length);
    if (!path.empty() && path.front() != '\0') path.resize(std::strlen(path.c_str()));
    return path;
  }
  return {};
}

std::string endpoint::to_string() const {
  if (family() == AF_INET) return address() + ":" + std::to_string(port());
  if (family() == AF_INET6) return "[" + address() + "]:" + std::to_string(port());
  if (family() == AF_UNIX) {
    std::string path = address();
    if (!path.empty() && path.front() == '\0') path.replace(0, 1, "@");  // abstract, as ss(8) shows it
    return "unix:" + path;
  }
  return "(no address)";
}

bool operator==(const endpoint& a, const endpoint& b) noexcept {
  return a.size_ == b.size_ && std::memcmp(&a.storage_, &b.storage_, a.size_) == 0;
}

}  // namespace tendril
