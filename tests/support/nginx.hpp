#pragma once
// nginx: a real HTTP server for tests. It starts /usr/sbin/nginx (Debian's
// nginx-light, with the echo module of libnginx-mod-http-echo loaded) on
// 127.0.0.1 at a free port, with the `location` blocks a test gives, and
// stops it when it goes:
//
//   tendril::testing::nginx server({.locations = "location = /hi { return 200 \"hi\"; }"});
//   auto r = tendril::http::get(server.url("/hi"));
//
// Files under www() are served for paths that no location takes. With
// `tls`, a second port speaks HTTPS with a self-signed certificate for
// 127.0.0.1 made by the openssl command (cert_file() is the certificate to
// trust). The constructor returns once nginx accepts connections on its
// ports, never after a fixed sleep. Its config, pid file, logs, temp paths
// and document root live in a temporary directory that is removed with it.
// As root (CI) its workers stay root (`user root;`), so they can read that
// directory, which only its owner may enter. It keeps no fd open in the
// test process.

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "support/scratch.hpp"

extern char** environ;

namespace tendril::testing {

/// nginx_options configure the server.
struct nginx_options {
  /// locations: the server block's contents besides listen, root and TLS:
  /// `location` blocks and server-level directives.
  std::string locations;
  /// tls: also listen with TLS (see tls_url and cert_file).
  bool tls = false;
};

class nginx {
 public:
  /// nginx(options) starts the server and returns once it accepts
  /// connections. Errors: std::runtime_error with nginx's error log (or
  /// openssl's output) when it does not start (after a few ports were tried).
  explicit nginx(const nginx_options& options) {
    std::filesystem::create_directory(www());
    if (options.tls) make_certificate();
    std::string log;
    for (int attempt = 0; attempt < 5; ++attempt) {
      port_ = free_tcp_port("nginx");
      tls_port_ = 0;
      while (options.tls && (tls_port_ == 0 || tls_port_ == port_)) tls_port_ = free_tcp_port("nginx");
      write_config(options);
      if (start() && wait_until_ready()) return;
      log = read(file("error.log")) + read(file("nginx.out"));
      stop();
    }
    throw std::runtime_error("nginx did not start; its log:\n" + log);
  }
  nginx(const nginx&) = delete;
  nginx& operator=(const nginx&) = delete;
  ~nginx() { stop(); }

  /// port() is its plain HTTP port on 127.0.0.1; tls_port() its HTTPS one (0 without tls).
  std::uint16_t port() const noexcept { return port_; }
  std::uint16_t tls_port() const noexcept { return tls_port_; }
  /// url(path) is "http://127.0.0.1:<port><path>"; tls_url(path) the https one.
  std::string url(std::string_view path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + std::string(path);
  }
  std::string tls_url(std::string_view path) const {
    return "https://127.0.0.1:" + std::to_string(tls_port_) + std::string(path);
  }
  /// www() is the document root.
  std::filesystem::path www() const { return std::filesystem::path(dir_.path()) / "www"; }
  /// cert_file() is the server's self-signed certificate (PEM), to trust.
  std::string cert_file() const { return file("cert.pem"); }
  /// error_log() is what nginx has logged so far.
  std::string error_log() const { return read(file("error.log")); }

 private:
  std::string file(const char* name) const { return dir_.file(name); }

  static std::string read(const std::string& path) {
    std::ifstream in(path);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }

  // run(args, output) runs a program to its end, its output appended to
  // `output`; true when it exits with 0.
  static bool run(std::vector<std::string> args, const std::string& output, pid_t* started = nullptr) {
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, output.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    pid_t pid = -1;
    const int failed = ::posix_spawnp(&pid, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (failed != 0) return false;
    if (started != nullptr) {  // the caller waits for it
      *started = pid;
      return true;
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
  }

  void make_certificate() {
    const std::string output = file("openssl.out");
    if (!run({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
              "-nodes", "-keyout", file("key.pem"), "-out", file("cert.pem"), "-days", "2", "-subj",
              "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"},
             output))
      throw std::runtime_error("nginx: openssl could not make a certificate:\n" + read(output));
  }

  void write_config(const nginx_options& options) const {
    std::ofstream conf(file("nginx.conf"), std::ios::trunc);
    conf << "load_module /usr/lib/nginx/modules/ngx_http_echo_module.so;\n"
         << (::geteuid() == 0 ? "user root;\n" : "") << "worker_processes 1;\n"
         << "pid " << file("nginx.pid") << ";\n"
         << "error_log " << file("error.log") << " warn;\n"
         << "worker_rlimit_nofile 8192;\n"
         << "events { worker_connections 4096; }\n"
         << "http {\n"
         << "  access_log off;\n"
         << "  default_type application/octet-stream;\n"
         << "  keepalive_requests 100000;\n"
         << "  client_body_buffer_size 1m;\n"
         << "  client_body_in_single_buffer on;\n"
         // The compiled-in temp paths are under /var/lib/nginx, which a
         // non-root user cannot create.
         << "  client_body_temp_path " << file("client_body") << ";\n"
         << "  proxy_temp_path " << file("proxy") << ";\n"
         << "  fastcgi_temp_path " << file("fastcgi") << ";\n"
         << "  uwsgi_temp_path " << file("uwsgi") << ";\n"
         << "  scgi_temp_path " << file("scgi") << ";\n"
         << "  server {\n"
         << "    listen 127.0.0.1:" << port_ << ";\n";
    if (options.tls)
      conf << "    listen 127.0.0.1:" << tls_port_ << " ssl;\n"
           << "    ssl_certificate " << file("cert.pem") << ";\n"
           << "    ssl_certificate_key " << file("key.pem") << ";\n";
    conf << "    root " << www().string() << ";\n" << options.locations << "\n  }\n}\n";
  }

  bool start() {
    // -e: the compiled-in error log is opened before the config is read.
    return run({"/usr/sbin/nginx", "-p", dir_.path(), "-c", file("nginx.conf"), "-e", file("error.log"), "-g",
                "daemon off;"},
               file("nginx.out"), &pid_);
  }

  // accepts(port) is true when a TCP connection to 127.0.0.1:port succeeds.
  static bool accepts(std::uint16_t port) {
    int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0) return false;
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    to.sin_port = htons(port);
    const bool ok = ::connect(s, reinterpret_cast<sockaddr*>(&to), sizeof to) == 0;
    ::close(s);
    return ok;
  }

  // wait_until_ready() connects to each port until it accepts (true), nginx
  // exits (false: the port was taken, or a bad config) or 20 s pass.
  bool wait_until_ready() {
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < give_up) {
      if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = -1;
        return false;
      }
      if (accepts(port_) && (tls_port_ == 0 || accepts(tls_port_))) return true;
      ::poll(nullptr, 0, 5);  // between connection attempts, while nginx starts
    }
    return false;
  }

  void stop() noexcept {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);  // fast shutdown: the master stops its workers, then exits
    while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
  }

  scratch_dir dir_{"nginx"};  // first: removed after the server has stopped
  std::uint16_t port_ = 0;
  std::uint16_t tls_port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace tendril::testing
