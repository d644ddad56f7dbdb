// Name lookups in fibers: getaddrinfo and gethostbyname* answered by a DNS
// server that runs in another fiber of the same thread (without
// cooperation the thread would block in the lookup and the server fiber
// could never answer: the test runner's timeout would end the test);
// unknown names; /etc/hosts; numeric hosts and services, and every hint,
// exactly as libc answers them; lists freed by either freeaddrinfo (ASan
// checks the frees and leaks); ERANGE; kills, timeout scopes and servers
// that never answer; getnameinfo; plain threads; and, in a child process,
// an nsswitch.conf naming a source c-ares does not know.
//
// This process's lookups follow a hosts line of "files dns", whatever the
// machine's nsswitch.conf says (patch reads it once per process): that is
// when io's resolver answers.

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <fstream>
#include <future>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include <tendril/hub/join.hpp>
#include <tendril/hub/run.hpp>
#include <tendril/hub/sleep.hpp>
#include <tendril/hub/task.hpp>
#include <tendril/hub/timeout.hpp>
#include <tendril/io/dns.hpp>
#include <tendril/io/socket.hpp>
#include <tendril/io/thread_pool.hpp>
#include <tendril/patch.hpp>

#include "support/fd_count.hpp"
#include "support/hub_fixture.hpp"

extern char** environ;

namespace {

namespace dns = tendril::dns;
namespace original = tendril::patch::original;
using tendril::endpoint;
using tendril::spawn;
using tendril::task;
using tendril::testing::fd_leak_check;
using tendril::testing::hub_check;
using strings = std::vector<std::string>;

// --- the test's nsswitch.conf -----------------------------------------------------

// temporary_file holds `text` in a new file under /tmp, removed with it.
class temporary_file {
 public:
  explicit temporary_file(const std::string& text) {
    char path[] = "/tmp/tendril-nsswitch-XXXXXX";
    const int fd = ::mkstemp(path);
    if (fd < 0) throw std::runtime_error("mkstemp failed");
    ::close(fd);
    path_ = path;
    std::ofstream(path_) << text;
  }
  temporary_file(const temporary_file&) = delete;
  temporary_file& operator=(const temporary_file&) = delete;
  ~temporary_file() { ::unlink(path_.c_str()); }
  const std::string& path() const noexcept { return path_; }

 private:
  std::string path_;
};

constexpr const char* nsswitch_variable = "TENDRIL_NSSWITCH_CONF";

// Set before main, so before patch reads it; a child process started with
// its own file keeps it (no overwrite).
const temporary_file files_then_dns(
    "# the c-ares path\nhosts:   files dns   # as Debian's\nnetworks: files\n");
[[maybe_unused]] const bool nsswitch_chosen =
    ::setenv(nsswitch_variable, files_then_dns.path().c_str(), 0) == 0;

// --- a DNS server in a fiber ------------------------------------------------------

// zone: each name and its addresses (IPv4 for A, IPv6 for AAAA records).
using zone = std::map<std::string, strings>;

zone test_zone() {
  return {
      {"fiber.test", {"198.51.100.10", "198.51.100.11", "2001:db8::10"}},
      {"v4only.test", {"198.51.100.20"}},
      {"v6only.test", {"2001:db8::20"}},
  };
}

constexpr int type_a = 1;
constexpr int type_aaaa = 28;

// dns_responder is a DNS server on 127.0.0.1 (UDP), served by a fiber of
// the calling thread through tendril::socket: A and AAAA answers for the
// names of its zone, NXDOMAIN for any other name. It counts the queries.
class dns_responder {
 public:
  explicit dns_responder(zone records) : records_(std::move(records)), socket_(tendril::socket::udp()) {
    socket_.bind(endpoint::loopback(0));
    server_ = spawn([this] { serve(); });
  }
  dns_responder(const dns_responder&) = delete;
  dns_responder& operator=(const dns_responder&) = delete;
  ~dns_responder() { server_.kill(); }

  std::string address() const { return socket_.local_endpoint().to_string(); }
  int queries() const noexcept { return queries_; }

 private:
  void serve() {
    unsigned char query[512];
    for (;;) {
      endpoint from;
      const std::size_t n = socket_.receive_from(query, sizeof query, &from);
      ++queries_;
      const std::vector<unsigned char> reply = answer(query, n);
      if (!reply.empty()) socket_.send_to(reply.data(), reply.size(), from);
    }
  }

  // answer(query, n): the reply, or nothing for a query it cannot read.
  std::vector<unsigned char> answer(const unsigned char* query, std::size_t n) const {
    if (n < 12 || query[4] != 0 || query[5] != 1) return {};
    std::size_t at = 12;
    std::string name;
    while (at < n && query[at] != 0) {
      const std::size_t length = query[at];
      if (length > 63 || at + 1 + length >= n) return {};
      if (!name.empty()) name += '.';
      for (std::size_t i = 0; i < length; ++i) name += static_cast<char>(std::tolower(query[at + 1 + i]));
      at += 1 + length;
    }
    if (at + 5 > n) return {};
    const int type = query[at + 1] << 8 | query[at + 2];
    const std::size_t question_end = at + 5;

    const auto found = records_.find(name);
    std::vector<std::vector<unsigned char>> records;
    if (found != records_.end()) {
      for (const std::string& address : found->second) {
        unsigned char bytes[16];
        if (type == type_a && ::inet_pton(AF_INET, address.c_str(), bytes) == 1)
          records.emplace_back(bytes, bytes + 4);
        if (type == type_aaaa && ::inet_pton(AF_INET6, address.c_str(), bytes) == 1)
          records.emplace_back(bytes, bytes + 16);
      }
    }
    std::vector<unsigned char> reply(query, query + question_end);
    reply[2] = static_cast<unsigned char>(0x80 | 0x04 | (query[2] & 0x79));  // QR, AA; opcode and RD kept
    reply[3] = static_cast<unsigned char>(0x80 | (found == records_.end() ? 3 : 0));  // RA; NXDOMAIN or not
    reply[6] = 0;
    reply[7] = static_cast<unsigned char>(records.size());
    for (int i = 8; i < 12; ++i) reply[static_cast<std::size_t>(i)] = 0;
    for (const std::vector<unsigned char>& data : records) {
      const unsigned char head[] = {0xc0, 12,  // the question's name
                                    0,    static_cast<unsigned char>(type),
                                    0,    1,
                                    0,    0,
                                    0,    60,
                                    0,    static_cast<unsigned char>(data.size())};
      reply.insert(reply.end(), head, head + sizeof head);
      reply.insert(reply.end(), data.begin(), data.end());
    }
    return reply;
  }

  zone records_;
  tendril::socket socket_;
  task<void> server_;
  int queries_ = 0;
};

// servers_for_test points this hub's resolver at `address` while it lives.
class servers_for_test {
 public:
  explicit servers_for_test(const std::string& address) { dns::set_servers(address); }
  servers_for_test(const servers_for_test&) = delete;
  servers_for_test& operator=(const servers_for_test&) = delete;
  ~servers_for_test() { dns::set_servers(""); }
};

// silent_server is a UDP socket on 127.0.0.1 that nobody reads: queries
// sent there are never answered.
class silent_server {
 public:
  silent_server() : socket_(tendril::socket::udp()) { socket_.bind(endpoint::loopback(0)); }
  std::string address() const { return socket_.local_endpoint().to_string(); }

 private:
  tendril::socket socket_;
};

// --- reading results --------------------------------------------------------------

std::string address_text(const sockaddr* address) {
  char text[INET6_ADDRSTRLEN] = {};
  if (address->sa_family == AF_INET6) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(address);
    ::inet_ntop(AF_INET6, &v6->sin6_addr, text, sizeof text);
    return "[" + std::string(text) + "]:" + std::to_string(ntohs(v6->sin6_port));
  }
  const auto* v4 = reinterpret_cast<const sockaddr_in*>(address);
  ::inet_ntop(AF_INET, &v4->sin_addr, text, sizeof text);
  return std::string(text) + ":" + std::to_string(ntohs(v4->sin_port));
}

// endpoints(list): each node's address and port, sorted (the resolver's
// preference order is not what these tests check).
strings endpoints(const addrinfo* list) {
  strings out;
  for (const addrinfo* a = list; a != nullptr; a = a->ai_next) out.push_back(address_text(a->ai_addr));
  std::sort(out.begin(), out.end());
  return out;
}

// fields(list): everything getaddrinfo sets in each node, in order,
// address bytes included.
strings fields(const addrinfo* list) {
  strings out;
  for (const addrinfo* a = list; a != nullptr; a = a->ai_next) {
    std::string bytes(reinterpret_cast<const char*>(a->ai_addr), a->ai_addrlen);
    std::string hex;
    for (unsigned char c : bytes) hex += "0123456789abcdef"[c >> 4], hex += "0123456789abcdef"[c & 15];
    out.push_back("flags " + std::to_string(a->ai_flags) + " family " + std::to_string(a->ai_family) +
                  " type " + std::to_string(a->ai_socktype) + " protocol " + std::to_string(a->ai_protocol) +
                  " " + hex + " canonical " + (a->ai_canonname != nullptr ? a->ai_canonname : "-"));
  }
  return out;
}

// lookup is one getaddrinfo's outcome, its list already freed.
struct lookup {
  int result = 0;
  strings nodes;  // fields()
  friend bool operator==(const lookup&, const lookup&) = default;
};

std::ostream& operator<<(std::ostream& out, const lookup& l) {
  out << "result " << l.result << " (" << ::gai_strerror(l.result) << ")";
  for (const std::string& node : l.nodes) out << "\n  " << node;
  return out;
}

using getaddrinfo_function = int (*)(const char*, const char*, const addrinfo*, addrinfo**);

lookup lookup_with(getaddrinfo_function f, const char* node, const char* service, const addrinfo* hints) {
  addrinfo* list = nullptr;
  lookup l;
  l.result = f(node, service, hints, &list);
  if (l.result == 0) l.nodes = fields(list);
  if (l.result == 0) ::freeaddrinfo(list);
  return l;
}

lookup patched(const char* node, const char* service, const addrinfo* hints) {
  return lookup_with(&::getaddrinfo, node, service, hints);
}
lookup libc(const char* node, const char* service, const addrinfo* hints) {
  return lookup_with([](const char* n, const char* s, const addrinfo* h,
                        addrinfo** r) { return original::getaddrinfo(n, s, h, r); },
                     node, service, hints);
}

addrinfo hints_of(int family, int socktype = 0, int protocol = 0, int flags = 0) {
  addrinfo hints{};
  hints.ai_family = family;
  hints.ai_socktype = socktype;
  hints.ai_protocol = protocol;
  hints.ai_flags = flags;
  return hints;
}

strings host_addresses(const hostent* h) {
  strings out;
  for (char** a = h->h_addr_list; *a != nullptr; ++a) {
    char text[INET6_ADDRSTRLEN] = {};
    ::inet_ntop(h->h_addrtype, *a, text, sizeof text);
    out.emplace_back(text);
  }
  std::sort(out.begin(), out.end());
  return out;
}

// through_pool(call) is true when call() could not return before io's
// thread pool had run a job queued before its own: the pool is held to one
// thread, busy with a job that another fiber ends only once the caller
// parks. A call answered without the pool (here, or through io's resolver
// from /etc/hosts) returns first.
template <class F>
bool through_pool(F call) {
  namespace pool = tendril::thread_pool;
  pool::set_max_threads(1);
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  task<void> holder = spawn([released] { tendril::run_in_thread([released] { released.wait(); }); });
  tendril::yield();  // the holder's job is queued first, on the pool's one thread
  strings order;
  task<void> releaser = spawn([&] {
    order.push_back("released");
    release.set_value();
  });
  call();
  order.push_back("answered");
  releaser.join();
  holder.join();
  pool::set_max_threads(pool::default_max_threads());
  return order == strings{"released", "answered"};
}

// on_new_hub(f) runs f() as tendril::run's main task on a new thread: a
// hub of its own (its resolver's settings die with it). Returns f's value;
// Catch2 assertions stay on the test's thread, so f only computes.
template <class F>
auto on_new_hub(F f) {
  std::optional<decltype(f())> value;
  std::exception_ptr failure;
  std::thread([&] {
    try {
      value.emplace(tendril::run(f));
    } catch (...) {
      failure = std::current_exception();
    }
  }).join();
  if (failure) std::rethrow_exception(failure);
  return std::move(*value);
}

}  // namespace

// --- io's resolver, served by a fiber ---------------------------------------------

TEST_CASE("getaddrinfo in a fiber is answered by a DNS server in another fiber of the same thread") {
  tendril::patch_all();
  hub_check hub;
  fd_leak_check fds;
  dns_responder server(test_zone());
  servers_for_test servers(server.address());
  const addrinfo v4_stream = hints_of(AF_INET, SOCK_STREAM);
  task<strings> client = spawn([&] {
    addrinfo* list = nullptr;
    REQUIRE(::getaddrinfo("fiber.test", "80", &v4_stream, &list) == 0);
    strings found = endpoints(list);
    ::freeaddrinfo(list);
    return found;
  });
  CHECK(client.get() == strings{"198.51.100.10:80", "198.51.100.11:80"});
  CHECK(server.queries() >= 1);
}

TEST_CASE("many fibers look names up at once, all answered by the fiber's server") {
  tendril::patch_all();
  hub_check hub;
  fd_leak_check fds;
  dns_responder server(test_zone());
  servers_for_test servers(server.address());
  std::vector<task<strings>> clients;
  for (int i = 0; i < 20; ++i) {
    clients.push_back(spawn([i] {
      addrinfo hints = hints_of(i % 2 == 0 ? AF_INET : AF_INET6, SOCK_STREAM);
      addrinfo* list = nullptr;
      REQUIRE(::getaddrinfo(i % 2 == 0 ? "v4only.test" : "v6only.test", "443", &hints, &list) == 0);
      strings found = endpoints(list);
      ::freeaddrinfo(list);
      return found;
    }));
  }
  for (int i = 0; i < 20; ++i)
    CHECK(clients[static_cast<std::size_t>(i)].get() ==
          strings{i % 2 == 0 ? "198.51.100.20:443" : "[2001:db8::20]:443"});
}

TEST_CASE("AF_UNSPEC gives both families, one node per socket type, as glibc does") {
  tendril::patch_all();
  hub_check hub;
  dns_responder server(test_zone());
  servers_for_test servers(server.address());
  addrinfo* list = nullptr;
  const addrinfo any = hints_of(AF_UNSPEC);
  REQUIRE(::getaddrinfo("fiber.test", "80", &any, &list) == 0);
  std::map<std::string, strings> types;  // address -> "socktype/protocol" of its nodes, in order
  for (const addrinfo* a = list; a != nullptr; a = a->ai_next)
    types[address_text(a->ai_addr)].push_back(std::to_string(a->ai_socktype) + "/" +
                                              std::to_string(a->ai_protocol));
  ::freeaddrinfo(list);
  const strings stream_dgram_raw = {"1/6", "2/17", "3/0"};
  CHECK(types == std::map<std::string, strings>{{"198.51.100.10:80", stream_dgram_raw},
                                                {"198.51.100.11:80", stream_dgram_raw},
                                                {"[2001:db8::10]:80", stream_dgram_raw}});
}

TEST_CASE("a name's results are libc's for its address, for every hint") {
  tendril::patch_all();
  hub_check hub;
  dns_responder server(test_zone());
  servers_for_test servers(server.address());
  struct hinted {
    std::optional<addrinfo> hints;
    const char* service;
  };
  const std::vector<hinted> cases = {
      {std::nullopt, "80"},  // glibc's defaults: AI_V4MAPPED | AI_ADDRCONFIG
      {hints_of(AF_UNSPEC), nullptr},
      {hints_of(AF_UNSPEC), "http"},
      {hints_of(AF_UNSPEC), "domain"},
      {hints_of(AF_INET, SOCK_STREAM), "80"},
      {hints_of(AF_UNSPEC, SOCK_DGRAM), "53"},
      {hints_of(AF_UNSPEC, 0, IPPROTO_TCP), "http"},
      {hints_of(AF_UNSPEC, SOCK_RAW), nullptr},
      {hints_of(AF_UNSPEC, 0, IPPROTO_ICMP), nullptr},
      {hints_of(AF_UNSPEC, 0, 0, AI_PASSIVE), nullptr},
      {hints_of(AF_UNSPEC, 0, 0, AI_NUMERICSERV), "8080"},
      {hints_of(AF_UNSPEC, 0, 0, AI_ADDRCONFIG), "80"},
      {hints_of(AF_INET6, 0, 0, AI_V4MAPPED), "443"},
      {hints_of(AF_INET6, SOCK_STREAM, 0, AI_V4MAPPED | AI_ALL), "443"},
      // Errors, from the hints and the service before any lookup:
      {hints_of(AF_UNSPEC), "no-such-service"},             // EAI_SERVICE
      {hints_of(AF_UNSPEC, 0, 0, AI_NUMERICSERV), "http"},  // EAI_NONAME
      {hints_of(AF_UNIX), "80"},                            // EAI_FAMILY
      {hints_of(AF_UNSPEC, 0, 0, 0x10000), "80"},           // EAI_BADFLAGS
      {hints_of(AF_UNSPEC, 99), "80"},                      // EAI_SOCKTYPE
      {hints_of(AF_UNSPEC, SOCK_RAW), "80"},                // EAI_SERVICE
  };
  for (const hinted& c : cases) {
    const addrinfo* hints = c.hints ? &*c.hints : nullptr;
    INFO("family " << (hints ? hints->ai_family : -1) << " socktype " << (hints ? hints->ai_socktype : -1)
                   << " protocol " << (hints ? hints->ai_protocol : -1) << " flags "
                   << (hints ? hints->ai_flags : -1) << " service " << (c.service ? c.service : "null"));
    CHECK(patched("v4only.test", c.service, hints) == libc("198.51.100.20", c.service, hints));
  }
}

TEST_CASE(
    "AF_INET6 takes AAAA records, and AI_V4MAPPED maps A records when there are none, or always with "
    "AI_ALL") {
  tendril::patch_all();
  hub_check hub;
  dns_responder server(test_zone());
  servers_for_test servers(server.address());
  addrinfo* list = nullptr;
  const addrinfo v6 = hints_of(AF_INET6, SOCK_STREAM);
  REQUIRE(::getaddrinfo("fiber.test", "1", &v6, &list) == 0);
  CHECK(endpoints(list) == strings{"[2001:db8::10]:1"});
  ::freeaddrinfo(list);

  CHECK(::getaddrinfo("v4only.test", "1", &v6, &list) == EAI_NONAME);

  const addrinfo mapped = hints_of(AF_INET6, SOCK_STREAM, 0, AI_V4MAPPED);
  REQUIRE(::getaddrinfo("v4only.test", "1", &mapped, &list) == 0);
  CHECK(endpoints(list) == strings{"[::ffff:198.51.100.20]:1"});
  ::freeaddrinfo(list);
  REQUIRE(::getaddrinfo("fiber.test", "1", &mapped, &list) == 0);
  CHECK(endpoints(list) == strings{"[2001:db8::10]:1"});
  ::freeaddrinfo(list);

  const addrinfo all = hints_of(AF_INET6, SOCK_STREAM, 0, AI_V4MAPPED | AI_ALL);
  REQUIRE(::getaddrinfo("fiber.test", "1", &all, &list) == 0);
  CHECK(endpoints(list) ==
        strings{"[2001:db8::10]:1", "[::ffff:198.51.100.10]:1", "[::ffff:198.51.100.11]:1"});
  ::freeaddrinfo(list);
}

TEST_CASE("an unknown name is EAI_NONAME and HOST_NOT_FOUND, after asking the server") {
  tendril::patch_all();
  hub_check hub;
  dns_responder server(test_zone());
  servers_for_test servers(server.address());
  addrinfo* list = nullptr;
  CHECK(::getaddrinfo("nosuch.test", "80", nullptr, &list) == EAI_NONAME);
  CHECK(server.queries() >= 1);

  errno = 0;
  h_errno = 0;
  CHECK(::gethostbyname("nosuch.test") == nullptr);
  CHECK(h_errno == HOST_NOT_FOUND);

  hostent entry{};
  hostent* result = &entry;
  char buffer[1024];
  int h_error = 0;
  errno = EINVAL;
  CHECK(::gethostbyname_r("nosuch.test", &entry, buffer, sizeof buffer, &result, &h_error) == 0);
  CHECK(result == nullptr);
  CHECK(h_error == HOST_NOT_FOUND);
  CHECK(errno == 0);  // glibc's _r forms set errno to what they return
}

TEST_CASE("gethostbyname, gethostbyname2 and the _r forms are answered by the fiber's server") {
  tendril::patch_all();
  hub_check hub;
  dns_responder server(test_zone());
  servers_for_test servers(server.address());

  const hostent* h = ::gethostbyname("fiber.test");
  REQUIRE(h != nullptr);
  CHECK(std::string(h->h_name) == "fiber.test");
  CHECK(h->h_aliases[0] == nullptr);
  CHECK(h->h_addrtype == AF_INET);
  CHECK(h->h_length == 4);
  CHECK(host_addresses(h) == strings{"198.51.100.10", "198.51.100.11"});

  h = ::gethostbyname2("fiber.test", AF_INET6);
  REQUIRE(h != nullptr);
  CHECK(h->h_addrtype == AF_INET6);
  CHECK(h->h_length == 16);
  CHECK(host_addresses(h) == strings{"2001:db8::10"});

  hostent entry{};
  hostent* result = nullptr;
  char buffer[1024];
  int h_error = 0;
  CHECK(::gethostbyname_r("v4only.test", &entry, buffer, sizeof buffer, &result, &h_error) == 0);
  REQUIRE(result == &entry);
  CHECK(host_addresses(result) == strings{"198.51.100.20"});

  CHECK(::gethostbyname2_r("v6only.test", AF_INET6, &entry, buffer, sizeof buffer, &result, &h_error) == 0);
  REQUIRE(result == &entry);
  CHECK(host_addresses(result) == strings{"2001:db8::20"});

  // Known, but without an IPv4 address.
  CHECK(::gethostbyname2_r("v6only.test", AF_INET, &entry, buffer, sizeof buffer, &result, &h_error) == 0);
  CHECK(result == nullptr);
  CHECK((h_error == HOST_NOT_FOUND || h_error == NO_DATA));
}

TEST_CASE("a _r buffer too small is ERANGE with NETDB_INTERNAL, and glibc's doubling loop then succeeds") {
  tendril::patch_all();
  hub_check hub;
  dns_responder server(test_zone());
  servers_for_test servers(server.address());
  hostent entry{};
  hostent* result = &entry;
  int h_error = 0;
  char tiny[8];
  errno = 0;
  CHECK(::gethostbyname_r("fiber.test", &entry, tiny, sizeof tiny, &result, &h_error) == ERANGE);
  CHECK(result == nullptr);
  CHECK(h_error == NETDB_INTERNAL);
  CHECK(errno == ERANGE);

  std::vector<char> buffer(8);
  int rc = 0;
  while ((rc = ::gethostbyname2_r("fiber.test", AF_INET, &entry, buffer.data(), buffer.size(), &result,
                                  &h_error)) == ERANGE &&
         h_error == NETDB_INTERNAL)
    buffer.resize(buffer.size() * 2);
  CHECK(rc == 0);
  REQUIRE(result == &entry);
  CHECK(host_addresses(result) == strings{"198.51.100.10", "198.51.100.11"});
}

// --- no server asked --------------------------------------------------------------

TEST_CASE("localhost comes from /etc/hosts, as libc's, with no query") {
  tendril::patch_all();
  hub_check hub;
  dns_responder server(test_zone());
  servers_for_test servers(server.address());
  const addrinfo v4 = hints_of(AF_INET);
  lookup found;
  CHECK_FALSE(through_pool([&] { found = patched("localhost", "80", &v4); }));  // io's resolver answered
  CHECK(found == libc("localhost", "80", &v4));
  const addrinfo stream = hints_of(AF_INET, SOCK_STREAM, 0, AI_PASSIVE);
  CHECK(patched("localhost", "http", &stream) == libc("localhost", "http", &stream));

  hostent entry{};
  hostent* result = nullptr;
  char buffer[1024];
  int h_error = 0;
  CHECK(::gethostbyname_r("localhost", &entry, buffer, sizeof buffer, &result, &h_error) == 0);
  REQUIRE(result != nullptr);
  CHECK(host_addresses(result) == strings{"127.0.0.1"});
  CHECK(server.queries() == 0);
}

TEST_CASE("numeric hosts and services are libc's answers, with no query") {
  tendril::patch_all();
  hub_check hub;
  dns_responder server(test_zone());
  servers_for_test servers(server.address());
  const addrinfo any = hints_of(AF_UNSPEC);
  const addrinfo passive = hints_of(AF_UNSPEC, SOCK_STREAM, 0, AI_PASSIVE);
  const addrinfo numeric_service = hints_of(AF_UNSPEC, 0, 0, AI_NUMERICSERV);
  const addrinfo numeric_host = hints_of(AF_UNSPEC, 0, 0, AI_NUMERICHOST);
  for (const char* node : {"198.51.100.1", "::1", "127.1", "0x7f.1", "fe80::1%1", "*"}) {
    for (const char* service : {"80", "http", static_cast<const char*>(nullptr)}) {
      INFO("node " << node << " service " << (service ? service : "null"));
      CHECK(patched(node, service, &any) == libc(node, service, &any));
      CHECK(patched(node, service, &numeric_service) == libc(node, service, &numeric_service));
      CHECK(patched(node, service, nullptr) == libc(node, service, nullptr));
    }
  }
  CHECK(patched(nullptr, "8080", &passive) == libc(nullptr, "8080", &passive));
  CHECK(patched(nullptr, nullptr, &passive).result == EAI_NONAME);
  CHECK(patched("fiber.test", "80", &numeric_host).result == EAI_NONAME);
  CHECK(patched("", "80", &any).result == EAI_NONAME);

  hostent entry{};
  hostent* result = nullptr;
  char buffer[1024];
  int h_error = 0;
  CHECK(::gethostbyname_r("198.51.100.7", &entry, buffer, sizeof buffer, &result, &h_error) == 0);
  REQUIRE(result != nullptr);
  CHECK(std::string(result->h_name) == "198.51.100.7");
  CHECK(server.queries() == 0);
}

// --- freeing ----------------------------------------------------------------------

TEST_CASE("either freeaddrinfo frees either getaddrinfo's list, and any tail of it") {
  tendril::patch_all();
  hub_check hub;
  dns_responder server(test_zone());
  servers_for_test servers(server.address());
  const addrinfo any = hints_of(AF_UNSPEC);
  addrinfo* list = nullptr;
  REQUIRE(::getaddrinfo("fiber.test", "80", &any, &list) == 0);
  original::freeaddrinfo(list);  // libc's free of patch's nodes: ASan checks it

  REQUIRE(::getaddrinfo("fiber.test", "80", &any, &list) == 0);
  addrinfo* tail = list->ai_next;
  list->ai_next = nullptr;
  ::freeaddrinfo(list);
  ::freeaddrinfo(tail);

  REQUIRE(original::getaddrinfo("localhost", "80", &any, &list) == 0);
  ::freeaddrinfo(list);
  const addrinfo canonical = hints_of(AF_UNSPEC, 0, 0, AI_CANONNAME);
  REQUIRE(::getaddrinfo("localhost", "80", &canonical, &list) == 0);
  CHECK(list->ai_canonname != nullptr);
  ::freeaddrinfo(list);
}

// --- cancellation and failures ----------------------------------------------------

TEST_CASE(
    "a kill of a fiber waiting in getaddrinfo gives EAI_SYSTEM with ECANCELED, and completes at its next "
    "park") {
  tendril::patch_all();
  hub_check hub;
  fd_leak_check fds;
  silent_server quiet;
  servers_for_test servers(quiet.address());
  std::vector<int> results;
  std::vector<int> errors;
  bool unwound = false;
  task<void> client = spawn([&] {
    tendril::testing::unwind_flag flag{unwound};
    addrinfo* list = nullptr;
    for (int tries = 0; tries < 2; ++tries) {  // the second fails at once: the interrupt is kept
      errno = 0;
      results.push_back(::getaddrinfo("fiber.test", "80", nullptr, &list));
      errors.push_back(errno);
    }
    hostent entry{};
    hostent* result = nullptr;
    char buffer[256];
    int h_error = 0;
    results.push_back(::gethostbyname_r("fiber.test", &entry, buffer, sizeof buffer, &result, &h_error));
    errors.push_back(errno);
    results.push_back(h_error);
    tendril::yield();  // the kill is raised here
    FAIL("the kill did not end the task");
  });
  tendril::yield();  // the client parks in getaddrinfo
  CHECK(client.kill());
  CHECK(client.killed());
  CHECK(unwound);
  CHECK(results == std::vector<int>{EAI_SYSTEM, EAI_SYSTEM, ECANCELED, NETDB_INTERNAL});
  CHECK(errors == std::vector<int>{ECANCELED, ECANCELED, ECANCELED});
}

TEST_CASE("an expired timeout scope ends gethostbyname with NETDB_INTERNAL and ECANCELED, then raises") {
  tendril::patch_all();
  hub_check hub;
  fd_leak_check fds;
  silent_server quiet;
  servers_for_test servers(quiet.address());
  int h_error = 0;
  int error = 0;
  bool raised = false;
  task<void> client = spawn([&] {
    try {
      tendril::timeout limit(std::chrono::milliseconds(20));
      h_errno = 0;
      CHECK(::gethostbyname("fiber.test") == nullptr);
      h_error = h_errno;
      error = errno;
      tendril::yield();
    } catch (const tendril::timeout_error&) {
      raised = true;
    }
  });
  client.join();
  CHECK(client.successful());
  CHECK(h_error == NETDB_INTERNAL);
  CHECK(error == ECANCELED);
  CHECK(raised);
}

TEST_CASE("servers that never answer give EAI_AGAIN and TRY_AGAIN once c-ares gives up") {
  tendril::patch_all();
  silent_server quiet;
  const auto outcome = on_new_hub([&] {
    dns::set_servers(quiet.address());
    dns::set_timeout(std::chrono::milliseconds(20), 1);
    addrinfo* list = nullptr;
    const int gai = ::getaddrinfo("fiber.test", "80", nullptr, &list);
    h_errno = 0;
    const hostent* h = ::gethostbyname("fiber.test");
    return std::vector<int>{gai, h == nullptr ? h_errno : 0, errno};
  });
  CHECK(outcome == std::vector<int>{EAI_AGAIN, TRY_AGAIN, EAGAIN});
}

// --- getnameinfo ------------------------------------------------------------------

TEST_CASE(
    "getnameinfo answers numeric requests at once, and makes a reverse lookup libc's, on the thread pool") {
  tendril::patch_all();
  hub_check hub;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(80);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const auto* sa = reinterpret_cast<const sockaddr*>(&address);
  char host[NI_MAXHOST];
  char serv[NI_MAXSERV];
  char libc_host[NI_MAXHOST];
  char libc_serv[NI_MAXSERV];

  int result = -1;
  CHECK_FALSE(through_pool([&] {
    result = ::getnameinfo(sa, sizeof address, host, sizeof host, serv, sizeof serv,
                           NI_NUMERICHOST | NI_NUMERICSERV);
  }));
  CHECK(result == 0);
  CHECK(std::string(host) == "127.0.0.1");
  CHECK(std::string(serv) == "80");

  CHECK(through_pool(
      [&] { result = ::getnameinfo(sa, sizeof address, host, sizeof host, serv, sizeof serv, 0); }));
  CHECK(result == 0);
  REQUIRE(original::getnameinfo(sa, sizeof address, libc_host, sizeof libc_host, libc_serv, sizeof libc_serv,
                                0) == 0);
  CHECK(std::string(host) == libc_host);
  CHECK(std::string(serv) == libc_serv);
  CHECK(::getnameinfo(sa, sizeof address, host, 2, nullptr, 0, NI_NAMEREQD) ==
        original::getnameinfo(sa, sizeof address, libc_host, 2, nullptr, 0, NI_NAMEREQD));
}

// --- plain threads ----------------------------------------------------------------

TEST_CASE("on a thread without a hub, the lookups are libc's") {
  tendril::patch_all();
  lookup mine;
  lookup theirs;
  std::string host_name;
  std::thread([&] {
    CHECK_FALSE(tendril::patch::enabled());
    const addrinfo v4 = hints_of(AF_INET);
    mine = patched("localhost", "80", &v4);
    theirs = libc("localhost", "80", &v4);
    const hostent* h = ::gethostbyname("localhost");
    if (h != nullptr) host_name = h->h_name;
  }).join();
  CHECK(mine.result == 0);
  CHECK(mine == theirs);
  CHECK(host_name == "localhost");
}

// --- nsswitch.conf's hosts line -------------------------------------------------------------

namespace {

constexpr const char* nsswitch_child = "nsswitch child";
// Tells the child which way its lookups must go: "libc" (the pool) or "io".
constexpr const char* expected_variable = "TENDRIL_TEST_NSSWITCH_EXPECTS";

// run_child(conf, expected) runs this program's "nsswitch child" case in a
// child process whose nsswitch.conf is `conf`; true when it passed.
bool run_child(const std::string& conf, const std::string& expected) {
  std::vector<std::string> variables;
  for (char** v = environ; *v != nullptr; ++v)
    if (std::strncmp(*v, nsswitch_variable, std::strlen(nsswitch_variable)) != 0) variables.emplace_back(*v);
  variables.push_back(std::string(nsswitch_variable) + "=" + conf);
  variables.push_back(std::string(expected_variable) + "=" + expected);
  std::vector<char*> envp;
  for (std::string& v : variables) envp.push_back(v.data());
  envp.push_back(nullptr);
  std::string program = "/proc/self/exe";
  std::string test = nsswitch_child;
  char* argv[] = {program.data(), test.data(), nullptr};
  pid_t child = -1;
  if (::posix_spawn(&child, program.c_str(), nullptr, nullptr, argv, envp.data()) != 0) return false;
  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

}  // namespace

TEST_CASE("lookups are io's only when nsswitch.conf says exactly files dns, else libc's on the thread pool") {
  // patch reads nsswitch.conf once per process: each case runs in a child.
  const auto [hosts_line, expected] = GENERATE(table<std::string, std::string>({
      {"hosts: files mdns4_minimal [NOTFOUND=return] dns myhostname", "libc"},  // Ubuntu's
      {"hosts: files myhostname dns", "libc"},
      {"hosts: files [NOTFOUND=return] dns", "libc"},
      {"hosts: dns files", "libc"},
      {"hosts: files", "libc"},
      {"passwd: files", "libc"},                               // no hosts line
      {"hosts: files dns\nhosts: files resolve dns", "libc"},  // the last line counts
      {"hosts:\tfiles\tdns # c-ares's own", "io"},
  }));
  INFO(hosts_line);
  const temporary_file conf(hosts_line + "\n");
  CHECK(run_child(conf.path(), expected));
}

TEST_CASE("nsswitch child", "[.]") {
  tendril::patch_all();
  hub_check hub;
  const char* expected = std::getenv(expected_variable);
  REQUIRE(expected != nullptr);
  const bool libc_answers = std::string(expected) == "libc";

  // /etc/hosts names, which io's resolver answers without parking: a call
  // that waits for the pool was answered by libc there.
  const addrinfo v4 = hints_of(AF_INET);
  lookup found;
  CHECK(through_pool([&] { found = patched("localhost", "80", &v4); }) == libc_answers);
  CHECK(found == libc("localhost", "80", &v4));

  hostent entry{};
  hostent* result = nullptr;
  char buffer[16];  // libc's answer is laid out again here: too small is still ERANGE
  int h_error = 0;
  int rc = 0;
  CHECK(through_pool([&] {
          rc = ::gethostbyname_r("localhost", &entry, buffer, sizeof buffer, &result, &h_error);
        }) == libc_answers);
  CHECK(rc == ERANGE);
  CHECK(h_error == NETDB_INTERNAL);
  CHECK(result == nullptr);

  const hostent* h = nullptr;
  CHECK(through_pool([&] { h = ::gethostbyname2("localhost", AF_INET); }) == libc_answers);
  REQUIRE(h != nullptr);
  CHECK(std::string(h->h_name) == "localhost");
  CHECK(host_addresses(h) == strings{"127.0.0.1"});

  // A numeric name needs no lookup, whatever nsswitch.conf says.
  CHECK_FALSE(through_pool([&] { h = ::gethostbyname("127.0.0.1"); }));
}
