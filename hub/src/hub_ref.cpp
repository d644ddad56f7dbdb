// hub_ref: reaching a hub from any thread, through the registry of live hubs.

#include <tendril/error.hpp>
#include <tendril/hub/hub.hpp>

#include "hub.hpp"
#include "hub_registry.hpp"

namespace tendril {

hub_ref hub_ref::current() { return detail::hub::get().ref(); }

void hub_ref::post(std::function<void()> fn) const {
  if (empty()) throw error("hub_ref::post on an empty hub_ref");
  detail::mail m;
  m.fn = std::move(fn);
  if (!detail::hub_registry::deliver(id_, std::move(m)))
    throw error("cannot post to " + describe() + ": its thread has exited");
}

hub_stats hub_ref::stats() const {
  hub_stats s;
  if (empty() || !detail::hub_registry::visit(id_, [&s](const detail::hub& h) { s = h.stats(); }))
    throw error("cannot read the statistics of " + describe() + ": its thread has exited");
  return s;
}

bool hub_ref::alive() const noexcept {
  return !empty() && detail::hub_registry::visit(id_, [](const detail::hub&) {});
}

std::string hub_ref::describe() const {
  if (empty()) return "no hub";
  return "hub " + std::to_string(id_) + " (thread " + std::to_string(thread_id_) + ")";
}

}  // namespace tendril
