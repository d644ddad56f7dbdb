// The data calls: read, write and their vectored, socket and fortified
// forms, and sendfile. Each is blocking_call() around the real call.
//
// Rejected: one generic interposer template over function pointers; the
// partial-write bookkeeping differs per call (buffer, iovec array, msghdr),
// and spelled out per call the rules read where they apply.

#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cstring>
#include <memory>
#include <new>

#include "blocking_call.hpp"
#include "originals.hpp"

namespace tendril::patch_detail {
namespace {

// iov_rest describes what is left of an iovec array after `done` bytes,
// for the next try of a partial blocking write.
class iov_rest {
 public:
  iov_rest(const iovec* iov, int count) noexcept : iov_(iov), count_(count) {}

  /// at(done) points at the iovecs after `done` bytes (count in rest_count());
  /// null when a copy was needed and could not be allocated.
  const iovec* at(std::size_t done) noexcept {
    if (done == 0) {
      rest_count_ = count_;
      return iov_;
    }
    int first = 0;
    while (first < count_ && done >= iov_[first].iov_len) done -= iov_[first++].iov_len;
    rest_count_ = count_ - first;
    iovec* copy = storage(rest_count_);
    if (copy == nullptr) return nullptr;
    std::memcpy(copy, iov_ + first, sizeof(iovec) * static_cast<std::size_t>(rest_count_));
    if (rest_count_ > 0) {
      copy[0].iov_base = static_cast<char*>(copy[0].iov_base) + done;
      copy[0].iov_len -= done;
    }
    return copy;
  }
  int rest_count() const noexcept { return rest_count_; }

  static std::size_t total(const iovec* iov, int count) noexcept {
    std::size_t sum = 0;
    for (int i = 0; i < count; ++i) sum += iov[i].iov_len;
    return sum;
  }

 private:
  iovec* storage(int n) noexcept {
    if (n <= inline_count) return inline_;
    if (!heap_) heap_.reset(new (std::nothrow) iovec[static_cast<std::size_t>(count_)]);
    return heap_.get();
  }

  static constexpr int inline_count = 8;
  const iovec* iov_;
  int count_;
  int rest_count_ = 0;
  iovec inline_[inline_count];
  std::unique_ptr<iovec[]> heap_;
};

constexpr call_shape reading{.write = false, .all = false, .total = 0};
constexpr call_shape read_all(std::size_t n) { return {.write = false, .all = true, .total = n}; }
constexpr call_shape write_all(std::size_t n) { return {.write = true, .all = true, .total = n}; }

char* advance(void* buf, std::size_t done) noexcept { return static_cast<char*>(buf) + done; }
const char* advance(const void* buf, std::size_t done) noexcept {
  return static_cast<const char*>(buf) + done;
}

ssize_t patched_recvfrom(int fd, void* buf, std::size_t n, int flags, sockaddr* addr,
                         socklen_t* len) noexcept {
  if ((flags & MSG_DONTWAIT) != 0) return real::recvfrom(fd, buf, n, flags, addr, len);
  call_shape shape = (flags & MSG_WAITALL) != 0 ? read_all(n) : reading;
  return blocking_call(fd, shape, [&](std::size_t done) {
    return real::recvfrom(fd, advance(buf, done), n - done, flags, addr, len);
  });
}

}  // namespace
}  // namespace tendril::patch_detail

using namespace tendril::patch_detail;

extern "C" {

ssize_t read(int fd, void* buf, size_t n) {
  return blocking_call(fd, reading, [&](std::size_t) { return real::read(fd, buf, n); });
}

ssize_t readv(int fd, const iovec* iov, int count) {
  return blocking_call(fd, reading, [&](std::size_t) { return real::readv(fd, iov, count); });
}

ssize_t recv(int fd, void* buf, size_t n, int flags) {
  if ((flags & MSG_WAITALL) != 0) return patched_recvfrom(fd, buf, n, flags, nullptr, nullptr);
  if ((flags & MSG_DONTWAIT) != 0) return real::recv(fd, buf, n, flags);
  return blocking_call(fd, reading, [&](std::size_t) { return real::recv(fd, buf, n, flags); });
}

ssize_t recvfrom(int fd, void* __restrict buf, size_t n, int flags, sockaddr* __restrict addr,
                 socklen_t* __restrict len) {
  return patched_recvfrom(fd, buf, n, flags, addr, len);
}

// MSG_WAITALL is not continued across waits here: the first wait that
// finds data returns it (ancillary data and the source address belong to
// the first part, and msghdr has no room to merge them).
ssize_t recvmsg(int fd, msghdr* msg, int flags) {
  if ((flags & MSG_DONTWAIT) != 0) return real::recvmsg(fd, msg, flags);
  return blocking_call(fd, reading, [&](std::size_t) { return real::recvmsg(fd, msg, flags); });
}

ssize_t write(int fd, const void* buf, size_t n) {
  return blocking_call(fd, write_all(n),
                       [&](std::size_t done) { return real::write(fd, advance(buf, done), n - done); });
}

ssize_t writev(int fd, const iovec* iov, int count) {
  iov_rest rest(iov, count);
  return blocking_call(fd, write_all(iov_rest::total(iov, count)), [&](std::size_t done) -> ssize_t {
    const iovec* part = rest.at(done);
    if (part == nullptr) {
      errno = ENOMEM;
      return -1;
    }
    return real::writev(fd, part, rest.rest_count());
  });
}

ssize_t send(int fd, const void* buf, size_t n, int flags) {
  if ((flags & MSG_DONTWAIT) != 0) return real::send(fd, buf, n, flags);
  return blocking_call(fd, write_all(n),
                       [&](std::size_t done) { return real::send(fd, advance(buf, done), n - done, flags); });
}

ssize_t sendto(int fd, const void* buf, size_t n, int flags, const sockaddr* addr, socklen_t len) {
  if ((flags & MSG_DONTWAIT) != 0) return real::sendto(fd, buf, n, flags, addr, len);
  return blocking_call(fd, write_all(n), [&](std::size_t done) {
    return real::sendto(fd, advance(buf, done), n - done, flags, addr, len);
  });
}

ssize_t sendmsg(int fd, const msghdr* msg, int flags) {
  if ((flags & MSG_DONTWAIT) != 0 || msg == nullptr || msg->msg_iovlen > 1024)
    return real::sendmsg(fd, msg, flags);
  iov_rest rest(msg->msg_iov, static_cast<int>(msg->msg_iovlen));
  std::size_t total = iov_rest::total(msg->msg_iov, static_cast<int>(msg->msg_iovlen));
  return blocking_call(fd, write_all(total), [&](std::size_t done) -> ssize_t {
    if (done == 0) return real::sendmsg(fd, msg, flags);
    // The rest of a stream: its ancillary data went with the first part.
    msghdr tail = *msg;
    tail.msg_iov = const_cast<iovec*>(rest.at(done));
    if (tail.msg_iov == nullptr) {
      errno = ENOMEM;
      return -1;
    }
    tail.msg_iovlen = static_cast<std::size_t>(rest.rest_count());
    tail.msg_control = nullptr;
    tail.msg_controllen = 0;
    return real::sendmsg(fd, &tail, flags);
  });
}

// sendfile returns what one try moved, as a blocking sendfile may.
ssize_t sendfile(int out_fd, int in_fd, off_t* offset, size_t count) noexcept {
  return blocking_call(out_fd, {.write = true},
                       [&](std::size_t) { return real::sendfile(out_fd, in_fd, offset, count); });
}

ssize_t sendfile64(int out_fd, int in_fd, off64_t* offset, size_t count) noexcept {
  return blocking_call(out_fd, {.write = true},
                       [&](std::size_t) { return real::sendfile64(out_fd, in_fd, offset, count); });
}

// The fortified forms check the buffer as libc would, and let libc's own
// form report an overflow (it aborts the program), then wait like the rest.
ssize_t __read_chk(int fd, void* buf, size_t n, size_t buflen) {
  if (n > buflen) return real::__read_chk(fd, buf, n, buflen);
  return read(fd, buf, n);
}

ssize_t __recv_chk(int fd, void* buf, size_t n, size_t buflen, int flags) {
  if (n > buflen) return real::__recv_chk(fd, buf, n, buflen, flags);
  return recv(fd, buf, n, flags);
}

ssize_t __recvfrom_chk(int fd, void* buf, size_t n, size_t buflen, int flags, sockaddr* addr,
                       socklen_t* len) {
  if (n > buflen) return real::__recvfrom_chk(fd, buf, n, buflen, flags, addr, len);
  return patched_recvfrom(fd, buf, n, flags, addr, len);
}

}  // extern "C"
