// The soak test (issue 9): 10,000 concurrent connections held against
// tendril's servers for a fixed time, each in a loop of request/response
// round trips, and afterwards: no error on either side, every connection
// accounted for, no fd left open, no memory growth after the warm-up.
//
// The server is this test, on a stream_server on the test thread's hub and
// on a runtime_server over two hubs; the clients are soak_client (one fiber
// per connection), a program of its own because each side needs one fd per
// connection and the fd limit (RLIMIT_NOFILE) is per process. The protocol
// and the client's phases (connect all, warm up, steady loop, close) are in
// soak_protocol.hpp and soak_client.cpp.
//
// Short form, run by tools/test with everything else (label `soak`): 5
// seconds of steady traffic per case. Long form, on demand, by running the
// test program directly (CTest's 300 s timeout would cut it short):
//
//   TENDRIL_SOAK_SECONDS=600 build/tests/soak_test
//
// Environment:
//   TENDRIL_SOAK_SECONDS       steady phase per case, seconds (default 5)
//   TENDRIL_SOAK_CONNECTIONS   concurrent connections (default 10000;
//                              2000 under ThreadSanitizer, see below)
//   TENDRIL_SOAK_REQUESTS      bound on each connection's steady requests
//                              (default 0: only the time bounds them)
//
// Nothing here asserts timing: the client's per-call deadline (60 s) and
// the wait for the client (the steady time + 240 s) only turn a hang into
// an error that says what was stuck.

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <numeric>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include <tendril/error.hpp>
#include <tendril/hub/runtime.hpp>
#include <tendril/hub/sleep.hpp>
#include <tendril/io/endpoint.hpp>
#include <tendril/io/runtime_server.hpp>
#include <tendril/io/socket.hpp>
#include <tendril/io/stream_server.hpp>
#include <tendril/io/wait.hpp>

#include "soak_protocol.hpp"
#include "support/fd_count.hpp"
#include "support/hub_fixture.hpp"
#include "support/spawn_attributes.hpp"

extern char** environ;

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
// From compiler-rt's <sanitizer/allocator_interface.h>, which g++ 12 does
// not ship; libasan and libtsan both define it.
extern "C" std::size_t __sanitizer_get_current_allocated_bytes();
#endif

namespace {

using namespace std::chrono_literals;
using tendril::clock;
using tendril::endpoint;
using tendril::testing::fd_leak_check;
using tendril::testing::hub_check;
using tendril::testing::open_fd_count;
namespace soak = tendril::soak;

#if defined(__SANITIZE_THREAD__)
// ThreadSanitizer tracks every greenlet as a fiber and dies past 8128
// threads and fibers together (tests/hub/scale_test.cpp): the client holds
// one fiber per connection, and so does the server.
constexpr std::size_t default_connections = 2'000;
#else
constexpr std::size_t default_connections = 10'000;
#endif

// How much the memory in use may grow from the end of the warm-up to the
// end of the run. What legitimately grows then is small: every buffer,
// stack page, libev array and fd-table entry a connection needs was made
// during the warm-up (which sends each payload size once on every
// connection); what is left is malloc's fragmentation and the odd report
// string, under a MiB in practice (runs here: +0.0 to +0.5 MiB). A leak
// during the steady phase goes past 16 MiB at about 170 bytes per request
// in the short form (~10^5 steady requests), and at a few bytes per request
// in the long form. After the stop, connections' memory is freed (the
// resident set drops well below the warm-up's), so that comparison only
// catches gross leaks per connection; LeakSanitizer, in the ASan run, checks
// both processes at exit for the rest. Under a sanitizer the resident set
// is not the measure (ASan keeps freed memory in quarantine, 256 MiB by
// default, and the shadow grows with it), so the allocator's own count of
// bytes in use is compared instead, with the same margin.
constexpr std::size_t memory_margin = 16u << 20;

// The server's wait for a connection's next request. Well beyond the
// client's per-call deadline (60 s): between two requests a connection may
// wait at one of the client's phase barriers for the slowest connection's
// calls, and a client that gives up closes the connection anyway, so the
// server should never be the side that times out first.
constexpr clock::duration idle_timeout = 300s;

// memory_in_use() is the resident set size, or under a sanitizer the heap
// bytes its allocator counts as in use (see memory_margin).
std::size_t memory_in_use() {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  return __sanitizer_get_current_allocated_bytes();
#else
  return soak::resident_bytes();
#endif
}

double mib(std::size_t bytes) { return static_cast<double>(bytes) / (1u << 20); }

// environment_number(name, fallback) is the non-negative number in the
// environment variable `name`, or `fallback` when it is not set.
double environment_number(const char* name, double fallback) {
  const char* text = std::getenv(name);
  if (text == nullptr || *text == '\0') return fallback;
  char* end = nullptr;
  const double value = std::strtod(text, &end);
  if (*end != '\0' || !(value >= 0)) FAIL(name << "=" << text << " is not a non-negative number");
  return value;
}

struct soak_settings {
  std::size_t connections;
  double seconds;
  std::uint64_t requests;
};

soak_settings settings_from_environment() {
  soak_settings s{
      static_cast<std::size_t>(environment_number("TENDRIL_SOAK_CONNECTIONS", default_connections)),
      environment_number("TENDRIL_SOAK_SECONDS", 5),
      static_cast<std::uint64_t>(environment_number("TENDRIL_SOAK_REQUESTS", 0))};
  REQUIRE(s.connections > 0);
  INFO("the steady phase is what is measured: TENDRIL_SOAK_SECONDS must be above 0");
  REQUIRE(s.seconds > 0);
  const std::size_t fd_limit = soak::raise_open_file_limit();
  INFO("RLIMIT_NOFILE's hard limit is " << fd_limit << "; lower TENDRIL_SOAK_CONNECTIONS");
  REQUIRE(fd_limit >= s.connections + 64);
  return s;
}

// server_tally is the server's side of the accounting; its handler runs on
// whichever hub serves the connection, so the counts are atomic.
class server_tally {
 public:
  explicit server_tally(std::size_t connections) : connections_(connections) {}

  // serve(conn) echoes each request frame until the client closes.
  void serve(tendril::socket conn) {
    opened_.fetch_add(1);
    std::uint64_t served = 0;
    try {
      std::array<unsigned char, soak::max_frame> frame;
      for (;;) {
        const clock::time_point deadline = tendril::deadline_after(idle_timeout);
        const std::size_t got = conn.read_some(frame.data(), soak::header_size, deadline);
        if (got == 0) break;
        if (got < soak::header_size) conn.read_exact(frame.data() + got, soak::header_size - got, deadline);
        const std::size_t length = soak::get_length(frame.data());
        if (length > soak::max_payload)
          throw tendril::error("a request of " + std::to_string(length) + " bytes on " + conn.describe());
        conn.read_exact(frame.data() + soak::header_size, length, deadline);
        conn.write_all(frame.data(), soak::header_size + length, deadline);
        requests_.fetch_add(1);
        if (++served == soak::payload_sizes.size()) warmed_up();
      }
      if (served > soak::payload_sizes.size()) run_ending();
    } catch (const std::exception& e) {
      errors_.fetch_add(1);
      std::lock_guard<std::mutex> hold(lock_);
      if (first_error_.empty()) first_error_ = e.what();
    }
    closed_.fetch_add(1);
  }

  std::size_t opened() const noexcept { return opened_.load(); }
  std::size_t closed() const noexcept { return closed_.load(); }
  std::uint64_t requests() const noexcept { return requests_.load(); }
  std::size_t errors() const noexcept { return errors_.load(); }
  std::string first_error() const {
    std::lock_guard<std::mutex> hold(lock_);
    return first_error_;
  }
  // memory_after_warm_up(): memory in use once every connection had its
  // warm-up answered (0: that never happened).
  std::size_t memory_after_warm_up() const noexcept { return after_warm_up_.load(); }
  // memory_at_end(): memory in use when the first connection closed after
  // its steady phase, the others still open (0: none did).
  std::size_t memory_at_end() const noexcept { return at_end_.load(); }

 private:
  void warmed_up() {
    if (warmed_.fetch_add(1) + 1 == connections_) after_warm_up_.store(memory_in_use());
  }
  void run_ending() {
    if (after_warm_up_.load() != 0 && !end_sampled_.exchange(true)) at_end_.store(memory_in_use());
  }

  const std::size_t connections_;
  std::atomic<std::size_t> opened_{0};
  std::atomic<std::size_t> closed_{0};
  std::atomic<std::uint64_t> requests_{0};
  std::atomic<std::size_t> errors_{0};
  std::atomic<std::size_t> warmed_{0};
  std::atomic<bool> end_sampled_{false};
  std::atomic<std::size_t> after_warm_up_{0};
  std::atomic<std::size_t> at_end_{0};
  mutable std::mutex lock_;
  std::string first_error_;
};

// client_process runs soak_client against `port` with its stdout on a pipe
// (stderr is the test's), and kills it if it is still running when it goes.
class client_process {
 public:
  client_process(const soak_settings& s, std::uint16_t port) {
    std::vector<std::string> words{
        TENDRIL_SOAK_CLIENT,           "--port",    std::to_string(port),      "--connections",
        std::to_string(s.connections), "--seconds", std::to_string(s.seconds), "--requests",
        std::to_string(s.requests)};
    std::vector<char*> argv;
    for (std::string& w : words) argv.push_back(w.data());
    argv.push_back(nullptr);
    // The client's hub is busy by design (10,000 fibers spawned in one go):
    // its blocking monitor would only add noise, unless asked for.
    std::vector<std::string> variables;
    for (char** v = environ; *v != nullptr; ++v) variables.emplace_back(*v);
    if (std::getenv("TENDRIL_BLOCKING_THRESHOLD_MS") == nullptr)
      variables.emplace_back("TENDRIL_BLOCKING_THRESHOLD_MS=0");
    std::vector<char*> envp;
    for (std::string& v : variables) envp.push_back(v.data());
    envp.push_back(nullptr);

    int ends[2];
    REQUIRE(::pipe2(ends, O_CLOEXEC) == 0);
    out_ = ends[0];
    // Only the read end is non-blocking: the write end is the client's stdout.
    REQUIRE(::fcntl(out_, F_SETFL, ::fcntl(out_, F_GETFL) | O_NONBLOCK) == 0);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, ends[1], 1);
    const tendril::testing::default_signal_spawn attributes;
    // posix_spawn, not fork: this process has a hub (and, in the runtime
    // case, threads); glibc's posix_spawn execs from a vfork-like child
    // that runs nothing of ours.
    const int failed = ::posix_spawn(&pid_, argv[0], &actions, attributes.get(), argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    ::close(ends[1]);
    if (failed != 0) {
      pid_ = -1;
      ::close(std::exchange(out_, -1));
      FAIL("cannot start " << words[0] << ": " << std::strerror(failed));
    }
  }
  client_process(const client_process&) = delete;
  client_process& operator=(const client_process&) = delete;
  ~client_process() {
    if (out_ >= 0) tendril::close(out_);
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
    }
  }

  // finish(deadline) parks until the client has exited and returns its
  // stdout; its exit status is then exit_status(). FAILs at `deadline`.
  std::string finish(clock::time_point deadline) {
    std::string text;
    char buffer[4096];
    for (;;) {
      const ssize_t n = ::read(out_, buffer, sizeof buffer);
      if (n > 0) {
        text.append(buffer, static_cast<std::size_t>(n));
      } else if (n == 0) {
        break;
      } else if (errno == EAGAIN) {
        if (!tendril::wait_readable(out_, deadline))
          FAIL("soak_client has not finished; it printed: " << text);
      } else if (errno != EINTR) {
        FAIL("reading soak_client's output: " << std::strerror(errno));
      }
    }
    // Its stdout closes as it exits; the exit itself (LeakSanitizer's
    // check, under ASan) may take a moment more, which the hub sleeps
    // through rather than blocking in waitpid.
    for (;;) {
      const pid_t done = ::waitpid(pid_, &status_, WNOHANG);
      if (done == pid_) break;
      if (done < 0 && errno != EINTR) FAIL("waitpid: " << std::strerror(errno));
      if (clock::now() > deadline) FAIL("soak_client closed its stdout but has not exited");
      tendril::sleep(10ms);
    }
    pid_ = -1;
    return text;
  }

  // exit_status() is the client's exit code, or -1 when a signal ended it.
  int exit_status() const noexcept { return WIFEXITED(status_) ? WEXITSTATUS(status_) : -1; }

 private:
  pid_t pid_ = -1;
  int out_ = -1;
  int status_ = 0;
};

// client_report is the client's totals line, "soak_client: key=value ...".
struct client_report {
  std::map<std::string, double> values;

  static client_report parse(const std::string& out) {
    client_report r;
    std::istringstream lines(out);
    for (std::string line; std::getline(lines, line);) {
      if (line.rfind("soak_client: ", 0) != 0) continue;
      std::istringstream words(line.substr(13));
      for (std::string word; words >> word;) {
        const std::size_t equals = word.find('=');
        if (equals != std::string::npos)
          r.values[word.substr(0, equals)] = std::stod(word.substr(equals + 1));
      }
    }
    return r;
  }
  std::uint64_t operator[](const std::string& key) const {
    auto it = values.find(key);
    if (it == values.end()) FAIL("soak_client's report has no " << key);
    return static_cast<std::uint64_t>(it->second);
  }
};

// run_client(s, server) runs soak_client against `server` and returns its report.
client_report run_client(const soak_settings& s, const endpoint& server) {
  client_process client(s, server.port());
  const auto guard =
      std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(s.seconds)) + 240s;
  const std::string out = client.finish(tendril::deadline_after(guard));
  std::printf("%s", out.c_str());
  INFO("soak_client printed: " << out);
  CHECK(client.exit_status() == 0);
  client_report report = client_report::parse(out);
  REQUIRE(report.values.count("errors") == 1);
  return report;
}

// server_outcome is what the server side saw, once it has stopped.
struct server_outcome {
  std::size_t accepted = 0;
  bool handlers_ended_by_themselves = false;
  std::size_t fds_before = 0;
  std::size_t fds_after = 0;
  std::size_t memory_after_stop = 0;
};

// check_soak(s, client, tally, server) checks both sides' accounts against
// each other.
void check_soak(const soak_settings& s, const client_report& client, const server_tally& tally,
                const server_outcome& server) {
  std::printf(
      "soak server: accepted=%zu closed=%zu requests=%llu errors=%zu fds %zu -> %zu, "
      "memory after warm-up %.1f MiB, at end %.1f MiB, after stop %.1f MiB\n",
      server.accepted, tally.closed(), static_cast<unsigned long long>(tally.requests()), tally.errors(),
      server.fds_before, server.fds_after, mib(tally.memory_after_warm_up()), mib(tally.memory_at_end()),
      mib(server.memory_after_stop));
  // No errors on either side.
  CHECK(client["errors"] == 0);
  INFO("the server's first error: " << tally.first_error());
  CHECK(tally.errors() == 0);
  // Every connection accounted for: opened by the client, accepted and
  // served by a handler that ended by itself, and closed on both sides.
  CHECK(client["connected"] == s.connections);
  CHECK(client["closed"] == client["connected"]);
  CHECK(server.accepted == client["connected"]);
  CHECK(tally.opened() == server.accepted);
  CHECK(tally.closed() == server.accepted);
  CHECK(server.handlers_ended_by_themselves);
  // Every request answered once: the server served what the client counted.
  CHECK(tally.requests() == client["requests"]);
  CHECK(client["requests"] >= s.connections * soak::payload_sizes.size());
  // No fd growth on either side.
  CHECK(client["fds_after"] == client["fds_before"]);
  CHECK(server.fds_after == server.fds_before);
  // No memory growth after the warm-up (see memory_margin).
  REQUIRE(tally.memory_after_warm_up() > 0);
  REQUIRE(tally.memory_at_end() > 0);
  CHECK(tally.memory_at_end() <= tally.memory_after_warm_up() + memory_margin);
  CHECK(server.memory_after_stop <= tally.memory_after_warm_up() + memory_margin);
}

tendril::stream_server::handler serve_with(server_tally& tally) {
  return [&tally](tendril::socket conn, const endpoint&) { tally.serve(std::move(conn)); };
}

// How long stop() gives the handlers: they have all ended by the time the
// client has exited (it waits for the server to close each connection), so
// this only bounds a failure.
constexpr clock::duration stop_grace = 60s;

}  // namespace

TEST_CASE("a stream server on one hub holds 10,000 connections of round trips without errors or growth") {
  hub_check check;
  fd_leak_check fds;
  const soak_settings s = settings_from_environment();
  server_tally tally(s.connections);
  server_outcome outcome;
  outcome.fds_before = open_fd_count();
  client_report client;
  {
    tendril::stream_server server(endpoint::loopback(0), serve_with(tally), {.name = "soak"});
    server.start();
    client = run_client(s, server.local_endpoint());
    outcome.accepted = server.accepted();
    outcome.handlers_ended_by_themselves = server.stop(stop_grace);
  }
  outcome.fds_after = open_fd_count();
  outcome.memory_after_stop = memory_in_use();
  check_soak(s, client, tally, outcome);
}

TEST_CASE("a runtime server on two hubs holds 10,000 connections of round trips without errors or growth") {
  hub_check check;  // the test thread's hub runs the client process's pipe
  fd_leak_check fds;
  const soak_settings s = settings_from_environment();
  server_tally tally(s.connections);
  tendril::runtime rt{2};
  server_outcome outcome;
  outcome.fds_before = open_fd_count();  // the runtime's hubs' fds are open by now
  client_report client;
  {
    tendril::runtime_server::options o;
    o.connections.name = "soak";
    tendril::runtime_server server(rt, endpoint::loopback(0), serve_with(tally), o);
    client = run_client(s, server.local_endpoint());
    const std::vector<std::size_t> accepted = server.accepted();
    outcome.accepted = std::accumulate(accepted.begin(), accepted.end(), std::size_t{0});
    outcome.handlers_ended_by_themselves = server.stop(stop_grace);
  }
  outcome.fds_after = open_fd_count();
  outcome.memory_after_stop = memory_in_use();
  CHECK(rt.stop());
  check_soak(s, client, tally, outcome);
}
