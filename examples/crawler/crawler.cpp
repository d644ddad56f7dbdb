// crawler: a concurrent web crawler written in blocking style, the way a
// gevent user writes one (README command 1).
//
//   crawler                        crawl the built-in site: 20,000 pages served
//                                  by this process on a free loopback port
//   crawler https://example.org/   crawl a site (staying on its origin)
//   crawler --threads 2            the same on two threads (an M:N runtime)
//   crawler --serve 8080           serve the built-in site on 127.0.0.1:8080 and
//                                  crawl nothing, for other crawlers (bench/run's
//                                  crawl benchmark); port 0 picks a free one
//   crawler --help                 every option
//
// The crawl itself is crawl.hpp: worker fibers taking URLs from a frontier.
// This file is the command line and the wiring: which hubs run it, the
// built-in site's server, the progress fiber, Ctrl-C, and the exit status:
//
//   0   the crawl ran to its end (pages that failed are in the summary);
//       with --serve, the site was served until SIGINT or SIGTERM
//   1   it could not run: the start URL got no answer, or the frontier failed
//   2   bad command line
//   3   the built-in site's counters disagree with the crawl (site_check.hpp)
//   130 interrupted (SIGINT or SIGTERM); the summary is printed first

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include <tendril/hub/run.hpp>
#include <tendril/hub/runtime.hpp>
#include <tendril/hub/task.hpp>
#include <tendril/io/http_server.hpp>
#include <tendril/io/runtime_server.hpp>
#include <tendril/io/signal.hpp>
#include <tendril/patch.hpp>
#include <tendril/sync/event.hpp>

#include "crawl.hpp"
#include "frontier.hpp"
#include "progress.hpp"
#include "site.hpp"
#include "site_check.hpp"

namespace {

using tendril::clock;

struct command_line {
  std::string url;  // empty: the built-in site
  crawler::crawl_options crawl;
  std::size_t threads = 0;
  std::optional<std::size_t> max_pages;
  std::optional<unsigned> max_depth;
  std::optional<std::size_t> per_host;
  double timeout_seconds = 10;
  std::string frontier;  // "redis://host:port/key", or empty: in memory
  bool quiet = false;
  std::optional<std::uint16_t> serve_port;  // --serve: the site alone, no crawl
  crawler::site_options site;
  double site_latency_ms = 0;
};

clock::duration from_seconds(double s) {
  return std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(s));
}

const std::string site_group = "The built-in site (without a URL)";

void add_crawl_options(CLI::App& app, command_line& c) {
  app.add_option("url", c.url, "Where to start: an http:// or https:// URL");
  app.add_option("--fibers", c.crawl.fibers, "Worker fibers: fetches in flight at most")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--threads", c.threads, "Run on an M:N runtime of N threads, one hub each (0: one thread)")
      ->capture_default_str();
  app.add_option("--max-pages", c.max_pages, "Fetch at most N URLs (default: no limit)")
      ->check(CLI::PositiveNumber);
  app.add_option("--max-depth", c.max_depth, "Follow links at most N deep (0: the start URL only)");
  app.add_option("--per-host", c.per_host,
                 "Requests in flight to one host at once (default: 16; for the built-in site, --fibers)")
      ->check(CLI::PositiveNumber);
  app.add_option("--timeout", c.timeout_seconds, "Seconds per request")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--retries", c.crawl.retries, "Retries of a 5xx, 429, timeout or dropped connection")
      ->capture_default_str();
  app.add_flag("--robots", c.crawl.robots, "Obey robots.txt");
  app.add_flag("--all-hosts", c.crawl.all_hosts,
               "Follow links to other hosts (default: stay on the start's)");
  app.add_option("--frontier", c.frontier,
                 "redis://host:port/key: keep the frontier in Redis, shared with other crawler processes")
      ->check([](const std::string& s) {
        return s.starts_with("redis://") ? "" : "expected redis://host:port/key";
      });
  app.add_flag("--quiet", c.quiet, "No progress, only the summary");
}

void add_site_options(CLI::App& app, command_line& c) {
  app.add_option("--site-pages", c.site.pages, "Pages of the built-in site")
      ->capture_default_str()
      ->check(CLI::PositiveNumber)
      ->group(site_group);
  app.add_option("--site-latency", c.site_latency_ms, "Milliseconds the site waits before each answer")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber)
      ->group(site_group);
  app.add_option("--site-error-rate", c.site.error_rate,
                 "Fraction of pages whose first request gets 503 (then retried)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0))
      ->group(site_group);
  app.add_flag("--site-traps", c.site.traps,
               "Serve traps too: a slow page, a redirect loop, a dropped connection, an image, 100k links")
      ->group(site_group);
  app.add_option("--serve", c.serve_port,
                 "Crawl nothing: serve the site on 127.0.0.1:PORT (0: a free port) on one thread, print its "
                 "URL, stop at SIGINT or SIGTERM; for other crawlers (bench/run's crawl benchmark)")
      ->type_name("PORT")
      ->group(site_group);
}

// parse(argc, argv, c) fills `c`; returns an exit status when the program
// should end at once (--help: 0, a bad command line: 2).
std::optional<int> parse(int argc, char** argv, command_line& c) {
  CLI::App app{
      "A concurrent web crawler on tendril fibers. Without a URL it crawls a generated site that it "
      "serves itself on 127.0.0.1, and checks the crawl against the site's own counters.",
      "crawler"};
  app.footer(
      "Exit status: 0 the crawl ran (failed pages are in the summary), 1 the start URL got no answer or the "
      "frontier failed, 2 bad command line, 3 the built-in site's check failed, 130 interrupted.");
  add_crawl_options(app, c);
  add_site_options(app, c);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  const auto site_options =
      app.get_options([&](const CLI::Option* o) { return o->get_group() == site_group; });
  const bool site_option_given = std::any_of(site_options.begin(), site_options.end(),
                                             [](const CLI::Option* o) { return o->count() > 0; });
  if (c.serve_port && (!c.url.empty() || c.threads != 0)) {
    std::cerr
        << "crawler: --serve serves the built-in site on one thread; it takes no URL and no --threads\n";
    return 2;
  }
  if (!c.url.empty() && site_option_given) {
    std::cerr
        << "crawler: the --site-* options are for the built-in site, which is not crawled when a URL is "
           "given\n";
    return 2;
  }
  if (!c.url.empty() && !crawler::parse_url(c.url)) {
    std::cerr << "crawler: \"" << c.url << "\" is not an absolute http:// or https:// URL\n";
    return 2;
  }
  c.crawl.timeout = from_seconds(c.timeout_seconds);
  c.crawl.max_depth = c.max_depth.value_or(crawler::unlimited_depth);
  // The built-in site is this program's own: no politeness is owed to it,
  // and a limit below --fibers would hide what the fibers do.
  c.crawl.per_host = c.per_host.value_or(c.url.empty() ? c.crawl.fibers : 16);
  c.site.latency = from_seconds(c.site_latency_ms / 1000);
  return std::nullopt;
}

std::unique_ptr<crawler::frontier> make_frontier(const command_line& c) {
  const std::size_t budget = c.max_pages.value_or(crawler::unlimited_pages);
  if (c.frontier.empty()) return crawler::make_memory_frontier(budget);
  return crawler::make_redis_frontier(c.frontier, budget, std::min<std::size_t>(c.crawl.fibers, 32));
}

crawler::progress_options progress_on_stdout() {
  crawler::progress_options o;
  o.terminal = ::isatty(STDOUT_FILENO) == 1;
  winsize size{};
  if (o.terminal && ::ioctl(STDOUT_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col > 0)
    o.columns = size.ws_col;
  return o;
}

// report(job, s, c) prints the summary, the site check and what went wrong;
// returns the exit status.
int report(const crawler::crawl& job, const crawler::site* s, const command_line& c,
           std::exception_ptr frontier_error) {
  const crawler::crawl_summary summary = job.stats().summary();
  std::cout << crawler::summary_text(summary, job.elapsed());
  int status = 0;
  if (job.stopped()) {
    std::cout << "interrupted: the summary counts what was done until then\n";
    if (s) std::cout << "check: skipped, the crawl was interrupted\n";
    status = 130;
  } else if (s) {
    crawler::site_check_result check =
        crawler::check_site_crawl(*s, summary, job.options(), c.max_pages || c.max_depth);
    std::cout << check.line << '\n';
    for (const std::string& p : check.problems) std::cout << "  " << p << '\n';
    status = check.passed ? 0 : 3;
  }
  std::cout << std::flush;
  if (frontier_error) {
    try {
      std::rethrow_exception(frontier_error);
    } catch (const std::exception& e) {
      std::cerr << "crawler: the frontier failed: " << e.what() << '\n';
    }
    return 1;
  }
  if (const std::optional<crawler::failure> f = job.start_failure()) {
    std::cerr << "crawler: cannot crawl " << f->url << ": the start URL got no answer: " << f->kind << " ("
              << f->message << ")\n";
    return 1;
  }
  return status;
}

// session(c, start, rt, s) crawls from `start` and reports: the program's
// main fiber, on the only hub or on hub 0 of `rt`.
int session(const command_line& c, const std::string& start, tendril::runtime* rt, const crawler::site* s) {
  std::unique_ptr<crawler::frontier> f = make_frontier(c);
  crawler::crawl_options o = c.crawl;
  o.start_url = start;
  o.runtime = rt;
  crawler::crawl job(o, *f);
  std::cout << "crawler: crawling " << start;
  if (s) std::cout << " (the built-in site, " << s->pages() << " pages)";
  std::cout << " with " << o.fibers << " fibers on " << (rt ? rt->size() : 1) << (rt ? " threads" : " thread")
            << '\n'
            << std::flush;

  auto interrupt = tendril::spawn(tendril::spawn_options{"interrupt"}, [&job] {
    tendril::wait_signal({SIGINT, SIGTERM});
    job.stop();
  });
  tendril::event finished{"crawl finished"};
  tendril::task<void> progress;
  if (!c.quiet)
    progress = tendril::spawn(tendril::spawn_options{"progress"}, [&] {
      crawler::show_progress(job, *f, finished, std::cout, progress_on_stdout());
    });
  std::exception_ptr frontier_error;
  try {
    job.run();
  } catch (const std::exception&) {
    frontier_error = std::current_exception();
  }
  finished.set();
  interrupt.kill();
  if (!progress.empty()) progress.join();
  return report(job, s, c, frontier_error);
}

// crawl_given_url(c) runs the session on one hub, or on hub 0 of a runtime
// of c.threads hubs.
int crawl_given_url(const command_line& c) {
  if (c.threads == 0) return tendril::run([&c] { return session(c, c.url, nullptr, nullptr); });
  tendril::runtime rt{c.threads};
  const int status = tendril::run_on(rt.hub(0), [&] { return session(c, c.url, &rt, nullptr); });
  rt.stop();
  return status;
}

// crawl_built_in_site(c) serves the site in this process and crawls it:
// with one hub, its server is a task beside the workers; on a runtime, a
// runtime_server answers on every hub.
int crawl_built_in_site(const command_line& c) {
  // The site is on loopback: a proxy named by the environment must not stand in between.
  ::setenv("no_proxy", "127.0.0.1", 1);
  crawler::site s(c.site);
  const auto handler = [&s](const tendril::http::server_request& r) { return s.handle(r); };
  if (c.threads == 0)
    return tendril::run([&] {
      tendril::http::server server(tendril::endpoint::loopback(0), handler);
      server.start();
      const int status = session(c, server.url("/"), nullptr, &s);
      server.stop(std::chrono::milliseconds(200));  // what is left is a trap still sleeping
      return status;
    });
  tendril::runtime rt{c.threads};
  tendril::runtime_server server(rt, tendril::endpoint::loopback(0),
                                 tendril::http::connection_handler(handler));
  const std::string start = "http://" + server.local_endpoint().to_string() + "/";
  const int status = tendril::run_on(rt.hub(0), [&] { return session(c, start, &rt, &s); });
  rt.stop();
  return status;
}

// serve_built_in_site(c) is --serve: the site on one hub, no crawl. The
// URL goes to stdout, flushed, once the server listens: a program that
// started this one reads it to know where, and that it is ready.
int serve_built_in_site(const command_line& c) {
  crawler::site s(c.site);
  return tendril::run([&] {
    tendril::http::server server(tendril::endpoint::loopback(*c.serve_port),
                                 [&s](const tendril::http::server_request& r) { return s.handle(r); });
    server.start();
    std::cout << server.url("/") << std::endl;
    tendril::wait_signal({SIGINT, SIGTERM});
    server.stop(std::chrono::milliseconds(200));
    return 0;
  });
}

}  // namespace

int main(int argc, char** argv) {
  command_line c;
  if (const std::optional<int> status = parse(argc, argv, c)) return *status;
  // hiredis's blocking calls become cooperative (patch/README.md).
  if (!c.frontier.empty()) tendril::patch_all();
  try {
    if (c.serve_port) return serve_built_in_site(c);
    return c.url.empty() ? crawl_built_in_site(c) : crawl_given_url(c);
  } catch (const std::exception& e) {
    std::cerr << "crawler: " << e.what() << '\n';
    return 1;
  }
}
