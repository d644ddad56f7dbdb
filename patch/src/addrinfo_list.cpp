// addrinfo lists in glibc's layout: see addrinfo_list.hpp for why.

#include "addrinfo_list.hpp"

#include <netinet/in.h>

#include <cstdlib>
#include <cstring>
#include <new>

namespace tendril::patch_detail {

void free_addrinfo_list(addrinfo* list) noexcept {
  while (list != nullptr) {
    addrinfo* node = list;
    list = list->ai_next;
    std::free(node->ai_canonname);
    std::free(node);
  }
}

bool addrinfo_list::append(int flags, const sockaddr* address, const service_tuple& service) noexcept {
  const socklen_t length = address->sa_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
  // One block, the sockaddr right after the addrinfo, as glibc allocates
  // it (its freeaddrinfo frees ai_addr with the node).
  void* block = std::malloc(sizeof(addrinfo) + length);
  if (block == nullptr) return false;
  auto* node = static_cast<addrinfo*>(block);
  auto* copy = reinterpret_cast<sockaddr*>(node + 1);
  std::memcpy(copy, address, length);
  if (address->sa_family == AF_INET6)
    reinterpret_cast<sockaddr_in6*>(copy)->sin6_port = service.port;
  else
    reinterpret_cast<sockaddr_in*>(copy)->sin_port = service.port;
  node->ai_flags = flags;
  node->ai_family = address->sa_family;
  node->ai_socktype = service.socktype;
  node->ai_protocol = service.protocol;
  node->ai_addrlen = length;
  node->ai_addr = copy;
  node->ai_canonname = nullptr;
  node->ai_next = nullptr;
  *tail_ = node;
  tail_ = &node->ai_next;
  return true;
}

addrinfo* addrinfo_list::release() noexcept {
  addrinfo* list = head_;
  head_ = nullptr;
  tail_ = &head_;
  return list;
}

}  // namespace tendril::patch_detail
