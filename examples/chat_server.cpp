// chat_server: a line-based chat room on stream_server (gevent's chat lesson).
//
// A client sends its name, then lines; the server relays each line to every
// other client as "name: line", and announces who joins and leaves. Each
// client's handler task reads its socket; a second task writes to it,
// taking lines from the client's own tendril::queue (its outbox). Relaying
// is then only a put into the others' outboxes: it never waits on a slow
// client's socket. Everything runs on one hub, so the room (a plain list)
// needs no lock: fibers switch only where they park.
//
// Three scripted clients in the same program talk: each says its line when
// it sees a given one arrive, so every client receives the same lines in the
// same order on every run (examples/chat_server.expected holds them).

#include <sys/socket.h>

#include <chrono>
#include <functional>
#include <iostream>
#include <list>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <tendril/tendril.hpp>

using namespace std::chrono_literals;

namespace {

// line_reader splits what a socket delivers into lines.
class line_reader {
 public:
  explicit line_reader(tendril::socket& s) : socket_(s) {}

  // next(line, deadline) reads up to the next '\n' (dropped); false at end of stream.
  bool next(std::string& line, tendril::clock::time_point deadline = tendril::no_deadline) {
    std::size_t end;
    while ((end = pending_.find('\n')) == std::string::npos) {
      char buffer[512];
      std::size_t n = socket_.read_some(buffer, sizeof buffer, deadline);
      if (n == 0) return false;
      pending_.append(buffer, n);
    }
    line = pending_.substr(0, end);
    pending_.erase(0, end + 1);
    return true;
  }

 private:
  tendril::socket& socket_;
  std::string pending_;
};

// -- the server ---------------------------------------------------------------

// A member is shared by its reader (the handler) and its writer task; the
// connection closes when both are done with it.
struct member {
  tendril::socket connection;
  std::string name;
  tendril::queue<std::string> outbox;  // unbounded: relaying never parks
};

class chat_room {
 public:
  // serve(connection) runs one client, from its name to its leaving.
  void serve(tendril::socket connection) {
    auto me = std::make_shared<member>();
    me->connection = std::move(connection);
    line_reader in(me->connection);
    if (!in.next(me->name)) return;
    enter(me);
    struct leave_on_exit {  // however serve ends: end of stream, an error, a kill
      chat_room& room;
      std::shared_ptr<member> me;
      ~leave_on_exit() { room.leave(me); }
    } guard{*this, me};
    tendril::spawn([me] {
      try {
        for (;;) me->connection.write_all(me->outbox.get() + '\n');
      } catch (const tendril::queue_closed&) {  // closed, and all of it written
      }
    });
    for (std::string line; in.next(line);) say_to_others(*me, me->name + ": " + line);
  }

 private:
  void enter(const std::shared_ptr<member>& m) {
    say_to_others(*m, "* " + m->name + " joined");
    members_.push_back(m);
    m->outbox.put("welcome, " + m->name + "; " + std::to_string(members_.size()) + " here");
  }

  void leave(const std::shared_ptr<member>& m) {
    members_.remove(m);
    say_to_others(*m, "* " + m->name + " left");
    m->outbox.close();  // its writer sends what is left, then ends
  }

  void say_to_others(const member& from, const std::string& line) {
    for (const auto& m : members_)
      if (m.get() != &from) m->outbox.put(line);
  }

  std::list<std::shared_ptr<member>> members_;
};

// -- the clients --------------------------------------------------------------

// A step of a client's script: once the line `when` arrives, say `say`
// (if not empty), then leave if `leave`.
struct step {
  std::string when, say;
  bool leave = false;
};

struct client {
  std::string name;
  tendril::socket connection = tendril::socket::tcp();
  line_reader in{connection};
  std::vector<std::string> heard{};
};

// join(c, server) connects and waits for the welcome, so the clients join
// in the order main calls join.
void join(client& c, const tendril::endpoint& server) {
  c.connection.connect(server, tendril::deadline_after(5s));
  c.connection.write_all(c.name + '\n');
  std::string welcome;
  if (c.in.next(welcome, tendril::deadline_after(5s))) c.heard.push_back(welcome);
}

// talk(c, script) follows the script, keeping every line heard, until the
// server closes the connection (after the client has left).
void talk(client& c, const std::vector<step>& script) {
  std::size_t next = 0;
  for (std::string line; c.in.next(line, tendril::deadline_after(5s));) {
    c.heard.push_back(line);
    if (next == script.size() || line != script[next].when) continue;
    if (!script[next].say.empty()) c.connection.write_all(script[next].say + '\n');
    if (script[next].leave) c.connection.shutdown(SHUT_WR);  // the server reads end of stream
    ++next;
  }
}

}  // namespace

int main() {
  tendril::run([] {
    chat_room room;
    tendril::stream_server server(
        tendril::endpoint::loopback(0),
        [&room](tendril::socket c, const tendril::endpoint&) { room.serve(std::move(c)); });
    server.start();

    client alice{"alice"}, bob{"bob"}, carol{"carol"};
    for (client* c : {&alice, &bob, &carol}) join(*c, server.local_endpoint());
    const std::vector<step> alice_says{{"* carol joined", "hi everyone"},
                                       {"* carol left", "carol's gone, me too", true}};
    const std::vector<step> bob_says{{"alice: hi everyone", "hi alice"}, {"* alice left", "", true}};
    const std::vector<step> carol_says{{"bob: hi alice", "hello both, and bye", true}};
    tendril::joinall({tendril::spawn(talk, std::ref(alice), std::cref(alice_says)),
                      tendril::spawn(talk, std::ref(bob), std::cref(bob_says)),
                      tendril::spawn(talk, std::ref(carol), std::cref(carol_says))});

    for (const client* c : {&alice, &bob, &carol}) {
      std::cout << c->name << " heard:\n";
      for (const std::string& line : c->heard) std::cout << "  " << line << '\n';
    }
    std::cout << "stopped cleanly: " << std::boolalpha << server.stop(5s) << '\n';
  });
}
