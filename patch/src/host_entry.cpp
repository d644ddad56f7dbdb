// host_entry: a hostent's contents as values, and their layout in a
// gethostbyname_r buffer:
//
//   [padding to a pointer] [h_aliases: n + 1 pointers] [h_addr_list: m + 1
//   pointers] [m addresses] [h_name\0] [each alias\0]
//
// glibc's own layout differs in order; callers may rely only on the
// pointers, and on ERANGE meaning "try a larger buffer".

#include "host_entry.hpp"

#include <cerrno>
#include <cstdint>
#include <cstring>

namespace tendril::patch_detail {
namespace {

std::size_t padding(const char* buffer) noexcept {
  const auto address = reinterpret_cast<std::uintptr_t>(buffer);
  return (alignof(char*) - address % alignof(char*)) % alignof(char*);
}

std::size_t unpadded_size(const host_entry& e) noexcept {
  std::size_t size = (e.aliases.size() + 1 + e.addresses.size() + 1) * sizeof(char*);
  size += e.addresses.size() * static_cast<std::size_t>(e.length);
  size += e.name.size() + 1;
  for (const std::string& alias : e.aliases) size += alias.size() + 1;
  return size;
}

// put(text, at) copies `text` with its NUL to `at`; returns where it went
// and moves `at` past it.
char* put(const std::string& text, char*& at) noexcept {
  char* start = at;
  std::memcpy(at, text.c_str(), text.size() + 1);
  at += text.size() + 1;
  return start;
}

}  // namespace

host_entry host_entry::copy_of(const hostent& h) {
  host_entry e;
  e.name = h.h_name != nullptr ? h.h_name : "";
  for (char** alias = h.h_aliases; alias != nullptr && *alias != nullptr; ++alias)
    e.aliases.emplace_back(*alias);
  e.family = h.h_addrtype;
  e.length = h.h_length;
  for (char** address = h.h_addr_list; address != nullptr && *address != nullptr; ++address)
    e.addresses.emplace_back(*address, static_cast<std::size_t>(h.h_length));
  return e;
}

std::size_t host_entry::size_in_buffer() const noexcept { return alignof(char*) - 1 + unpadded_size(*this); }

int host_entry::lay_out(hostent* out, char* buffer, std::size_t size) const noexcept {
  if (buffer == nullptr || size < padding(buffer) || size - padding(buffer) < unpadded_size(*this))
    return ERANGE;
  char** pointers = reinterpret_cast<char**>(buffer + padding(buffer));
  char** alias_list = pointers;
  char** address_list = pointers + aliases.size() + 1;
  char* at = reinterpret_cast<char*>(address_list + addresses.size() + 1);
  for (std::size_t i = 0; i < addresses.size(); ++i) {
    address_list[i] = at;
    std::memcpy(at, addresses[i].data(), static_cast<std::size_t>(length));
    at += length;
  }
  address_list[addresses.size()] = nullptr;
  out->h_name = put(name, at);
  for (std::size_t i = 0; i < aliases.size(); ++i) alias_list[i] = put(aliases[i], at);
  alias_list[aliases.size()] = nullptr;
  out->h_aliases = alias_list;
  out->h_addrtype = family;
  out->h_length = length;
  out->h_addr_list = address_list;
  return 0;
}

}  // namespace tendril::patch_detail
