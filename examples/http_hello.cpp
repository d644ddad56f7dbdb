// http_hello: the smallest tendril HTTP server, and the one the benchmarks
// load (bench/http_server_bench).
//
//   http_hello             starts on a free port, asks itself for / and
//                          /missing over a raw socket, prints the answers, stops
//   http_hello PORT        serves "Hello, world!" on 127.0.0.1:PORT until
//                          SIGINT or SIGTERM, then stops gracefully
//   http_hello PORT N      the same on a runtime of N threads, a hub per
//                          thread (runtime_server: one acceptor handing the
//                          connections to the hubs in turn)
//   http_hello PORT N reuseport
//                          the same, each hub accepting on its own
//                          SO_REUSEPORT listener

#include <csignal>
#include <cstdlib>
#include <iostream>
#include <string>

#include <tendril/tendril.hpp>

namespace {

tendril::http::server_response hello(const tendril::http::server_request& request) {
  if (request.path() != "/") return {.status = 404, .headers = {}, .body = "not found\n"};
  return {.status = 200, .headers = {{"Content-Type", "text/plain"}}, .body = "Hello, world!\n"};
}

// ask(where, path) sends one HTTP/1.0 request and returns the whole answer.
std::string ask(const tendril::endpoint& where, const std::string& path) {
  tendril::socket s = tendril::socket::tcp();
  s.connect(where, tendril::deadline_after(std::chrono::seconds(5)));
  s.write_all("GET " + path + " HTTP/1.0\r\n\r\n");
  std::string answer;
  char buffer[512];
  while (std::size_t n = s.read_some(buffer, sizeof buffer, tendril::deadline_after(std::chrono::seconds(5))))
    answer.append(buffer, n);
  return answer;
}

}  // namespace

// serve_on_runtime(port, threads, spread) serves until SIGINT or SIGTERM on `threads` hubs.
void serve_on_runtime(std::uint16_t port, std::size_t threads, tendril::runtime_server::spreading spread) {
  tendril::runtime rt{threads};
  tendril::runtime_server::options o;
  o.spread = spread;
  tendril::runtime_server site(rt, tendril::endpoint::loopback(port),
                               tendril::http::connection_handler(hello), o);
  std::cout << "http_hello: serving http://" << site.local_endpoint().to_string() << "/ on " << rt.size()
            << " hubs" << std::endl;
  tendril::run([] { tendril::wait_signal({SIGINT, SIGTERM}); });  // on this thread's own hub
  rt.stop(std::chrono::seconds(2));
}

int main(int argc, char** argv) {
  if (argc > 2) {
    auto spread = argc > 3 && std::string(argv[3]) == "reuseport"
                      ? tendril::runtime_server::spreading::reuseport
                      : tendril::runtime_server::spreading::one_acceptor;
    serve_on_runtime(static_cast<std::uint16_t>(std::atoi(argv[1])),
                     static_cast<std::size_t>(std::atoi(argv[2])), spread);
    return 0;
  }
  if (argc > 1) {
    auto port = static_cast<std::uint16_t>(std::atoi(argv[1]));
    tendril::run([port] {
      tendril::http::server site(tendril::endpoint::loopback(port), hello);
      site.start();
      std::cout << "http_hello: serving " << site.url() << std::endl;
      tendril::wait_signal({SIGINT, SIGTERM});
      site.stop(std::chrono::seconds(2));
      std::cout << "http_hello: served " << site.requests() << " requests" << std::endl;
    });
    return 0;
  }
  tendril::run([] {
    tendril::http::server site(tendril::endpoint::loopback(0), hello);
    site.start();
    for (const char* path : {"/", "/missing"}) {
      std::string answer = ask(site.local_endpoint(), path);
      std::cout << "GET " << path << " ->\n"
                << answer.substr(0, answer.find('\r')) << '\n'
                << answer.substr(answer.find("\r\n\r\n") + 4);
    }
    site.stop();
    std::cout << "served " << site.requests() << " requests\n";
  });
}
