// patched_hello_server: the hello server written as blocking POSIX code,
// one fiber per connection, made cooperative by patch_all(): what patch
// costs against tendril's native server (examples/http_hello.cpp, run as
// http_server_bench) under the same load (bench/io_load.py serve).
//
//   patched_hello_server PORT     serves 127.0.0.1:PORT until killed (SIGTERM)
//
// socket, bind, listen, then accept in a loop, each accepted connection
// handed to a task (tendril::spawn) that reads and writes its blocking
// socket: the code a thread-per-connection server would have, with fibers
// for threads. Its HTTP handling is the epoll floor's
// (peers/epoll_hello_server.c), so that the comparison is about the I/O
// layer: one read per wake-up, every request it completed (everything up to
// an empty line: wrk's GETs have no body) answered with the same 81 bytes in
// one write. No parser, no allocation per request, no timers.
//
// No signal handling: SIGTERM's default action ends it, which io_load.py
// accepts as a clean stop.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <tendril/patch.hpp>
#include <tendril/tendril.hpp>

namespace {

constexpr char response[] =
    "HTTP/1.1 200 OK\r\nContent-Length: 14\r\nContent-Type: text/plain\r\n\r\nHello, world!\n";
constexpr std::size_t response_size = sizeof response - 1;
constexpr std::size_t buffer_size = 16 * 1024;

// write_all(fd, data, size) is a blocking write of everything; false when
// the connection is gone.
bool write_all(int fd, const char* data, std::size_t size) {
  while (size > 0) {
    const ssize_t n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

// serve(fd) answers the requests of one keep-alive connection until the
// client closes it, then closes it.
void serve(int fd) {
  char in[buffer_size];
  char answers[buffer_size];
  std::size_t in_size = 0;
  for (;;) {
    const ssize_t n = ::read(fd, in + in_size, buffer_size - in_size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    in_size += static_cast<std::size_t>(n);
    std::size_t answers_size = 0;
    char* start = in;
    char* end;
    while ((end = static_cast<char*>(
                ::memmem(start, static_cast<std::size_t>(in + in_size - start), "\r\n\r\n", 4))) != nullptr) {
      start = end + 4;
      if (answers_size + response_size > sizeof answers) {
        if (!write_all(fd, answers, answers_size)) goto done;
        answers_size = 0;
      }
      std::memcpy(answers + answers_size, response, response_size);
      answers_size += response_size;
    }
    in_size = static_cast<std::size_t>(in + in_size - start);
    std::memmove(in, start, in_size);
    if (in_size == buffer_size) break;  // a request header over 16 KiB: not a client of this benchmark
    if (answers_size > 0 && !write_all(fd, answers, answers_size)) break;
  }
done:
  ::close(fd);
}

[[noreturn]] void die(const char* what) {
  std::perror(what);
  std::exit(1);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s PORT\n", argv[0]);
    return 2;
  }
  std::signal(SIGPIPE, SIG_IGN);
  tendril::patch_all();
  tendril::run([port = std::atoi(argv[1])] {
    const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const int on = 1;
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<std::uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (listener < 0 || ::setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0 ||
        ::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        ::listen(listener, 1024) != 0)
      die("listen");
    for (;;) {
      const int fd = ::accept(listener, nullptr, nullptr);
      if (fd < 0) {
        if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE || errno == ENFILE) continue;
        die("accept");
      }
      tendril::spawn(serve, fd);  // the hub keeps the task alive: fire and forget
    }
  });
}
