// The per-fd table: chunks of 1024 entries, allocated on first use and
// never freed, found through a fixed array of chunk pointers, so a lookup
// is two loads and no lock.
//
// Invariants:
// - An entry's word is 0 (unknown) or holds kind and flags; the other
//   fields are written before the word (release) and read after it
//   (acquire). Two threads recording the same fd at once are racing on
//   the fd itself (one closes while the other uses it): the last write wins.
// - A chunk is published with a compare-and-swap; the loser frees its copy.
//
// Rejected:
// - A hash map under a mutex (libgo's shape): a lock on every read and write.
// - Keying state by open file description (st_dev/st_ino) so that dup'ed
//   fds share it: an fstat per call. Dups copy the state instead, and a
//   wait checks st_ino once, which catches an fd reused behind patch's back.

#include "fd_state.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <new>

#include "originals.hpp"

namespace tendril::patch_detail {
namespace {

constexpr int chunk_bits = 10;
constexpr int chunk_size = 1 << chunk_bits;
constexpr int chunk_count = max_tracked_fd / chunk_size;

struct entry {
  std::atomic<std::uint32_t> word{0};
  std::atomic<std::int64_t> recv_timeout{0};
  std::atomic<std::int64_t> send_timeout{0};
  std::atomic<std::uint64_t> device{0};
  std::atomic<std::uint64_t> inode{0};
};

constinit std::atomic<entry*> chunks[chunk_count] = {};

// word: bits 0-2 the kind, then one bit per flag.
constexpr std::uint32_t kind_mask = 7;
constexpr std::uint32_t user_nonblock_bit = 1u << 3;
constexpr std::uint32_t patch_nonblock_bit = 1u << 4;
constexpr std::uint32_t timeouts_known_bit = 1u << 5;

std::uint32_t pack(const fd_info& info) noexcept {
  if (info.kind == fd_kind::unknown) return 0;
  return static_cast<std::uint32_t>(info.kind) | (info.user_nonblock ? user_nonblock_bit : 0) |
         (info.patch_nonblock ? patch_nonblock_bit : 0) | (info.timeouts_known ? timeouts_known_bit : 0);
}

entry* find_entry(int fd) noexcept {
  if (fd < 0 || fd >= max_tracked_fd) return nullptr;
  entry* chunk = chunks[fd >> chunk_bits].load(std::memory_order_acquire);
  return chunk != nullptr ? &chunk[fd & (chunk_size - 1)] : nullptr;
}

entry* make_entry(int fd) noexcept {
  if (entry* e = find_entry(fd)) return e;
  if (fd < 0 || fd >= max_tracked_fd) return nullptr;
  auto* fresh = new (std::nothrow) entry[chunk_size];
  if (fresh == nullptr) return nullptr;
  entry* expected = nullptr;
  if (!chunks[fd >> chunk_bits].compare_exchange_strong(expected, fresh, std::memory_order_acq_rel)) {
    delete[] fresh;
    return &expected[fd & (chunk_size - 1)];
  }
  return &fresh[fd & (chunk_size - 1)];
}

fd_kind kind_of(const struct stat& st, int fd) noexcept {
  if (S_ISSOCK(st.st_mode)) return fd_kind::socket;
  if (S_ISFIFO(st.st_mode)) return fd_kind::pipe;
  if (S_ISCHR(st.st_mode) && ::isatty(fd) == 1) return fd_kind::tty;
  return fd_kind::other;
}

std::int64_t socket_timeout(int fd, int option) noexcept {
  timeval tv{};
  socklen_t length = sizeof tv;
  if (::getsockopt(fd, SOL_SOCKET, option, &tv, &length) != 0) return 0;
  return static_cast<std::int64_t>(tv.tv_sec) * 1000000000 + static_cast<std::int64_t>(tv.tv_usec) * 1000;
}

}  // namespace

fd_info fd_state_of(int fd) noexcept {
  fd_info info;
  entry* e = find_entry(fd);
  if (e == nullptr) return info;
  std::uint32_t word = e->word.load(std::memory_order_acquire);
  if (word == 0) return info;
  info.kind = static_cast<fd_kind>(word & kind_mask);
  info.user_nonblock = (word & user_nonblock_bit) != 0;
  info.patch_nonblock = (word & patch_nonblock_bit) != 0;
  info.timeouts_known = (word & timeouts_known_bit) != 0;
  info.recv_timeout = e->recv_timeout.load(std::memory_order_relaxed);
  info.send_timeout = e->send_timeout.load(std::memory_order_relaxed);
  info.device = e->device.load(std::memory_order_relaxed);
  info.inode = e->inode.load(std::memory_order_relaxed);
  return info;
}

bool record_fd_state(int fd, const fd_info& info) noexcept {
  entry* e = info.kind == fd_kind::unknown ? find_entry(fd) : make_entry(fd);
  if (e == nullptr) return false;
  e->recv_timeout.store(info.recv_timeout, std::memory_order_relaxed);
  e->send_timeout.store(info.send_timeout, std::memory_order_relaxed);
  e->device.store(info.device, std::memory_order_relaxed);
  e->inode.store(info.inode, std::memory_order_relaxed);
  e->word.store(pack(info), std::memory_order_release);
  return true;
}

void forget_fd_state(int fd) noexcept {
  if (entry* e = find_entry(fd)) e->word.store(0, std::memory_order_release);
}

void copy_fd_state(int from, int to) noexcept {
  fd_info info = fd_state_of(from);
  if (info.kind == fd_kind::unknown)
    forget_fd_state(to);
  else
    record_fd_state(to, info);
}

fd_info learn_fd_state(int fd) noexcept {
  fd_info info = fd_state_of(fd);
  if (info.kind != fd_kind::unknown) return info;
  int saved_errno = errno;
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    errno = saved_errno;
    info.kind = fd_kind::other;  // not recorded: libc's call reports the error
    return info;
  }
  info.kind = kind_of(st, fd);
  info.device = st.st_dev;
  info.inode = st.st_ino;
  if (info.kind != fd_kind::other) {
    int flags = real::fcntl(fd, F_GETFL);
    info.user_nonblock = flags >= 0 && (flags & O_NONBLOCK) != 0;
  }
  if (info.kind != fd_kind::socket) info.timeouts_known = true;  // only sockets have them
  if (!record_fd_state(fd, info)) info = fd_info{.kind = fd_kind::other};
  errno = saved_errno;
  return info;
}

bool make_cooperative(int fd, fd_info& info) noexcept {
  if (info.kind == fd_kind::tty || info.patch_nonblock) return true;
  int saved_errno = errno;
  int flags = real::fcntl(fd, F_GETFL);
  // Already set although the user's view is blocking: set through a dup of
  // this fd that patch made non-blocking. Either way it is patch's now.
  bool ok = flags >= 0 && ((flags & O_NONBLOCK) != 0 || real::fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0);
  errno = saved_errno;
  if (!ok) return false;
  info.patch_nonblock = true;
  record_fd_state(fd, info);
  return true;
}

bool prepare_wait(int fd, fd_info& info) noexcept {
  int saved_errno = errno;
  struct stat st {};
  bool same = true;
  if (::fstat(fd, &st) == 0) {
    if (info.inode == 0) {
      info.device = st.st_dev;
      info.inode = st.st_ino;
    } else if (info.device != st.st_dev || info.inode != st.st_ino) {
      same = false;
    }
  }
  if (!same) {
    forget_fd_state(fd);
    errno = saved_errno;
    return false;
  }
  if (!info.timeouts_known) {
    info.recv_timeout = socket_timeout(fd, SO_RCVTIMEO);
    info.send_timeout = socket_timeout(fd, SO_SNDTIMEO);
    info.timeouts_known = true;
  }
  record_fd_state(fd, info);
  errno = saved_errno;
  return true;
}

}  // namespace tendril::patch_detail
