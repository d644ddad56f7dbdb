// accept_next: the next connection of an accept loop, backing off while
// the process is out of fds or memory.

#include "accepting.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <system_error>

#include <tendril/error.hpp>
#include <tendril/hub/sleep.hpp>

namespace tendril {

socket detail::accept_next(socket& listener, endpoint& peer, const std::string& name,
                           acceptor_backoff& backoff) {
  constexpr clock::duration first_backoff = std::chrono::milliseconds(5);
  constexpr clock::duration max_backoff = std::chrono::seconds(1);
  for (;;) {
    try {
      socket connection = listener.accept(no_deadline, &peer);
      backoff.current = {};
      return connection;
    } catch (const system_error& e) {
      // Errors after which accepting again soon can succeed: out of fds or memory.
      auto code = static_cast<std::errc>(e.code().value());
      if (code != std::errc::too_many_files_open && code != std::errc::too_many_files_open_in_system &&
          code != std::errc::no_buffer_space && code != std::errc::not_enough_memory)
        throw;
      backoff.current =
          backoff.current == clock::duration{} ? first_backoff : std::min(backoff.current * 2, max_backoff);
      std::fprintf(stderr, "%s: %s; accepting again in %lld ms\n", name.c_str(), e.what(),
                   static_cast<long long>(
                       std::chrono::duration_cast<std::chrono::milliseconds>(backoff.current).count()));
      sleep(backoff.current);
    }
  }
}

}  // namespace tendril
