// Stress across hubs, in every scheduling mode (one hub; M:N with 1, 2 and
// 4 threads; see support/modes.hpp): ping-pong between hubs, many producers
// and consumers on a shared queue, spawn storms, join storms, kill storms,
// and stopping a runtime under load. Each checks that nothing is lost,
// duplicated or left behind; CI runs them under ThreadSanitizer, which
// checks that every hand-over between threads is synchronised.
//
// Catch2 assertions are not thread-safe. Tasks on other hubs only count and
// record; the mode's body, or the test thread after the runtime has
// stopped, checks.

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <deque>
#include <exception>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include <tendril/error.hpp>
#include <tendril/fiber/greenlet.hpp>
#include <tendril/hub/hub.hpp>
#include <tendril/hub/join.hpp>
#include <tendril/hub/runtime.hpp>
#include <tendril/hub/sleep.hpp>
#include <tendril/hub/task.hpp>
#include <tendril/sync/channel.hpp>
#include <tendril/sync/event.hpp>
#include <tendril/sync/queue.hpp>
#include <tendril/sync/wait_group.hpp>

#include "support/hub_fixture.hpp"
#include "support/modes.hpp"

namespace {

using namespace std::chrono_literals;
using tendril::event;
using tendril::runtime;
using tendril::task;
using tendril::task_base;
using tendril::testing::mode;
using tendril::testing::what_of;

#if defined(__SANITIZE_THREAD__)
// ThreadSanitizer slows every access down and dies past 8128 threads and
// fibers together: fewer rounds, fewer fibers alive at once.
constexpr int scale_down = 5;
#elif defined(__SANITIZE_ADDRESS__)
constexpr int scale_down = 2;
#else
constexpr int scale_down = 1;
#endif

constexpr int messages = 10'000 / scale_down;
constexpr int ping_rounds = 10'000 / scale_down;
constexpr int spawns = 2'000 / scale_down;
constexpr int kills = 2'000 / scale_down;
static_assert(spawns % 4 == 0, "the spawn storm splits the spawns among 4 spawners");

// A stress body may take longer than a unit test's under a sanitizer.
constexpr auto stress_limit = std::chrono::seconds(200);

long this_thread_id() { return static_cast<long>(::gettid()); }

/// lifetimes counts tasks that started and tasks whose stack unwound.
struct lifetimes {
  std::atomic<int> started{0};
  std::atomic<int> unwound{0};

  struct guard {
    lifetimes& l;
    explicit guard(lifetimes& counts) : l(counts) { ++l.started; }
    guard(const guard&) = delete;
    guard& operator=(const guard&) = delete;
    ~guard() { ++l.unwound; }
  };
};

std::vector<int> iota(int n) {
  std::vector<int> out(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) out[static_cast<std::size_t>(i)] = i;
  return out;
}

}  // namespace

TEST_CASE("ping-pong between hubs hands a counter back and forth without losing a round") {
  mode m = tendril::testing::every_mode();
  m.run(
      [&] {
        // Two pairs at once, each a fiber on hub 2p and one on hub 2p + 1.
        struct players {
          tendril::channel<int> ping;
          tendril::channel<int> pong;
        };
        players pairs[2];
        std::vector<task<int>> pingers;
        std::vector<task<int>> pongers;
        for (std::size_t p = 0; p < 2; ++p) {
          players& link = pairs[p];
          pongers.push_back(m.spawn_on(2 * p + 1, [&link] {
            int out_of_turn = 0;
            for (int r = 0; r < ping_rounds; ++r) {
              const int v = link.ping.get();
              if (v != 2 * r) ++out_of_turn;
              link.pong.put(v + 1);
            }
            return out_of_turn;
          }));
          pingers.push_back(m.spawn_on(2 * p, [&link] {
            int v = 0;
            for (int r = 0; r < ping_rounds; ++r) {
              link.ping.put(v);
              v = link.pong.get() + 1;
            }
            return v;
          }));
        }
        for (std::size_t p = 0; p < 2; ++p) {
          CHECK(pingers[p].get() == 2 * ping_rounds);
          CHECK(pongers[p].get() == 0);
        }
      },
      stress_limit);
}

TEST_CASE("many producers and consumers on several hubs pass every message exactly once") {
  mode m = tendril::testing::every_mode();
  m.run(
      [&] {
        constexpr int producers = 8;
        constexpr int consumers = 8;
        tendril::queue<int> items(16, "messages");
        std::vector<task<void>> putters;
        for (int p = 0; p < producers; ++p)
          putters.push_back(m.spawn_on(static_cast<std::size_t>(p), [&items, p] {
            for (int k = p; k < messages; k += producers) {
              if (k % 3 == 0) {
                while (!items.put_for(k, 1ms)) {  // short deadlines race the hand-overs
                }
              } else {
                items.put(k);
              }
            }
          }));
        std::vector<task<std::vector<int>>> getters;
        for (int c = 0; c < consumers; ++c)
          getters.push_back(m.spawn_on(static_cast<std::size_t>(c + 1), [&items, c] {
            std::vector<int> got;
            try {
              for (;;) {
                if (c % 2 == 0) {
                  got.push_back(items.get());
                } else if (auto item = items.get_for(1ms)) {
                  got.push_back(*item);
                }
              }
            } catch (const tendril::queue_closed&) {
            }
            return got;
          }));
        CHECK(tendril::joinall(putters));
        items.close();
        std::vector<int> all;
        for (auto& g : getters) {
          const std::vector<int> got = g.get();
          all.insert(all.end(), got.begin(), got.end());
        }
        std::sort(all.begin(), all.end());
        CHECK(all == iota(messages));
      },
      stress_limit);
}

TEST_CASE("a spawn storm from every hub onto every hub runs each task once on the hub it was sent to") {
  mode m = tendril::testing::every_mode();
  m.run(
      [&] {
        constexpr std::size_t spawners = 4;
        const std::size_t per_spawner = spawns / spawners;
        std::vector<long> ran_on(spawns, 0);  // slot k written by task k only, read after `all`
        std::vector<long> expected(spawns, 0);
        for (std::size_t k = 0; k < ran_on.size(); ++k) expected[k] = m.hub(k).thread_id();
        std::atomic<int> runs{0};
        std::atomic<int> children{0};
        tendril::wait_group all;
        all.add(2 * spawns);
        std::vector<task<void>> spawning;
        for (std::size_t s = 0; s < spawners; ++s)
          spawning.push_back(m.spawn_on(s, [&, s] {
            for (std::size_t j = 0; j < per_spawner; ++j) {
              const std::size_t k = s * per_spawner + j;
              m.spawn_on(k, [&, k] {
                ran_on[k] = this_thread_id();
                ++runs;
                m.spawn([&] {  // placed by the mode
                  ++children;
                  all.done();
                });
                all.done();
              });
              if (j % 64 == 0) tendril::yield();
            }
          }));
        all.wait();
        CHECK(tendril::joinall(spawning));
        CHECK(runs == spawns);
        CHECK(children == spawns);
        CHECK(ran_on == expected);
      },
      stress_limit);
}

TEST_CASE("a join storm: tasks on every hub wait for the values of tasks on other hubs") {
  mode m = tendril::testing::every_mode();
  m.run(
      [&] {
        std::vector<task<long long>> parents;
        for (int i = 0; i < spawns / 2; ++i)
          parents.push_back(m.spawn_on(static_cast<std::size_t>(i), [&m, i] {
            auto child = m.spawn_on(static_cast<std::size_t>(i) + 1, [i] {
              tendril::yield();
              return static_cast<long long>(i) * 2;
            });
            return child.get() + 1;
          }));
        long long sum = 0;
        for (auto& p : parents) sum += p.get();
        const long long n = spawns / 2;
        CHECK(sum == n * (n - 1) + n);  // sum of 2i + 1 over i < n
      },
      stress_limit);
}

TEST_CASE("a kill storm from every hub ends each task exactly once whether it was killed or released") {
  mode m = tendril::testing::every_mode();
  m.run(
      [&] {
        constexpr std::size_t killers = 4;
        lifetimes counts;
        std::atomic<int> released{0};
        event release;
        std::vector<task<void>> victims;
        for (int i = 0; i < kills; ++i)
          victims.push_back(m.spawn_on(static_cast<std::size_t>(i), [&] {
            lifetimes::guard g(counts);
            release.wait();
            ++released;
          }));
        // Killers on every hub each kill a stripe of the victims (some not
        // started yet): the first half of each stripe before the event is
        // set, the second half racing with it.
        std::vector<std::vector<task_base>> stripes(killers);
        for (std::size_t k = 0; k < victims.size(); ++k) stripes[k % killers].push_back(victims[k]);
        tendril::wait_group first_halves;
        first_halves.add(killers);
        std::size_t killed_before_release = 0;
        std::vector<task<void>> killing;
        for (std::size_t s = 0; s < killers; ++s) {
          const auto half = static_cast<std::ptrdiff_t>(stripes[s].size() / 2);
          killed_before_release += stripes[s].size() / 2;
          killing.push_back(m.spawn_on(s + 1, [&, s, half] {
            const std::vector<task_base>& stripe = stripes[s];
            tendril::killall(std::vector<task_base>(stripe.begin(), stripe.begin() + half));
            first_halves.done();
            tendril::killall(std::vector<task_base>(stripe.begin() + half, stripe.end()));
          }));
        }
        first_halves.wait();
        release.set();
        CHECK(tendril::joinall(killing));
        CHECK(tendril::joinall(victims));
        std::size_t killed = 0;
        int successful = 0;
        for (const auto& v : victims) {
          killed += v.killed() ? 1 : 0;
          successful += v.successful() ? 1 : 0;
        }
        CHECK(killed + static_cast<std::size_t>(successful) == victims.size());
        CHECK(killed >= killed_before_release);
        CHECK(successful == released);
        CHECK(counts.unwound == counts.started);  // every task that started has unwound
      },
      stress_limit);
}

TEST_CASE("stopping a runtime under load kills every task and each one it started unwinds") {
  const std::size_t threads = tendril::testing::runtime_threads();
  INFO(threads << " threads");
  // Declared before the runtime: its tasks use them until it has stopped.
  lifetimes counts;
  std::atomic<int> progress{0};
  tendril::queue<int> work(32, "work");
  std::mutex lock;
  std::vector<std::string> failures;
  runtime::options options;
  options.threads = threads;
  options.error_handler = [&](const task_base& t, std::exception_ptr e) {
    std::lock_guard guard(lock);
    failures.push_back(t.describe() + ": " + what_of(e));
  };
  auto rt = std::make_unique<runtime>(std::move(options));

  std::vector<task<void>> workers;
  for (std::size_t w = 0; w < 4 * threads; ++w) {
    const bool producer = w % 2 == 0;
    workers.push_back(tendril::spawn_on(rt->hub(w % threads), [&, producer, w] {
      lifetimes::guard g(counts);
      for (int i = 0;; ++i) {
        if (producer) {
          work.put(i);
        } else {
          work.get();
        }
        if (i % 8 == 0)  // a short-lived child on the next hub
          tendril::spawn_on(rt->hub((w + 1) % threads), [&] {
            lifetimes::guard child(counts);
            tendril::yield();
          });
        ++progress;
        tendril::yield();
      }
    }));
  }
  // A thread without a hub spawns until the runtime refuses, keeping at
  // most 64 of its tasks unfinished.
  std::thread spawner([&] {
    std::deque<task<void>> window;
    for (;;) {
      try {
        window.push_back(rt->spawn([&] {
          lifetimes::guard g(counts);
          tendril::yield();
        }));
      } catch (const tendril::error&) {
        return;
      }
      if (window.size() > 64) {
        window.front().join();
        window.pop_front();
      }
    }
  });
  while (progress < 1000) std::this_thread::yield();  // the load is running

  CHECK_FALSE(rt->stop(10ms));
  spawner.join();
  for (const auto& w : workers) {
    CHECK(w.ready());
    INFO("it ended with: " << what_of(w.exception()));
    CHECK(w.killed());
  }
  CHECK(counts.unwound == counts.started);
  CHECK_THROWS_AS(rt->spawn([] {}), tendril::error);
  rt.reset();
  std::lock_guard guard(lock);
  for (const std::string& f : failures) FAIL_CHECK(f << " and nobody observed it");
}
