#pragma once
// Text built where nothing may allocate or lock: signal handlers (stack
// overflow reports, the blocking monitor's look at a running fiber).
// Not API.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace tendril::detail {

class greenlet_state;

/// signal_text is a fixed buffer with hand-written number formatting:
/// async-signal-safe. Text past its capacity is cut off.
class signal_text {
 public:
  void append(std::string_view text) noexcept {
    std::size_t n = text.size() < sizeof(buffer_) - length_ ? text.size() : sizeof(buffer_) - length_;
    std::memcpy(buffer_ + length_, text.data(), n);
    length_ += n;
  }
  void append_number(std::uint64_t value) noexcept {
    char digits[24];
    std::size_t n = 0;
    do {
      digits[sizeof(digits) - 1 - n++] = static_cast<char>('0' + value % 10);
      value /= 10;
    } while (value != 0);
    append({digits + sizeof(digits) - n, n});
  }
  std::string_view view() const noexcept { return {buffer_, length_}; }
  void clear() noexcept { length_ = 0; }

 private:
  char buffer_[512];
  std::size_t length_ = 0;
};

/// append_greenlet_label(out, s) appends `<id> "<name>"` (the name part only
/// when set): a greenlet's describe() without its kind, async-signal-safe.
void append_greenlet_label(signal_text& out, const greenlet_state* s) noexcept;

}  // namespace tendril::detail
