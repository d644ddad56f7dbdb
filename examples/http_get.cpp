// http_get: fetches the URLs on its command line at once, one task each,
// with a progress line on stderr while they run, then prints one line per
// URL, in the order given: the status (or the error), the size of the body
// and how long it took.
//
//   http_get [--timeout SECONDS] URL...
//   http_get                 a demo: serves pages of 1 KiB to 1 MiB (and a
//                            404) from a tendril http::server in the same
//                            process, and fetches them
//
// The bodies are counted as they stream in (request::on_body) and not
// kept, so large downloads take no memory. Exits with 1 if any URL got no
// response (a 404 is a response), 2 on a bad command line.

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <tendril/io/http.hpp>
#include <tendril/tendril.hpp>

namespace {

using namespace std::chrono_literals;

struct fetch {
  std::string url;
  long status = 0;
  std::size_t bytes = 0;
  double seconds = 0;
  std::string error{};  // empty when a response came
  bool done = false;
};

void run_fetch(fetch& f, tendril::clock::duration timeout) {
  const auto start = tendril::clock::now();
  try {
    tendril::http::request r{.url = f.url, .timeout = timeout};
    r.on_body = [&f](std::string_view chunk) { f.bytes += chunk.size(); };
    f.status = tendril::http::fetch(r).status;
  } catch (const tendril::http::http_error& e) {
    f.error = e.what();
  }
  f.seconds = std::chrono::duration<double>(tendril::clock::now() - start).count();
  f.done = true;
}

std::string human_size(std::size_t bytes) {
  char text[32];
  if (bytes < 10 * 1024)
    std::snprintf(text, sizeof text, "%zu B", bytes);
  else if (bytes < 10 * 1024 * 1024)
    std::snprintf(text, sizeof text, "%.1f KiB", static_cast<double>(bytes) / 1024);
  else
    std::snprintf(text, sizeof text, "%.1f MiB", static_cast<double>(bytes) / (1024 * 1024));
  return text;
}

// show_progress(fetches) rewrites the progress line: URLs done, bytes so far.
void show_progress(const std::vector<fetch>& fetches) {
  std::size_t done = 0;
  std::size_t bytes = 0;
  for (const fetch& f : fetches) {
    done += f.done ? 1 : 0;
    bytes += f.bytes;
  }
  std::fprintf(stderr, "\r%zu/%zu done, %s received   ", done, fetches.size(), human_size(bytes).c_str());
  std::fflush(stderr);
}

int usage(const char* program) {
  std::fprintf(stderr, "usage: %s [--timeout SECONDS] URL...\n", program);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  tendril::clock::duration timeout = 30s;
  std::vector<fetch> fetches;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--timeout" && i + 1 < argc) {
      char* end = nullptr;
      const double seconds = std::strtod(argv[++i], &end);
      if (*end != '\0' || seconds <= 0) return usage(argv[0]);
      timeout = std::chrono::duration_cast<tendril::clock::duration>(std::chrono::duration<double>(seconds));
    } else if (arg.starts_with("-")) {
      return usage(argv[0]);
    } else {
      fetches.push_back({.url = std::string(arg)});
    }
  }
  const bool demo = fetches.empty();

  tendril::run([&] {
    // The demo's site: /size/N answers N bytes; anything else is a 404.
    std::optional<tendril::http::server> site;
    if (demo) {
      site.emplace(tendril::endpoint::loopback(0), [](const tendril::http::server_request& r) {
        tendril::http::server_response response;
        if (!r.path().starts_with("/size/")) {
          response.status = 404;
          return response;
        }
        response.body.assign(std::strtoul(std::string(r.path().substr(6)).c_str(), nullptr, 10), 'x');
        return response;
      });
      site->start();
      for (const char* path : {"/size/1024", "/size/65536", "/size/1048576", "/missing"})
        fetches.push_back({.url = site->url(path)});
    }
    std::vector<tendril::task<void>> tasks;
    for (fetch& f : fetches) tasks.push_back(tendril::spawn([&f, timeout] { run_fetch(f, timeout); }));
    // The progress line, on a terminal only: redrawn every 100 ms until all are done.
    tendril::event all_done("all fetched");
    tendril::task<void> progress = tendril::spawn([&] {
      if (::isatty(STDERR_FILENO) == 0) return;
      while (!all_done.wait_for(100ms)) show_progress(fetches);
      show_progress(fetches);
      std::fputc('\n', stderr);
    });
    tendril::joinall(tasks);
    all_done.set();
    progress.join();
    if (site) site->stop();
  });

  bool all_answered = true;
  for (const fetch& f : fetches) {
    if (f.error.empty()) {
      std::printf("%ld  %10s  %7.3f s  %s\n", f.status, human_size(f.bytes).c_str(), f.seconds,
                  f.url.c_str());
    } else {
      std::printf("err  %10s  %7.3f s  %s\n", "", f.seconds, f.error.c_str());
      all_answered = false;
    }
  }
  return all_answered ? 0 : 1;
}
