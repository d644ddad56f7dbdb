// The one file that sees dlsym: the addresses of libc's own definitions of
// every function patch interposes.
//
// Invariants:
// - Usable from the very first call, which may come before any constructor
//   of this library has run (another library's static initialiser reading
//   a file, ld.so running constructors in dependency order): nothing here
//   needs initialising but zeroed atomics.
// - Each address is looked up on its first use and cached; threads that
//   race store the same value, so there is no lock for a thread to wait on
//   while another holds the loader's lock.
// - A lookup re-entered on its own thread (dlsym calling something patch
//   interposes, e.g. an interposed allocator that reads a file) gets a
//   stand-in that makes the system call directly, instead of recursing.
//
// Rejected:
// - Resolving everything in a constructor only: calls made before it runs
//   would have nowhere to go.
// - std::call_once or a function-local static: a recursive first call
//   deadlocks or aborts, and a thread in dlopen calling read could wait
//   for a thread that waits for the loader lock.

#include "originals.hpp"

#include <dlfcn.h>
#include <netdb.h>
#include <signal.h>
#include <sys/syscall.h>

#include <cerrno>
#include <cstdarg>

#include "addrinfo_list.hpp"

namespace tendril::patch_detail {

std::atomic<void*> original_slots[static_cast<unsigned>(original_id::count)];

namespace {

constexpr const char* original_names[] = {
#define TENDRIL_PATCH_NAME(name) #name,
    TENDRIL_PATCH_ORIGINALS(TENDRIL_PATCH_NAME)
#undef TENDRIL_PATCH_NAME
};

// Set while this thread is inside dlsym. Initial-exec: reading it must not
// call into the loader (this library is loaded at start-up or preloaded).
constinit thread_local bool resolving __attribute__((tls_model("initial-exec"))) = false;

// Stand-ins for a re-entered lookup: the same system call, without libc's
// wrapper (so without its cancellation point). syscall() sets errno.
namespace direct {
constexpr std::size_t kernel_sigset_size = 8;  // _NSIG / 8 on Linux x86-64

// The kernel's pselect6 takes the signal mask as {mask, size}.
struct sigset_argument {
  const sigset_t* mask;
  std::size_t size;
};

int socket(int d, int t, int p) noexcept { return static_cast<int>(::syscall(SYS_socket, d, t, p)); }
int socketpair(int d, int t, int p, int* sv) noexcept {
  return static_cast<int>(::syscall(SYS_socketpair, d, t, p, sv));
}
int pipe2(int* fds, int flags) noexcept { return static_cast<int>(::syscall(SYS_pipe2, fds, flags)); }
int pipe(int* fds) noexcept { return direct::pipe2(fds, 0); }
int connect(int fd, const sockaddr* a, socklen_t l) noexcept {
  return static_cast<int>(::syscall(SYS_connect, fd, a, l));
}
int accept4(int fd, sockaddr* a, socklen_t* l, int f) noexcept {
  return static_cast<int>(::syscall(SYS_accept4, fd, a, l, f));
}
int accept(int fd, sockaddr* a, socklen_t* l) noexcept { return direct::accept4(fd, a, l, 0); }
ssize_t read(int fd, void* b, size_t n) noexcept { return ::syscall(SYS_read, fd, b, n); }
ssize_t readv(int fd, const iovec* v, int n) noexcept { return ::syscall(SYS_readv, fd, v, n); }
ssize_t recvfrom(int fd, void* b, size_t n, int f, sockaddr* a, socklen_t* l) noexcept {
  return ::syscall(SYS_recvfrom, fd, b, n, f, a, l);
}
ssize_t recv(int fd, void* b, size_t n, int f) noexcept {
  return direct::recvfrom(fd, b, n, f, nullptr, nullptr);
}
ssize_t recvmsg(int fd, msghdr* m, int f) noexcept { return ::syscall(SYS_recvmsg, fd, m, f); }
ssize_t write(int fd, const void* b, size_t n) noexcept { return ::syscall(SYS_write, fd, b, n); }
ssize_t writev(int fd, const iovec* v, int n) noexcept { return ::syscall(SYS_writev, fd, v, n); }
ssize_t sendto(int fd, const void* b, size_t n, int f, const sockaddr* a, socklen_t l) noexcept {
  return ::syscall(SYS_sendto, fd, b, n, f, a, l);
}
ssize_t send(int fd, const void* b, size_t n, int f) noexcept {
  return direct::sendto(fd, b, n, f, nullptr, 0);
}
ssize_t sendmsg(int fd, const msghdr* m, int f) noexcept { return ::syscall(SYS_sendmsg, fd, m, f); }
ssize_t sendfile(int out, int in, off_t* o, size_t n) noexcept {
  return ::syscall(SYS_sendfile, out, in, o, n);
}
ssize_t sendfile64(int out, int in, off64_t* o, size_t n) noexcept {
  return ::syscall(SYS_sendfile, out, in, o, n);
}
int ppoll(pollfd* f, nfds_t n, const timespec* t, const sigset_t* s) noexcept {
  return static_cast<int>(::syscall(SYS_ppoll, f, n, t, s, kernel_sigset_size));
}
int poll(pollfd* f, nfds_t n, int ms) noexcept {
  if (ms < 0) return direct::ppoll(f, n, nullptr, nullptr);
  timespec t{ms / 1000, (ms % 1000) * 1000000L};
  return direct::ppoll(f, n, &t, nullptr);
}
int select(int n, fd_set* r, fd_set* w, fd_set* e, timeval* t) noexcept {
  return static_cast<int>(::syscall(SYS_select, n, r, w, e, t));
}
int pselect(int n, fd_set* r, fd_set* w, fd_set* e, const timespec* t, const sigset_t* s) noexcept {
  timespec copy{};  // the kernel writes the time left back; pselect's is const
  if (t != nullptr) copy = *t;
  sigset_argument mask{s, kernel_sigset_size};
  return static_cast<int>(::syscall(SYS_pselect6, n, r, w, e, t != nullptr ? &copy : nullptr, &mask));
}
int epoll_pwait(int ep, epoll_event* e, int n, int ms, const sigset_t* s) noexcept {
  return static_cast<int>(::syscall(SYS_epoll_pwait, ep, e, n, ms, s, kernel_sigset_size));
}
int epoll_wait(int ep, epoll_event* e, int n, int ms) noexcept {
  return direct::epoll_pwait(ep, e, n, ms, nullptr);
}
int clock_nanosleep(clockid_t c, int f, const timespec* t, timespec* r) noexcept {
  // Returns the error number, as clock_nanosleep does; errno is left alone.
  int saved = errno;
  long result = ::syscall(SYS_clock_nanosleep, c, f, t, r);
  int error = result == 0 ? 0 : errno;
  errno = saved;
  return error;
}
int nanosleep(const timespec* t, timespec* r) noexcept {
  return static_cast<int>(::syscall(SYS_nanosleep, t, r));
}
int usleep(useconds_t us) noexcept {
  timespec t{static_cast<time_t>(us / 1000000), static_cast<long>(us % 1000000) * 1000};
  return direct::nanosleep(&t, nullptr);
}
unsigned sleep(unsigned s) noexcept {
  timespec t{static_cast<time_t>(s), 0};
  timespec left{};
  if (direct::nanosleep(&t, &left) == 0) return 0;
  return static_cast<unsigned>(left.tv_sec) + (left.tv_nsec > 0 ? 1 : 0);
}
int close(int fd) noexcept { return static_cast<int>(::syscall(SYS_close, fd)); }
int dup(int fd) noexcept { return static_cast<int>(::syscall(SYS_dup, fd)); }
int dup2(int fd, int to) noexcept { return static_cast<int>(::syscall(SYS_dup2, fd, to)); }
int dup3(int fd, int to, int f) noexcept { return static_cast<int>(::syscall(SYS_dup3, fd, to, f)); }
int fcntl(int fd, int cmd, ...) noexcept {
  va_list args;
  va_start(args, cmd);
  void* arg = va_arg(args, void*);  // as glibc does: every fcntl argument fits a pointer
  va_end(args);
  return static_cast<int>(::syscall(SYS_fcntl, fd, cmd, arg));
}
int fcntl64(int fd, int cmd, ...) noexcept {
  va_list args;
  va_start(args, cmd);
  void* arg = va_arg(args, void*);
  va_end(args);
  return static_cast<int>(::syscall(SYS_fcntl, fd, cmd, arg));
}
int ioctl(int fd, unsigned long request, ...) noexcept {
  va_list args;
  va_start(args, request);
  void* arg = va_arg(args, void*);
  va_end(args);
  return static_cast<int>(::syscall(SYS_ioctl, fd, request, arg));
}
int setsockopt(int fd, int level, int name, const void* value, socklen_t length) noexcept {
  return static_cast<int>(::syscall(SYS_setsockopt, fd, level, name, value, length));
}
// No system call looks a name up: a re-entered lookup of a resolver call
// gets a failure that says so (a system error, ENOSYS), and freeaddrinfo
// frees as glibc's does (the layout patch's own lists use too).
int getaddrinfo(const char*, const char*, const addrinfo*, addrinfo** result) noexcept {
  *result = nullptr;
  errno = ENOSYS;
  return EAI_SYSTEM;
}
void freeaddrinfo(addrinfo* list) noexcept { free_addrinfo_list(list); }
int getnameinfo(const sockaddr*, socklen_t, char*, socklen_t, char*, socklen_t, int) noexcept {
  errno = ENOSYS;
  return EAI_SYSTEM;
}
int gethostbyname2_r(const char*, int, hostent*, char*, size_t, hostent** result, int* h_error) noexcept {
  *result = nullptr;
  *h_error = NETDB_INTERNAL;
  errno = ENOSYS;
  return ENOSYS;
}
int gethostbyname_r(const char* name, hostent* entry, char* buf, size_t length, hostent** result,
                    int* h_error) noexcept {
  return direct::gethostbyname2_r(name, AF_INET, entry, buf, length, result, h_error);
}
hostent* gethostbyname2(const char*, int) noexcept {
  h_errno = NETDB_INTERNAL;
  errno = ENOSYS;
  return nullptr;
}
hostent* gethostbyname(const char* name) noexcept { return direct::gethostbyname2(name, AF_INET); }
// The fortified forms skip their check here: only a re-entered lookup gets them.
ssize_t __read_chk(int fd, void* b, size_t n, size_t) noexcept { return direct::read(fd, b, n); }
ssize_t __recv_chk(int fd, void* b, size_t n, size_t, int f) noexcept { return direct::recv(fd, b, n, f); }
ssize_t __recvfrom_chk(int fd, void* b, size_t n, size_t, int f, sockaddr* a, socklen_t* l) noexcept {
  return direct::recvfrom(fd, b, n, f, a, l);
}
int __poll_chk(pollfd* f, nfds_t n, int ms, size_t) noexcept { return direct::poll(f, n, ms); }
int __ppoll_chk(pollfd* f, nfds_t n, const timespec* t, const sigset_t* s, size_t) noexcept {
  return direct::ppoll(f, n, t, s);
}
}  // namespace direct

void* const direct_addresses[] = {
#define TENDRIL_PATCH_DIRECT(name) reinterpret_cast<void*>(static_cast<decltype(&::name)>(&direct::name)),
    TENDRIL_PATCH_ORIGINALS(TENDRIL_PATCH_DIRECT)
#undef TENDRIL_PATCH_DIRECT
};

}  // namespace

void* resolve_original(original_id id) noexcept {
  auto index = static_cast<unsigned>(id);
  if (resolving) return direct_addresses[index];
  resolving = true;
  int saved_errno = errno;
  void* address = ::dlsym(RTLD_NEXT, original_names[index]);
  errno = saved_errno;
  resolving = false;
  if (address == nullptr) {
    // Nothing after this library defines it (a libc without the fortified
    // forms, say): the direct system call is the faithful stand-in.
    address = direct_addresses[index];
  }
  original_slots[index].store(address, std::memory_order_release);
  return address;
}

}  // namespace tendril::patch_detail
