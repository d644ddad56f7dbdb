#pragma once
// getaddrinfo results that patch builds, laid out exactly as glibc lays out
// its own, so that every freeaddrinfo frees every list.
//
// glibc's layout (sysdeps/posix/getaddrinfo.c and its freeaddrinfo): each
// node is one malloc block, the addrinfo followed by its sockaddr (ai_addr
// points into the block); ai_canonname, set on the first node only, is a
// separate malloc'd string; freeaddrinfo walks ai_next and frees each
// node's ai_canonname, then the node. A list patch made is thus freed by
// libc's freeaddrinfo too (a library that reaches it by address, or
// through a -Bsymbolic copy), and patch's freeaddrinfo is libc's.
//
// Rejected: tagging patch's nodes (a header before each, or a registry of
// the lists patch made) so that patch's freeaddrinfo could tell them
// apart. Any code that reaches libc's freeaddrinfo directly would then
// free a block at the wrong address, and a registry costs a lock per call.

#include <netdb.h>
#include <sys/socket.h>

#include <cstdint>

namespace tendril::patch_detail {

/// service_tuple is one socket type, protocol and port (network byte
/// order): what a getaddrinfo result repeats for each address it found.
struct service_tuple {
  int socktype = 0;
  int protocol = 0;
  std::uint16_t port = 0;
};

/// free_addrinfo_list(list) frees `list` as glibc's freeaddrinfo does.
void free_addrinfo_list(addrinfo* list) noexcept;

/// addrinfo_list is a list under construction; it frees what it holds
/// unless release() hands it over.
class addrinfo_list {
 public:
  addrinfo_list() noexcept = default;
  addrinfo_list(const addrinfo_list&) = delete;
  addrinfo_list& operator=(const addrinfo_list&) = delete;
  ~addrinfo_list() { free_addrinfo_list(head_); }

  /// append(flags, address, service) adds a node for `address` (an
  /// AF_INET or AF_INET6 sockaddr, copied with service's port), with
  /// ai_flags `flags` and service's socket type and protocol. False when
  /// out of memory (the list keeps what it had).
  bool append(int flags, const sockaddr* address, const service_tuple& service) noexcept;

  bool empty() const noexcept { return head_ == nullptr; }

  /// release() hands the list over; it is to be freed with freeaddrinfo.
  addrinfo* release() noexcept;

 private:
  addrinfo* head_ = nullptr;
  addrinfo** tail_ = &head_;
};

}  // namespace tendril::patch_detail
