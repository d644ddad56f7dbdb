// Faults injected on loopback (issue 9): a peer that resets or closes in the
// middle of a message, one that stalls forever, one that sends a byte at a
// time, one that goes while a write is blocked on a full socket buffer; an
// fd closed under a waiting fiber; kill storms over fibers blocked in reads,
// writes, connects, accepts and lookups; deadlines and timeout scopes that
// fire during a connect, a read and a DNS lookup.
//
// Every case checks the error's type and that it names the fd (or the host;
// a timeout scope's timeout_error names nothing, by design, so those cases
// check that it came from their scope), and ends with no fd, watcher, timer
// or fiber left behind (hub_check, fd_leak_check). Order comes from events the test can observe (a fiber
// parked on an fd, a socket's unread bytes), never from sleeps; deadlines
// bound every wait, and no case asserts how long anything took.

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <exception>
#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include <tendril/error.hpp>
#include <tendril/hub/hub.hpp>
#include <tendril/hub/join.hpp>
#include <tendril/hub/sleep.hpp>
#include <tendril/hub/task.hpp>
#include <tendril/hub/timeout.hpp>
#include <tendril/io/dns.hpp>
#include <tendril/io/socket.hpp>
#include <tendril/io/wait.hpp>

#include "support/fd_count.hpp"
#include "support/hub_fixture.hpp"

namespace {

using namespace std::chrono_literals;
namespace dns = tendril::dns;
using Catch::Matchers::Contains;
using tendril::deadline_after;
using tendril::endpoint;
using tendril::spawn;
using tendril::spawn_options;
using tendril::task;
using tendril::task_base;
using tendril::detail::waiters_on;
using tendril::testing::fd_leak_check;
using tendril::testing::hub_check;
using tendril::testing::open_fd_count;

// watchers() is how many timers and I/O watchers this hub has armed; a
// socket's watcher kept idle between waits does not count.
std::size_t watchers() { return tendril::this_hub_stats().watchers; }

// unread_bytes(fd) is how many bytes wait in fd's receive queue, or -1 if
// the fd cannot say (then no wait for "nothing unread" ever ends).
int unread_bytes(int fd) {
  int n = -1;
  return ::ioctl(fd, FIONREAD, &n) == 0 ? n : -1;
}

// yield_until(done, what) yields until done() holds: an event the test
// observes, not a guess at how long it takes. It fails after 20 s instead
// of hanging.
template <class Predicate>
void yield_until(Predicate done, const char* what) {
  tendril::timeout limit(20s);
  try {
    while (!done()) tendril::yield();
  } catch (const tendril::timeout_error& e) {
    if (!limit.owns(e)) throw;
    FAIL("still waiting for " << what << " after 20 s");
  }
}

// caught<E>(f) is the E that f() throws, or nothing if it returns. Any
// other exception propagates and fails the test.
template <class E, class F>
std::optional<E> caught(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e;
  }
  return std::nullopt;
}

// failure_of<E>(t) waits for task `t` (failing after 20 s instead of
// hanging) and returns the E it ended with, or nothing if it returned.
template <class E>
std::optional<E> failure_of(const task_base& t) {
  REQUIRE(t.join_for(20s));
  return caught<E>([&] {
    if (std::exception_ptr e = t.exception()) std::rethrow_exception(e);
  });
}

// kill_on_exit kills its tasks when the test leaves the scope, normally or
// by a failed assertion, so that a failing case cannot leave a fiber parked
// on sockets that are about to be destroyed. Declare it after everything
// the tasks use. On the normal path they have finished already, and
// killing a finished task does nothing.
class kill_on_exit {
 public:
  kill_on_exit() = default;
  kill_on_exit(std::initializer_list<task_base> tasks) : tasks(tasks) {}
  kill_on_exit(const kill_on_exit&) = delete;
  kill_on_exit& operator=(const kill_on_exit&) = delete;
  ~kill_on_exit() { tendril::killall(tasks, nullptr, true, 20s); }

  std::vector<task_base> tasks;
};

// small_buffers(s) shrinks a socket's buffers so that a write blocks after
// a few kilobytes instead of megabytes. For a receiving side, call it on
// the listener before listen() so the accepted socket inherits it.
void small_buffers(tendril::socket& s) {
  s.set_option<int>(SOL_SOCKET, SO_SNDBUF, 4096);
  s.set_option<int>(SOL_SOCKET, SO_RCVBUF, 4096);
}

// A connected TCP pair over loopback, optionally with small buffers on both
// sides (so a write_all of a few hundred kilobytes blocks).
struct tcp_pair {
  tendril::socket client;
  tendril::socket server;
  explicit tcp_pair(bool small = false) {
    tendril::socket listener = tendril::socket::tcp();
    if (small) small_buffers(listener);
    listener.bind(endpoint::loopback(0));
    listener.listen();
    client = tendril::socket::tcp();
    if (small) small_buffers(client);
    client.connect(listener.local_endpoint(), deadline_after(10s));
    server = listener.accept(deadline_after(10s));
  }
};

// full_listener is a listening socket whose accept queue is full: backlog 0
// holds one connection, `filler`, which nobody accepts. Linux drops the SYN
// of any further connect (the client retries at 1 s, 3 s, ...), so such a
// connect waits until its deadline: a peer that never answers, on loopback.
struct full_listener {
  tendril::socket listener = tendril::socket::tcp();
  tendril::socket filler = tendril::socket::tcp();
  full_listener() {
    listener.bind(endpoint::loopback(0));
    listener.listen(0);
    filler.connect(address(), deadline_after(10s));
    REQUIRE(listener.wait_readable(deadline_after(10s)));  // filler is in the queue: it is full
  }
  endpoint address() const { return listener.local_endpoint(); }
};

// silent_dns_server is a UDP socket on 127.0.0.1 that nobody reads: DNS
// queries sent to it are never answered, nor refused.
struct silent_dns_server {
  tendril::socket udp = tendril::socket::udp();
  silent_dns_server() { udp.bind(endpoint::loopback(0)); }
  std::string address() const { return udp.local_endpoint().to_string(); }
};

// default_sigpipe makes SIGPIPE kill the process for a scope (its default,
// unblocked), so a write that raised it would end the test run instead of
// passing unnoticed.
class default_sigpipe {
 public:
  default_sigpipe() {
    struct sigaction action {};
    action.sa_handler = SIG_DFL;
    sigemptyset(&action.sa_mask);
    REQUIRE(::sigaction(SIGPIPE, &action, &saved_action_) == 0);
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    REQUIRE(::pthread_sigmask(SIG_UNBLOCK, &pipe, &saved_mask_) == 0);
  }
  default_sigpipe(const default_sigpipe&) = delete;
  default_sigpipe& operator=(const default_sigpipe&) = delete;
  ~default_sigpipe() {
    ::pthread_sigmask(SIG_SETMASK, &saved_mask_, nullptr);
    ::sigaction(SIGPIPE, &saved_action_, nullptr);
  }

 private:
  struct sigaction saved_action_ {};
  sigset_t saved_mask_{};
};

std::string fd_text(int fd) { return "fd " + std::to_string(fd); }

// check_closed_under(t, fd, name) checks that task `t`, named `name`,
// ended with EBADF because another fiber closed `fd` under its wait, and
// that the error says so; returns the message for further checks.
std::string check_closed_under(const task_base& t, int fd, const std::string& name) {
  const auto e = failure_of<tendril::system_error>(t);
  REQUIRE(e);
  CHECK(e->code() == std::errc::bad_file_descriptor);
  CHECK_THAT(e->what(), Contains(fd_text(fd) + " was closed while") && Contains(name));
  return e->what();
}

}  // namespace

// --- a peer that fails mid-message ---------------------------------------------

TEST_CASE("a peer that resets mid-message fails read_exact with ECONNRESET naming the fd") {
  hub_check check;
  fd_leak_check fds;
  tcp_pair pair;
  const int fd = pair.server.fd();
  const std::string local = pair.server.local_endpoint().to_string();
  task<void> reader = spawn(spawn_options{.name = "message-reader"}, [&] {
    char message[100];
    pair.server.read_exact(message, sizeof message);
  });
  kill_on_exit cleanup{{reader}};
  pair.client.write_all(std::string(40, 'm'));  // 40 bytes of a 100-byte message
  yield_until([&] { return waiters_on(fd) == 1 && unread_bytes(fd) == 0; },
              "the reader to take 40 bytes and wait for the rest");
  CHECK(watchers() == 1);  // the reader's fd watcher
  pair.client.set_option(SOL_SOCKET, SO_LINGER, linger{.l_onoff = 1, .l_linger = 0});
  pair.client.close();  // RST instead of FIN
  const auto e = failure_of<tendril::system_error>(reader);
  REQUIRE(e);
  CHECK(e->code() == std::errc::connection_reset);
  CHECK_THAT(e->what(), Contains("read on " + fd_text(fd)) && Contains(local));
  CHECK(waiters_on(fd) == 0);
  CHECK(watchers() == 0);
}

TEST_CASE("a peer that closes mid-message fails the waiting read_exact saying how many bytes came") {
  hub_check check;
  fd_leak_check fds;
  tcp_pair pair;
  const int fd = pair.server.fd();
  task<void> reader = spawn([&] {
    char message[100];
    pair.server.read_exact(message, sizeof message);
  });
  kill_on_exit cleanup{{reader}};
  pair.client.write_all(std::string(40, 'm'));
  yield_until([&] { return waiters_on(fd) == 1 && unread_bytes(fd) == 0; },
              "the reader to take 40 bytes and wait for the rest");
  pair.client.close();  // FIN: the stream ends 60 bytes short
  const auto e = failure_of<tendril::error>(reader);
  REQUIRE(e);
  CHECK_THAT(e->what(), Contains("read on " + fd_text(fd)) && Contains("ended after 40 of 100 bytes"));
  CHECK(watchers() == 0);
}

// --- a peer that stalls forever -------------------------------------------------

TEST_CASE(
    "a read from a peer that stalls forever ends at its deadline naming the fd and the bytes that came") {
  hub_check check;
  fd_leak_check fds;
  tcp_pair pair;
  const int fd = pair.client.fd();
  pair.server.write_all(std::string(40, 's'));  // then nothing, ever
  char message[100];
  const auto e = caught<tendril::system_error>(
      [&] { pair.client.read_exact(message, sizeof message, deadline_after(100ms)); });
  REQUIRE(e);
  CHECK(e->code() == std::errc::timed_out);
  CHECK_THAT(e->what(), Contains("read on " + fd_text(fd)) &&
                            Contains("-> " + pair.server.local_endpoint().to_string()) &&
                            Contains("timed out after 40 of 100 bytes"));
  CHECK(waiters_on(fd) == 0);
  CHECK(watchers() == 0);  // neither the fd watcher nor the deadline's timer is left
}

TEST_CASE("a read from a peer that stalls forever raises timeout_error when a timeout scope expires") {
  hub_check check;
  fd_leak_check fds;
  tcp_pair pair;
  const int fd = pair.client.fd();
  pair.server.write_all(std::string(40, 's'));
  char message[100];
  bool raised = false;
  {
    tendril::timeout scope(50ms);
    try {
      pair.client.read_exact(message, sizeof message);
      FAIL("read_exact returned");
    } catch (const tendril::timeout_error& e) {
      CHECK(scope.owns(e));
      raised = true;
    }
  }
  CHECK(raised);
  CHECK(waiters_on(fd) == 0);
  CHECK(watchers() == 0);  // the scope's timer and the fd watcher are gone
  // The socket stays usable: the interrupted call took the 40 bytes, the
  // next read gets what the peer sends after them.
  pair.server.write_all(std::string(60, 't'));
  char rest[60];
  pair.client.read_exact(rest, sizeof rest, deadline_after(10s));
  CHECK(std::string(rest, sizeof rest) == std::string(60, 't'));
}

// --- a peer that sends one byte at a time ----------------------------------------

TEST_CASE("read_exact assembles a message that arrives one byte at a time") {
  hub_check check;
  fd_leak_check fds;
  tcp_pair pair;
  pair.client.set_no_delay();  // each byte its own segment
  const int fd = pair.server.fd();
  std::string message(300, '\0');
  for (std::size_t i = 0; i < message.size(); ++i) message[i] = static_cast<char>(i * 7 % 256);
  task<std::string> reader = spawn([&] {
    std::string got(message.size(), '\0');
    pair.server.read_exact(got.data(), got.size(), deadline_after(30s));
    return got;
  });
  // Each byte goes only once the reader has taken every byte before it and
  // waits again: read_exact resumes from a park once per byte.
  task<std::size_t> trickle = spawn([&] {
    std::size_t sent_to_a_waiting_reader = 0;
    for (char c : message) {
      while (!reader.ready() && !(waiters_on(fd) == 1 && unread_bytes(fd) == 0)) tendril::yield();
      if (reader.ready()) break;  // it failed: reader.get() says why
      pair.client.write_all(&c, 1);
      ++sent_to_a_waiting_reader;
      tendril::yield();
    }
    return sent_to_a_waiting_reader;
  });
  kill_on_exit cleanup{{reader, trickle}};
  REQUIRE(tendril::joinall({reader, trickle}, 60s));
  CHECK(reader.get() == message);
  CHECK(trickle.get() == message.size());
  CHECK(watchers() == 0);
}

// --- a peer that goes while a write is blocked -------------------------------------

TEST_CASE("a peer that closes under a blocked write_all fails it with ECONNRESET or EPIPE naming the fd") {
  hub_check check;
  fd_leak_check fds;
  default_sigpipe sigpipe_kills;
  tcp_pair pair(/*small=*/true);
  const int fd = pair.client.fd();
  const std::string payload(4 << 20, 'p');  // far more than both buffers hold
  task<void> writer = spawn(spawn_options{.name = "bulk-writer"},
                            [&] { pair.client.write_all(payload, deadline_after(60s)); });
  kill_on_exit cleanup{{writer}};
  yield_until([&] { return waiters_on(fd) == 1; }, "the writer to fill the buffers and wait");
  CHECK(watchers() == 2);  // the writer's fd watcher and its deadline's timer
  CHECK(unread_bytes(pair.server.fd()) > 0);
  pair.server.close();  // with unread data: the kernel answers with RST
  const auto e = failure_of<tendril::system_error>(writer);
  REQUIRE(e);
  CHECK((e->code() == std::errc::broken_pipe || e->code() == std::errc::connection_reset));
  CHECK_THAT(e->what(), Contains("write on " + fd_text(fd)));
  sigset_t pending;
  REQUIRE(::sigpending(&pending) == 0);
  CHECK(sigismember(&pending, SIGPIPE) == 0);
  CHECK(watchers() == 0);
}

TEST_CASE("a blocked write_all whose peer has gone gets EPIPE naming the fd and never SIGPIPE") {
  hub_check check;
  fd_leak_check fds;
  default_sigpipe sigpipe_kills;
  tcp_pair pair(/*small=*/true);
  const int fd = pair.client.fd();
  const std::string payload(4 << 20, 'p');
  task<void> writer = spawn(spawn_options{.name = "bulk-writer"},
                            [&] { pair.client.write_all(payload, deadline_after(60s)); });
  kill_on_exit cleanup{{writer}};
  yield_until([&] { return waiters_on(fd) == 1; }, "the writer to fill the buffers and wait");
  pair.server.close();  // with unread data: the kernel answers with RST
  // A read takes the reset first, as a reader fiber of the socket would, so
  // the writer's next send finds the connection gone: EPIPE, the error that
  // raises SIGPIPE unless the send says MSG_NOSIGNAL. The blocking poll
  // (bounded) keeps the writer from running until the reset has arrived.
  pollfd reset_arrived{.fd = fd, .events = POLLIN, .revents = 0};
  REQUIRE(::poll(&reset_arrived, 1, 10000) == 1);
  char c = 0;
  const auto reset = caught<tendril::system_error>([&] { pair.client.read_some(&c, 1); });
  REQUIRE(reset);
  CHECK(reset->code() == std::errc::connection_reset);
  const auto e = failure_of<tendril::system_error>(writer);
  REQUIRE(e);
  CHECK(e->code() == std::errc::broken_pipe);
  CHECK_THAT(e->what(), Contains("write on " + fd_text(fd)));
  sigset_t pending;
  REQUIRE(::sigpending(&pending) == 0);
  CHECK(sigismember(&pending, SIGPIPE) == 0);
  CHECK(watchers() == 0);
}

// --- an fd closed under a waiting fiber --------------------------------------------

TEST_CASE("closing a socket from another fiber wakes its reader and its writer with EBADF naming the fd") {
  hub_check check;
  fd_leak_check fds;
  tcp_pair pair(/*small=*/true);
  const int fd = pair.client.fd();
  const std::string payload(1 << 20, 'p');
  task<void> reader = spawn(spawn_options{.name = "blocked-reader"}, [&] {
    char buffer[16];
    pair.client.read_some(buffer, sizeof buffer);
  });
  task<void> writer = spawn(spawn_options{.name = "blocked-writer"}, [&] { pair.client.write_all(payload); });
  kill_on_exit cleanup{{reader, writer}};
  yield_until([&] { return waiters_on(fd) == 2; }, "the reader and the writer to wait");
  CHECK(watchers() == 1);  // one watcher for the fd, armed for both
  task<void> closer = spawn(spawn_options{.name = "closer"}, [&] { pair.client.close(); });
  cleanup.tasks.push_back(closer);
  REQUIRE_FALSE(failure_of<std::exception>(closer));
  CHECK_THAT(check_closed_under(reader, fd, "blocked-reader"), Contains("waited to read"));
  CHECK_THAT(check_closed_under(writer, fd, "blocked-writer"), Contains("waited to write"));
  CHECK_FALSE(pair.client.is_open());
  CHECK(waiters_on(fd) == 0);
  CHECK(watchers() == 0);
}

TEST_CASE("closing fds from another fiber wakes wait_readable and socket::wait_readable with EBADF") {
  hub_check check;
  fd_leak_check fds;
  int p[2];
  REQUIRE(::pipe2(p, O_NONBLOCK | O_CLOEXEC) == 0);
  auto [left, right] = tendril::socket::pair();
  const int pipe_fd = p[0];
  const int socket_fd = right.fd();
  task<bool> plain =
      spawn(spawn_options{.name = "pipe-waiter"}, [&] { return tendril::wait_readable(pipe_fd); });
  task<bool> owned = spawn(spawn_options{.name = "socket-waiter"}, [&] { return right.wait_readable(); });
  kill_on_exit cleanup{{plain, owned}};
  yield_until([&] { return waiters_on(pipe_fd) == 1 && waiters_on(socket_fd) == 1; }, "both waiters to park");
  CHECK(watchers() == 2);
  task<void> closer = spawn([&] {
    tendril::close(pipe_fd);
    right.close();
  });
  cleanup.tasks.push_back(closer);
  REQUIRE_FALSE(failure_of<std::exception>(closer));
  check_closed_under(plain, pipe_fd, "pipe-waiter");
  check_closed_under(owned, socket_fd, "socket-waiter");
  CHECK(watchers() == 0);
  tendril::close(p[1]);
}

TEST_CASE("closing sockets from another fiber wakes a blocked accept and a blocked connect with EBADF") {
  hub_check check;
  fd_leak_check fds;
  tendril::socket listener = tendril::listen(endpoint::loopback(0));
  full_listener full;
  tendril::socket connecting = tendril::socket::tcp();
  const int listener_fd = listener.fd();
  const int connecting_fd = connecting.fd();
  task<void> acceptor = spawn(spawn_options{.name = "blocked-acceptor"}, [&] { listener.accept(); });
  task<void> connector =
      spawn(spawn_options{.name = "blocked-connector"}, [&] { connecting.connect(full.address()); });
  kill_on_exit cleanup{{acceptor, connector}};
  yield_until([&] { return waiters_on(listener_fd) == 1 && waiters_on(connecting_fd) == 1; },
              "the accept and the connect to wait");
  task<void> closer = spawn([&] {
    listener.close();
    connecting.close();
  });
  cleanup.tasks.push_back(closer);
  REQUIRE_FALSE(failure_of<std::exception>(closer));
  check_closed_under(acceptor, listener_fd, "blocked-acceptor");
  check_closed_under(connector, connecting_fd, "blocked-connector");
  CHECK(watchers() == 0);
}

// --- kill storms ---------------------------------------------------------------------

TEST_CASE(
    "killing many fibers blocked in reads and writes and connects and accepts and lookups leaves nothing") {
  hub_check check;
  fd_leak_check fds;
  constexpr int each = 32;
  silent_dns_server quiet;
  dns::set_servers(quiet.address());
  full_listener full;
  std::vector<tcp_pair> pairs;
  std::vector<tendril::socket> listeners;
  for (int i = 0; i < each; ++i) {
    pairs.emplace_back(/*small=*/true);
    listeners.push_back(tendril::listen(endpoint::loopback(0)));
  }
  const std::string payload(1 << 20, 'p');
  const std::size_t fds_before = open_fd_count();

  int unwound = 0;
  struct count_unwind {
    int& count;
    ~count_unwind() { ++count; }
  };
  kill_on_exit cleanup;
  std::vector<task_base>& storm = cleanup.tasks;
  for (int i = 0; i < each; ++i) {
    storm.push_back(spawn([&, i] {
      count_unwind u{unwound};
      char buffer[16];
      pairs[i].client.read_some(buffer, sizeof buffer);  // the server side never writes
    }));
    storm.push_back(spawn([&, i] {
      count_unwind u{unwound};
      pairs[i].client.write_all(payload);  // the server side never reads
    }));
    storm.push_back(spawn([&, i] {
      count_unwind u{unwound};
      listeners[i].accept();
    }));
    storm.push_back(spawn([&] {
      count_unwind u{unwound};
      tendril::socket s = tendril::socket::tcp();  // the kill must close it
      s.connect(full.address());
    }));
    storm.push_back(spawn([&, i] {
      count_unwind u{unwound};
      dns::resolve("storm-" + std::to_string(i) + ".test");
    }));
  }
  const auto total = storm.size();
  yield_until([&] { return tendril::this_hub_stats().parked == total; }, "every fiber of the storm to park");
  for (int i = 0; i < each; ++i) {
    CHECK(waiters_on(pairs[i].client.fd()) == 2);  // a reader and a writer
    CHECK(waiters_on(listeners[i].fd()) == 1);
  }
  CHECK(watchers() >= 3 * each + 1);                // an fd watcher per waiting socket, and c-ares's
  CHECK(open_fd_count() >= fds_before + each + 1);  // the connecting sockets and c-ares's

  tendril::killall(storm, nullptr, true, 20s);

  CHECK(unwound == static_cast<int>(total));
  for (const task_base& t : storm) CHECK(t.killed());
  CHECK(watchers() == 0);
  CHECK(open_fd_count() == fds_before);
  for (int i = 0; i < each; ++i) {
    CHECK(waiters_on(pairs[i].client.fd()) == 0);
    CHECK(waiters_on(listeners[i].fd()) == 0);
  }
  // The killed fibers' sockets are still usable: a listener accepts again.
  tendril::socket late = tendril::socket::tcp();
  late.connect(listeners[0].local_endpoint(), deadline_after(10s));
  CHECK(listeners[0].accept(deadline_after(10s)).is_open());
  dns::set_servers("");
}

// --- deadlines and timeout scopes during connect and DNS -----------------------------

TEST_CASE("a connect to a peer that never answers ends at its deadline naming the fd and the address") {
  hub_check check;
  fd_leak_check fds;
  full_listener full;
  tendril::socket s = tendril::socket::tcp();
  const int fd = s.fd();
  const auto e = caught<tendril::system_error>([&] { s.connect(full.address(), deadline_after(100ms)); });
  REQUIRE(e);
  CHECK(e->code() == std::errc::timed_out);
  CHECK_THAT(e->what(),
             Contains("connect of " + fd_text(fd)) && Contains("to " + full.address().to_string()));
  CHECK(waiters_on(fd) == 0);
  CHECK(watchers() == 0);
}

TEST_CASE("connect by address to a peer that never answers ends at its deadline naming the host and port") {
  hub_check check;
  fd_leak_check fds;
  full_listener full;
  const std::string port = std::to_string(full.address().port());
  const auto e =
      caught<tendril::system_error>([&] { tendril::connect("127.0.0.1", full.address().port(), 100ms); });
  REQUIRE(e);
  CHECK(e->code() == std::errc::timed_out);
  CHECK_THAT(e->what(), Contains("connect to \"127.0.0.1\" port " + port));
  CHECK(watchers() == 0);  // and fd_leak_check: the socket it made is closed
}

TEST_CASE(
    "a timeout scope expiring during a connect raises timeout_error and closes the socket connect made") {
  hub_check check;
  fd_leak_check fds;
  full_listener full;
  bool raised = false;
  {
    tendril::timeout scope(50ms);
    try {
      tendril::connect("127.0.0.1", full.address().port());
      FAIL("connect returned");
    } catch (const tendril::timeout_error& e) {
      CHECK(scope.owns(e));
      raised = true;
    }
  }
  CHECK(raised);
  CHECK(watchers() == 0);
}

TEST_CASE("a lookup that no DNS server answers ends at its deadline naming the host and the server") {
  hub_check check;
  fd_leak_check fds;
  silent_dns_server quiet;
  dns::set_servers(quiet.address());
  const auto e = caught<dns::dns_error>(
      [&] { dns::resolve("stalled.test", 80, dns::family::any, deadline_after(100ms)); });
  REQUIRE(e);
  CHECK(e->timed_out());
  CHECK(e->host() == "stalled.test");
  CHECK_THAT(e->what(), Contains("\"stalled.test\" timed out") && Contains(quiet.address()));
  CHECK(watchers() == 0);  // the abandoned query was cancelled: no socket watcher, no timer
  dns::set_servers("");
}

TEST_CASE(
    "connect by name whose deadline passes during the DNS lookup gives timed_out naming the host and port") {
  hub_check check;
  fd_leak_check fds;
  silent_dns_server quiet;
  dns::set_servers(quiet.address());
  // socket.hpp: connect's deadline "covers the lookup and every attempt;
  // throws tendril::system_error (timed_out) naming host and port".
  const auto e = caught<tendril::system_error>([&] { tendril::connect("stalled.test", 8080, 100ms); });
  REQUIRE(e);
  CHECK(e->code() == std::errc::timed_out);
  CHECK_THAT(e->what(), Contains("connect to \"stalled.test\" port 8080") && Contains(quiet.address()));
  CHECK(watchers() == 0);
  dns::set_servers("");
}

TEST_CASE("a timeout scope expiring during a DNS lookup raises timeout_error and leaves no watcher") {
  hub_check check;
  fd_leak_check fds;
  silent_dns_server quiet;
  dns::set_servers(quiet.address());
  bool raised = false;
  {
    tendril::timeout scope(50ms);
    try {
      tendril::connect("stalled.test", 8080);
      FAIL("connect returned");
    } catch (const tendril::timeout_error& e) {
      CHECK(scope.owns(e));
      raised = true;
    }
  }
  CHECK(raised);
  CHECK(watchers() == 0);
  dns::set_servers("");
}
