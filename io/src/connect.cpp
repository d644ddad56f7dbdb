// connect(host, port): resolve, then try each address in turn.
//
// Rejected: Happy Eyeballs (RFC 8305: racing IPv6 and IPv4 attempts). It
// needs two sockets in flight and a cancellation dance; a deadline and
// sequential attempts in the resolver's order serve a crawler well enough.

#include <tendril/io/dns.hpp>
#include <tendril/io/socket.hpp>

#include <system_error>

#include <tendril/error.hpp>

namespace tendril {

socket connect(std::string_view host, std::uint16_t port, clock::time_point deadline) {
  std::vector<endpoint> addresses = dns::resolve(host, port, dns::family::any, deadline);
  std::string where = "\"" + std::string(host) + "\" port " + std::to_string(port);
  if (addresses.empty()) throw error("connect to " + where + ": the name has no addresses");
  std::error_code last_error;
  std::string last_address;
  for (const endpoint& address : addresses) {
    socket s(address.family(), SOCK_STREAM);
    try {
      s.connect(address, deadline);
      return s;
    } catch (const system_error& e) {
      last_error = e.code();
      last_address = address.to_string();
      if (last_error == std::errc::timed_out) break;  // the deadline covers every attempt
    }
  }
  throw system_error(last_error, "connect to " + where + " (last tried " + last_address + ")");
}

}  // namespace tendril
