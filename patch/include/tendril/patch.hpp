#pragma once
// patch: unmodified blocking code made cooperative, gevent's monkey
// patching done as symbol interposition. libtendril_patch.so defines
// read, write, connect, accept, recv*, send*, poll, select, epoll_wait,
// sleep, nanosleep, getaddrinfo, gethostbyname and their relatives; once
// patch_all() has run, such a call made by a fiber on its thread's hub
// parks the fiber where it would have blocked, and the hub runs the others:
//
//   tendril::patch_all();
//   auto a = tendril::spawn([&] { PQexec(conn_a, "SELECT pg_advisory_lock(1)"); });
//   auto b = tendril::spawn([&] { PQexec(conn_b, "SELECT pg_advisory_unlock(1)"); });
//   tendril::joinall({a, b});    // one thread, two blocking libpq calls
//
// Anywhere else (a thread without a hub, the hub itself, an unpatched
// scope) each call is exactly libc's: same result, same errno. Patched
// calls never throw: a kill or an expired timeout scope makes the call
// fail with ECANCELED and is raised at the fiber's next tendril park.
//
// Link tendril::patch (which brings the shared runtime, libtendril.so)
// and not also the static tendril::tendril: two copies of the hub would
// not see each other. See patch/README.md for the rules and the limits.

#include <signal.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <cstddef>

struct pollfd;
struct epoll_event;
struct addrinfo;
struct hostent;

namespace tendril {

/// patch_all() turns patching on for the whole process: from now on, the
/// interposed calls of every fiber on a hub are cooperative. Calling it
/// again does nothing; there is no way back for the process (use an
/// unpatched_scope for a region). `tendril-run PROGRAM` calls it before
/// the program starts.
///
/// Thread-safety: any thread; other threads see it at their next call.
void patch_all() noexcept;

namespace patch {

/// enabled() is true when an interposed call made now by the caller would
/// park rather than block: patching is on, the calling thread is not in an
/// unpatched_scope, and the caller is a fiber on its thread's hub (not the
/// hub itself, nor a thread without a hub).
///
/// Thread-safety: any thread; answers for the caller.
bool enabled() noexcept;

/// unpatched_scope makes the calling thread's interposed calls libc's own
/// while it lives: a blocking read blocks the thread. Scopes nest. An fd
/// that patch made non-blocking for its waits still behaves as the
/// blocking fd the user asked for (patch blocks in the real poll()).
///
/// Thread-safety: affects the calling thread only; create and destroy it
/// on the same thread, in stack order. It belongs to the thread, not to a
/// fiber: a fiber that parks inside one leaves it on for the others.
class unpatched_scope {
 public:
  unpatched_scope() noexcept;
  unpatched_scope(const unpatched_scope&) = delete;
  unpatched_scope& operator=(const unpatched_scope&) = delete;
  ~unpatched_scope();
};

/// original:: are libc's own definitions of the interposed calls (what
/// the program would call without patch), for code that must not park, or
/// that wants a blocking call on the fd it asked to be blocking. They take
/// and return what libc's do, errno included. Note that an fd patch made
/// non-blocking for its waits (a blocking socket or pipe a fiber used)
/// really is non-blocking: original::read on it may fail with EAGAIN.
namespace original {
int socket(int domain, int type, int protocol) noexcept;
int socketpair(int domain, int type, int protocol, int fds[2]) noexcept;
int pipe(int fds[2]) noexcept;
int pipe2(int fds[2], int flags) noexcept;
int connect(int fd, const sockaddr* addr, socklen_t length) noexcept;
int accept(int fd, sockaddr* addr, socklen_t* length) noexcept;
int accept4(int fd, sockaddr* addr, socklen_t* length, int flags) noexcept;
ssize_t read(int fd, void* buf, std::size_t n) noexcept;
ssize_t readv(int fd, const iovec* iov, int count) noexcept;
ssize_t recv(int fd, void* buf, std::size_t n, int flags) noexcept;
ssize_t recvfrom(int fd, void* buf, std::size_t n, int flags, sockaddr* addr, socklen_t* length) noexcept;
ssize_t recvmsg(int fd, msghdr* msg, int flags) noexcept;
ssize_t write(int fd, const void* buf, std::size_t n) noexcept;
ssize_t writev(int fd, const iovec* iov, int count) noexcept;
ssize_t send(int fd, const void* buf, std::size_t n, int flags) noexcept;
ssize_t sendto(int fd, const void* buf, std::size_t n, int flags, const sockaddr* addr,
               socklen_t length) noexcept;
ssize_t sendmsg(int fd, const msghdr* msg, int flags) noexcept;
ssize_t sendfile(int out_fd, int in_fd, off_t* offset, std::size_t count) noexcept;
int poll(pollfd* fds, unsigned long n, int timeout_ms) noexcept;
int ppoll(pollfd* fds, unsigned long n, const timespec* timeout, const sigset_t* mask) noexcept;
int select(int n, fd_set* read, fd_set* write, fd_set* except, timeval* timeout) noexcept;
int pselect(int n, fd_set* read, fd_set* write, fd_set* except, const timespec* timeout,
            const sigset_t* mask) noexcept;
int epoll_wait(int epfd, epoll_event* events, int max, int timeout_ms) noexcept;
int epoll_pwait(int epfd, epoll_event* events, int max, int timeout_ms, const sigset_t* mask) noexcept;
unsigned sleep(unsigned seconds) noexcept;
int usleep(useconds_t microseconds) noexcept;
int nanosleep(const timespec* request, timespec* remaining) noexcept;
int clock_nanosleep(clockid_t clock, int flags, const timespec* request, timespec* remaining) noexcept;
int close(int fd) noexcept;
int dup(int fd) noexcept;
int dup2(int fd, int to) noexcept;
int dup3(int fd, int to, int flags) noexcept;
/// fcntl(fd, cmd, arg): `arg` is the third argument, whatever its type
/// (an int, or a pointer such as a struct flock*).
int fcntl(int fd, int cmd, void* arg = nullptr) noexcept;
/// ioctl(fd, request, arg): `arg` is the third argument (a pointer).
int ioctl(int fd, unsigned long request, void* arg = nullptr) noexcept;
int setsockopt(int fd, int level, int name, const void* value, socklen_t length) noexcept;
/// The name lookups: libc's resolver, following nsswitch.conf, blocking
/// the calling thread. A list from either getaddrinfo may be freed with
/// either freeaddrinfo.
int getaddrinfo(const char* node, const char* service, const addrinfo* hints, addrinfo** result) noexcept;
void freeaddrinfo(addrinfo* list) noexcept;
int getnameinfo(const sockaddr* addr, socklen_t length, char* host, socklen_t host_length, char* serv,
                socklen_t serv_length, int flags) noexcept;
hostent* gethostbyname(const char* name) noexcept;
hostent* gethostbyname2(const char* name, int family) noexcept;
int gethostbyname_r(const char* name, hostent* entry, char* buffer, std::size_t length, hostent** result,
                    int* h_error) noexcept;
int gethostbyname2_r(const char* name, int family, hostent* entry, char* buffer, std::size_t length,
                     hostent** result, int* h_error) noexcept;
}  // namespace original

}  // namespace patch
}  // namespace tendril
