#pragma once
// A captured call stack: where a fiber stands, for dumps, the blocking
// monitor and error reports.
//
//   std::cerr << tendril::call_stack::current().to_string("  ");
//   std::cerr << some_greenlet.suspended_at().to_string("  ");

#include <string>
#include <string_view>
#include <vector>

namespace tendril {

/// call_stack is a list of return addresses, innermost first. Capturing is
/// cheap (an unwind, no symbols); to_string() resolves names, files and
/// lines from the program's debug information.
class call_stack {
 public:
  call_stack() = default;
  explicit call_stack(std::vector<void*> frames) noexcept : frames_(std::move(frames)) {}

  /// current() is the calling code's call stack, from its caller outward.
  static call_stack current();

  const std::vector<void*>& frames() const noexcept { return frames_; }
  bool empty() const noexcept { return frames_.empty(); }

  /// to_string(indent) is one line per frame, each starting with `indent`:
  /// `#0 0x55d0c0de1234 in tendril::park(...) at hub/src/park.cpp:120`.
  /// Frames without debug information show their symbol (or only the
  /// address, and the object file it belongs to).
  std::string to_string(std::string_view indent = "") const;

  /// describe_frame(address) is one frame's text as to_string prints it
  /// (without the number); `address` is a return address.
  static std::string describe_frame(const void* address);

 private:
  std::vector<void*> frames_;
};

}  // namespace tendril
