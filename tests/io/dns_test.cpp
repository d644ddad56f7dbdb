// dns: numeric hosts and /etc/hosts with no server asked; A and AAAA
// records, the family filter, unknown hosts and 1000 concurrent lookups
// against a real dnsmasq; a server that never answers (the deadline, c-ares
// giving up, a kill, a timeout scope), abandoned queries beside live ones,
// set_servers, set_timeout and TENDRIL_DNS_SERVERS. Every test leaves no
// task, watcher, timer or fd behind.

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <exception>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include <tendril/error.hpp>
#include <tendril/hub/hub.hpp>
#include <tendril/hub/join.hpp>
#include <tendril/hub/run.hpp>
#include <tendril/hub/task.hpp>
#include <tendril/hub/timeout.hpp>
#include <tendril/io/dns.hpp>

#include "support/dnsmasq.hpp"
#include "support/fd_count.hpp"
#include "support/hub_fixture.hpp"

namespace {

using namespace std::chrono_literals;
namespace dns = tendril::dns;
using Catch::Matchers::Contains;
using tendril::clock;
using tendril::deadline_after;
using tendril::endpoint;
using tendril::spawn;
using tendril::task;
using tendril::dns::dns_error;
using tendril::dns::family;
using tendril::testing::dnsmasq;
using tendril::testing::fd_leak_check;
using tendril::testing::hub_check;
using tendril::testing::open_fd_count;
using tendril::testing::unwind_flag;
using strings = std::vector<std::string>;

constexpr int many = 1000;

// many_name(i) and many_address(i): the 1000 names of the zone, each with its own address.
std::string many_name(int i) { return "h" + std::to_string(i) + ".test"; }
std::string many_address(int i) { return "10.1." + std::to_string(i / 256) + "." + std::to_string(i % 256); }

std::vector<std::string> test_zone() {
  strings zone = {
      "host-record=v4.test,192.0.2.1",
      "host-record=v6.test,2001:db8::6",
      "host-record=both.test,192.0.2.2,2001:db8::2",
  };
  for (int i = 0; i < many; ++i) zone.push_back("host-record=" + many_name(i) + "," + many_address(i));
  return zone;
}

// text(endpoints) is each endpoint's to_string(), in order.
strings text(const std::vector<endpoint>& endpoints) {
  strings out;
  for (const endpoint& e : endpoints) out.push_back(e.to_string());
  return out;
}

// silent_server is a UDP socket on 127.0.0.1 that nobody reads: queries sent
// to it are never answered (and never refused).
class silent_server {
 public:
  silent_server() : fd_(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) {
    REQUIRE(fd_ >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof addr;
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &length) == 0);
    port_ = ntohs(addr.sin_port);
  }
  silent_server(const silent_server&) = delete;
  silent_server& operator=(const silent_server&) = delete;
  ~silent_server() { ::close(fd_); }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  int fd_;
  std::uint16_t port_ = 0;
};

// environment_variable sets (or unsets) a variable for a scope and restores it.
class environment_variable {
 public:
  environment_variable(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value != nullptr)
      ::setenv(name, value, 1);
    else
      ::unsetenv(name);
  }
  environment_variable(const environment_variable&) = delete;
  environment_variable& operator=(const environment_variable&) = delete;
  ~environment_variable() {
    if (old_)
      ::setenv(name_, old_->c_str(), 1);
    else
      ::unsetenv(name_);
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

// on_new_hub(f) runs f() as tendril::run's main task on a new thread: a hub
// whose resolver starts from the defaults and the environment, and is torn
// down when the thread ends. Returns f's value; rethrows what escaped it.
// Catch2 assertions stay on the test's thread, so f only computes.
template <class F>
auto on_new_hub(F f) {
  using result = decltype(f());
  std::optional<result> value;
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

// idle_watchers() is how many watchers and timers this hub has armed.
std::size_t idle_watchers() { return tendril::this_hub_stats().watchers; }

}  // namespace

// --- no server needed ---------------------------------------------------------

TEST_CASE("a numeric address is returned as is with the port, without a query") {
  hub_check hub;
  fd_leak_check fds;
  silent_server quiet;  // any query would go here and never be answered
  dns::set_servers(quiet.address());
  const clock::time_point passed = clock::now() - 1s;  // a query would time out at once
  CHECK(text(dns::resolve("192.0.2.7", 80, family::any, passed)) == strings{"192.0.2.7:80"});
  CHECK(text(dns::resolve("2001:db8::1", 443, family::any, passed)) == strings{"[2001:db8::1]:443"});
  CHECK(text(dns::resolve("[::1]", 8, family::ipv6, passed)) == strings{"[::1]:8"});
  CHECK(text(dns::resolve("127.0.0.1", 0, family::ipv4, passed)) == strings{"127.0.0.1:0"});
}

TEST_CASE("a numeric address of the other family is a dns_error naming it") {
  hub_check hub;
  CHECK_THROWS_WITH(dns::resolve("127.0.0.1", 0, family::ipv6), "\"127.0.0.1\" is an IPv4 address, not IPv6");
  try {
    dns::resolve("::1", 0, family::ipv4);
    FAIL("no error");
  } catch (const dns_error& e) {
    CHECK(std::string(e.what()) == "\"::1\" is an IPv6 address, not IPv4");
    CHECK(e.host() == "::1");
    CHECK(e.not_found());
    CHECK_FALSE(e.timed_out());
  }
}

TEST_CASE("an empty host name or one with a NUL byte is a dns_error") {
  hub_check hub;
  CHECK_THROWS_WITH(dns::resolve(""), "invalid host name \"\"");
  CHECK_THROWS_AS(dns::resolve(std::string("v4.test\0evil", 12)), dns_error);
}

TEST_CASE("localhost comes from /etc/hosts, with no server asked") {
  hub_check hub;
  fd_leak_check fds;
  silent_server quiet;  // a DNS query would go here and time out
  dns::set_servers(quiet.address());
  const strings found = text(dns::resolve("localhost", 8080, family::ipv4, deadline_after(30s)));
  CHECK_THAT(found, Catch::Matchers::VectorContains(std::string("127.0.0.1:8080")));
}

// --- against dnsmasq ----------------------------------------------------------

TEST_CASE("an A record, with the port; ipv4 and any give the same") {
  dnsmasq server(test_zone());
  hub_check hub;
  fd_leak_check fds;
  dns::set_servers(server.address());
  CHECK(text(dns::resolve("v4.test", 80)) == strings{"192.0.2.1:80"});
  CHECK(text(dns::resolve("v4.test", 81, family::ipv4)) == strings{"192.0.2.1:81"});
}

TEST_CASE("an AAAA record, with the port; ipv6 and any give the same") {
  dnsmasq server(test_zone());
  hub_check hub;
  fd_leak_check fds;
  dns::set_servers(server.address());
  CHECK(text(dns::resolve("v6.test", 443, family::ipv6)) == strings{"[2001:db8::6]:443"});
  CHECK(text(dns::resolve("v6.test", 444)) == strings{"[2001:db8::6]:444"});
}

TEST_CASE("a name with both records: any returns both, the family filter keeps one") {
  dnsmasq server(test_zone());
  hub_check hub;
  fd_leak_check fds;
  dns::set_servers(server.address());
  strings both = text(dns::resolve("both.test", 7));
  std::sort(both.begin(), both.end());
  CHECK(both == strings{"192.0.2.2:7", "[2001:db8::2]:7"});
  CHECK(text(dns::resolve("both.test", 7, family::ipv4)) == strings{"192.0.2.2:7"});
  CHECK(text(dns::resolve("both.test", 7, family::ipv6)) == strings{"[2001:db8::2]:7"});
}

TEST_CASE("a name without an address of the family asked for is a not_found dns_error naming it") {
  dnsmasq server(test_zone());
  hub_check hub;
  fd_leak_check fds;
  dns::set_servers(server.address());
  try {
    dns::resolve("v4.test", 0, family::ipv6);
    FAIL("no error");
  } catch (const dns_error& e) {
    CHECK(std::string(e.what()) == "host \"v4.test\" has no IPv6 address");
    CHECK(e.host() == "v4.test");
    CHECK(e.not_found());
    CHECK_FALSE(e.timed_out());
  }
}

TEST_CASE("an unknown host is a dns_error naming the host") {
  dnsmasq server(test_zone());
  hub_check hub;
  fd_leak_check fds;
  dns::set_servers(server.address());
  try {
    dns::resolve("nosuch.test");
    FAIL("no error");
  } catch (const dns_error& e) {
    CHECK(std::string(e.what()) == "unknown host \"nosuch.test\"");
    CHECK(e.host() == "nosuch.test");
    CHECK(e.not_found());
    CHECK_FALSE(e.timed_out());
  }
}

// 1000 lookups of A and AAAA are 2000 datagrams sent at once, more than a
// local dnsmasq's default UDP receive buffer holds (rmem_default 208 KiB):
// it drops some, and c-ares sends those again when a try times out. This
// test gives it a 500 ms try and 6 tries (31 s in all, doubling per round)
// so every lookup is answered however many are dropped, on a hub of its own
// (the settings belong to the hub).
TEST_CASE("1000 concurrent lookups from 1000 tasks each get their own address") {
  dnsmasq server(test_zone());
  fd_leak_check fds;
  struct outcome {
    strings found;
    std::size_t watchers_after;
  };
  const outcome result = on_new_hub([&] {
    dns::set_servers(server.address());
    dns::set_timeout(500ms, 6);
    std::vector<task<std::string>> lookups;
    for (int i = 0; i < many; ++i)
      lookups.push_back(spawn([i] {
        const std::vector<endpoint> found = dns::resolve(many_name(i), 0, family::any, deadline_after(60s));
        return found.size() == 1 ? found[0].address() : "not one address: " + std::to_string(found.size());
      }));
    tendril::joinall(lookups);
    outcome o;
    for (auto& t : lookups) o.found.push_back(t.get());
    o.watchers_after = idle_watchers();
    return o;
  });
  strings expected;
  for (int i = 0; i < many; ++i) expected.push_back(many_address(i));
  CHECK(result.found == expected);
  CHECK(result.watchers_after == 0);
}

// --- a server that never answers ------------------------------------------------

TEST_CASE("a server that never answers: the deadline ends the lookup with dns_error timed_out") {
  hub_check hub;
  fd_leak_check fds;
  silent_server quiet;
  dns::set_servers(quiet.address());
  try {
    dns::resolve("quiet.test", 0, family::any, deadline_after(100ms));
    FAIL("no error");
  } catch (const dns_error& e) {
    CHECK(e.timed_out());
    CHECK(e.host() == "quiet.test");
    CHECK_FALSE(e.not_found());
    CHECK_THAT(e.what(), Contains("lookup of \"quiet.test\" timed out after") && Contains(quiet.address()));
  }
  // hub_check: the abandoned query was cancelled, so no watcher or timer is left.
}

TEST_CASE("a server that never answers: c-ares gives up after its tries with dns_error timed_out") {
  silent_server quiet;
  fd_leak_check fds;
  const std::string what = on_new_hub([&] {
    dns::set_servers(quiet.address());
    dns::set_timeout(20ms, 2);
    try {
      dns::resolve("quiet.test", 0, family::ipv4);
      return std::string("no error");
    } catch (const dns_error& e) {
      return std::string(e.timed_out() ? "timed out: " : "other: ") + e.what();
    }
  });
  CHECK_THAT(
      what,
      Contains("timed out: lookup of \"quiet.test\" timed out: c-ares gave up after 2 unanswered tries") &&
          Contains(quiet.address()));
}

TEST_CASE("a lookup whose deadline passes leaves the other lookups of the channel alone") {
  dnsmasq server(test_zone());
  silent_server quiet;
  fd_leak_check fds;
  struct outcome {
    std::string abandoned;
    strings other;
    std::size_t watchers_after;
  };
  // Every query goes to the silent server first and, after c-ares's 200 ms
  // try, to dnsmasq. The lookup whose deadline has already passed gives up
  // at once; its query stays in the channel (ares_cancel would end the other
  // one too) and its late answer is dropped.
  const outcome result = on_new_hub([&] {
    dns::set_servers(quiet.address() + "," + server.address());
    dns::set_timeout(200ms, 4);
    task<strings> other = spawn([] { return text(dns::resolve("v4.test", 1, family::ipv4)); });
    tendril::yield();  // `other` has sent its query and parks
    outcome o;
    try {
      dns::resolve("v6.test", 2, family::ipv6, clock::now());
      o.abandoned = "no error";
    } catch (const dns_error& e) {
      o.abandoned = e.timed_out() ? "timed out" : e.what();
    }
    o.other = other.get();
    o.watchers_after = idle_watchers();
    return o;
  });
  CHECK(result.abandoned == "timed out");
  CHECK(result.other == strings{"192.0.2.1:1"});
  CHECK(result.watchers_after == 0);
}

TEST_CASE("killing a task during a lookup unwinds it and leaves nothing behind") {
  hub_check hub;
  fd_leak_check fds;
  silent_server quiet;
  dns::set_servers(quiet.address());
  bool unwound = false;
  task<std::vector<endpoint>> lookup = spawn([&] {
    unwind_flag flag{unwound};
    return dns::resolve("quiet.test");
  });
  tendril::yield();  // it parks in resolve
  CHECK_FALSE(lookup.ready());
  CHECK(lookup.kill());
  CHECK(lookup.killed());
  CHECK(unwound);
  CHECK_THROWS_AS(lookup.get(), tendril::task_killed);
  // hub_check: no watcher or timer is left for the abandoned query.
}

TEST_CASE("a killed lookup's answer arriving while another lookup waits is dropped") {
  dnsmasq server(test_zone());
  hub_check hub;
  fd_leak_check fds;
  dns::set_servers(server.address());
  task<strings> killed = spawn([] { return text(dns::resolve("v4.test")); });
  task<strings> other = spawn([] { return text(dns::resolve("both.test", 0, family::ipv6)); });
  tendril::yield();  // both have sent their queries
  CHECK(killed.kill());
  CHECK(killed.killed());
  CHECK(other.get() == strings{"[2001:db8::2]:0"});
}

TEST_CASE("a timeout scope interrupts a lookup with timeout_error") {
  hub_check hub;
  fd_leak_check fds;
  silent_server quiet;
  dns::set_servers(quiet.address());
  bool timed_out = false;
  try {
    tendril::timeout limit(50ms);
    dns::resolve("quiet.test");
  } catch (const tendril::timeout_error&) {
    timed_out = true;
  }
  CHECK(timed_out);
}

TEST_CASE("a thread that ends with a lookup in flight unwinds it and closes the channel's sockets") {
  silent_server quiet;
  const std::size_t before = open_fd_count();
  bool unwound = false;
  std::exception_ptr failure;
  std::thread([&] {
    try {
      dns::set_servers(quiet.address());
      // Never joined: the hub kills it when the thread ends, then destroys
      // its resolver.
      spawn([&] {
        unwind_flag flag{unwound};
        dns::resolve("quiet.test");
      });
      tendril::yield();  // it parks in resolve
    } catch (...) {
      failure = std::current_exception();
    }
  }).join();
  CHECK(tendril::testing::what_of(failure) == "no exception");
  CHECK(unwound);
  CHECK(open_fd_count() == before);
}

// --- configuration --------------------------------------------------------------

TEST_CASE("set_servers replaces the servers and \"\" goes back to resolv.conf's") {
  dnsmasq server(test_zone());
  hub_check hub;
  fd_leak_check fds;
  environment_variable unset("TENDRIL_DNS_SERVERS", nullptr);
  const std::string resolv_conf = on_new_hub([] { return dns::servers(); });
  dns::set_servers(server.address());
  CHECK(dns::servers() == server.address());
  CHECK(text(dns::resolve("v4.test")) == strings{"192.0.2.1:0"});
  dns::set_servers("127.0.0.1:5353,[::1]:53");
  CHECK(dns::servers() == "127.0.0.1:5353,[::1]:53");
  dns::set_servers("");
  CHECK(dns::servers() == resolv_conf);
}

TEST_CASE("set_servers rejects a list c-ares cannot read, naming it, and keeps the servers") {
  hub_check hub;
  dns::set_servers("127.0.0.1:5353");
  CHECK_THROWS_WITH(dns::set_servers("no such server"), Contains("dns::set_servers(\"no such server\")"));
  CHECK(dns::servers() == "127.0.0.1:5353");
}

TEST_CASE("set_servers and set_timeout refuse while a lookup waits, naming the count") {
  hub_check hub;
  fd_leak_check fds;
  silent_server quiet;
  dns::set_servers(quiet.address());
  task<void> lookup = spawn([] { dns::resolve("quiet.test"); });
  tendril::yield();  // it parks in resolve
  CHECK_THROWS_WITH(dns::set_servers("127.0.0.1"), Contains("1 DNS lookup(s) of this hub are waiting"));
  CHECK_THROWS_WITH(dns::set_timeout(1s, 1), Contains("1 DNS lookup(s) of this hub are waiting"));
  CHECK(lookup.kill());
}

TEST_CASE("set_timeout rejects a timeout that is not positive and fewer than one try") {
  hub_check hub;
  CHECK_THROWS_WITH(dns::set_timeout(0ms, 1), Contains("dns::set_timeout(0 ms, 1 tries)"));
  CHECK_THROWS_WITH(dns::set_timeout(1s, 0), Contains("dns::set_timeout(1000 ms, 0 tries)"));
}

TEST_CASE("TENDRIL_DNS_SERVERS sets the servers of every new hub's channel") {
  dnsmasq server(test_zone());
  fd_leak_check fds;
  environment_variable env("TENDRIL_DNS_SERVERS", server.address().c_str());
  auto look_up = [] { return std::make_pair(dns::servers(), text(dns::resolve("v4.test", 9))); };
  const auto first = on_new_hub(look_up);
  const auto second = on_new_hub(look_up);
  CHECK(first.first == server.address());
  CHECK(first.second == strings{"192.0.2.1:9"});
  CHECK(second == first);
}

TEST_CASE("a TENDRIL_DNS_SERVERS that c-ares cannot read is an error naming the variable") {
  environment_variable env("TENDRIL_DNS_SERVERS", "no such server");
  const std::string what = on_new_hub([] {
    try {
      dns::resolve("v4.test");
      return std::string("no error");
    } catch (const tendril::error& e) {
      return std::string(e.what());
    }
  });
  CHECK_THAT(what, Contains("TENDRIL_DNS_SERVERS=\"no such server\""));
}
