// Property tests for sync (issue 9): randomised sequences of puts and gets,
// try_*, deadlines (some already passed, some expiring, some not), timeout
// scopes, kills at random points and close() in the middle, run by fibers
// spread over the hubs of every scheduling mode (support/modes.hpp), each
// checked against what must hold whatever the interleaving:
//
// - queue<T> (bounded and unbounded) and channel<T>: no item lost, none
//   duplicated, none delivered whose put returned false, threw "closed" or
//   (queue only) raised; each consumer sees each producer's items in order
//   when no consumer is interrupted; a bounded queue's size() never exceeds
//   maxsize() by more than the items given back by interrupted gets.
// - semaphore and bounded_semaphore: no more holders than permits, the free
//   count never above its initial value (so never "negative" either), and
//   every permit back at the end.
// - mutex: one holder at a time, no lost update, free at the end.
// - event: every waiter present at set() wakes, even if clear() follows.
//
// Kills come at random points, and also right after the body has handed
// something over (an item, a slot, ownership, a permit), so that the waiter
// it went to may be killed at that moment: park() lets the interrupt win,
// and the object must pass what it granted on.
//
// The seed of each run is printed with every failure. To replay one, set
// TENDRIL_PROPERTY_SEED (decimal or 0x...): each case then runs that seed
// alone, in every mode. TENDRIL_PROPERTY_RUNS sets how many random seeds a
// case runs per mode (default 20). A seed fixes what each fiber and the
// body do, and where each task runs; which deadlines expire first, and the
// interleaving across hubs, still vary from run to run.
//
// Catch2 assertions are not thread-safe: tasks record what they see in
// logs of their own, which the body reads after joining them.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <iterator>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <tuple>
#include <type_traits>
#include <vector>

#include <catch2/catch.hpp>

#include <tendril/error.hpp>
#include <tendril/hub/runtime.hpp>
#include <tendril/hub/sleep.hpp>
#include <tendril/hub/task.hpp>
#include <tendril/hub/timeout.hpp>
#include <tendril/sync/channel.hpp>
#include <tendril/sync/event.hpp>
#include <tendril/sync/mutex.hpp>
#include <tendril/sync/queue.hpp>
#include <tendril/sync/semaphore.hpp>

#include "support/hub_fixture.hpp"
#include "support/modes.hpp"

namespace {

using namespace std::chrono_literals;
using tendril::clock;
using tendril::task;
using tendril::testing::mode;
using random_source = std::mt19937_64;
using ids = std::vector<long>;

// A run takes milliseconds (well under a second under ThreadSanitizer). A
// task still waiting run_limit after the run began has lost a wake-up, a
// permit or an item: finish() fails the run, kills what is left and ends
// that mode's seeds, so a case that hangs in every mode still ends within
// its CTest timeout. The body itself never waits past run_limit: were the
// mode's limit (the backstop) to pass while it waited, the body would
// unwind, and the state it shares with the tasks with it, while they run.
constexpr auto run_limit = std::chrono::seconds(20);
constexpr auto mode_limit = std::chrono::seconds(40);

/// A run sets hung when finish() found a task still waiting at run_limit;
/// for_each_seed then skips the rest of that mode's seeds.
std::atomic<bool> hung{false};

// --- seeds and random choices -----------------------------------------------------

/// seeds() is TENDRIL_PROPERTY_SEED alone when set, else TENDRIL_PROPERTY_RUNS
/// (default 20) seeds from std::random_device.
std::vector<std::uint64_t> seeds() {
  if (const char* text = std::getenv("TENDRIL_PROPERTY_SEED")) return {std::stoull(text, nullptr, 0)};
  std::size_t runs = 20;
  if (const char* text = std::getenv("TENDRIL_PROPERTY_RUNS")) runs = std::stoul(text);
  std::random_device device;
  std::vector<std::uint64_t> out;
  for (std::size_t i = 0; i < runs; ++i) out.push_back(std::uint64_t{device()} << 32 | device());
  return out;
}

/// for_each_seed(run) calls run(m, seed) for each seed, in each mode (one
/// hub; M:N with 1, 2 and 4 threads), with a fresh mode each time.
template <class F>
void for_each_seed(F&& run) {
  const std::size_t threads = GENERATE(as<std::size_t>{}, 0, 1, 2, 4);
  for (std::uint64_t seed : seeds()) {
    INFO("seed " << seed << " (replay: TENDRIL_PROPERTY_SEED=" << seed << ")");
    mode m(threads);
    hung = false;
    run(m, seed);
    if (hung) break;
  }
}

bool chance(random_source& rng, double p) { return std::bernoulli_distribution(p)(rng); }

std::size_t below(random_source& rng, std::size_t n) {
  return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng);
}

/// short_wait() is 0 to 300 µs: a deadline or timeout scope that often
/// expires while the fiber waits, and sometimes races a grant.
clock::duration short_wait(random_source& rng) { return std::chrono::microseconds(below(rng, 300)); }

/// How a blocking call is made.
enum class how {
  try_now,         // try_put, try_get, try_lock, try_acquire
  past,            // a deadline that has already passed
  short_deadline,  // short_wait()
  long_deadline,   // 10 s: in practice, until granted
  forever,         // no deadline
  scope,           // no deadline, inside a timeout scope of short_wait()
};

how pick_how(random_source& rng) { return static_cast<how>(below(rng, 6)); }

/// take(h, rng, try_now, try_until, block) takes a permit or a lock the way
/// `h` says, through the object's own calls: try_now(), try_until(deadline)
/// and block(). True if taken.
template <class TryNow, class TryUntil, class Block>
bool take(how h, random_source& rng, TryNow try_now, TryUntil try_until, Block block) {
  switch (h) {
    case how::try_now:
      return try_now();
    case how::past:
      return try_until(clock::now() - 1ms);
    case how::short_deadline:
      return try_until(tendril::deadline_after(short_wait(rng)));
    case how::long_deadline:
      return try_until(tendril::deadline_after(10s));
    case how::forever:
      block();
      return true;
    case how::scope:
      return tendril::with_timeout(
          short_wait(rng),
          [&] {
            block();
            return true;
          },
          false);
  }
  return false;
}

/// yields(rng, most) yields 0 to `most` times.
void yields(random_source& rng, std::size_t most) {
  for (std::size_t n = below(rng, most + 1); n > 0; --n) tendril::yield();
}

/// kill_one(tasks, from, rng) kills one of tasks[from..] without waiting.
template <class Task>
void kill_one(const std::vector<Task>& tasks, std::size_t from, random_source& rng) {
  if (tasks.size() > from) tasks[from + below(rng, tasks.size() - from)].kill(nullptr, false);
}

/// disturb(tasks, rng, race) takes 30 random steps beside the workers:
/// yield, sleep briefly, kill one of them, or run `race` (the object's own
/// race: a hand-over to a waiter that may be killed at that moment).
template <class Task, class Race>
void disturb(const std::vector<Task>& tasks, random_source& rng, Race race) {
  for (int step = 0; step < 30; ++step) {
    switch (below(rng, 4)) {
      case 0:
        yields(rng, 4);
        break;
      case 1:
        tendril::sleep(short_wait(rng));
        break;
      case 2:
        kill_one(tasks, 0, rng);
        break;
      case 3:
        race();
        break;
    }
  }
}

/// finish(tasks, limit) waits until every task has ended. One still
/// waiting at `limit` fails the run, and is killed and waited for, so the
/// state the tasks share outlives them. A task that ended by an exception
/// other than a kill fails the run too.
template <class Task>
void finish(const std::vector<Task>& tasks, clock::time_point limit) {
  for (const Task& t : tasks) {
    if (t.join_until(limit)) continue;
    hung = true;
    FAIL_CHECK(t.describe() << " was still waiting when the run's limit passed");
    t.kill();
  }
  for (const Task& t : tasks)
    if (!t.killed() && t.exception())
      FAIL_CHECK(t.describe() << ": " << tendril::testing::what_of(t.exception()));
}

// --- queue and channel ----------------------------------------------------------

/// Items are move-only, so a duplicate cannot come from a copy; an item
/// delivered empty (moved from) is recorded as -1.
using item = std::unique_ptr<long>;
constexpr long stride = 1000;  // producer p puts p * stride + 0, 1, ...

template <class Box>
constexpr bool rendezvous = std::is_same_v<Box, tendril::channel<item>>;

/// A producer's record, written by that producer only.
struct producer_log {
  ids put;                      // items whose put returned true, in order
  ids raised;                   // items whose put raised timeout_error (its own scope)
  std::optional<long> pending;  // the item of the put in progress; still set if killed there
  long not_untouched = 0;       // puts that returned false or threw "closed" yet took the item
  std::size_t over_bound = 0;   // the most size() was seen above what the bound allows
};

/// A consumer's record, written by that consumer only.
struct consumer_log {
  ids got;  // in the order received
  std::size_t over_bound = 0;
};

/// The object and what every fiber of one run shares.
template <class Box>
struct exchange {
  Box& box;
  bool interrupt_consumers;  // consumers are killed and use timeout scopes
  // Kills of consumers and timeout scopes around gets, counted before each
  // starts: each may give one item back, above maxsize().
  std::atomic<std::size_t> consumer_interrupts{0};
};

/// check_bound(x, worst) records how far a bounded queue's size() is above
/// maxsize() plus the items interrupted gets may have given back.
template <class Box>
void check_bound(exchange<Box>& x, std::size_t& worst) {
  if constexpr (!rendezvous<Box>) {
    if (x.box.maxsize() == 0) return;
    const std::size_t size = x.box.size();  // first: the allowance only grows
    const std::size_t allowed = x.box.maxsize() + x.consumer_interrupts.load();
    if (size > allowed) worst = std::max(worst, size - allowed);
  }
}

/// put_one(x, id, h, rng, log) puts item `id` as `h` says; true if it was put.
template <class Box>
bool put_one(exchange<Box>& x, long id, how h, random_source& rng, producer_log& log) {
  item it = std::make_unique<long>(id);
  bool put = false;
  try {
    switch (h) {
      case how::try_now:
        put = x.box.try_put(std::move(it));
        break;
      case how::past:
        put = x.box.put_until(std::move(it), clock::now() - 1ms);
        break;
      case how::short_deadline:
        put = x.box.put_for(std::move(it), short_wait(rng));
        break;
      case how::long_deadline:
        put = x.box.put_for(std::move(it), 10s);
        break;
      case how::forever:
        x.box.put(std::move(it));
        return true;
      case how::scope: {
        tendril::timeout scope(short_wait(rng));
        try {
          return x.box.put_until(std::move(it), tendril::no_deadline);
        } catch (const tendril::timeout_error& e) {
          if (!scope.owns(e)) throw;
          log.raised.push_back(id);  // a channel's get may have taken it all the same
          return false;
        }
      }
    }
  } catch (const tendril::error&) {
    if (h != how::forever && (!it || *it != id)) ++log.not_untouched;
    throw;
  }
  if (!put && (!it || *it != id)) ++log.not_untouched;
  return put;
}

/// produce(x, log, first, count, seed) puts items first.. in order, each in
/// a random way, until done or the box is closed.
template <class Box>
void produce(exchange<Box>& x, producer_log& log, long first, long count, std::uint64_t seed) {
  random_source rng(seed);
  for (long id = first; id < first + count; ++id) {
    if (chance(rng, 0.3)) yields(rng, 2);
    log.pending = id;
    bool put = false;
    try {
      put = put_one(x, id, pick_how(rng), rng, log);
    } catch (const tendril::error&) {
      if (!x.box.closed()) throw;
      log.pending.reset();
      return;
    }
    log.pending.reset();
    if (put)
      log.put.push_back(id);
    else
      tendril::yield();  // a try on a full queue must not spin
    check_bound(x, log.over_bound);
  }
}

/// get_one(x, h, rng) gets as `h` says; nullopt if nothing was got.
/// Throws queue_closed once the box is closed and empty.
template <class Box>
std::optional<item> get_one(exchange<Box>& x, how h, random_source& rng) {
  switch (h) {
    case how::try_now: {
      std::optional<item> got = x.box.try_get();
      if (!got && x.box.closed()) throw tendril::queue_closed("closed and empty");
      return got;
    }
    case how::past:
      return x.box.get_until(clock::now() - 1ms);
    case how::short_deadline:
      return x.box.get_for(short_wait(rng));
    case how::long_deadline:
      return x.box.get_for(10s);
    case how::forever:
      return x.box.get();
    case how::scope:
      if (!x.interrupt_consumers) return x.box.get();
      ++x.consumer_interrupts;
      return tendril::with_timeout(
          short_wait(rng), [&] { return std::optional<item>(x.box.get()); }, std::optional<item>());
  }
  return std::nullopt;
}

/// consume(x, log, seed) gets in random ways until the box is closed and empty.
template <class Box>
void consume(exchange<Box>& x, consumer_log& log, std::uint64_t seed) {
  random_source rng(seed);
  for (;;) {
    std::optional<item> got;
    try {
      got = get_one(x, pick_how(rng), rng);
    } catch (const tendril::queue_closed&) {
      return;
    }
    if (got)
      log.got.push_back(*got ? **got : -1);
    else
      tendril::yield();  // a try on an empty box must not spin
    check_bound(x, log.over_bound);
  }
}

/// body_put(x, id, log) is the body's own try_put, which cannot block.
template <class Box>
void body_put(exchange<Box>& x, long id, producer_log& log) {
  try {
    if (x.box.try_put(std::make_unique<long>(id))) log.put.push_back(id);
  } catch (const tendril::error&) {
    if (!x.box.closed()) throw;
  }
}

/// check_delivery(x, producers, consumers) checks the invariants of one run.
template <class Box>
void check_delivery(const exchange<Box>& x, const std::vector<producer_log>& producers,
                    const std::vector<consumer_log>& consumers) {
  ids put, maybe, got;
  for (const producer_log& p : producers) {
    put.insert(put.end(), p.put.begin(), p.put.end());
    maybe.insert(maybe.end(), p.raised.begin(), p.raised.end());
    if (p.pending) maybe.push_back(*p.pending);  // killed while putting it
    CHECK(p.not_untouched == 0);
    CHECK(p.over_bound == 0);
  }
  for (const consumer_log& c : consumers) {
    got.insert(got.end(), c.got.begin(), c.got.end());
    CHECK(c.over_bound == 0);
  }
  std::sort(put.begin(), put.end());
  std::sort(maybe.begin(), maybe.end());
  std::sort(got.begin(), got.end());
  ids duplicated, lost, unexpected;
  for (auto it = std::adjacent_find(got.begin(), got.end()); it != got.end();
       it = std::adjacent_find(it + 1, got.end()))
    duplicated.push_back(*it);
  std::set_difference(put.begin(), put.end(), got.begin(), got.end(), std::back_inserter(lost));
  std::set_difference(got.begin(), got.end(), put.begin(), put.end(), std::back_inserter(unexpected));
  // A channel's put that raised may have delivered its item (a rendezvous
  // cannot be undone); a queue's put that raised did not put.
  if (rendezvous<Box>)
    unexpected.erase(
        std::remove_if(unexpected.begin(), unexpected.end(),
                       [&](long id) { return std::binary_search(maybe.begin(), maybe.end(), id); }),
        unexpected.end());
  CAPTURE(put.size(), got.size(), maybe.size());
  CHECK(duplicated == ids{});
  CHECK(lost == ids{});
  CHECK(unexpected == ids{});  // -1: an item delivered empty (moved from)
  // An item handed to an interrupted get goes back to the front, possibly
  // behind a later item a consumer already took: order holds without them.
  if (!x.interrupt_consumers) {
    for (std::size_t c = 0; c < consumers.size(); ++c) {
      for (std::size_t p = 0; p < producers.size(); ++p) {
        ids from_p;
        std::copy_if(consumers[c].got.begin(), consumers[c].got.end(), std::back_inserter(from_p),
                     [&](long id) { return id / stride == static_cast<long>(p); });
        CAPTURE(c, p, from_p);
        CHECK(std::is_sorted(from_p.begin(), from_p.end()));
      }
    }
  }
}

/// run_exchange(m, seed, make_box) runs producers and consumers over the
/// hubs while the body kills, hands over and closes at random.
template <class Box, class MakeBox>
void run_exchange(mode& m, std::uint64_t seed, MakeBox make_box) {
  m.run(
      [&] {
        random_source rng(seed);
        const clock::time_point limit = tendril::deadline_after(run_limit);
        Box box = make_box(rng);
        exchange<Box> x{box, chance(rng, 0.5)};
        const bool close_early = chance(rng, 0.3);
        constexpr std::size_t producers = 3;
        constexpr std::size_t consumers = 4;  // consumer 0 is never killed
        constexpr long per_producer = 40;
        CAPTURE(x.interrupt_consumers, close_early);
        std::vector<producer_log> plogs(producers + 1);  // the last: the body's puts
        std::vector<consumer_log> clogs(consumers + 2);  // the last two: the body's gets, the final drain
        std::vector<task<void>> ptasks, ctasks;
        for (std::size_t p = 0; p < producers; ++p) {
          const std::size_t where = rng();
          ptasks.push_back(m.spawn_on(where, [&x, &log = plogs[p], p, s = rng()] {
            produce(x, log, static_cast<long>(p) * stride, per_producer, s);
          }));
        }
        for (std::size_t c = 0; c < consumers; ++c) {
          const std::size_t where = rng();
          ctasks.push_back(m.spawn_on(where, [&x, &log = clogs[c], s = rng()] { consume(x, log, s); }));
        }

        long body_id = static_cast<long>(producers) * stride;
        constexpr std::size_t steps = 40;
        const std::size_t close_at = close_early ? below(rng, steps) : steps;
        for (std::size_t step = 0; step < steps; ++step) {
          if (step == close_at) {
            box.close();
            CHECK_THROWS_AS(box.try_put(std::make_unique<long>(-2)), tendril::error);
          }
          switch (below(rng, 6)) {
            case 0:
              yields(rng, 4);
              break;
            case 1:
              tendril::sleep(short_wait(rng));
              break;
            case 2:
              kill_one(ptasks, 0, rng);
              break;
            case 3:
              if (!x.interrupt_consumers) break;
              ++x.consumer_interrupts;
              kill_one(ctasks, 1, rng);
              break;
            case 4:  // the item may go to a get killed at that moment
              body_put(x, body_id++, plogs.back());
              if (!x.interrupt_consumers) break;
              ++x.consumer_interrupts;
              kill_one(ctasks, 1, rng);
              break;
            case 5:  // a freed slot (or a channel put) may belong to a put killed at that moment
              if (std::optional<item> got = box.try_get()) clogs[consumers].got.push_back(*got ? **got : -1);
              kill_one(ptasks, 0, rng);
              break;
          }
        }
        finish(ptasks, limit);
        box.close();
        finish(ctasks, limit);
        while (std::optional<item> got = box.try_get()) clogs.back().got.push_back(*got ? **got : -1);
        if constexpr (!rendezvous<Box>) CHECK(box.empty());
        check_delivery(x, plogs, clogs);
      },
      mode_limit);
}

// --- semaphore ------------------------------------------------------------------

template <class Semaphore>
struct permit_state {
  Semaphore sem;
  std::size_t permits;
  std::atomic<std::size_t> holders{0};  // raised after acquiring, lowered before releasing
};

/// A worker's record.
struct permit_log {
  long sections = 0;
  long too_many = 0;         // times more held permits than the semaphore has
  long above_initial = 0;    // times available() was above the initial count
  long refused_release = 0;  // releases of held permits that threw
};

/// held_permits releases what a worker holds, also when it is killed.
template <class Semaphore>
struct held_permits {
  permit_state<Semaphore>& s;
  permit_log& log;
  std::size_t n = 0;

  void add() {
    ++n;
    if (s.holders.fetch_add(1) + 1 > s.permits) ++log.too_many;
  }
  void release() noexcept {
    if (n == 0) return;
    s.holders -= n;
    try {
      s.sem.release(n);  // two at once exercises release(n)
    } catch (const tendril::error&) {
      ++log.refused_release;
    }
    n = 0;
  }
  ~held_permits() { release(); }
};

template <class Semaphore>
bool acquire_one(Semaphore& sem, how h, random_source& rng) {
  return take(
      h, rng, [&] { return sem.try_acquire(); },
      [&](clock::time_point t) { return sem.try_acquire_until(t); }, [&] { sem.acquire(); });
}

/// use_permits(s, log, rng, second) takes a permit as `rng` says (and, if
/// `second`, maybe another, never waiting long for it: two workers each
/// holding one would wait forever), holds them across yields, releases.
template <class Semaphore>
void use_permits(permit_state<Semaphore>& s, permit_log& log, random_source& rng, bool second) {
  held_permits<Semaphore> held{s, log};
  if (!acquire_one(s.sem, pick_how(rng), rng)) return tendril::yield();
  held.add();
  if (second && s.permits > 1 && acquire_one(s.sem, static_cast<how>(below(rng, 3)), rng)) held.add();
  if (s.sem.available() > s.permits) ++log.above_initial;
  yields(rng, 2);
  ++log.sections;
  held.release();
}

template <class Semaphore>
void run_semaphore(mode& m, std::uint64_t seed) {
  m.run(
      [&] {
        random_source rng(seed);
        const clock::time_point limit = tendril::deadline_after(run_limit);
        permit_state<Semaphore> s{Semaphore(1 + below(rng, 3), "property"), 0};
        s.permits = s.sem.available();
        CAPTURE(s.permits);
        constexpr std::size_t workers = 5;
        constexpr int rounds = 30;
        std::vector<permit_log> logs(workers + 1);  // the last: the body's
        std::vector<task<void>> tasks;
        for (std::size_t w = 0; w < workers; ++w) {
          const std::size_t where = rng();
          tasks.push_back(m.spawn_on(where, [&s, &log = logs[w], seed = rng()] {
            random_source wr(seed);
            for (int r = 0; r < rounds; ++r) {
              const bool second = chance(wr, 0.3);
              use_permits(s, log, wr, second);
            }
          }));
        }
        disturb(tasks, rng, [&] {  // the permit released may go to a waiter killed at that moment
          held_permits<Semaphore> held{s, logs.back()};
          if (!s.sem.try_acquire_until(limit)) return;
          held.add();
          held.release();
          kill_one(tasks, 0, rng);
        });
        finish(tasks, limit);
        for (std::size_t w = 0; w <= workers; ++w) {
          CAPTURE(w);
          CHECK(logs[w].too_many == 0);
          CHECK(logs[w].above_initial == 0);
          CHECK(logs[w].refused_release == 0);
        }
        CHECK(s.holders == 0);
        CHECK(s.sem.available() == s.permits);  // none lost, none made up
        for (std::size_t i = 0; i < s.permits; ++i) CHECK(s.sem.try_acquire());
        CHECK_FALSE(s.sem.try_acquire());
        s.sem.release(s.permits);
        if constexpr (std::is_same_v<Semaphore, tendril::bounded_semaphore>) {
          CHECK_THROWS_AS(s.sem.release(), tendril::error);  // every permit is free
          CHECK(s.sem.available() == s.permits);
        }
      },
      mode_limit);
}

// --- mutex ----------------------------------------------------------------------

struct lock_state {
  tendril::mutex lock{"property"};
  long counter = 0;  // guarded by lock
  std::atomic<int> inside{0};
};

struct locker_log {
  long sections = 0;  // increments of counter made
  long overlaps = 0;  // times another was inside at the same time
};

bool lock_one(tendril::mutex& lock, how h, random_source& rng) {
  return take(
      h, rng, [&] { return lock.try_lock(); }, [&](clock::time_point t) { return lock.try_lock_until(t); },
      [&] { lock.lock(); });
}

/// critical_section(s, log, rng) runs with s.lock held (and unlocks it):
/// reads the counter, yields, writes it back plus one. A kill at a yield
/// unwinds it without the write.
void critical_section(lock_state& s, locker_log& log, random_source& rng) {
  std::unique_lock held(s.lock, std::adopt_lock);
  if (s.inside.fetch_add(1) != 0) ++log.overlaps;
  struct leave {
    std::atomic<int>& inside;
    ~leave() { --inside; }
  } guard{s.inside};
  const long seen = s.counter;
  yields(rng, 2);
  s.counter = seen + 1;
  ++log.sections;
}

void run_mutex(mode& m, std::uint64_t seed) {
  m.run(
      [&] {
        random_source rng(seed);
        const clock::time_point limit = tendril::deadline_after(run_limit);
        lock_state s;
        constexpr std::size_t workers = 5;
        constexpr int rounds = 30;
        std::vector<locker_log> logs(workers + 1);  // the last: the body's
        std::vector<task<void>> tasks;
        for (std::size_t w = 0; w < workers; ++w) {
          const std::size_t where = rng();
          tasks.push_back(m.spawn_on(where, [&s, &log = logs[w], seed = rng()] {
            random_source wr(seed);
            for (int r = 0; r < rounds; ++r) {
              if (lock_one(s.lock, pick_how(wr), wr))
                critical_section(s, log, wr);
              else
                tendril::yield();
            }
          }));
        }
        disturb(tasks, rng, [&] {  // unlock hands the mutex to a waiter that may be killed at that moment
          if (!s.lock.try_lock_until(limit)) return;
          critical_section(s, logs.back(), rng);
          kill_one(tasks, 0, rng);
        });
        finish(tasks, limit);
        long sections = 0, overlaps = 0;
        for (const locker_log& log : logs) {
          sections += log.sections;
          overlaps += log.overlaps;
        }
        CHECK(overlaps == 0);
        const bool free = s.lock.try_lock();
        CHECK(free);  // not left held by a killed waiter
        if (free) {
          CHECK(s.counter == sections);
          s.lock.unlock();
        }
      },
      mode_limit);
}

// --- event ----------------------------------------------------------------------

enum class outcome { woken, not_woken };

/// wait_one(ev, h, rng) waits as `h` says (try_now as past).
outcome wait_one(tendril::event& ev, how h, random_source& rng) {
  bool woken = false;
  switch (h) {
    case how::try_now:
    case how::past:
      woken = ev.wait_until(clock::now() - 1ms);
      break;
    case how::short_deadline:
      woken = ev.wait_for(short_wait(rng));
      break;
    case how::long_deadline:
      woken = ev.wait_for(10s);
      break;
    case how::forever:
      ev.wait();
      woken = true;
      break;
    case how::scope:
      woken = tendril::with_timeout(
          short_wait(rng),
          [&] {
            ev.wait();
            return true;
          },
          false);
      break;
  }
  return woken ? outcome::woken : outcome::not_woken;
}

/// event_round(m, ev, rng, limit) spawns waiters over the hubs, kills some, sets
/// the event (clearing it at once, sometimes), and checks who woke.
void event_round(mode& m, tendril::event& ev, random_source& rng, clock::time_point limit) {
  const std::size_t waiters = 2 + below(rng, 7);
  // With a barrier every waiter has parked (or returned) before set(); so a
  // clear() right after set() must not keep any of them waiting.
  const bool barrier = chance(rng, 0.6);
  const bool clear_after = barrier && chance(rng, 0.5);
  const bool kill_before_set = chance(rng, 0.5);
  CAPTURE(waiters, barrier, clear_after, kill_before_set);
  ev.clear();
  std::vector<how> kinds;
  std::vector<bool> marked;  // to be killed
  std::vector<task<outcome>> tasks;
  for (std::size_t i = 0; i < waiters; ++i) {
    kinds.push_back(pick_how(rng));
    marked.push_back(chance(rng, 0.25));
    const std::size_t where = rng();
    tasks.push_back(m.spawn_on(where, [&ev, h = kinds.back(), s = rng()] {
      random_source wr(s);
      return wait_one(ev, h, wr);
    }));
  }
  // A hub starts the tasks queued to it in order, each running until it
  // parks: once a no-op task queued after the waiters has run on every hub,
  // every waiter has parked, or returned.
  if (barrier)
    for (std::size_t h = 0; h < m.size(); ++h) tendril::run_on(m.hub(h), [] {});
  auto kill_marked = [&] {
    for (std::size_t i = 0; i < waiters; ++i)
      if (marked[i]) tasks[i].kill(nullptr, false);
  };
  if (kill_before_set) kill_marked();
  const std::size_t setter = rng();
  tendril::run_on(m.hub(setter), [&ev, clear_after] {
    ev.set();
    if (clear_after) ev.clear();
  });
  if (!kill_before_set) kill_marked();
  finish(tasks, limit);
  if (hung) return;
  for (std::size_t i = 0; i < waiters; ++i) {
    const int kind = static_cast<int>(kinds[i]);
    const bool killed_on_purpose = marked[i];
    CAPTURE(i, kind, killed_on_purpose);
    if (tasks[i].killed()) {
      CHECK(killed_on_purpose);
      continue;
    }
    if (tasks[i].exception()) continue;  // finish() has failed the run
    const outcome o = tasks[i].get();
    // Waiters without a deadline that expires wake, whether they parked
    // before set() or came after it (then they find it set).
    if (kinds[i] == how::forever || kinds[i] == how::long_deadline) CHECK(o == outcome::woken);
    // A passed deadline proves nothing: a wait with one still parks once
    // (as a yield), and a set() meanwhile wakes it.
  }
  CHECK(ev.is_set() == !clear_after);
  CHECK(ev.wait_until(clock::now() - 1ms) == !clear_after);
}

void run_event(mode& m, std::uint64_t seed) {
  m.run(
      [&] {
        random_source rng(seed);
        const clock::time_point limit = tendril::deadline_after(run_limit);
        tendril::event ev("property");
        for (int round = 0; round < 5 && !hung; ++round) {
          CAPTURE(round);
          event_round(m, ev, rng, limit);
        }
      },
      mode_limit);
}

}  // namespace

// --- the cases ------------------------------------------------------------------

TEST_CASE(
    "a bounded queue under random puts, gets, deadlines, scopes, kills and close loses no item, duplicates "
    "none, keeps each producer's order and its bound") {
  for_each_seed([](mode& m, std::uint64_t seed) {
    run_exchange<tendril::queue<item>>(m, seed, [](random_source& rng) {
      const std::size_t maxsize = 1 + below(rng, 4);
      return tendril::queue<item>(maxsize, "property");
    });
  });
}

TEST_CASE(
    "an unbounded queue under random puts, gets, deadlines, scopes, kills and close loses no item, "
    "duplicates none and keeps each producer's order") {
  for_each_seed([](mode& m, std::uint64_t seed) {
    run_exchange<tendril::queue<item>>(m, seed,
                                       [](random_source&) { return tendril::queue<item>(0, "property"); });
  });
}

TEST_CASE(
    "a channel under random puts, gets, deadlines, scopes, kills and close loses no item, duplicates none "
    "and keeps each producer's order") {
  for_each_seed([](mode& m, std::uint64_t seed) {
    run_exchange<tendril::channel<item>>(m, seed,
                                         [](random_source&) { return tendril::channel<item>("property"); });
  });
}

TEMPLATE_TEST_CASE(
    "a semaphore under random acquires, deadlines, scopes and kills never has more holders than permits and "
    "gets every permit back",
    "", tendril::semaphore, tendril::bounded_semaphore) {
  for_each_seed([](mode& m, std::uint64_t seed) { run_semaphore<TestType>(m, seed); });
}

TEST_CASE(
    "a mutex under random locks, deadlines, scopes and kills admits one holder at a time, loses no update "
    "and ends free") {
  for_each_seed(run_mutex);
}

TEST_CASE(
    "an event wakes every waiter present at set, even when clear follows, whatever kills and deadlines do") {
  for_each_seed(run_event);
}
