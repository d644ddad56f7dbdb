// tendril-run PROGRAM [ARGS...]: runs PROGRAM with libtendril_patch.so
// preloaded and patching on (TENDRIL_PATCH=all), so that an unmodified
// program that uses tendril's shared runtime (libtendril.so) gets
// cooperative blocking calls in its fibers.
//
// The library is looked for in $TENDRIL_PATCH_LIBRARY, then beside this
// executable (the build tree), then in ../<libdir> (an install).

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

constexpr const char* library_name = "libtendril_patch.so";

std::string directory_of_this_executable() {
  char path[4096];
  ssize_t n = ::readlink("/proc/self/exe", path, sizeof path - 1);
  if (n <= 0) return ".";
  std::string text(path, static_cast<std::size_t>(n));
  std::size_t slash = text.rfind('/');
  return slash == std::string::npos ? "." : text.substr(0, slash);
}

std::string find_library() {
  if (const char* explicit_path = std::getenv("TENDRIL_PATCH_LIBRARY")) return explicit_path;
  std::string here = directory_of_this_executable();
  for (const std::string& candidate :
       {here + "/" + library_name, here + "/../" TENDRIL_RUN_LIBDIR "/" + library_name})
    if (::access(candidate.c_str(), R_OK) == 0) return candidate;
  return "";
}

int usage() {
  std::fprintf(stderr,
               "usage: tendril-run PROGRAM [ARGS...]\n"
               "runs PROGRAM with libtendril_patch.so preloaded and tendril::patch_all() on;\n"
               "PROGRAM must link tendril's shared runtime (libtendril.so)\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0) return usage();
  std::string library = find_library();
  if (library.empty()) {
    std::fprintf(stderr, "tendril-run: %s not found beside %s nor in ../%s (set TENDRIL_PATCH_LIBRARY)\n",
                 library_name, directory_of_this_executable().c_str(), TENDRIL_RUN_LIBDIR);
    return 127;
  }
  std::string preload = library;
  if (const char* existing = std::getenv("LD_PRELOAD"); existing != nullptr && *existing != '\0')
    preload += std::string(":") + existing;
  ::setenv("LD_PRELOAD", preload.c_str(), 1);
  ::setenv("TENDRIL_PATCH", "all", 1);
  ::execvp(argv[1], argv + 1);
  std::fprintf(stderr, "tendril-run: cannot run %s: %s\n", argv[1], std::strerror(errno));
  return errno == ENOENT ? 127 : 126;
}
