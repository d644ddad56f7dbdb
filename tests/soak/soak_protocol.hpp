#pragma once
// What the soak test (soak_test.cpp, the server) and its client program
// (soak_client.cpp) share: the wire protocol, and the process limits and
// counts each side reads about itself. Plain functions, no Catch2: the
// client is not a test executable.
//
// The protocol: a request is a 4-byte length in network byte order and that
// many payload bytes (at most max_payload); the response is the same frame
// echoed. Request `seq` of connection `id` carries payload_size(seq) bytes
// of pattern_byte(id, seq, i), so a reply that belongs to another
// connection or another request does not compare equal.

#include <arpa/inet.h>
#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>

namespace tendril::soak {

inline constexpr std::size_t header_size = 4;
/// payload_sizes cycle with the request number. A connection's first
/// payload_sizes.size() requests (the warm-up) use each once, so every
/// buffer has reached its largest size before memory is measured.
inline constexpr std::array<std::size_t, 4> payload_sizes{1, 100, 700, 2000};
inline constexpr std::size_t max_payload = 2000;
inline constexpr std::size_t max_frame = header_size + max_payload;

inline std::size_t payload_size(std::uint64_t seq) noexcept {
  return payload_sizes[seq % payload_sizes.size()];
}

inline unsigned char pattern_byte(std::uint64_t id, std::uint64_t seq, std::size_t i) noexcept {
  return static_cast<unsigned char>(id * 131 + seq * 31 + i * 7 + (id >> 8));
}

inline void put_length(unsigned char* header, std::size_t length) noexcept {
  const std::uint32_t big_endian = htonl(static_cast<std::uint32_t>(length));
  std::memcpy(header, &big_endian, header_size);
}

inline std::size_t get_length(const unsigned char* header) noexcept {
  std::uint32_t big_endian;
  std::memcpy(&big_endian, header, header_size);
  return ntohl(big_endian);
}

/// raise_open_file_limit() raises RLIMIT_NOFILE's soft limit to the hard
/// one (each side holds one fd per connection) and returns the soft limit
/// now in force, or 0 when it cannot be read.
inline std::size_t raise_open_file_limit() noexcept {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return 0;
  if (limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &limit) != 0) ::getrlimit(RLIMIT_NOFILE, &limit);
  }
  return static_cast<std::size_t>(limit.rlim_cur);
}

/// open_fds() counts the entries of /proc/self/fd, less the one opendir
/// uses to read it; 0 if it cannot be read.
inline std::size_t open_fds() noexcept {
  DIR* dir = ::opendir("/proc/self/fd");
  if (dir == nullptr) return 0;
  std::size_t count = 0;
  while (::readdir(dir) != nullptr) ++count;
  ::closedir(dir);
  return count - 3;  // ".", ".." and the directory's own fd
}

/// resident_bytes() is the process's resident set size (the second field
/// of /proc/self/statm, in pages), or 0 if it cannot be read.
inline std::size_t resident_bytes() noexcept {
  std::FILE* statm = std::fopen("/proc/self/statm", "re");
  if (statm == nullptr) return 0;
  unsigned long total_pages = 0;
  unsigned long resident_pages = 0;
  const int fields = std::fscanf(statm, "%lu %lu", &total_pages, &resident_pages);
  std::fclose(statm);
  if (fields != 2) return 0;
  return static_cast<std::size_t>(resident_pages) * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
}

}  // namespace tendril::soak
