#pragma once
// socket: a cooperative TCP, UDP or Unix socket that owns its fd.
//
//   socket s = connect("example.test", 80, std::chrono::seconds(5));
//   s.write_all("GET / HTTP/1.0\r\n\r\n");
//   std::size_t n = s.read_some(buffer, sizeof buffer);   // parks until data
//
// Every call that would block parks the calling fiber on its hub instead,
// and takes a deadline. A socket belongs to the hub of the thread that uses
// it; moving one to another thread between calls is fine, using it from two
// threads at once is not.

#include <sys/socket.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include <tendril/hub/park.hpp>
#include <tendril/io/endpoint.hpp>

namespace tendril {

/// socket owns one non-blocking socket fd and closes it when destroyed (see
/// close()). Movable, not copyable. One fiber reads and one fiber writes at
/// a time: a second concurrent reader (or writer) gets tendril::error naming
/// the fiber already reading, never interleaved bytes (gevent's
/// ConcurrentObjectUseError).
///
/// Every blocking call below follows the same rules:
/// Blocking:      parks the calling fiber until the socket is ready.
/// Deadline:      throws tendril::system_error with code std::errc::timed_out
///                naming the fd once `deadline` passes (no_deadline: never).
///                Data already transferred by the call stays transferred;
///                the error says how much.
/// Cancellation:  a kill or expired timeout scope raises at the park; the
///                socket stays usable (and owned), in whatever state the
///                bytes already moved left the stream.
/// Thread-safety: one reader and one writer at a time, on the same hub.
/// Errors:        tendril::system_error naming the fd (and the peer, where
///                known) for a failed call; tendril::error for a closed
///                socket or a concurrent reader or writer.
class socket {
 public:
  /// socket() owns nothing; every I/O call on it throws "closed".
  socket() noexcept = default;
  /// socket(family, type, protocol) opens a new socket (SOCK_NONBLOCK,
  /// SOCK_CLOEXEC). Errors: tendril::system_error (EMFILE, ...).
  socket(int family, int type, int protocol = 0);
  /// adopt(fd) takes ownership of an open socket fd and makes it non-blocking.
  static socket adopt(int fd);

  socket(socket&& other) noexcept;
  socket& operator=(socket&& other) noexcept;
  socket(const socket&) = delete;
  socket& operator=(const socket&) = delete;
  ~socket();

  /// tcp(), udp(): an IPv4 (or, with AF_INET6, IPv6) socket. unix_stream(),
  /// unix_datagram(): Unix sockets.
  static socket tcp(int family = AF_INET) { return socket(family, SOCK_STREAM); }
  static socket udp(int family = AF_INET) { return socket(family, SOCK_DGRAM); }
  static socket unix_stream() { return socket(AF_UNIX, SOCK_STREAM); }
  static socket unix_datagram() { return socket(AF_UNIX, SOCK_DGRAM); }
  /// pair(type) is a connected pair of Unix sockets (socketpair).
  static std::pair<socket, socket> pair(int type = SOCK_STREAM);

  int fd() const noexcept { return fd_; }
  bool is_open() const noexcept { return fd_ >= 0; }
  explicit operator bool() const noexcept { return is_open(); }
  /// release() gives up ownership: returns the fd, leaves the socket closed.
  int release() noexcept;
  /// close() wakes any fiber waiting on this socket with an error naming
  /// the fd (see tendril::close), then closes it; harmless when closed.
  void close() noexcept;
  /// describe() is "fd 7 (127.0.0.1:5000 -> 127.0.0.1:80)", as errors say it.
  std::string describe() const;

  // -- set-up ---------------------------------------------------------------

  void bind(const endpoint& local);
  /// listen(backlog): start accepting connections.
  void listen(int backlog = SOMAXCONN);
  /// accept(deadline, peer): the next connection (non-blocking, close-on-exec),
  /// its address stored in *peer if given. Blocking call (see above).
  socket accept(clock::time_point deadline = no_deadline, endpoint* peer = nullptr);
  /// connect(remote, deadline) connects to one address. Blocking call.
  /// Errors: system_error naming the address (ECONNREFUSED, ...).
  void connect(const endpoint& remote, clock::time_point deadline = no_deadline);

  endpoint local_endpoint() const;
  endpoint peer_endpoint() const;

  // -- data -----------------------------------------------------------------

  /// read_some(buffer, size): at least one byte, or 0 at end of stream.
  std::size_t read_some(void* buffer, std::size_t size, clock::time_point deadline = no_deadline);
  /// read_exact(buffer, size): exactly `size` bytes. Errors: tendril::error
  /// when the stream ends first, saying how many bytes came.
  void read_exact(void* buffer, std::size_t size, clock::time_point deadline = no_deadline);
  /// write_some(data, size): at least one byte; returns how many.
  std::size_t write_some(const void* data, std::size_t size, clock::time_point deadline = no_deadline);
  /// write_all(data): every byte. A peer that closed gives EPIPE (never SIGPIPE).
  void write_all(const void* data, std::size_t size, clock::time_point deadline = no_deadline);
  void write_all(std::string_view data, clock::time_point deadline = no_deadline) {
    write_all(data.data(), data.size(), deadline);
  }
  /// sendfile(file_fd, offset, count): sends `count` bytes of a regular file
  /// from `offset` with sendfile(2); returns how many (fewer at end of file).
  std::size_t sendfile(int file_fd, std::uint64_t offset, std::size_t count,
                       clock::time_point deadline = no_deadline);

  /// send_to(data, size, to), receive_from(buffer, size, from): datagrams.
  std::size_t send_to(const void* data, std::size_t size, const endpoint& to,
                      clock::time_point deadline = no_deadline);
  std::size_t receive_from(void* buffer, std::size_t size, endpoint* from = nullptr,
                           clock::time_point deadline = no_deadline);

  /// wait_readable(deadline): true once a read would not block (data, end
  /// of stream or an error is there), false once `deadline` passes. For a
  /// caller that knows the next read would find nothing yet, such as a
  /// server that has just answered a request: reads try the system call
  /// first, which then only says EAGAIN. Counts as a read for "one reader
  /// at a time". Blocking call.
  bool wait_readable(clock::time_point deadline = no_deadline);
  /// wait_writable(deadline): the same for a write; counts as a write.
  bool wait_writable(clock::time_point deadline = no_deadline);

  /// shutdown(how): SHUT_RD, SHUT_WR (half-close: the peer reads end of
  /// stream) or SHUT_RDWR. A peer that already left is not an error.
  void shutdown(int how = SHUT_WR);

  // -- options --------------------------------------------------------------

  /// set_option(level, name, value) / option<T>(level, name): setsockopt
  /// and getsockopt. Errors: system_error naming the option number.
  template <class T>
  void set_option(int level, int name, const T& value) {
    set_option_bytes(level, name, &value, sizeof value);
  }
  template <class T>
  T option(int level, int name) const {
    T value{};
    option_bytes(level, name, &value, sizeof value);
    return value;
  }
  void set_no_delay(bool on = true);       ///< TCP_NODELAY
  void set_reuse_address(bool on = true);  ///< SO_REUSEADDR
  void set_reuse_port(bool on = true);     ///< SO_REUSEPORT
  void set_keep_alive(bool on = true);     ///< SO_KEEPALIVE

 private:
  friend class stream_server;
  explicit socket(int fd);  // owns `fd` from here, even when it throws
  int checked_fd(const char* operation) const;
  void set_option_bytes(int level, int name, const void* value, socklen_t size);
  void option_bytes(int level, int name, void* value, socklen_t size) const;
  [[noreturn]] void fail(const char* operation, int error_number) const;
  [[noreturn]] void option_failed(const char* call, int level, int name, int error_number) const;
  [[noreturn]] void timed_out(const char* operation, std::size_t done, std::size_t wanted) const;

  // The fiber reading and the one writing, while a call runs.
  class use_guard;
  int fd_ = -1;
  waker reader_;
  waker writer_;
};

/// connect(host, port, deadline) resolves `host` with tendril's resolver
/// (dns::resolve; a numeric address is used as is) and tries each address
/// in turn until one connects.
///
/// Blocking:      parks for the lookup and each attempt.
/// Deadline:      covers the lookup and every attempt; throws
///                tendril::system_error (timed_out) naming host and port.
/// Cancellation:  a kill or expired timeout scope raises here; no socket leaks.
/// Thread-safety: any fiber.
/// Errors:        dns::dns_error for an unknown host; tendril::system_error
///                naming the host, port and the last address tried when
///                none connects (ECONNREFUSED, ENETUNREACH, ...).
socket connect(std::string_view host, std::uint16_t port, clock::time_point deadline = no_deadline);
template <class Rep, class Period>
socket connect(std::string_view host, std::uint16_t port, const std::chrono::duration<Rep, Period>& timeout) {
  return connect(host, port, deadline_after(std::chrono::duration_cast<clock::duration>(timeout)));
}

/// listen(local, backlog) is a listening TCP socket (SO_REUSEADDR) bound to
/// `local`; port 0 picks a free port (see local_endpoint()).
socket listen(const endpoint& local, int backlog = SOMAXCONN);

}  // namespace tendril
