// pool: a task_set whose members each hold a slot of a semaphore, and the
// untyped parts of apply and map.
//
// Invariants:
// - A slot is taken (semaphore acquire) before a member's entry exists, and
//   the entry owns it from then on: the set gives it back exactly once,
//   when the entry leaves (see group.cpp). A spawner interrupted while
//   waiting holds nothing; the semaphore passes a permit granted at that
//   moment on to the next waiter.
// - A map's tasks point at its map_run (the function, the input, the
//   outcomes): the run outlives them, because every way out of map, and
//   the destructor of map_results, kills them and waits for them first.
//
// Rejected:
// - Feeding the pool from the caller of imap between results. The caller
//   parks for a result, not for a slot: with other spawners queued, a slot
//   freed by one of its own tasks goes to them, nothing wakes the caller
//   when later slots free up, and it waits forever. A feeder task queues
//   for slots like any spawner (gevent's IMapUnordered is a greenlet too).
// - Catching each item's exception inside its task to hand it over. A
//   catch that does not rethrow would swallow a kill; the task fails or is
//   killed normally, and a link (which counts as observing) reports it.
// - Leaving a map's tasks running when its caller is interrupted (gevent
//   does): in C++ they may use the caller's stack.

#include <tendril/sync/pool.hpp>

#include <cstdio>

#include <tendril/error.hpp>
#include <tendril/hub/join.hpp>
#include <tendril/sync/detail/wait_list.hpp>

namespace tendril {

namespace {

std::size_t checked_size(std::size_t size, const std::string& name, const void* self) {
  if (size == 0)
    throw error(detail::describe_object("pool", name, self) +
                ": size must be at least 1 (a pool of 0 could never run a task)");
  return size;
}

std::string describe_results(const wait_reason& why) {
  return "results of " + static_cast<const detail::task_set*>(why.object)->describe() + " (" +
         std::to_string(why.detail) + " tasks running)";
}

}  // namespace

pool::pool(std::size_t size, std::string name)
    : capacity_(checked_size(size, name, this)), slots_(size, name), set_("pool", std::move(name), &slots_) {}

bool pool::add_until(const task_base& t, clock::time_point deadline) {
  if (!set_.addable(t)) return false;
  if (!set_.take_slot(deadline)) return false;
  return set_.add(t);
}

bool pool::wait_available_until(clock::time_point deadline) {
  set_.check_thread();
  if (!set_.take_slot(deadline)) return false;
  set_.give_back_slot();
  return true;
}

namespace detail {

void join_or_kill(const task_base& t) {
  try {
    t.join();
  } catch (...) {
    interrupt_shield hold;
    t.kill(nullptr, /*block=*/true);
    throw;
  }
}

void wait_for_results(waker& consumer, const task_set& set, std::size_t running) {
  consumer = waker::current();
  struct forget {
    waker& consumer;
    ~forget() { consumer = waker(); }
  } on_exit{consumer};
  // Not remote: only this hub's tasks deliver results.
  park({"pool results", &set, static_cast<std::int64_t>(running), &describe_results});
}

void stop_map(const task_base& feeder, std::vector<task_base> running) noexcept {
  interrupt_shield hold;
  try {
    // The feeder first, so that it spawns nothing more.
    if (!feeder.ready()) feeder.kill(nullptr, /*block=*/true);
    killall(running);
  } catch (const error& e) {
    // Only when a killed task parks again where nothing can wake it; a
    // destructor cannot throw it.
    std::fprintf(stderr, "tendril: stopping a pool map: %s\n", e.what());
  }
}

}  // namespace detail

}  // namespace tendril
