#pragma once
// host_entry: a hostent as a value, for gethostbyname*: built from io's
// resolver or copied out of libc's answer on a pool thread, then laid out
// in the caller's buffer (the _r forms) or the thread's own (the others).

#include <netdb.h>

#include <cstddef>
#include <string>
#include <vector>

namespace tendril::patch_detail {

struct host_entry {
  std::string name;
  std::vector<std::string> aliases;
  int family = AF_INET;
  int length = 4;                      ///< bytes per address: 4 or 16
  std::vector<std::string> addresses;  ///< each `length` bytes, network order

  /// copy_of(h) copies a hostent. Errors: std::bad_alloc.
  static host_entry copy_of(const hostent& h);

  /// size_in_buffer() is how many bytes lay_out needs (with any alignment).
  std::size_t size_in_buffer() const noexcept;

  /// lay_out(out, buffer, size) fills *out with pointers into `buffer`,
  /// as gethostbyname_r does: 0, or ERANGE when `size` is too small (then
  /// nothing is written).
  int lay_out(hostent* out, char* buffer, std::size_t size) const noexcept;
};

}  // namespace tendril::patch_detail
