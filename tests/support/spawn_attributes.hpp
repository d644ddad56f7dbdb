#pragma once
// default_signal_spawn: posix_spawn attributes for the servers and clients
// tests start. A child inherits the spawning thread's signal mask and
// ignored signals, and a test may block or ignore the very signals that stop
// children: the child gets an empty mask and the default action for them,
// so the signal that stops it arrives.

#include <signal.h>
#include <spawn.h>

namespace tendril::testing {

class default_signal_spawn {
 public:
  default_signal_spawn() {
    posix_spawnattr_init(&attributes_);
    sigset_t signals;
    sigemptyset(&signals);
    posix_spawnattr_setsigmask(&attributes_, &signals);
    for (int signo : {SIGTERM, SIGINT, SIGQUIT, SIGPIPE}) sigaddset(&signals, signo);
    posix_spawnattr_setsigdefault(&attributes_, &signals);
    posix_spawnattr_setflags(&attributes_, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  }
  ~default_signal_spawn() { posix_spawnattr_destroy(&attributes_); }
  default_signal_spawn(const default_signal_spawn&) = delete;
  default_signal_spawn& operator=(const default_signal_spawn&) = delete;

  /// get() is the attributes, for posix_spawn.
  const posix_spawnattr_t* get() const noexcept { return &attributes_; }

 private:
  posix_spawnattr_t attributes_;
};

}  // namespace tendril::testing
