#pragma once
// Whether a host lookup may be answered by io's resolver (c-ares, which
// knows /etc/hosts and DNS, in that order) or must be libc's, because
// nsswitch.conf's `hosts:` line asks libc for something else.

#include <string_view>

namespace tendril::patch_detail {

/// hosts_sources_need_libc(sources) is false when `sources` (the text of a
/// `hosts:` line after the colon, comments removed) is exactly the sources
/// `files dns`, in that order and without `[STATUS=action]` items: what
/// c-ares does with the lookups "fb". Anything else (mdns4_minimal,
/// myhostname, resolve, nis, ldap, wins, an action item, `dns files`, one
/// source alone, nothing) is true.
bool hosts_sources_need_libc(std::string_view sources) noexcept;

/// hosts_need_libc() applies hosts_sources_need_libc to the last `hosts:`
/// line of nsswitch.conf, read once per process on the first call:
/// /etc/nsswitch.conf, or the file the environment variable
/// TENDRIL_NSSWITCH_CONF names (for tests). A file that cannot be read, or
/// has no `hosts:` line, needs libc (glibc then has defaults of its own).
/// Thread-safety: any thread; racing first calls read the file each and
/// agree.
bool hosts_need_libc() noexcept;

}  // namespace tendril::patch_detail
