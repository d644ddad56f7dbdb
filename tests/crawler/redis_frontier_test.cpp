// The Redis frontier (examples/crawler/redis_frontier.cpp) against a real
// Redis (support/redis.hpp), with patch_all() on: hiredis's blocking calls
// park the fibers. Two frontier objects on one key stand for two crawler
// processes; the last test runs two real crawler processes.

#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdarg>
#include <cstddef>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <catch2/catch.hpp>

#include <tendril/error.hpp>
#include <tendril/hub/join.hpp>
#include <tendril/hub/run.hpp>
#include <tendril/hub/sleep.hpp>
#include <tendril/hub/task.hpp>
#include <tendril/hub/timeout.hpp>
#include <tendril/io/endpoint.hpp>
#include <tendril/io/http_server.hpp>
#include <tendril/patch.hpp>
#include <tendril/sync/event.hpp>

#include "frontier.hpp"
#include "site.hpp"
#include "support/fd_count.hpp"
#include "support/hiredis_client.hpp"
#include "support/hub_fixture.hpp"
#include "support/modes.hpp"
#include "support/no_proxy.hpp"
#include "support/redis.hpp"
#include "support/scratch.hpp"
#include "support/spawn_attributes.hpp"

namespace {

using namespace std::chrono_literals;
using Catch::Matchers::Contains;
using crawler::frontier;
using crawler::frontier_item;
using tendril::spawn;
using tendril::task;
using tendril::testing::fd_leak_check;
using tendril::testing::hub_check;

// server() is the Redis server of this process, started by the first test
// that asks and stopped at exit. Each test uses keys of its own.
tendril::testing::redis& server() {
  static tendril::testing::redis s;
  return s;
}

// spec_of(key) is the spec of `key` on server(): a key used by no other test.
std::string spec_of(const std::string& key) {
  return "redis://127.0.0.1:" + std::to_string(server().port()) + "/" + key;
}

std::unique_ptr<frontier> make(const std::string& key, std::size_t max_pages = 0,
                               std::size_t connections = 2) {
  return crawler::make_redis_frontier(spec_of(key), max_pages, connections);
}

std::vector<std::string> urls(std::initializer_list<const char*> paths) {
  std::vector<std::string> u;
  for (const char* p : paths) u.push_back(std::string("http://example.test/") + p);
  return u;
}
std::string url(const char* path) { return std::string("http://example.test/") + path; }

using tendril::testing::redis_connection;
using tendril::testing::redis_reply;

// observer() is a connection of the test's own, to look at the keys.
redis_connection observer() { return tendril::testing::redis_connect(server()); }
constexpr auto command = &tendril::testing::redis_command;

std::string text_of(const redis_reply& r) { return std::string(r->str, r->len); }

// error_of(f) is the what() of the tendril::error that f() throws, or ""
// when it throws none (any other exception goes through).
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const tendril::error& e) {
    return e.what();
  }
  return "";
}

// test_body(f) runs f as tendril::run's main task, with patching on, and
// checks that it leaves the hub and the fds as it found them (the frontier
// closes its connections when it goes).
template <class F>
void test_body(F&& f) {
  tendril::patch_all();
  server();
  hub_check check;
  fd_leak_check fds;
  tendril::run(std::forward<F>(f));
}

}  // namespace

TEST_CASE("take hands out what add queued oldest first and the crawl is over when every item is done") {
  test_body([] {
    auto f = make("basic");
    CHECK(f->add(urls({"a", "b"}), 0) == 2);
    CHECK(f->add(urls({"c"}), 1) == 1);
    CHECK(f->queued() == 3);
    CHECK(f->seen() == 3);
    CHECK(f->in_flight() == 0);
    const std::optional<frontier_item> a = f->take();
    const std::optional<frontier_item> b = f->take();
    const std::optional<frontier_item> c = f->take();
    REQUIRE(a);
    REQUIRE(b);
    REQUIRE(c);
    CHECK(a->url == url("a"));
    CHECK(a->depth == 0);
    CHECK(b->url == url("b"));
    CHECK(c->url == url("c"));
    CHECK(c->depth == 1);
    CHECK(f->queued() == 0);
    CHECK(f->in_flight() == 3);
    f->done(*a);
    f->done(*c);
    f->done(*b);
    CHECK(f->in_flight() == 0);
    CHECK(f->seen() == 3);
    CHECK_FALSE(f->take());
  });
}

TEST_CASE("add queues only urls never seen before and says how many") {
  test_body([] {
    auto f = make("dedup");
    CHECK(f->add(urls({"x", "x", "y"}), 0) == 2);
    CHECK(f->add(urls({"y", "z"}), 0) == 1);
    CHECK(f->add({}, 0) == 0);
    const std::optional<frontier_item> x = f->take();
    REQUIRE(x);
    f->done(*x);
    CHECK(f->add(urls({"x"}), 3) == 0);  // fetched already
    CHECK(f->seen() == 3);
    CHECK(f->queued() == 2);
  });
}

TEST_CASE("a url marked seen is never queued and counts as seen") {
  test_body([] {
    auto f = make("marked");
    f->mark_seen(urls({"x"}).front());
    f->mark_seen(urls({"x"}).front());  // again: no harm (a resend after a lost reply)
    CHECK(f->add(urls({"x", "y"}), 0) == 1);
    CHECK(f->seen() == 2);
    CHECK(f->queued() == 1);
  });
}

TEST_CASE("a host name and a key with colons and slashes are accepted") {
  test_body([] {
    auto f = crawler::make_redis_frontier(
        "redis://localhost:" + std::to_string(server().port()) + "/crawl:2024/names", 0, 1);
    CHECK(f->add(urls({"a"}), 0) == 1);
    CHECK(f->queued() == 1);
  });
}

TEST_CASE("the frontier keeps its state in the documented keys") {
  test_body([] {
    auto f = make("keys");
    f->add(urls({"a", "b"}), 2);
    const std::optional<frontier_item> a = f->take();
    REQUIRE(a);
    redis_connection o = observer();
    CHECK(text_of(command(o.get(), "TYPE keys:queue")) == "list");
    CHECK(text_of(command(o.get(), "LINDEX keys:queue 0")) == "2 " + url("b"));
    CHECK(command(o.get(), "SISMEMBER keys:seen %s", url("a").c_str())->integer == 1);
    CHECK(command(o.get(), "SCARD keys:seen")->integer == 2);
    // The holder: host:pid/instance#take.
    const std::string holder = text_of(command(o.get(), "HGET keys:inflight %s", ("2 " + url("a")).c_str()));
    CHECK_THAT(holder, Contains(":" + std::to_string(::getpid()) + "/"));
    CHECK_THAT(holder, Contains("#"));
    CHECK(command(o.get(), "EXISTS keys:progress")->integer == 1);
    f->done(*a);
    CHECK(command(o.get(), "HLEN keys:inflight")->integer == 0);
  });
}

TEST_CASE("two frontiers on one key share the queue and the seen set as two processes would") {
  test_body([] {
    auto a = make("shared");
    auto b = make("shared");
    CHECK(a->add(urls({"1", "2"}), 0) == 2);
    CHECK(b->add(urls({"2", "3"}), 0) == 1);
    const std::optional<frontier_item> one = b->take();
    const std::optional<frontier_item> two = a->take();
    REQUIRE(one);
    REQUIRE(two);
    CHECK(one->url == url("1"));
    CHECK(two->url == url("2"));
    CHECK(a->seen() == 3);
    CHECK(b->in_flight() == 2);
    // An item may be finished through either: the state is Redis's.
    b->done(*two);
    a->done(*one);
    const std::optional<frontier_item> three = a->take();
    REQUIRE(three);
    a->done(*three);
    CHECK_FALSE(a->take());
    CHECK_FALSE(b->take());
  });
}

TEST_CASE("take parks while another process's fetch is in flight and returns what that fetch adds") {
  test_body([] {
    auto a = make("parks");
    auto b = make("parks");
    a->add(urls({"start"}), 0);
    const std::optional<frontier_item> start = a->take();
    REQUIRE(start);
    task<std::optional<frontier_item>> waiter = spawn([&] { return b->take(); });
    tendril::sleep(50ms);  // a few polls
    CHECK_FALSE(waiter.ready());
    a->add(urls({"next"}), 1);
    a->done(*start);
    const std::optional<frontier_item> next = waiter.get();
    REQUIRE(next);
    CHECK(next->url == url("next"));
    CHECK(next->depth == 1);
    b->done(*next);
    CHECK_FALSE(a->take());
  });
}

TEST_CASE("every waiting take returns nullopt once the last fetch in flight is done") {
  test_body([] {
    auto a = make("over");
    auto b = make("over", 0, 3);
    a->add(urls({"only"}), 0);
    const std::optional<frontier_item> only = a->take();
    REQUIRE(only);
    std::vector<task<std::optional<frontier_item>>> waiters;
    for (int i = 0; i < 5; ++i) waiters.push_back(spawn([&] { return b->take(); }));
    tendril::sleep(30ms);
    for (auto& w : waiters) CHECK_FALSE(w.ready());
    a->done(*only);
    for (auto& w : waiters) CHECK_FALSE(w.get());
  });
}

TEST_CASE("max_pages caps the urls ever seen by every process of the crawl") {
  test_body([] {
    auto a = make("budget", 3);
    auto b = make("budget", 3);
    CHECK(a->add(urls({"1", "2"}), 0) == 2);
    CHECK(b->add(urls({"2", "3", "4", "5"}), 0) == 1);  // "2" is seen; "3" is the last one allowed
    CHECK(a->add(urls({"6"}), 0) == 0);
    CHECK(a->seen() == 3);
    CHECK(b->queued() == 3);
  });
}

TEST_CASE("close ends the waiting takes at once and later takes return nullopt") {
  test_body([] {
    auto f = make("close");
    f->add(urls({"held", "queued"}), 0);
    const std::optional<frontier_item> held = f->take();
    REQUIRE(held);
    auto other = make("close");
    const std::optional<frontier_item> queued = other->take();  // another process holds this one
    REQUIRE(queued);
    std::vector<task<std::optional<frontier_item>>> waiters;
    for (int i = 0; i < 3; ++i) waiters.push_back(spawn([&] { return f->take(); }));
    tendril::sleep(200ms);  // the backoff is at its longest, 50 ms
    for (auto& w : waiters) CHECK_FALSE(w.ready());
    f->close();  // wakes them: they wait on an event, not in a sleep
    for (auto& w : waiters) CHECK_FALSE(w.get());
    other->add(urls({"later"}), 1);
    CHECK_FALSE(f->take());  // closed here; "later" is queued for the other process
    CHECK(f->queued() == 1);
    f->done(*held);
    other->done(*queued);
  });
}

TEST_CASE("done of an item that is not in flight is an error naming it") {
  test_body([] {
    auto f = make("done-twice");
    f->add(urls({"a"}), 0);
    const std::optional<frontier_item> a = f->take();
    REQUIRE(a);
    CHECK_THROWS_WITH(f->done(frontier_item{a->url, 7}), Contains(url("a")) && Contains("not in flight"));
    f->done(*a);
    CHECK_THROWS_WITH(f->done(*a), Contains(url("a")) && Contains("not in flight"));
  });
}

TEST_CASE("a malformed spec is a tendril error naming it") {
  const std::string spec =
      GENERATE(as<std::string>{}, "", "redis:/", "http://127.0.0.1:6379/k", "REDIS://h/k",
               "redis://127.0.0.1:6379", "redis://127.0.0.1:6379/", "redis://:6379/k", "redis://127.0.0.1:/k",
               "redis://127.0.0.1:0/k", "redis://127.0.0.1:65536/k", "redis://127.0.0.1:6x79/k",
               "redis://127.0.0.1:+6379/k", "redis://127.0.0.1:6379:1/k", "redis://[::1]:6379/k",
               "redis://u@h:6379/k", "redis://h:6379/k?db=1", "redis://h:6379/k#f", "redis://h:6379/a key");
  INFO("spec: " << spec);
  CHECK_THAT(error_of([&] { crawler::make_redis_frontier(spec, 0, 1); }),
             Contains("malformed Redis frontier \"" + spec + "\""));
}

TEST_CASE("an unreachable Redis is a tendril error naming its address") {
  test_body([] {
    const std::string port = std::to_string(tendril::testing::free_tcp_port("unreachable redis"));
    CHECK_THAT(error_of([&] { crawler::make_redis_frontier("redis://127.0.0.1:" + port + "/k", 0, 1); }),
               Contains("cannot connect to Redis at 127.0.0.1:" + port));
  });
}

TEST_CASE("without a port the frontier connects to 6379") {
  test_body([] {
    // Debian's own redis-server may or may not listen there: either way
    // the address tried is 6379.
    try {
      crawler::make_redis_frontier("redis://127.0.0.1/k", 0, 1);
    } catch (const tendril::error& e) {
      CHECK_THAT(e.what(), Contains("127.0.0.1:6379"));
    }
  });
}

TEST_CASE("a frontier needs at least one connection") {
  test_body([] { CHECK_THROWS_AS(make("no-connections", 0, 0), tendril::error); });
}

TEST_CASE("fifty fibers taking and adding at once over four connections lose and duplicate nothing") {
  tendril::patch_all();
  server();
  tendril::testing::mode m = tendril::testing::every_mode();
  constexpr std::size_t items = 600;
  constexpr std::size_t fibers = 50;
  static int runs = 0;  // one key per mode
  const std::string key = "fifty-" + std::to_string(++runs);
  std::vector<std::atomic<int>> taken(items);
  std::map<std::string, int> clients_by_name;
  m.run([&] {
    auto f = make(key, 0, 4);
    f->add({"u/0"}, 0);
    std::vector<task<void>> workers;
    for (std::size_t w = 0; w < fibers; ++w)
      workers.push_back(m.spawn_on(w, [&] {
        while (std::optional<frontier_item> item = f->take()) {
          const std::size_t i = std::stoul(item->url.substr(2));
          taken[i].fetch_add(1);
          // Its tree children, its parent and the root: most are seen already.
          std::vector<std::string> links{"u/0", "u/" + std::to_string(i / 2)};
          for (std::size_t child : {2 * i + 1, 2 * i + 2})
            if (child < items) links.push_back("u/" + std::to_string(child));
          f->add(links, item->depth + 1);
          f->done(*item);
        }
      }));
    tendril::joinall(workers);
    for (task<void>& w : workers) w.get();
    CHECK(f->seen() == items);
    CHECK(f->in_flight() == 0);
    redis_connection o = observer();
    redis_reply list = command(o.get(), "CLIENT LIST");
    const std::string text = text_of(list);
    for (std::size_t at = text.find(" name="); at != std::string::npos; at = text.find(" name=", at + 1)) {
      const std::size_t end = text.find(' ', at + 1);
      ++clients_by_name[text.substr(at + 6, end - at - 6)];
    }
  });
  std::vector<std::size_t> not_once;
  for (std::size_t i = 0; i < items; ++i)
    if (taken[i].load() != 1) not_once.push_back(i);
  CHECK(not_once.empty());
  // Every frontier of this process (this one, and any of earlier tests
  // that Redis has not seen go yet) holds at most its 4 connections.
  int most = 0;
  for (const auto& [name, count] : clients_by_name)
    if (name.starts_with("tendril-crawler:")) most = std::max(most, count);
  CHECK(most == 4);
}

TEST_CASE("a take gives up after the idle limit when a process died mid-fetch and names it") {
  test_body([] {
    auto dead = make("dead");
    dead->add(urls({"a", "b"}), 0);
    REQUIRE(dead->take());
    dead.reset();  // as its process would: without done()
    auto live = crawler::make_redis_frontier(spec_of("dead"), 0, 1, 300ms);
    const std::optional<frontier_item> b = live->take();
    REQUIRE(b);
    live->done(*b);
    const auto started = tendril::clock::now();
    CHECK_THAT(error_of([&] { live->take(); }), Contains("no progress for") && Contains("1 taken by") &&
                                                    Contains(":" + std::to_string(::getpid()) + "/"));
    CHECK(tendril::clock::now() - started >= 300ms);
  });
}

TEST_CASE("a take waits past the idle limit while the fetch in flight is its own process's") {
  test_body([] {
    auto f = crawler::make_redis_frontier(spec_of("slow-own"), 0, 2, 100ms);
    f->add(urls({"slow"}), 0);
    const std::optional<frontier_item> slow = f->take();
    REQUIRE(slow);
    task<std::optional<frontier_item>> waiter = spawn([&] { return f->take(); });
    tendril::sleep(400ms);
    CHECK_FALSE(waiter.ready());
    f->done(*slow);
    CHECK_FALSE(waiter.get());
  });
}

TEST_CASE("a kill ends a waiting take and gives its connection back") {
  test_body([] {
    auto f = make("kill-wait", 0, 1);
    f->add(urls({"held"}), 0);
    const std::optional<frontier_item> held = f->take();
    REQUIRE(held);
    task<std::optional<frontier_item>> waiter = spawn([&] { return f->take(); });
    tendril::sleep(30ms);
    CHECK(waiter.kill());
    CHECK(waiter.killed());
    f->done(*held);  // the only connection is free again
    CHECK_FALSE(f->take());
  });
}

TEST_CASE("a kill of a fiber waiting for Redis's reply closes that connection and raises the kill") {
  test_body([] {
    auto f = make("kill-reply", 0, 1);
    f->add(urls({"held"}), 0);
    const std::optional<frontier_item> held = f->take();
    REQUIRE(held);
    // A script that keeps Redis busy for 500 ms: the take sent meanwhile
    // waits for its reply, parked in read(). (Were the machine so slow that
    // the script started after the take's command, the kill would find the
    // take in its backoff instead, and the test would pass that way.)
    redis_connection busy_connection = observer();
    task<void> busy = spawn([&] {
      command(busy_connection.get(), "EVAL %s 0",
              "local t = redis.call('TIME') local start = t[1] * 1000000 + t[2] "
              "repeat t = redis.call('TIME') until t[1] * 1000000 + t[2] - start > 500000 return 0");
    });
    tendril::sleep(50ms);
    bool unwound = false;
    task<std::optional<frontier_item>> taker = spawn([&] {
      tendril::testing::unwind_flag flag{unwound};
      return f->take();
    });
    tendril::sleep(50ms);
    CHECK_FALSE(taker.ready());
    CHECK(taker.kill());
    CHECK(taker.killed());
    CHECK(unwound);
    busy.get();
    f->done(*held);  // on a new connection
    CHECK_FALSE(f->take());
  });
}

TEST_CASE("a take inside an expired timeout scope raises timeout_error") {
  test_body([] {
    auto f = make("timeout", 0, 1);
    f->add(urls({"held"}), 0);
    const std::optional<frontier_item> held = f->take();
    REQUIRE(held);
    bool timed_out = false;
    try {
      tendril::timeout scope(50ms);
      f->take();
    } catch (const tendril::timeout_error&) {
      timed_out = true;
    }
    CHECK(timed_out);
    f->done(*held);
  });
}

TEST_CASE("a connection Redis closed is made again and the command sent again") {
  test_body([] {
    auto f = make("reconnect", 0, 2);
    f->add(urls({"a", "b"}), 0);
    redis_connection o = observer();
    // Every client but the observer: the frontier's connections.
    CHECK(command(o.get(), "CLIENT KILL TYPE normal SKIPME yes")->integer >= 1);
    const std::optional<frontier_item> a = f->take();
    REQUIRE(a);
    CHECK(a->url == url("a"));
    CHECK(command(o.get(), "CLIENT KILL TYPE normal SKIPME yes")->integer >= 1);
    f->done(*a);
    CHECK(f->in_flight() == 0);
    CHECK(f->queued() == 1);
  });
}

TEST_CASE("a Redis that went away is a tendril error naming its address") {
  test_body([] {
    auto own = std::make_unique<tendril::testing::redis>();
    const std::string address = "127.0.0.1:" + std::to_string(own->port());
    auto f = crawler::make_redis_frontier("redis://" + address + "/gone", 0, 1);
    f->add(urls({"a"}), 0);
    own.reset();
    CHECK_THAT(error_of([&] { f->queued(); }), Contains(address));
    CHECK_THAT(error_of([&] { f->take(); }), Contains(address));
  });
}

#ifdef TENDRIL_CRAWLER_PROGRAM

namespace {

// crawler_process runs the crawler program with `args`, its stdout and
// stderr in files of `dir` (read once it has exited: no pipe to keep
// drained meanwhile), and kills it if it is still running when it goes.
class crawler_process {
 public:
  crawler_process(const tendril::testing::scratch_dir& dir, const std::string& name,
                  const std::vector<std::string>& args)
      : out_(dir.file(name + ".out")), err_(dir.file(name + ".err")) {
    std::vector<std::string> words{TENDRIL_CRAWLER_PROGRAM};
    words.insert(words.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (std::string& w : words) argv.push_back(w.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, out_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addopen(&actions, 2, err_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    const tendril::testing::default_signal_spawn attributes;
    const int failed = ::posix_spawn(&pid_, argv[0], &actions, attributes.get(), argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (failed != 0) throw std::runtime_error("cannot start " + words[0] + ": " + std::strerror(failed));
    started_pid_ = pid_;
  }
  crawler_process(const crawler_process&) = delete;
  crawler_process& operator=(const crawler_process&) = delete;
  ~crawler_process() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
    }
  }

  pid_t pid() const noexcept { return started_pid_; }
  /// exited() is true once the process has exited (it is then reaped).
  bool exited() {
    if (pid_ > 0 && ::waitpid(pid_, &status_, WNOHANG) == pid_) pid_ = -1;
    return pid_ <= 0;
  }
  /// exit_code() is its exit status, or -1 if a signal ended it.
  int exit_code() const noexcept { return WIFEXITED(status_) ? WEXITSTATUS(status_) : -1; }
  std::string out() const { return contents(out_); }
  std::string err() const { return contents(err_); }

 private:
  static std::string contents(const std::string& file) {
    std::ifstream in(file);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }

  std::string out_;
  std::string err_;
  pid_t pid_ = -1;
  pid_t started_pid_ = -1;
  int status_ = 0;
};

// summary_pages(out) is N of the line "summary: N pages, B bytes, E errors
// in T s (R pages/s)" in the crawler's stdout, or nullopt.
std::optional<std::size_t> summary_pages(const std::string& out) {
  static const std::regex line(
      R"(summary: (\d+) pages, \d+ bytes, \d+ errors in [0-9.]+ s \([0-9.]+ pages/s\))");
  std::istringstream lines(out);
  for (std::string l; std::getline(lines, l);) {
    std::smatch m;
    if (std::regex_match(l, m, line)) return std::stoul(m[1].str());
  }
  return std::nullopt;
}

}  // namespace

// Issue 8. Who does what is made certain, not left to timing: every page
// but "/" (and robots.txt) is answered only once requests from two
// crawlers (two User-Agents, each naming its pid) have come. The first
// crawler to fetch "/" queues its links; its 4 fibers take 4 of them and
// wait at that gate, so the other links stay queued in Redis for the other
// crawler, whose first request opens the gate.
TEST_CASE("two crawler processes sharing a Redis frontier fetch every page exactly once and both do work") {
  tendril::patch_all();
  server();
  crawler::site s({.pages = 150, .links_per_page = 24, .seed = 8});
  std::set<std::size_t> linked_from_root;  // other pages, not robots.txt's private ones
  for (std::size_t i : s.links_of(0))
    if (i != 0 && i < s.pages()) linked_from_root.insert(i);
  REQUIRE(linked_from_root.size() > 8);
  tendril::testing::scratch_dir dir("crawler-redis");
  std::set<std::string> agents;                       // of page requests, robots.txt aside
  std::map<std::string, std::size_t> pages_by_agent;  // 200s for pages [0, pages())
  bool gate_timed_out = false;
  std::vector<std::unique_ptr<crawler_process>> crawlers;
  bool finished = false;
  {
    hub_check check;
    tendril::run([&] {
      tendril::event gate("two crawlers seen");
      tendril::http::server web(tendril::endpoint::loopback(0), [&](const tendril::http::server_request& r) {
        const std::string agent(r.header("User-Agent"));
        const bool robots = r.path() == "/robots.txt";
        if (!robots) {
          agents.insert(agent);
          if (agents.size() >= 2) gate.set();
        }
        if (!robots && r.path() != "/" && !gate.wait_for(30s)) {
          gate_timed_out = true;
          return tendril::http::server_response{.status = 503};
        }
        tendril::http::server_response response = s.handle(r);
        const std::optional<std::size_t> index = s.index_of(r.path());
        if (response.status == 200 && index && *index < s.pages()) ++pages_by_agent[agent];
        return response;
      });
      web.start();
      for (const char* name : {"a", "b"})
        crawlers.push_back(std::make_unique<crawler_process>(
            dir, name,
            std::vector<std::string>{web.url("/"), "--frontier", spec_of("two-processes"), "--fibers", "4",
                                     "--robots", "--quiet"}));
      const auto give_up = tendril::clock::now() + 90s;
      while (tendril::clock::now() < give_up) {
        const bool a_exited = crawlers[0]->exited();  // both asked: each is reaped when it exits
        const bool b_exited = crawlers[1]->exited();
        if ((finished = a_exited && b_exited)) break;
        tendril::sleep(10ms);
      }
      CHECK(web.stop());
    });
  }
  for (const auto& c : crawlers) {
    INFO("crawler pid " << c->pid() << "\nstdout:\n" << c->out() << "\nstderr:\n" << c->err());
    REQUIRE(finished);  // else both are killed when `crawlers` goes
    CHECK(c->exit_code() == 0);
  }
  CHECK_FALSE(gate_timed_out);
  std::vector<std::string> not_once;
  for (std::size_t i = 0; i < s.pages(); ++i)
    if (s.served_ok(i) != 1) not_once.push_back(s.path_of(i) + " x" + std::to_string(s.served_ok(i)));
  CHECK(not_once.empty());
  for (std::size_t i = s.pages(); i < s.pages_ignoring_robots(); ++i) CHECK(s.requests_for(i) == 0);
  std::size_t total = 0;
  for (const auto& c : crawlers) {
    INFO("crawler pid " << c->pid() << " stdout:\n" << c->out());
    const std::optional<std::size_t> pages = summary_pages(c->out());
    REQUIRE(pages);
    CHECK(*pages > 0);
    const std::string agent = "tendril-crawler/1 (pid " + std::to_string(c->pid()) + ")";
    CHECK(agents.count(agent) == 1);
    CHECK(pages_by_agent[agent] == *pages);
    total += *pages;
  }
  CHECK(agents.size() == 2);
  CHECK(total == s.pages());
}

#endif  // TENDRIL_CRAWLER_PROGRAM
