// soak_client: the client side of the soak test (soak_test.cpp), a program
// of its own because 10,000 connections need 10,000 fds on each side and
// the fd limit is per process.
//
//   soak_client --port P [--host 127.0.0.1] [--connections N] [--seconds S]
//               [--requests R] [--call-timeout-ms T]
//
// One fiber per connection, all on one hub, in three phases:
//   1. connect; wait until every fiber has tried (all N are open at once);
//   2. warm-up: one request of each payload size (soak_protocol.hpp); wait
//      until every fiber has done it;
//   3. steady: request after request until S seconds have passed since the
//      warm-up ended, or R requests (R = 0: no bound but the time);
// then half-close and wait for the server to close back, so a connection
// counts as closed only once the server's handler has let it go.
//
// Every call has a deadline of T ms (60 s by default): a stuck server is an
// error that names the connection, never a hang. A failed connection is
// closed at once and skips its remaining phases (it still joins the waits,
// so the others go on).
//
// On stdout, one line the test parses:
//   soak_client: connections=N connected=C closed=D requests=Q errors=E
//                fds_before=F fds_after=G connect_seconds=... warm_up_seconds=... steady_seconds=...
// (one line; steady_seconds includes the close, and runs past S by the
// round trips started before S ran out)
// and on stderr the first few errors. Exit status 0 when every connection
// connected and closed cleanly with no error, 1 otherwise, 2 for a bad
// command line or too low an fd limit.

#include <sys/socket.h>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <tendril/error.hpp>
#include <tendril/hub/join.hpp>
#include <tendril/hub/run.hpp>
#include <tendril/hub/task.hpp>
#include <tendril/io/endpoint.hpp>
#include <tendril/io/socket.hpp>
#include <tendril/sync/event.hpp>

#include "soak_protocol.hpp"

namespace {

using tendril::clock;
namespace soak = tendril::soak;

struct settings {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
  std::size_t connections = 10'000;
  double seconds = 5;
  std::uint64_t requests = 0;
  clock::duration call_timeout = std::chrono::seconds(60);
};

// parse(argc, argv, out) reads `--name value` pairs; false for anything else.
bool parse(int argc, char** argv, settings& out) {
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string_view name = argv[i];
    const char* value = argv[i + 1];
    char* end = nullptr;
    const double number = std::strtod(value, &end);
    const bool numeric = end != value && *end == '\0' && number >= 0;
    if (name == "--host") {
      out.host = value;
      continue;
    }
    if (!numeric) return false;
    if (name == "--port" && number >= 1 && number <= 65535)
      out.port = static_cast<std::uint16_t>(number);
    else if (name == "--connections" && number >= 1)
      out.connections = static_cast<std::size_t>(number);
    else if (name == "--seconds")
      out.seconds = number;
    else if (name == "--requests")
      out.requests = static_cast<std::uint64_t>(number);
    else if (name == "--call-timeout-ms" && number >= 1)
      out.call_timeout = std::chrono::milliseconds(static_cast<std::int64_t>(number));
    else
      return false;
  }
  return argc % 2 == 1 && out.port != 0;
}

// barrier: every one of `parties` fibers calls arrive_and_wait() once; the
// last to arrive runs `last` and releases them all. One hub: no atomics.
class barrier {
 public:
  explicit barrier(std::size_t parties) : parties_(parties) {}

  void arrive_and_wait(const std::function<void()>& last = {}) {
    if (++arrived_ < parties_) {
      released_.wait();
      return;
    }
    if (last) last();
    released_.set();
  }

 private:
  std::size_t parties_;
  std::size_t arrived_ = 0;
  tendril::event released_{"soak barrier"};
};

struct totals {
  std::size_t connected = 0;
  std::size_t closed = 0;
  std::uint64_t requests = 0;
  std::size_t errors = 0;
  std::vector<std::string> first_errors;  // up to max_reported
  static constexpr std::size_t max_reported = 10;
};

class soak_run {
 public:
  soak_run(const settings& config, const tendril::endpoint& server)
      : config_(config),
        server_(server),
        connected_all_(config.connections),
        warmed_all_(config.connections) {}

  // connection(id) is the whole life of connection `id`, run as its own task.
  void connection(std::size_t id) {
    tendril::socket conn;
    bool ok = attempt(id, "connect", [&] {
      conn = tendril::socket::tcp(server_.family());
      conn.connect(server_, deadline());
      ++count_.connected;
    });
    connected_all_.arrive_and_wait([this] { connected_ = clock::now(); });
    std::uint64_t seq = 0;
    for (; ok && seq < soak::payload_sizes.size(); ++seq) ok = round_trip(conn, id, seq);
    warmed_all_.arrive_and_wait([this] {
      steady_started_ = clock::now();
      steady_end_ = steady_started_ + std::chrono::duration_cast<clock::duration>(
                                          std::chrono::duration<double>(config_.seconds));
    });
    const std::uint64_t last = config_.requests == 0 ? UINT64_MAX : seq + config_.requests;
    while (ok && seq < last && clock::now() < steady_end_) ok = round_trip(conn, id, seq++);
    if (ok) ok = attempt(id, "close", [&] { close_cleanly(conn); });
    if (ok) ++count_.closed;
  }

  const totals& count() const noexcept { return count_; }
  // phase_seconds() is how long each phase took, up to now for the last:
  // connecting, the warm-up, and the steady loop with the close.
  std::array<double, 3> phase_seconds() const {
    auto seconds = [](clock::time_point from, clock::time_point to) {
      return std::chrono::duration<double>(to - from).count();
    };
    return {seconds(started_, connected_), seconds(connected_, steady_started_),
            seconds(steady_started_, clock::now())};
  }

 private:
  clock::time_point deadline() const { return tendril::deadline_after(config_.call_timeout); }

  // attempt(id, what, f) runs f(); false, counting and keeping the error,
  // when it throws (the connection is then given up on by the caller).
  template <class F>
  bool attempt(std::size_t id, const char* what, F&& f) {
    try {
      f();
      return true;
    } catch (const std::exception& e) {
      ++count_.errors;
      if (count_.first_errors.size() < totals::max_reported)
        count_.first_errors.push_back("connection " + std::to_string(id) + " " + what + ": " + e.what());
      return false;
    }
  }

  // round_trip(conn, id, seq) sends request `seq` and checks its echo;
  // false (and the connection closed) on any error.
  bool round_trip(tendril::socket& conn, std::size_t id, std::uint64_t seq) {
    const bool ok = attempt(id, "request", [&] {
      const std::size_t size = soak::payload_size(seq);
      std::array<unsigned char, soak::max_frame> frame;
      soak::put_length(frame.data(), size);
      for (std::size_t i = 0; i < size; ++i) frame[soak::header_size + i] = soak::pattern_byte(id, seq, i);
      conn.write_all(frame.data(), soak::header_size + size, deadline());
      std::array<unsigned char, soak::max_frame> reply;
      conn.read_exact(reply.data(), soak::header_size, deadline());
      const std::size_t length = soak::get_length(reply.data());
      if (length != size)
        throw tendril::error("request " + std::to_string(seq) + " of " + std::to_string(size) +
                             " bytes got a reply of " + std::to_string(length));
      conn.read_exact(reply.data() + soak::header_size, length, deadline());
      if (std::memcmp(frame.data(), reply.data(), soak::header_size + size) != 0)
        throw tendril::error("request " + std::to_string(seq) + ": the reply differs from the request");
      ++count_.requests;
    });
    if (!ok) conn.close();
    return ok;
  }

  // close_cleanly(conn) half-closes, then waits for the server to close back.
  void close_cleanly(tendril::socket& conn) {
    conn.shutdown(SHUT_WR);
    char extra;
    if (conn.read_some(&extra, 1, deadline()) != 0)
      throw tendril::error("the server sent bytes nobody asked for");
    conn.close();
  }

  const settings& config_;
  tendril::endpoint server_;
  totals count_;
  barrier connected_all_;
  barrier warmed_all_;
  clock::time_point started_ = clock::now();
  clock::time_point connected_;
  clock::time_point steady_started_;
  clock::time_point steady_end_;
};

}  // namespace

int main(int argc, char** argv) {
  settings config;
  if (!parse(argc, argv, config)) {
    std::fprintf(stderr,
                 "usage: soak_client --port P [--host H] [--connections N] [--seconds S] [--requests R] "
                 "[--call-timeout-ms T]\n");
    return 2;
  }
  const std::size_t fd_limit = soak::raise_open_file_limit();
  if (fd_limit < config.connections + 64) {
    std::fprintf(stderr, "soak_client: %zu connections need about %zu fds; the limit is %zu\n",
                 config.connections, config.connections + 64, fd_limit);
    return 2;
  }
  std::size_t fds_before = 0;
  std::size_t fds_after = 0;
  std::array<double, 3> phases{};
  totals count;
  try {
    tendril::run([&] {
      fds_before = soak::open_fds();  // the hub's own fds are open by now
      soak_run run(config, tendril::endpoint::parse(config.host, config.port));
      std::vector<tendril::task<void>> connections;
      connections.reserve(config.connections);
      for (std::size_t id = 0; id < config.connections; ++id)
        connections.push_back(tendril::spawn([&run, id] { run.connection(id); }));
      tendril::joinall(connections);
      phases = run.phase_seconds();
      count = run.count();
      fds_after = soak::open_fds();
    });
  } catch (const std::exception& e) {
    std::fprintf(stderr, "soak_client: %s\n", e.what());
    return 1;
  }
  for (const std::string& e : count.first_errors) std::fprintf(stderr, "soak_client: %s\n", e.c_str());
  if (count.errors > count.first_errors.size())
    std::fprintf(stderr, "soak_client: ... and %zu more errors\n", count.errors - count.first_errors.size());
  std::printf(
      "soak_client: connections=%zu connected=%zu closed=%zu requests=%llu errors=%zu fds_before=%zu "
      "fds_after=%zu connect_seconds=%.2f warm_up_seconds=%.2f steady_seconds=%.2f\n",
      config.connections, count.connected, count.closed, static_cast<unsigned long long>(count.requests),
      count.errors, fds_before, fds_after, phases[0], phases[1], phases[2]);
  const bool clean =
      count.errors == 0 && count.connected == config.connections && count.closed == count.connected;
  return clean ? 0 : 1;
}
