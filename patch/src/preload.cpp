// Start-up under tendril-run: the launcher preloads this library and sets
// TENDRIL_PATCH=all, and this constructor calls patch_all() before the
// program's main.
//
// A program with tendril linked statically has its own copy of the hub
// (its own thread-locals), which this library's calls cannot see: its
// fibers would get libc's calls. That is detected here, cheaply, by
// looking for an object besides this library that needs libtendril.so.

#include <link.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <tendril/patch.hpp>

namespace tendril::patch_detail {
namespace {

constexpr const char* shared_runtime = "libtendril.so";

bool is_patch_library(const char* path) noexcept {
  return std::strstr(path, "libtendril_patch.so") != nullptr;
}

// needs_shared_runtime(info): the object's DT_NEEDED names libtendril.so.
bool needs_shared_runtime(const dl_phdr_info* info) noexcept {
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    if (info->dlpi_phdr[i].p_type != PT_DYNAMIC) continue;
    const auto* dynamic = reinterpret_cast<const ElfW(Dyn)*>(info->dlpi_addr + info->dlpi_phdr[i].p_vaddr);
    const char* strings = nullptr;
    for (const ElfW(Dyn)* d = dynamic; d->d_tag != DT_NULL; ++d)
      if (d->d_tag == DT_STRTAB) {
        // ld.so relocates DT_STRTAB in place on x86-64; be safe if not.
        ElfW(Addr) address = d->d_un.d_ptr;
        if (address < info->dlpi_addr) address += info->dlpi_addr;
        strings = reinterpret_cast<const char*>(address);
      }
    if (strings == nullptr) return false;
    for (const ElfW(Dyn)* d = dynamic; d->d_tag != DT_NULL; ++d)
      if (d->d_tag == DT_NEEDED && std::strncmp(strings + d->d_un.d_val, shared_runtime, 13) == 0)
        return true;
  }
  return false;
}

bool program_uses_shared_runtime() noexcept {
  return ::dl_iterate_phdr(
             [](dl_phdr_info* info, std::size_t, void*) noexcept -> int {
               if (info->dlpi_name != nullptr && is_patch_library(info->dlpi_name)) return 0;
               return needs_shared_runtime(info) ? 1 : 0;
             },
             nullptr) != 0;
}

[[gnu::constructor]] void patch_from_environment() noexcept {
  const char* mode = std::getenv("TENDRIL_PATCH");
  if (mode == nullptr || std::strcmp(mode, "all") != 0) return;
  patch_all();
  if (!program_uses_shared_runtime())
    std::fprintf(stderr,
                 "tendril-run: warning: the program does not link libtendril.so, so its blocking calls "
                 "stay libc's (a program with tendril linked statically cannot be patched: link "
                 "tendril::shared or tendril::patch)\n");
}

}  // namespace
}  // namespace tendril::patch_detail
