// dns_lookup: looks up the names on its command line at the same time, one
// task per name, and prints each with its addresses, in the order given.
//
//   $ dns_lookup localhost example.org nosuch.invalid
//   localhost: 127.0.0.1
//   example.org: 93.184.215.14 2606:2800:21f:cb07:6820:80da:af6b:1b10
//   nosuch.invalid: unknown host "nosuch.invalid"
//
// With no names it looks up "localhost". The lookups honour /etc/hosts and
// /etc/resolv.conf; TENDRIL_DNS_SERVERS="127.0.0.1:5353" sends them to
// another server. Each has 10 s. Exits 1 if any lookup failed.

#include <chrono>
#include <iostream>
#include <string>
#include <vector>

#include <tendril/io/dns.hpp>
#include <tendril/tendril.hpp>

using namespace std::chrono_literals;

namespace {

struct answer {
  std::string line;  // "name: address address ..." or "name: what went wrong"
  bool found;
};

answer look_up(const std::string& name) {
  try {
    std::string line = name + ":";
    for (const tendril::endpoint& e :
         tendril::dns::resolve(name, 0, tendril::dns::family::any, tendril::deadline_after(10s)))
      line += " " + e.address();
    return {line, true};
  } catch (const tendril::dns::dns_error& e) {
    return {name + ": " + e.what(), false};
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> names(argv + 1, argv + argc);
  if (names.empty()) names.push_back("localhost");
  return tendril::run([&] {
    std::vector<tendril::task<answer>> lookups;
    for (const std::string& name : names) lookups.push_back(tendril::spawn(look_up, name));
    int status = 0;
    for (auto& lookup : lookups) {  // in the order given, each once it and those before it are done
      const answer a = lookup.get();
      std::cout << a.line << '\n';
      if (!a.found) status = 1;
    }
    return status;
  });
}
