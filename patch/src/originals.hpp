#pragma once
// libc's own definitions of the functions patch interposes: real::read(...)
// calls the `read` that the program would have called without patch.
// originals.cpp resolves each with dlsym(RTLD_NEXT) on its first use.

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstddef>

// The fortified entry points (<bits/*2.h>) are declared only when a
// translation unit is built with _FORTIFY_SOURCE; declare them here.
extern "C" {
ssize_t __read_chk(int fd, void* buf, size_t nbytes, size_t buflen);
ssize_t __recv_chk(int fd, void* buf, size_t n, size_t buflen, int flags);
ssize_t __recvfrom_chk(int fd, void* buf, size_t n, size_t buflen, int flags, struct sockaddr* addr,
                       socklen_t* addr_len);
int __poll_chk(struct pollfd* fds, nfds_t nfds, int timeout, size_t fdslen);
int __ppoll_chk(struct pollfd* fds, nfds_t nfds, const struct timespec* timeout, const sigset_t* ss,
                size_t fdslen);
}

// Every interposed function, once. fcntl64 and sendfile64 are what
// programs built with _FILE_OFFSET_BITS=64 call; the name lookups are
// dns_calls.cpp's.
// clang-format off
#define TENDRIL_PATCH_ORIGINALS(X) \
  X(socket) X(socketpair) X(pipe) X(pipe2) X(connect) X(accept) X(accept4) \
  X(read) X(readv) X(recv) X(recvfrom) X(recvmsg) \
  X(write) X(writev) X(send) X(sendto) X(sendmsg) X(sendfile) X(sendfile64) \
  X(poll) X(ppoll) X(select) X(pselect) X(epoll_wait) X(epoll_pwait) \
  X(sleep) X(usleep) X(nanosleep) X(clock_nanosleep) \
  X(close) X(dup) X(dup2) X(dup3) X(fcntl) X(fcntl64) X(ioctl) X(setsockopt) \
  X(getaddrinfo) X(freeaddrinfo) X(getnameinfo) \
  X(gethostbyname) X(gethostbyname2) X(gethostbyname_r) X(gethostbyname2_r) \
  X(__read_chk) X(__recv_chk) X(__recvfrom_chk) X(__poll_chk) X(__ppoll_chk)
// clang-format on

namespace tendril::patch_detail {

enum class original_id : unsigned {
#define TENDRIL_PATCH_ID(name) name,
  TENDRIL_PATCH_ORIGINALS(TENDRIL_PATCH_ID)
#undef TENDRIL_PATCH_ID
      count
};

/// original_slots[id] caches the address of original `id` once resolved.
extern std::atomic<void*> original_slots[static_cast<unsigned>(original_id::count)];

/// resolve_original(id) looks `id` up (dlsym RTLD_NEXT), caches and returns
/// it. Thread-safe without a lock: racing threads store the same address.
/// Re-entered on one thread (dlsym calling something patch interposes), it
/// returns a raw-syscall stand-in instead of recursing.
void* resolve_original(original_id id) noexcept;

/// original_address(id) is the address of original `id`; one load once resolved.
inline void* original_address(original_id id) noexcept {
  void* address = original_slots[static_cast<unsigned>(id)].load(std::memory_order_acquire);
  return address != nullptr ? address : resolve_original(id);
}

// real::name(args...) calls libc's `name`, preserving its exact behaviour
// (errno included); noexcept, like the C function.
namespace real {
#define TENDRIL_PATCH_REAL(name)                                                              \
  template <class... Args>                                                                    \
  inline auto name(Args... args) noexcept {                                                   \
    return reinterpret_cast<decltype(&::name)>(original_address(original_id::name))(args...); \
  }
TENDRIL_PATCH_ORIGINALS(TENDRIL_PATCH_REAL)
#undef TENDRIL_PATCH_REAL
}  // namespace real

}  // namespace tendril::patch_detail
