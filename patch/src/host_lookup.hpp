#pragma once
// The lookup behind gethostbyname, gethostbyname2 and their _r forms, for a
// fiber: through io's resolver, or libc's own call on io's thread pool when
// nsswitch.conf names sources c-ares does not know.

#include <optional>

#include "host_entry.hpp"

namespace tendril::patch_detail {

/// no_family_argument stands for the forms without one, gethostbyname and
/// gethostbyname_r: AF_INET, and libc's own forms on the pool.
inline constexpr int no_family_argument = -1;

/// host_answer is what a gethostbyname*_r call gives back.
struct host_answer {
  int result = 0;                   ///< the _r form's return value
  std::optional<int> h_error;       ///< its *h_errnop, when it sets it
  int error = 0;                    ///< errno after it
  std::optional<host_entry> entry;  ///< the host, when found
};

/// host_lookup_needed(name, family) is false when libc answers without a
/// lookup (a null name, digits and dots, a family other than AF_INET and
/// AF_INET6): then libc's own call is the answer.
bool host_lookup_needed(const char* name, int family) noexcept;

/// lookup_host(name, family) looks `name` up for the calling fiber, which
/// parks; `family` is AF_INET, AF_INET6 or no_family_argument. Failures as
/// glibc's _r forms report them: not found is 0 with HOST_NOT_FOUND and
/// errno 0, a timeout or server failure EAGAIN with TRY_AGAIN, out of
/// memory ENOMEM with NETDB_INTERNAL, and a kill or expired timeout scope
/// ECANCELED with NETDB_INTERNAL (handed back to the fiber). Through io's
/// resolver h_name is `name` as asked and h_aliases is empty (see README).
host_answer lookup_host(const char* name, int family) noexcept;

}  // namespace tendril::patch_detail
