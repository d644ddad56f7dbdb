// The public face of patch: patch_all(), enabled(), unpatched_scope and
// the originals.

#include <tendril/patch.hpp>

#include <poll.h>
#include <sys/epoll.h>

#include "fd_state.hpp"
#include "originals.hpp"
#include "waiting.hpp"

namespace tendril {

void patch_all() noexcept { patch_detail::patching_on.store(true, std::memory_order_relaxed); }

namespace patch {

bool enabled() noexcept { return patch_detail::cooperative(); }

unpatched_scope::unpatched_scope() noexcept { ++patch_detail::unpatched_depth; }
unpatched_scope::~unpatched_scope() { --patch_detail::unpatched_depth; }

namespace original {
namespace real = patch_detail::real;

int socket(int domain, int type, int protocol) noexcept { return real::socket(domain, type, protocol); }
int socketpair(int domain, int type, int protocol, int fds[2]) noexcept {
  return real::socketpair(domain, type, protocol, fds);
}
int pipe(int fds[2]) noexcept { return real::pipe(fds); }
int pipe2(int fds[2], int flags) noexcept { return real::pipe2(fds, flags); }
int connect(int fd, const sockaddr* addr, socklen_t length) noexcept {
  return real::connect(fd, addr, length);
}
int accept(int fd, sockaddr* addr, socklen_t* length) noexcept { return real::accept(fd, addr, length); }
int accept4(int fd, sockaddr* addr, socklen_t* length, int flags) noexcept {
  return real::accept4(fd, addr, length, flags);
}
ssize_t read(int fd, void* buf, std::size_t n) noexcept { return real::read(fd, buf, n); }
ssize_t readv(int fd, const iovec* iov, int count) noexcept { return real::readv(fd, iov, count); }
ssize_t recv(int fd, void* buf, std::size_t n, int flags) noexcept { return real::recv(fd, buf, n, flags); }
ssize_t recvfrom(int fd, void* buf, std::size_t n, int flags, sockaddr* addr, socklen_t* length) noexcept {
  return real::recvfrom(fd, buf, n, flags, addr, length);
}
ssize_t recvmsg(int fd, msghdr* msg, int flags) noexcept { return real::recvmsg(fd, msg, flags); }
ssize_t write(int fd, const void* buf, std::size_t n) noexcept { return real::write(fd, buf, n); }
ssize_t writev(int fd, const iovec* iov, int count) noexcept { return real::writev(fd, iov, count); }
ssize_t send(int fd, const void* buf, std::size_t n, int flags) noexcept {
  return real::send(fd, buf, n, flags);
}
ssize_t sendto(int fd, const void* buf, std::size_t n, int flags, const sockaddr* addr,
               socklen_t length) noexcept {
  return real::sendto(fd, buf, n, flags, addr, length);
}
ssize_t sendmsg(int fd, const msghdr* msg, int flags) noexcept { return real::sendmsg(fd, msg, flags); }
ssize_t sendfile(int out_fd, int in_fd, off_t* offset, std::size_t count) noexcept {
  return real::sendfile(out_fd, in_fd, offset, count);
}
int poll(pollfd* fds, unsigned long n, int timeout_ms) noexcept { return real::poll(fds, n, timeout_ms); }
int ppoll(pollfd* fds, unsigned long n, const timespec* timeout, const sigset_t* mask) noexcept {
  return real::ppoll(fds, n, timeout, mask);
}
int select(int n, fd_set* read, fd_set* write, fd_set* except, timeval* timeout) noexcept {
  return real::select(n, read, write, except, timeout);
}
int pselect(int n, fd_set* read, fd_set* write, fd_set* except, const timespec* timeout,
            const sigset_t* mask) noexcept {
  return real::pselect(n, read, write, except, timeout, mask);
}
int epoll_wait(int epfd, epoll_event* events, int max, int timeout_ms) noexcept {
  return real::epoll_wait(epfd, events, max, timeout_ms);
}
int epoll_pwait(int epfd, epoll_event* events, int max, int timeout_ms, const sigset_t* mask) noexcept {
  return real::epoll_pwait(epfd, events, max, timeout_ms, mask);
}
unsigned sleep(unsigned seconds) noexcept { return real::sleep(seconds); }
int usleep(useconds_t microseconds) noexcept { return real::usleep(microseconds); }
int nanosleep(const timespec* request, timespec* remaining) noexcept {
  return real::nanosleep(request, remaining);
}
int clock_nanosleep(clockid_t clock, int flags, const timespec* request, timespec* remaining) noexcept {
  return real::clock_nanosleep(clock, flags, request, remaining);
}
// The fd calls keep patch's table true (bookkeeping, not patching): a
// number closed or replaced here must not keep a stale state.
int close(int fd) noexcept {
  patch_detail::forget_fd_state(fd);
  return real::close(fd);
}
int dup(int fd) noexcept {
  int r = real::dup(fd);
  if (r >= 0) patch_detail::copy_fd_state(fd, r);
  return r;
}
int dup2(int fd, int to) noexcept {
  int r = real::dup2(fd, to);
  if (r >= 0 && fd != to) patch_detail::copy_fd_state(fd, r);
  return r;
}
int dup3(int fd, int to, int flags) noexcept {
  int r = real::dup3(fd, to, flags);
  if (r >= 0) patch_detail::copy_fd_state(fd, r);
  return r;
}
int fcntl(int fd, int cmd, void* arg) noexcept { return real::fcntl(fd, cmd, arg); }
int ioctl(int fd, unsigned long request, void* arg) noexcept { return real::ioctl(fd, request, arg); }
int setsockopt(int fd, int level, int name, const void* value, socklen_t length) noexcept {
  return real::setsockopt(fd, level, name, value, length);
}
}  // namespace original

}  // namespace patch
}  // namespace tendril
