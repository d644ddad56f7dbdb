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
  std::string where = "\"" + std::string(host) + "\" port " + std::to_string(port);
  std::vector<endpoint> addresses;
  try {
    addresses = dns::resolve(host, port, dns::family::any, deadline);
  } catch (const dns::dns_error& e) {
    // The deadline covers the lookup too, so its passing there is the same
    // timed_out as during an attempt. c-ares giving up after its own tries,
    // before the deadline, stays a dns_error.
    if (!e.timed_out() || clock::now() < deadline) throw;
    throw system_error(std::make_error_code(std::errc::timed_out), "connect to " + where + ": " + e.what());
  }
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
