// socket: non-blocking system calls, and a park on the hub when they would block.
//
// Invariants:
// - Every call tries the system call first and waits only on EAGAIN, as
//   gevent's socket does: a socket that has data costs no wait, and no
//   watcher is armed while nothing waits.
// - fd_ is -1 exactly when the socket owns nothing. close() sets it before
//   waking the fibers waiting on the fd, so a woken reader sees "closed".
// - reader_/writer_ name the fiber inside a read (write) call for the whole
//   call, including read_exact's and write_all's loops: a second fiber
//   fails at once instead of interleaving bytes.
//
// Rejected: MSG_DONTWAIT on blocking fds instead of O_NONBLOCK. It would
// let adopted fds stay blocking for other users, but accept4, connect and
// sendfile have no such flag.

#include <tendril/io/socket.hpp>

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/sendfile.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

#include <tendril/error.hpp>
#include <tendril/io/wait.hpp>

namespace tendril {
namespace {

std::error_code errno_code(int error_number) { return {error_number, std::generic_category()}; }

void make_non_blocking(int fd) {
  int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ((flags & O_NONBLOCK) == 0 && ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0))
    throw system_error(errno_code(errno), "making fd " + std::to_string(fd) + " non-blocking");
}

}  // namespace

// use_guard marks the calling fiber as the socket's reader (or writer) for
// one call, or throws naming the fiber that already is.
class socket::use_guard {
 public:
  use_guard(const socket& s, waker& user, const char* operation) : user_(user) {
    s.checked_fd(operation);
    if (!user.empty())
      throw error(std::string(operation) + " on " + s.describe() + " while " + user.describe() +
                  " is already using it that way; one fiber reads and one writes at a time");
    user_ = waker::current();
  }
  use_guard(const use_guard&) = delete;
  use_guard& operator=(const use_guard&) = delete;
  ~use_guard() { user_ = waker(); }

 private:
  waker& user_;
};

socket::socket(int family, int type, int protocol)
    : socket(::socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol)) {
  if (fd_ < 0)
    throw system_error(errno_code(errno),
                       "socket(" + std::to_string(family) + ", " + std::to_string(type) + ")");
}

socket::socket(int fd) : fd_(fd) {
  if (fd_ < 0) return;
  try {
    detail::fd_opened(fd_);
  } catch (...) {
    ::close(std::exchange(fd_, -1));
    throw;
  }
}

socket socket::adopt(int fd) {
  if (fd < 0) throw error("socket::adopt of invalid fd " + std::to_string(fd));
  make_non_blocking(fd);
  return socket(fd);
}

std::pair<socket, socket> socket::pair(int type) {
  int fds[2];
  if (::socketpair(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0)
    throw system_error(errno_code(errno), "socketpair");
  return {socket(fds[0]), socket(fds[1])};
}

socket::socket(socket&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}

socket& socket::operator=(socket&& other) noexcept {
  if (this != &other) {
    close();
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

socket::~socket() { close(); }

int socket::release() noexcept {
  if (fd_ >= 0) detail::fd_released(fd_);
  return std::exchange(fd_, -1);
}

void socket::close() noexcept {
  if (fd_ < 0) return;
  int fd = std::exchange(fd_, -1);
  try {
    tendril::close(fd);
  } catch (const error&) {
    // Only EIO-like failures reach here, after the fd is gone: nothing to undo.
  }
}

std::string socket::describe() const {
  if (fd_ < 0) return "closed socket";
  std::string text = "fd " + std::to_string(fd_);
  endpoint local = local_endpoint();
  endpoint peer = peer_endpoint();
  if (!local.empty() || !peer.empty())
    text += " (" + (local.empty() ? std::string("?") : local.to_string()) +
            (peer.empty() ? std::string() : " -> " + peer.to_string()) + ")";
  return text;
}

int socket::checked_fd(const char* operation) const {
  if (fd_ < 0) throw error(std::string(operation) + " on a closed socket");
  return fd_;
}

void socket::fail(const char* operation, int error_number) const {
  throw system_error(errno_code(error_number), std::string(operation) + " on " + describe());
}

void socket::timed_out(const char* operation, std::size_t done, std::size_t wanted) const {
  std::string what = std::string(operation) + " on " + describe() + " timed out";
  if (wanted > 0) what += " after " + std::to_string(done) + " of " + std::to_string(wanted) + " bytes";
  throw system_error(std::make_error_code(std::errc::timed_out), what);
}

void socket::bind(const endpoint& local) {
  if (::bind(checked_fd("bind"), local.data(), local.size()) != 0) {
    int error_number = errno;  // describe() makes system calls of its own
    throw system_error(errno_code(error_number), "bind of " + describe() + " to " + local.to_string());
  }
}

void socket::listen(int backlog) {
  if (::listen(checked_fd("listen"), backlog) != 0) fail("listen", errno);
}

socket socket::accept(clock::time_point deadline, endpoint* peer) {
  use_guard guard(*this, reader_, "accept");
  for (;;) {
    endpoint from;
    socklen_t length = endpoint::capacity();
    int fd = ::accept4(checked_fd("accept"), from.data(), &length, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      from.resize(length);
      if (peer != nullptr) *peer = from;
      return socket(fd);
    }
    // A connection reset before accept took it: the next one is good.
    if (errno == EINTR || errno == ECONNABORTED) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) fail("accept", errno);
    if (!detail::wait_owned_readable(fd_, deadline)) timed_out("accept", 0, 0);
  }
}

void socket::connect(const endpoint& remote, clock::time_point deadline) {
  use_guard guard(*this, writer_, "connect");
  int result = ::connect(fd_, remote.data(), remote.size());
  if (result != 0 && errno == EINPROGRESS) {
    if (!detail::wait_owned_writable(fd_, deadline)) {
      throw system_error(std::make_error_code(std::errc::timed_out),
                         "connect of " + describe() + " to " + remote.to_string() + " timed out");
    }
    int error_number = option<int>(SOL_SOCKET, SO_ERROR);
    result = error_number == 0 ? 0 : -1;
    errno = error_number;
  }
  if (result != 0) {
    int error_number = errno;  // describe() makes system calls of its own
    throw system_error(errno_code(error_number), "connect of " + describe() + " to " + remote.to_string());
  }
}

endpoint socket::local_endpoint() const {
  endpoint e;
  socklen_t length = endpoint::capacity();
  if (fd_ >= 0 && ::getsockname(fd_, e.data(), &length) == 0) e.resize(length);
  return e.size() > sizeof(sa_family_t) ? e : endpoint();
}

endpoint socket::peer_endpoint() const {
  endpoint e;
  socklen_t length = endpoint::capacity();
  if (fd_ >= 0 && ::getpeername(fd_, e.data(), &length) == 0) e.resize(length);
  return e.size() > sizeof(sa_family_t) ? e : endpoint();
}

bool socket::wait_readable(clock::time_point deadline) {
  use_guard guard(*this, reader_, "wait to read");
  return detail::wait_owned_readable(fd_, deadline);
}

bool socket::wait_writable(clock::time_point deadline) {
  use_guard guard(*this, writer_, "wait to write");
  return detail::wait_owned_writable(fd_, deadline);
}

std::size_t socket::read_some(void* buffer, std::size_t size, clock::time_point deadline) {
  use_guard guard(*this, reader_, "read");
  for (;;) {
    ssize_t n = ::recv(checked_fd("read"), buffer, size, 0);
    if (n >= 0) return static_cast<std::size_t>(n);
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) fail("read", errno);
    if (!detail::wait_owned_readable(fd_, deadline)) timed_out("read", 0, 0);
  }
}

void socket::read_exact(void* buffer, std::size_t size, clock::time_point deadline) {
  use_guard guard(*this, reader_, "read");
  auto* bytes = static_cast<char*>(buffer);
  std::size_t done = 0;
  while (done < size) {
    ssize_t n = ::recv(checked_fd("read"), bytes + done, size - done, 0);
    if (n > 0) {
      done += static_cast<std::size_t>(n);
    } else if (n == 0) {
      throw error("read on " + describe() + ": the stream ended after " + std::to_string(done) + " of " +
                  std::to_string(size) + " bytes");
    } else if (errno == EINTR) {
      continue;
    } else if (errno != EAGAIN && errno != EWOULDBLOCK) {
      fail("read", errno);
    } else if (!detail::wait_owned_readable(fd_, deadline)) {
      timed_out("read", done, size);
    }
  }
}

std::size_t socket::write_some(const void* data, std::size_t size, clock::time_point deadline) {
  use_guard guard(*this, writer_, "write");
  for (;;) {
    ssize_t n = ::send(checked_fd("write"), data, size, MSG_NOSIGNAL);
    if (n >= 0) return static_cast<std::size_t>(n);
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) fail("write", errno);
    if (!detail::wait_owned_writable(fd_, deadline)) timed_out("write", 0, size);
  }
}

void socket::write_all(const void* data, std::size_t size, clock::time_point deadline) {
  use_guard guard(*this, writer_, "write");
  const auto* bytes = static_cast<const char*>(data);
  std::size_t done = 0;
  while (done < size) {
    ssize_t n = ::send(checked_fd("write"), bytes + done, size - done, MSG_NOSIGNAL);
    if (n >= 0) {
      done += static_cast<std::size_t>(n);
    } else if (errno == EINTR) {
      continue;
    } else if (errno != EAGAIN && errno != EWOULDBLOCK) {
      fail("write", errno);
    } else if (!detail::wait_owned_writable(fd_, deadline)) {
      timed_out("write", done, size);
    }
  }
}

std::size_t socket::sendfile(int file_fd, std::uint64_t offset, std::size_t count,
                             clock::time_point deadline) {
  use_guard guard(*this, writer_, "sendfile");
  auto position = static_cast<off_t>(offset);
  std::size_t done = 0;
  while (done < count) {
    ssize_t n = ::sendfile(checked_fd("sendfile"), file_fd, &position, count - done);
    if (n > 0) {
      done += static_cast<std::size_t>(n);
    } else if (n == 0) {
      break;  // end of file
    } else if (errno == EINTR) {
      continue;
    } else if (errno != EAGAIN && errno != EWOULDBLOCK) {
      fail("sendfile", errno);
    } else if (!detail::wait_owned_writable(fd_, deadline)) {
      timed_out("sendfile", done, count);
    }
  }
  return done;
}

std::size_t socket::send_to(const void* data, std::size_t size, const endpoint& to,
                            clock::time_point deadline) {
  use_guard guard(*this, writer_, "send");
  for (;;) {
    ssize_t n = ::sendto(checked_fd("send"), data, size, MSG_NOSIGNAL, to.data(), to.size());
    if (n >= 0) return static_cast<std::size_t>(n);
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      int error_number = errno;
      throw system_error(errno_code(error_number), "send on " + describe() + " to " + to.to_string());
    }
    if (!detail::wait_owned_writable(fd_, deadline)) timed_out("send", 0, size);
  }
}

std::size_t socket::receive_from(void* buffer, std::size_t size, endpoint* from, clock::time_point deadline) {
  use_guard guard(*this, reader_, "receive");
  for (;;) {
    endpoint sender;
    socklen_t length = endpoint::capacity();
    ssize_t n = ::recvfrom(checked_fd("receive"), buffer, size, 0, sender.data(), &length);
    if (n >= 0) {
      sender.resize(length);
      if (from != nullptr) *from = sender;
      return static_cast<std::size_t>(n);
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) fail("receive", errno);
    if (!detail::wait_owned_readable(fd_, deadline)) timed_out("receive", 0, 0);
  }
}

void socket::shutdown(int how) {
  if (::shutdown(checked_fd("shutdown"), how) != 0 && errno != ENOTCONN) fail("shutdown", errno);
}

void socket::option_failed(const char* call, int level, int name, int error_number) const {
  throw system_error(errno_code(error_number), std::string(call) + "(" + std::to_string(level) + ", " +
                                                   std::to_string(name) + ") on " + describe());
}

void socket::set_option_bytes(int level, int name, const void* value, socklen_t size) {
  if (::setsockopt(checked_fd("setsockopt"), level, name, value, size) != 0)
    option_failed("setsockopt", level, name, errno);
}

void socket::option_bytes(int level, int name, void* value, socklen_t size) const {
  socklen_t length = size;
  if (::getsockopt(checked_fd("getsockopt"), level, name, value, &length) != 0)
    option_failed("getsockopt", level, name, errno);
}

void socket::set_no_delay(bool on) { set_option<int>(IPPROTO_TCP, TCP_NODELAY, on ? 1 : 0); }
void socket::set_reuse_address(bool on) { set_option<int>(SOL_SOCKET, SO_REUSEADDR, on ? 1 : 0); }
void socket::set_reuse_port(bool on) { set_option<int>(SOL_SOCKET, SO_REUSEPORT, on ? 1 : 0); }
void socket::set_keep_alive(bool on) { set_option<int>(SOL_SOCKET, SO_KEEPALIVE, on ? 1 : 0); }

socket listen(const endpoint& local, int backlog) {
  socket s(local.family(), SOCK_STREAM);
  if (local.family() != AF_UNIX) s.set_reuse_address();
  s.bind(local);
  s.listen(backlog);
  return s;
}

}  // namespace tendril
