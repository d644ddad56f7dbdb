// channel: the rendezvous (a put waits for a get and the other way round),
// FIFO on both sides, try_* and deadlines, kills and timeout scopes (an item
// handed to a get interrupted at that moment is passed on or kept), close,
// move-only items, and threads. Ports cases of gevent's test__queue.py
// (TestChannel, TestGetInterruptChannel, TestPutInterruptChannel).

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include <tendril/error.hpp>
#include <tendril/hub/join.hpp>
#include <tendril/hub/sleep.hpp>
#include <tendril/hub/task.hpp>
#include <tendril/hub/timeout.hpp>
#include <tendril/sync/channel.hpp>
#include <tendril/sync/event.hpp>

#include "support/hub_fixture.hpp"
#include "sync/sync_threads.hpp"

namespace {

using namespace std::chrono_literals;
using tendril::channel;
using tendril::queue_closed;
using tendril::spawn;
using tendril::spawn_options;
using tendril::task;
using tendril::testing::hub_check;
using tendril::testing::thread_errors;
using tendril::testing::unwind_flag;
using strings = std::vector<std::string>;
using ints = std::vector<int>;

}  // namespace

// --- the rendezvous -----------------------------------------------------------

TEST_CASE("put waits until a get takes the item (test__queue.py: TestChannel.test_zero_max_size)") {
  hub_check hub;
  channel<std::string> ch;
  bool sent = false;
  auto sender = spawn([&] {
    tendril::timeout limit(10s);
    ch.put("hi");
    sent = true;
  });
  tendril::yield();  // the sender runs and parks in put
  CHECK_FALSE(sent);
  auto receiver = spawn([&] {
    tendril::timeout limit(10s);
    return ch.get();
  });
  CHECK(receiver.get() == "hi");
  CHECK(sender.join_for(10s));
  CHECK(sent);
}

// gevent's put switches into a waiting getter at once; tendril's wake-ups
// never switch, so the put returns first and the getter runs at the next
// switch. The order below is that of the same program under tendril.
TEST_CASE("a put to a waiting get returns before the get runs (test__queue.py: TestChannel.test_send)") {
  hub_check hub;
  channel<std::string> ch;
  strings events;
  auto other = spawn([&] {
    tendril::timeout limit(10s);
    events.push_back(ch.get());
    events.push_back(ch.get());
  });
  events.push_back("sending");
  ch.put("hello");  // no get waits yet: parks until `other` takes it
  events.push_back("sent hello");
  ch.put("world");  // `other` waits: handed over at once
  events.push_back("sent world");
  other.get();
  CHECK(events == strings{"sending", "hello", "sent hello", "sent world", "world"});
}

TEST_CASE("a get takes the item of a waiting put (test__queue.py: TestChannel.test_wait)") {
  hub_check hub;
  channel<std::string> ch;
  strings events;
  auto other = spawn([&] {
    tendril::timeout limit(10s);
    events.push_back("sending hello");
    ch.put("hello");  // the main fiber waits: handed over at once
    events.push_back("sending world");
    ch.put("world");  // nobody waits: parks until taken
    events.push_back("sent world");
  });
  events.push_back("waiting");
  events.push_back(ch.get());
  events.push_back(ch.get());
  CHECK(events == strings{"waiting", "sending hello", "sending world", "hello", "world"});
  tendril::yield();
  CHECK(events == strings{"waiting", "sending hello", "sending world", "hello", "world", "sent world"});
  other.get();
}

TEST_CASE(
    "try_put succeeds only when a get waits (test__queue.py: TestChannel.test_put_nowait_simple, "
    "test_put_nowait_unlock)") {
  hub_check hub;
  channel<int> ch;
  CHECK_FALSE(ch.try_put(2));
  CHECK_FALSE(ch.try_put(3));
  auto getter = spawn([&] { return ch.get_for(10s); });
  tendril::yield();
  CHECK(ch.try_put(10));
  CHECK_FALSE(getter.ready());
  CHECK(getter.get() == 10);
  CHECK_FALSE(ch.try_put(11));
}

TEST_CASE(
    "try_get succeeds only when a put waits (test__queue.py: TestChannel.test_get_nowait_unlock_channel)") {
  hub_check hub;
  channel<int> ch;
  CHECK(ch.try_get() == std::nullopt);
  auto putter = spawn([&] { return ch.put_for(5, 10s); });
  tendril::yield();
  CHECK(ch.try_get() == 5);
  CHECK(putter.get());
  CHECK(ch.try_get() == std::nullopt);
}

TEST_CASE("waiting gets receive items in the order they started waiting") {
  hub_check hub;
  channel<std::string> ch;
  strings received;
  std::vector<task<void>> getters;
  for (const char* name : {"g1", "g2", "g3"})
    getters.push_back(spawn([&ch, &received, name] {
      tendril::timeout limit(10s);
      received.push_back(std::string(name) + ":" + ch.get());
    }));
  tendril::yield();
  for (const char* item : {"1", "2", "3"}) ch.put(item);
  CHECK(tendril::joinall(getters, 10s));
  CHECK(received == strings{"g1:1", "g2:2", "g3:3"});
}

TEST_CASE("waiting puts are taken in the order they started waiting") {
  hub_check hub;
  channel<std::string> ch;
  std::vector<task<void>> putters;
  for (const char* item : {"a", "b", "c"})
    putters.push_back(spawn([&ch, item] {
      tendril::timeout limit(10s);
      ch.put(item);
    }));
  tendril::yield();
  strings got;
  for (int i = 0; i < 3; ++i) got.push_back(ch.get());
  CHECK(got == strings{"a", "b", "c"});
  CHECK(tendril::joinall(putters, 10s));
}

TEST_CASE("channels carry move-only items") {
  hub_check hub;
  channel<std::unique_ptr<int>> ch;
  auto getter = spawn([&] { return ch.get(); });
  tendril::yield();
  ch.put(std::make_unique<int>(7));
  CHECK(*getter.get() == 7);
  auto putter = spawn([&] { ch.put(std::make_unique<int>(8)); });
  CHECK(*ch.get() == 8);
  putter.join();
}

TEST_CASE("describe names the channel, or its address") {
  hub_check hub;
  CHECK(channel<int>("lines").describe() == "channel \"lines\"");
  CHECK_THAT(channel<int>().describe(), Catch::Matches("channel 0x[0-9a-f]+"));
}

// --- deadlines ----------------------------------------------------------------

TEST_CASE("get_for returns nullopt once the timeout passes (test__queue.py: TestGetInterruptChannel)") {
  hub_check hub;
  channel<int> ch;
  auto start = tendril::clock::now();
  CHECK(ch.get_for(30ms) == std::nullopt);
  CHECK(tendril::clock::now() - start >= 30ms);
  CHECK(ch.get_until(tendril::clock::now() - 1s) == std::nullopt);
  CHECK_FALSE(ch.try_put(1));  // the get that gave up is gone
}

TEST_CASE(
    "put_for returns false once the timeout passes, the item untouched (test__queue.py: "
    "TestPutInterruptChannel)") {
  hub_check hub;
  channel<std::unique_ptr<int>> ch;
  auto item = std::make_unique<int>(3);
  auto start = tendril::clock::now();
  CHECK_FALSE(ch.put_for(std::move(item), 30ms));
  CHECK(tendril::clock::now() - start >= 30ms);
  REQUIRE(item != nullptr);
  CHECK(*item == 3);
  CHECK_FALSE(ch.put_until(std::move(item), tendril::clock::now() - 1s));
  REQUIRE(item != nullptr);
  CHECK(ch.try_get() == std::nullopt);  // the put that gave up is gone
}

TEST_CASE("get_for and put_for succeed when the other side comes in time") {
  hub_check hub;
  channel<int> ch;
  // Each task starts once the caller parks, so the other side always waits first.
  auto putter = spawn([&] { return ch.put_for(1, 10s); });
  CHECK(ch.get_for(10s) == 1);
  CHECK(putter.get());
  auto getter = spawn([&] { return ch.get_for(10s); });
  CHECK(ch.put_for(2, 10s));
  CHECK(getter.get() == 2);
}

// --- kills and timeout scopes -------------------------------------------------

TEST_CASE("a kill while getting removes the waiter: the next item goes to the others") {
  hub_check hub;
  channel<int> ch;
  bool unwound = false;
  auto a = spawn([&] {
    unwind_flag flag{unwound};
    return ch.get();
  });
  auto b = spawn([&] { return ch.get_for(10s); });
  tendril::yield();
  CHECK(a.kill());
  CHECK(unwound);
  ch.put(4);
  CHECK(b.get() == 4);
}

TEST_CASE("a kill while putting removes the waiter: its item is never delivered") {
  hub_check hub;
  channel<int> ch;
  bool unwound = false;
  auto a = spawn([&] {
    unwind_flag flag{unwound};
    ch.put(1);
  });
  auto b = spawn([&] { return ch.put_for(2, 10s); });
  tendril::yield();
  CHECK(a.kill());
  CHECK(unwound);
  CHECK(ch.get() == 2);
  CHECK(b.get());
  CHECK(ch.try_get() == std::nullopt);
}

TEST_CASE("an expired timeout scope raises timeout_error from get and from put") {
  hub_check hub;
  channel<int> ch;
  auto getter = spawn([&] {
    tendril::timeout limit(10ms);
    try {
      ch.get();
      return false;
    } catch (const tendril::timeout_error& e) {
      return limit.owns(e);
    }
  });
  CHECK(getter.get());
  auto putter = spawn([&] {
    tendril::timeout limit(10ms);
    try {
      ch.put(1);
      return false;
    } catch (const tendril::timeout_error& e) {
      return limit.owns(e);
    }
  });
  CHECK(putter.get());
  CHECK(ch.try_get() == std::nullopt);
  CHECK_FALSE(ch.try_put(2));
}

TEST_CASE("an item handed to a get killed at that moment goes to the next waiting get") {
  hub_check hub;
  channel<std::string> ch;
  auto a = spawn(spawn_options{"a"}, [&] { return ch.get_for(10s); });
  auto b = spawn(spawn_options{"b"}, [&] { return ch.get_for(10s); });
  tendril::yield();  // both wait
  ch.put("item");    // handed to a, which has not run yet
  a.kill(nullptr, false);
  CHECK(b.get() == "item");
  CHECK(a.join_for(10s));
  CHECK(a.killed());
}

TEST_CASE("an item handed to the only get, killed at that moment, is kept for the next get") {
  hub_check hub;
  channel<std::string> ch;
  auto a = spawn([&] { return ch.get_for(10s); });
  tendril::yield();
  ch.put("item");  // handed to a; the put has returned
  a.kill(nullptr, false);
  CHECK(a.join_for(10s));
  CHECK(a.killed());
  auto putter = spawn([&] { return ch.put_for("later", 10s); });
  tendril::yield();  // a put waits now, but the kept item comes first
  CHECK(ch.try_get() == "item");
  CHECK(ch.try_get() == "later");
  CHECK(putter.get());
}

TEST_CASE("an item taken from a put killed at that moment is delivered: the get keeps it") {
  hub_check hub;
  channel<std::string> ch;
  auto a = spawn([&] { ch.put("item"); });
  tendril::yield();
  CHECK(ch.try_get() == "item");  // taken from a, which has not run yet
  a.kill(nullptr, false);
  CHECK(a.join_for(10s));
  CHECK(a.killed());  // the put raised all the same: a rendezvous cannot be undone
  CHECK(ch.try_get() == std::nullopt);
}

// --- close --------------------------------------------------------------------

TEST_CASE("close wakes waiting gets with queue_closed and waiting puts with tendril::error") {
  hub_check hub;
  channel<std::unique_ptr<int>> gets("gets");
  channel<std::unique_ptr<int>> puts("puts");
  auto getter = spawn([&] {
    try {
      gets.get_for(10s);
      return std::string("got one");
    } catch (const queue_closed& e) {
      return std::string(e.what());
    }
  });
  auto putter = spawn(spawn_options{"putter"}, [&] {
    auto item = std::make_unique<int>(1);
    try {
      puts.put_for(std::move(item), 10s);
    } catch (const tendril::error& e) {
      CHECK_THAT(e.what(), Catch::Contains("\"putter\" cannot put into channel \"puts\": it is closed"));
    }
    return item != nullptr;  // still the caller's
  });
  tendril::yield();
  gets.close();
  puts.close();
  CHECK_THAT(getter.get(), Catch::Contains("cannot get from channel \"gets\": it is closed"));
  CHECK(putter.get());
}

TEST_CASE("after close, put throws naming the channel and the caller, get throws queue_closed") {
  hub_check hub;
  channel<int> ch("done");
  ch.close();
  CHECK(ch.closed());
  auto t = spawn(spawn_options{"late"}, [&] { ch.put(1); });
  t.join();
  CHECK_THAT(tendril::testing::what_of(t.exception()),
             Catch::Contains(t.describe() + " cannot put into channel \"done\": it is closed"));
  CHECK_THROWS_AS(ch.try_put(1), tendril::error);
  CHECK_THROWS_AS(ch.get(), queue_closed);
  CHECK_THROWS_AS(ch.get_for(1s), queue_closed);
  CHECK(ch.try_get() == std::nullopt);
  ch.close();
}

TEST_CASE("an item kept from a killed get is still delivered after close, then get throws") {
  hub_check hub;
  channel<int> ch;
  auto a = spawn([&] { return ch.get_for(10s); });
  tendril::yield();
  ch.put(9);
  a.kill(nullptr, false);
  CHECK(a.join_for(10s));
  ch.close();
  CHECK(ch.get() == 9);
  CHECK_THROWS_AS(ch.get(), queue_closed);
}

// --- threads ------------------------------------------------------------------

TEST_CASE("a plain thread and a fiber meet on a channel, each side waiting in turn") {
  hub_check hub;
  thread_errors errors;
  channel<int> ch;
  std::atomic<bool> put_returned{false};
  std::atomic<int> got{0};
  std::thread t = tendril::testing::plain_thread(errors, [&] {
    if (ch.put_for(1, 10s)) put_returned = true;
    got = ch.get_for(10s).value_or(-1);
  });
  tendril::sleep(30ms);
  CHECK_FALSE(put_returned);  // it blocks until a get comes
  CHECK(ch.get_for(10s) == 1);
  CHECK(ch.put_for(2, 10s));
  t.join();
  CHECK(put_returned);
  CHECK(got == 2);
  CHECK(errors.take().empty());
}

TEST_CASE("close from another hub wakes a fiber's put") {
  hub_check hub;
  thread_errors errors;
  channel<int> ch("c");
  tendril::event waiting;
  auto putter = spawn([&] {
    try {
      ch.put_for(1, 10s);
      return false;
    } catch (const tendril::error&) {
      return true;
    }
  });
  std::thread t = tendril::testing::hub_thread(errors, [&] {
    if (waiting.wait_for(10s)) ch.close();
  });
  tendril::yield();
  waiting.set();
  CHECK(putter.get());
  t.join();
  CHECK(errors.take().empty());
}

TEST_CASE("fibers on two hubs and two plain threads hand every item over exactly once") {
  hub_check hub;
  thread_errors errors;
  channel<int> ch("stress");
  constexpr int per_producer = 1000;
  constexpr int producers = 3;
  std::atomic<int> producing{producers};
  tendril::event produced;
  auto produce = [&](int id) {
    for (int i = 0; i < per_producer; ++i)
      if (!ch.put_for(id * per_producer + i, 60s)) throw tendril::error("a producer waited 60 s");
    if (--producing == 0) produced.set();
  };
  std::vector<ints> hauls(3);
  auto consume = [&](int id) {
    try {
      for (;;) {
        std::optional<int> item = ch.get_for(60s);
        if (!item) throw tendril::error("a consumer waited 60 s");
        hauls[id].push_back(*item);
      }
    } catch (const queue_closed&) {
    }
  };
  std::thread h1 = tendril::testing::hub_thread(errors, [&] {
    auto p = spawn(produce, 0);
    auto c = spawn(consume, 0);
    p.get();
    c.get();
  });
  std::thread h2 = tendril::testing::hub_thread(errors, [&] {
    auto p = spawn(produce, 1);
    auto c = spawn(consume, 1);
    p.get();
    c.get();
  });
  std::thread plain_producer = tendril::testing::plain_thread(errors, [&] { produce(2); });
  std::thread plain_consumer = tendril::testing::plain_thread(errors, [&] { consume(2); });
  CHECK(produced.wait_for(60s));
  ch.close();
  h1.join();
  h2.join();
  plain_producer.join();
  plain_consumer.join();
  ints all;
  for (const ints& h : hauls) all.insert(all.end(), h.begin(), h.end());
  std::sort(all.begin(), all.end());
  ints expected(producers * per_producer);
  for (int i = 0; i < producers * per_producer; ++i) expected[i] = i;
  CHECK(all == expected);
  CHECK(errors.take().empty());
}

TEST_CASE("no item is lost or duplicated when short timeouts race puts and gets across threads") {
  hub_check hub;
  thread_errors errors;
  channel<int> ch;
  constexpr int rounds = 1000;
  std::atomic<bool> stop{false};
  std::vector<ints> put_lists(3);
  std::vector<ints> got_lists(4);
  auto put_churn = [&](int id) {
    for (int i = 0; i < rounds; ++i) {
      int item = id * rounds + i;
      if (ch.put_for(item, std::chrono::microseconds((i * 7 + id) % 50))) put_lists[id].push_back(item);
    }
  };
  auto get_churn = [&](int id) {
    for (int i = 0; !stop; ++i)
      if (auto item = ch.get_for(std::chrono::microseconds((i * 11 + id) % 50)))
        got_lists[id].push_back(*item);
  };
  std::thread producers_hub = tendril::testing::hub_thread(errors, [&] {
    auto a = spawn(put_churn, 0);
    auto b = spawn(put_churn, 1);
    a.get();
    b.get();
  });
  std::thread consumers_hub = tendril::testing::hub_thread(errors, [&] {
    auto a = spawn(get_churn, 0);
    auto b = spawn(get_churn, 1);
    a.get();
    b.get();
  });
  std::thread plain_producer = tendril::testing::plain_thread(errors, [&] { put_churn(2); });
  std::thread plain_consumer = tendril::testing::plain_thread(errors, [&] { get_churn(2); });
  producers_hub.join();
  plain_producer.join();
  stop = true;
  consumers_hub.join();
  plain_consumer.join();
  while (auto item = ch.try_get()) got_lists[3].push_back(*item);  // kept from interrupted gets
  ints put_all, got_all;
  for (const ints& l : put_lists) put_all.insert(put_all.end(), l.begin(), l.end());
  for (const ints& l : got_lists) got_all.insert(got_all.end(), l.begin(), l.end());
  std::sort(put_all.begin(), put_all.end());
  std::sort(got_all.begin(), got_all.end());
  CHECK_FALSE(put_all.empty());
  CHECK(got_all == put_all);
  CHECK(errors.take().empty());
}
