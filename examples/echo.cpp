// echo: an echo server and its clients, in blocking style on one hub.
//
// The server spawns a handler task per connection; each handler reads and
// writes back until its client half-closes. Ten clients run concurrently:
// each sends three lines, half-closes, and reads the echo. Every read and
// write that would block parks its fiber while the hub serves the others.
// The output is sorted by client, so it depends only on the program
// (examples/echo.expected holds it).
//
//   echo            runs the server and ten clients, then stops
//   echo PORT       serves on 127.0.0.1:PORT until SIGINT or SIGTERM
//                   (try: nc 127.0.0.1 PORT)

#include <csignal>
#include <cstdlib>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include <tendril/tendril.hpp>

namespace {

void echo_handler(tendril::socket connection, const tendril::endpoint&) {
  char buffer[4096];
  while (std::size_t n = connection.read_some(buffer, sizeof buffer)) connection.write_all(buffer, n);
}

std::string client(const tendril::endpoint& server, int id) {
  tendril::socket s = tendril::socket::tcp();
  s.connect(server, tendril::deadline_after(std::chrono::seconds(5)));
  for (int line = 1; line <= 3; ++line)
    s.write_all("client " + std::to_string(id) + " line " + std::to_string(line) + "\n");
  s.shutdown(SHUT_WR);  // half-close: the server reads end of stream and finishes
  std::string echoed;
  char buffer[256];
  while (std::size_t n = s.read_some(buffer, sizeof buffer, tendril::deadline_after(std::chrono::seconds(5))))
    echoed.append(buffer, n);
  return echoed;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1) {
    auto port = static_cast<std::uint16_t>(std::atoi(argv[1]));
    tendril::run([port] {
      tendril::stream_server server(tendril::endpoint::loopback(port), echo_handler);
      server.start();
      std::cout << "echo: serving on " << server.local_endpoint().to_string() << "; Ctrl-C stops"
                << std::endl;
      int signo = tendril::wait_signal({SIGINT, SIGTERM});
      std::cout << "echo: signal " << signo << ", stopping" << std::endl;
      server.stop(std::chrono::seconds(2));
    });
    return 0;
  }

  tendril::run([] {
    tendril::stream_server server(tendril::endpoint::loopback(0), echo_handler);
    server.start();
    std::map<int, tendril::task<std::string>> clients;
    for (int id = 1; id <= 10; ++id) clients.emplace(id, tendril::spawn(client, server.local_endpoint(), id));
    for (auto& [id, t] : clients) std::cout << t.get();
    server.stop();
    std::cout << "served " << server.accepted() << " connections\n";
  });
}
