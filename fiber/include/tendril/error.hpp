#pragma once
// The root of tendril's exception hierarchy.
//
// Misuse and failures throw `tendril::error` or a type derived from it, with a
// message naming the fiber, fd, host or URL involved. Asynchronous interrupts
// (`greenlet_exit`, and later `timeout_error`) deliberately do not derive from
// it nor from std::exception: see <tendril/fiber/greenlet.hpp>.

#include <stdexcept>
#include <string>
#include <system_error>

namespace tendril {

/// error is thrown for API misuse and for failures; what() names the object involved.
class error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// system_error is an error caused by a failed system call; code() is its errno.
class system_error : public error {
 public:
  system_error(std::error_code code, const std::string& what)
      : error(what + ": " + code.message()), code_(code) {}

  /// code() is the std::error_code of the failed call (generic category, errno values).
  const std::error_code& code() const noexcept { return code_; }

 private:
  std::error_code code_;
};

}  // namespace tendril
