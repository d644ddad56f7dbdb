// tendril::dump: every hub describes itself on its own thread.
//
// The calling thread's hub is described in place. Every other hub gets the
// request as mail and answers between two polls; the caller waits for all
// the answers together, up to answer_wait. A hub that does not answer is
// described from what other threads can read (its counters) and sampled by
// signal (busy_sample.cpp): which fiber holds its thread, and where.

#include <tendril/hub/dump.hpp>

#include <unistd.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <sstream>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "busy_sample.hpp"
#include "hub.hpp"
#include "hub_registry.hpp"
#include "remote_task.hpp"

namespace tendril {
namespace {

constexpr std::chrono::seconds answer_wait{1};
constexpr std::chrono::milliseconds sample_wait{100};

struct answers {
  detail::remote_signal signal;
  std::vector<std::optional<std::string>> texts;  // guarded by signal.mutex
  std::vector<detail::wait_edge> edges;           // every answer's, guarded by signal.mutex
  std::size_t pending = 0;                        // guarded by signal.mutex
};

// Cycles of the wait-for graph that span hubs (each hub prints its own
// cycles). The hubs answered one after another, so a cycle is as each saw
// its part: a deadlock, unless a wait ended in between.
void describe_deadlocks_across_hubs(std::ostream& out, const std::vector<detail::wait_edge>& edges) {
  constexpr std::size_t max_chain = 64;
  std::unordered_map<const void*, const detail::wait_edge*> by_fiber;
  for (const detail::wait_edge& e : edges) by_fiber.emplace(e.fiber, &e);
  std::unordered_set<const void*> reported;
  for (const detail::wait_edge& start : edges) {
    if (reported.contains(start.fiber)) continue;
    std::vector<const detail::wait_edge*> chain{&start};
    for (auto next = by_fiber.find(start.holder); next != by_fiber.end();
         next = by_fiber.find(next->second->holder)) {
      const detail::wait_edge* e = next->second;
      if (e == &start) {
        for (const detail::wait_edge* c : chain) reported.insert(c->fiber);
        bool across = std::any_of(chain.begin(), chain.end(), [&](auto* c) { return c->hub != start.hub; });
        if (!across) break;  // its hub printed it
        out << "deadlock across hubs: ";
        for (const detail::wait_edge* c : chain) out << c->text << " -> ";
        out << start.text << " (each waits on what the next holds)\n";
        break;
      }
      if (chain.size() == max_chain || std::find(chain.begin(), chain.end(), e) != chain.end()) break;
      chain.push_back(e);
    }
  }
}

void describe_silent_hub(std::ostream& out, const hub_ref& ref) {
  detail::hub::monitor_view view{};
  hub_stats stats;
  bool alive = detail::hub_registry::visit(ref.id(), [&](const detail::hub& h) {
    view = h.view_for_monitor();
    stats = h.stats();
  });
  if (!alive) {
    out << ref.describe() << ": exited during the dump\n";
    return;
  }
  out << ref.describe() << ": " << stats.tasks << " tasks, " << stats.parked << " parked, " << stats.ready
      << " ready; " << stats.loop_iterations << " loop iterations, " << stats.switches << " switches\n";
  out << "  did not answer within " << answer_wait.count() << " s: ";
  if (view.waiting) {
    out << "it waits in its loop (its thread may have just come back to it)\n";
    return;
  }
  std::optional<detail::busy_sample> sample =
      detail::sample_busy_thread(*view.sample, ref.thread_id(), sample_wait);
  if (!sample) {
    out << "its thread is not in its loop, and did not answer a signal either\n";
    return;
  }
  out << sample->fiber << " holds its thread:\n" << sample->where.to_string("      ");
}

}  // namespace

void dump(std::ostream& out) {
  std::vector<hub_ref> hubs = detail::hub_registry::all();
  detail::hub* own = detail::hub::find();
  auto replies = std::make_shared<answers>();
  replies->texts.resize(hubs.size());
  for (std::size_t i = 0; i < hubs.size(); ++i) {
    if (own != nullptr && hubs[i].id() == own->id()) continue;
    {
      std::lock_guard lock(replies->signal.mutex);
      ++replies->pending;
    }
    try {
      hubs[i].post([replies, i] {
        std::ostringstream text;
        detail::hub& here = detail::hub::get();
        here.dump(text);
        std::vector<detail::wait_edge> edges = here.wait_edges();
        std::lock_guard lock(replies->signal.mutex);
        replies->texts[i] = text.str();
        replies->edges.insert(replies->edges.end(), edges.begin(), edges.end());
        --replies->pending;
        replies->signal.raise();
      });
    } catch (const error&) {
      std::lock_guard lock(replies->signal.mutex);
      replies->texts[i] = hubs[i].describe() + ": exited during the dump\n";
      --replies->pending;
    }
  }
  out << "tendril: " << hubs.size() << (hubs.size() == 1 ? " hub" : " hubs") << " in process " << ::getpid()
      << '\n';
  if (own != nullptr) {
    for (std::size_t i = 0; i < hubs.size(); ++i)
      if (hubs[i].id() == own->id()) {
        std::ostringstream text;
        own->dump(text);
        std::vector<detail::wait_edge> edges = own->wait_edges();
        std::lock_guard lock(replies->signal.mutex);
        replies->texts[i] = text.str();
        replies->edges.insert(replies->edges.end(), edges.begin(), edges.end());
      }
  }
  {
    std::unique_lock lock(replies->signal.mutex);
    auto all_answered = [&] { return replies->pending == 0; };
    clock::time_point deadline = deadline_after(answer_wait);
    if (detail::can_park())
      replies->signal.wait(lock, {.what = "dump answers", .object = replies.get(), .remote = true}, deadline,
                           all_answered);
    else
      replies->signal.thread_wakes.wait_until(lock, deadline, all_answered);
  }
  for (std::size_t i = 0; i < hubs.size(); ++i) {
    std::optional<std::string> text;
    {
      std::lock_guard lock(replies->signal.mutex);
      text = replies->texts[i];
    }
    if (text)
      out << *text;
    else
      describe_silent_hub(out, hubs[i]);
  }
  std::lock_guard lock(replies->signal.mutex);
  describe_deadlocks_across_hubs(out, replies->edges);
}

std::string dump() {
  std::ostringstream out;
  dump(out);
  return out.str();
}

}  // namespace tendril
