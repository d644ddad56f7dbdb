// Capturing and printing call stacks.
//
// Capture is glibc's backtrace() (the unwinder, no symbols). Printing goes
// through Boost.Stacktrace's libbacktrace backend, which reads the DWARF
// debug information of the program and its libraries for function names,
// files and lines; without it, dladdr's exported symbol is all there is.
//
// A captured address is a return address: the instruction after a call.
// Its line is looked up one byte earlier, inside the call, so that a call
// on the last line of a block is not attributed to the next statement.

#include <tendril/fiber/call_stack.hpp>

#include <cxxabi.h>
#include <dlfcn.h>
#include <execinfo.h>

#include <cstdio>
#include <cstdlib>
#include <memory>

#define BOOST_STACKTRACE_LINK
#include <boost/stacktrace/frame.hpp>

namespace tendril {
namespace {

constexpr int max_frames = 64;

std::string demangled(const char* symbol) {
  int status = 0;
  std::unique_ptr<char, decltype(&std::free)> name(abi::__cxa_demangle(symbol, nullptr, nullptr, &status),
                                                   &std::free);
  return status == 0 && name != nullptr ? std::string(name.get()) : std::string(symbol);
}

}  // namespace

call_stack call_stack::current() {
  void* frames[max_frames];
  int n = ::backtrace(frames, max_frames);
  // frames[0] is this function.
  return call_stack(std::vector<void*>(frames + (n > 0 ? 1 : 0), frames + n));
}

std::string call_stack::describe_frame(const void* address) {
  const auto* call = static_cast<const char*>(address) - 1;
  boost::stacktrace::frame frame(call);
  std::string text = frame.name();
  std::string file = frame.source_file();
  if (!file.empty()) return text + " at " + file + ":" + std::to_string(frame.source_line());
  Dl_info info{};
  if (::dladdr(call, &info) != 0) {
    if (text.empty() && info.dli_sname != nullptr) text = demangled(info.dli_sname);
    if (info.dli_fname != nullptr) text += std::string(text.empty() ? "" : " ") + "in " + info.dli_fname;
  }
  return text.empty() ? std::string("??") : text;
}

std::string call_stack::to_string(std::string_view indent) const {
  std::string out;
  for (std::size_t i = 0; i < frames_.size(); ++i) {
    char head[48];
    std::snprintf(head, sizeof head, "#%zu %p in ", i, frames_[i]);
    out.append(indent).append(head).append(describe_frame(frames_[i])).push_back('\n');
  }
  return out;
}

}  // namespace tendril
