// tendril::dump: every hub describes itself on its own thread.
//
// The calling thread's hub is described in place. Every other hub gets the
// request as mail and answers between two polls; the caller waits for all
// the answers together, up to answer_wait. A hub that does not answer is
// described from what other threads can read (its counters) and sampled by
// signal (busy_sample.cpp): which fiber holds its thread, and where.

#include <tendril/hub/dump.hpp>

#include <unistd.h>

#include <memory>
#include <optional>
#include <sstream>
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
  std::size_t pending = 0;                        // guarded by signal.mutex
};

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
        detail::hub::get().dump(text);
        std::lock_guard lock(replies->signal.mutex);
        replies->texts[i] = text.str();
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
        replies->texts[i] = text.str();
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
}

std::string dump() {
  std::ostringstream out;
  dump(out);
  return out.str();
}

}  // namespace tendril
