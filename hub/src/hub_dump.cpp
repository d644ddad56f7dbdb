// How a hub describes its fibers: the lines of a dump (tendril::dump), and
// the parked fibers with their wait-for graph in "would block forever".
//
// Every function here runs on the hub's own thread: the records, and the
// suspended greenlets whose call stacks are read, belong to it.
//
// The wait-for graph: a parked fiber whose wait_reason names a holder
// (wait_reason::held_by: a mutex's owner, the task a join waits for) has an
// edge to that fiber. Following edges from each parked fiber finds the
// chains, and a chain that comes back to where it started is a deadlock.
// Only this hub's fibers are followed: another hub's are its own to read.
// (The reasons' own text already names their holders: "mutex "m" held by
// task 4", "joining task 4".)

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <sstream>
#include <unordered_set>
#include <vector>

#include <tendril/fiber/detail/state_access.hpp>

#include "hub.hpp"
#include "task_state.hpp"

namespace tendril::detail {
namespace {

// A chain longer than this is reported as far as it goes.
constexpr int max_chain = 64;

std::string seconds_since(clock::time_point t, clock::time_point now) {
  char text[32];
  std::snprintf(text, sizeof text, "%.3f s", std::chrono::duration<double>(now - t).count());
  return text;
}

std::string kib(std::size_t bytes) { return std::to_string((bytes + 1023) / 1024) + " KiB"; }

const fiber_record* holder_of(const fiber_record* r) {
  if (r->status != fiber_status::parked || r->reason.held_by == nullptr) return nullptr;
  return static_cast<const fiber_record*>(r->reason.held_by(r->reason));
}

}  // namespace

std::vector<std::vector<const fiber_record*>> hub::wait_cycles() const {
  std::vector<std::vector<const fiber_record*>> cycles;
  std::unordered_set<const fiber_record*> reported;
  for (const fiber_record* start = all_.front(); start != nullptr; start = all_.next(start)) {
    if (reported.contains(start)) continue;
    std::vector<const fiber_record*> chain{start};
    for (const fiber_record* next = holder_of(start); next != nullptr && next->owner == this;
         next = holder_of(next)) {
      if (next == start) {
        reported.insert(chain.begin(), chain.end());
        cycles.push_back(std::move(chain));
        break;
      }
      if (static_cast<int>(chain.size()) == max_chain ||
          std::find(chain.begin(), chain.end(), next) != chain.end())
        break;  // runs into a cycle that does not include `start`: found from one of its own
      chain.push_back(next);
    }
  }
  return cycles;
}

void hub::describe_running(signal_text& out) const noexcept {
  // Read as a signal handler sees it: the interrupted code may be storing it.
  const fiber_record* r = __atomic_load_n(&running_, __ATOMIC_RELAXED);
  if (r == nullptr) {
    out.append("the hub itself (a posted function or a watcher's callback)");
    return;
  }
  out.append(r->task != nullptr ? "task " : "greenlet ");
  append_greenlet_label(out, r->state);
}

std::vector<wait_edge> hub::wait_edges() const {
  std::vector<wait_edge> edges;
  for (const fiber_record* r = all_.front(); r != nullptr; r = all_.next(r))
    if (const fiber_record* holder = holder_of(r); holder != nullptr && holder != r)
      edges.push_back({r, holder, id_, r->describe() + " on " + ref().describe()});
  return edges;
}

void hub::describe_cycles(std::ostream& out) const {
  for (const auto& cycle : wait_cycles()) {
    out << "  deadlock: ";
    for (const fiber_record* r : cycle) out << r->describe() << " -> ";
    out << cycle.front()->describe() << " (each waits on what the next holds)\n";
  }
}

std::string hub::describe_parked() const {
  std::ostringstream out;
  for (const fiber_record* r = all_.front(); r != nullptr; r = all_.next(r)) {
    if (r->status != fiber_status::parked || r->reason.awaits_work) continue;
    out << "  " << r->describe() << ": "
        << "waits on " << r->reason.text() << '\n';
  }
  describe_cycles(out);
  return out.str();
}

void hub::dump(std::ostream& out) {
  const clock::time_point now = clock::now();
  const hub_stats s = stats();
  std::size_t in_mail = 0;
  {
    std::lock_guard lock(remote_mutex_);
    in_mail = mailbox_.size() - mailbox_head_;
  }
  out << ref().describe() << ": " << s.tasks << " tasks, " << s.parked << " parked, " << s.ready << " ready, "
      << in_mail << " in mail; " << s.loop_iterations << " loop iterations, " << s.switches << " switches, "
      << s.watchers << " watchers\n";
  const greenlet_state* running = current_greenlet_state();
  for (const fiber_record* r = all_.front(); r != nullptr; r = all_.next(r)) {
    if (r->reason.awaits_work && r->status == fiber_status::parked) continue;  // a runtime worker's idle wait
    tendril::greenlet g(retain_state(r->state));
    out << "  " << r->describe() << ": ";
    if (r->task != nullptr && !r->task->started) {
      out << "not started\n";
      continue;
    }
    bool suspended = true;
    switch (r->status) {
      case fiber_status::parked:
        out << "parked " << seconds_since(r->parked_at, now) << ", "
            << "waits on " << r->reason.text();
        break;
      case fiber_status::ready:
        out << "ready";
        break;
      case fiber_status::running:
        suspended = r->state != running;
        out << (suspended ? "switched away outside the hub (greenlet::switch_to)"
                          : "running (it asked for this dump)");
        break;
    }
    if (g.stack_size() != 0)
      out << "; stack " << kib(g.stack_high_water()) << " used of " << kib(g.stack_size());
    out << '\n';
    if (suspended) out << g.suspended_at().to_string("      ");
  }
  describe_cycles(out);
}

}  // namespace tendril::detail
