// dns: one c-ares channel per hub, driven by the hub's loop. The only file
// in tendril that includes <ares.h>.
//
// Glossary:
// - resolver: the hub service owning this hub's channel, an io_watcher per
//   socket the channel opens (ARES_OPT_SOCK_STATE_CB) and one timer, never
//   later than ares_timeout() (see keep_timer_in_time).
// - lookup: one ares_getaddrinfo in flight, on the heap.
// - abandoned: a lookup whose fiber left resolve() before its answer (a
//   deadline, a kill, a timeout scope).
//
// Invariants:
// - c-ares runs only on the hub's thread: called by fibers (getaddrinfo,
//   cancel, destroy) or by the watchers' callbacks (ares_process_fd), so its
//   callbacks only record a result and wake a fiber, never switch.
// - A lookup is owned by c-ares until its callback has run, then by its
//   fiber; whichever of the two lets go second deletes it. The fiber never
//   leaves it on its stack: a kill ends the park while c-ares still holds
//   the pointer.
// - pending_ counts the queries c-ares holds (abandoned ones too); waiting_
//   the fibers inside resolve(). When waiting_ drops to 0 with queries still
//   pending, all of those are abandoned and ares_cancel ends them, so the
//   channel closes its sockets and the hub keeps no watcher or timer for
//   answers nobody wants.
// - The channel is rebuilt (set_servers, set_timeout) only while no fiber
//   waits: ares_set_servers* refuses while queries are outstanding, and
//   c-ares 1.18 has no way to change timeouts on a live channel.
//
// Rejected approaches:
// - Ending a lookup at its deadline with ares_cancel: it cancels every
//   query of the channel, other fibers' too. An abandoned query stays in
//   the channel (its answer is dropped) until it ends or nobody waits.
// - A channel per lookup: each reads resolv.conf and opens its own socket;
//   1000 concurrent lookups would be 1000 sockets.
// - ares_fds/ares_getsock and select-style polling each loop iteration: the
//   sock-state callback tells exactly which sockets to watch, when.

#include <tendril/io/dns.hpp>

#include <ares.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdlib>
#include <exception>
#include <limits>
#include <memory>
#include <optional>
#include <unordered_map>
#include <utility>

#include <tendril/hub/detail/event_loop.hpp>

namespace tendril::dns {

bool dns_error::not_found() const noexcept { return status_ == ARES_ENOTFOUND || status_ == ARES_ENODATA; }

namespace {

using namespace std::chrono;

std::string quoted(std::string_view text) { return "\"" + std::string(text) + "\""; }

void init_library() {
  // Does nothing on Linux beyond bookkeeping, but c-ares asks for it once per
  // process before any channel; never cleaned up (channels live until exit).
  static const int status = ares_library_init(ARES_LIB_INIT_ALL);
  if (status != ARES_SUCCESS) throw error(std::string("c-ares: cannot initialise: ") + ares_strerror(status));
}

int to_ares_family(family f) noexcept {
  switch (f) {
    case family::ipv4:
      return AF_INET;
    case family::ipv6:
      return AF_INET6;
    case family::any:
      break;
  }
  return AF_UNSPEC;
}

const char* family_name(family f) noexcept {
  switch (f) {
    case family::ipv4:
      return "IPv4 ";
    case family::ipv6:
      return "IPv6 ";
    case family::any:
      break;
  }
  return "";
}

// servers_text(channel) is the channel's servers as set_servers takes them.
std::string servers_text(ares_channel channel) {
  ares_addr_port_node* list = nullptr;
  if (ares_get_servers_ports(channel, &list) != ARES_SUCCESS) return "unknown";
  std::string text;
  for (const ares_addr_port_node* node = list; node != nullptr; node = node->next) {
    char address[INET6_ADDRSTRLEN] = {};
    ::inet_ntop(node->family, &node->addr, address, sizeof address);
    const int port = node->udp_port != 0 ? node->udp_port : 53;
    if (!text.empty()) text += ',';
    text += node->family == AF_INET6 ? "[" + std::string(address) + "]" : std::string(address);
    text += ":" + std::to_string(port);
  }
  ares_free_data(list);
  return text.empty() ? "none" : text;
}

// numeric(host, port) is `host` as an endpoint when it is an IPv4 or IPv6
// address (IPv6 optionally in brackets).
std::optional<endpoint> numeric(std::string_view host, std::uint16_t port) {
  std::string text(host);
  if (text.size() >= 2 && text.front() == '[' && text.back() == ']') text = text.substr(1, text.size() - 2);
  unsigned char buffer[sizeof(in6_addr)];
  if (::inet_pton(AF_INET, text.c_str(), buffer) != 1 && ::inet_pton(AF_INET6, text.c_str(), buffer) != 1)
    return std::nullopt;
  return endpoint::parse(host, port);
}

// channel_config: what a channel is built from besides /etc/resolv.conf.
struct channel_config {
  std::optional<std::string> servers;  // set_servers's ("" = resolv.conf); none: the environment's
  int timeout_ms = -1;                 // -1: resolv.conf's, else c-ares's
  int tries = -1;
};

class resolver;

struct lookup {
  lookup(resolver* r, std::string_view name, std::uint16_t p) : owner(r), host(name), port(p) {}

  resolver* owner;
  std::string host;
  std::uint16_t port;
  waker fiber;  // the park to wake; empty before the first park
  bool done = false;
  bool abandoned = false;
  int status = ARES_SUCCESS;
  int timeouts = 0;
  std::vector<endpoint> addresses;
  std::exception_ptr failure;  // copying the result out failed
};

std::string describe_lookup(const wait_reason& why) {
  return "dns lookup of " + quoted(static_cast<const lookup*>(why.object)->host);
}

class resolver final : public detail::hub_service {
 public:
  resolver() : loop_(detail::this_thread_loop()), timer_(&on_timer, this) {}
  resolver(const resolver&) = delete;
  resolver& operator=(const resolver&) = delete;
  // The hub's tasks have unwound, so every lookup left is abandoned:
  // ares_destroy runs their callbacks (ARES_EDESTRUCTION), which delete them,
  // and closes the sockets, which stops their watchers.
  ~resolver() override { destroy_channel(); }

  std::vector<endpoint> resolve(std::string_view host, std::uint16_t port, family f,
                                clock::time_point deadline);
  void reconfigure(const char* caller, const channel_config& next);
  const channel_config& config() const noexcept { return config_; }
  std::string servers() { return servers_text(channel()); }

 private:
  // leaving: the fiber's hold on a lookup, let go however resolve() ends.
  struct leaving {
    resolver& owner;
    lookup* query;
    ~leaving() { owner.leave(*query); }
  };

  ares_channel channel();
  ares_channel make_channel(const channel_config& config);
  void destroy_channel() noexcept;
  void leave(lookup& query) noexcept;
  void arm_timer() noexcept;
  void keep_timer_in_time() noexcept;
  dns_error failure(const lookup& query, family f) const;

  static void on_sock_state(void* data, ares_socket_t fd, int readable, int writable) noexcept;
  static void on_io(detail::io_watcher& fired, int events) noexcept;
  static void on_timer(detail::timer& fired) noexcept;
  static void on_result(void* arg, int status, int timeouts, ares_addrinfo* result) noexcept;

  detail::event_loop& loop_;
  ares_channel channel_ = nullptr;
  channel_config config_;
  detail::timer timer_;
  clock::duration first_try_timeout_ = std::chrono::seconds(5);  // the channel's, read back from c-ares
  // One watcher per fd the channel has used; a closed socket's is stopped and
  // kept for the next socket with that number (never freed inside its own
  // callback, which ares_process_fd may close the socket from).
  std::unordered_map<int, std::unique_ptr<detail::io_watcher>> sockets_;
  std::size_t pending_ = 0;
  std::size_t waiting_ = 0;
};

ares_channel resolver::channel() {
  if (channel_ == nullptr) channel_ = make_channel(config_);
  return channel_;
}

ares_channel resolver::make_channel(const channel_config& config) {
  init_library();
  ares_options options{};
  int mask = ARES_OPT_SOCK_STATE_CB | ARES_OPT_LOOKUPS;
  options.sock_state_cb = &on_sock_state;
  options.sock_state_cb_data = this;
  options.lookups = const_cast<char*>("fb");  // copied by ares_init_options
  if (config.timeout_ms > 0) {
    mask |= ARES_OPT_TIMEOUTMS;
    options.timeout = config.timeout_ms;
  }
  if (config.tries > 0) {
    mask |= ARES_OPT_TRIES;
    options.tries = config.tries;
  }
  ares_channel fresh = nullptr;
  if (int status = ares_init_options(&fresh, &options, mask); status != ARES_SUCCESS)
    throw error(std::string("c-ares: cannot create a DNS channel: ") + ares_strerror(status));
  ares_options actual{};
  int actual_mask = 0;
  if (ares_save_options(fresh, &actual, &actual_mask) == ARES_SUCCESS) {
    if ((actual_mask & ARES_OPT_TIMEOUTMS) != 0 && actual.timeout > 0)
      first_try_timeout_ = std::chrono::milliseconds(actual.timeout);
    ares_destroy_options(&actual);
  }

  std::string servers;
  std::string source;
  if (config.servers) {
    servers = *config.servers;
    source = "dns::set_servers(" + quoted(servers) + ")";
  } else if (const char* env = std::getenv("TENDRIL_DNS_SERVERS")) {
    servers = env;
    source = "TENDRIL_DNS_SERVERS=" + quoted(servers);
  }
  if (!servers.empty()) {
    if (int status = ares_set_servers_ports_csv(fresh, servers.c_str()); status != ARES_SUCCESS) {
      ares_destroy(fresh);
      throw error(source + ": not a list of server addresses (" + ares_strerror(status) + ")");
    }
  }
  return fresh;
}

void resolver::destroy_channel() noexcept {
  if (channel_ == nullptr) return;
  ares_destroy(channel_);
  channel_ = nullptr;
  timer_.stop();
}

void resolver::reconfigure(const char* caller, const channel_config& next) {
  if (waiting_ > 0)
    throw error(std::string(caller) + ": " + std::to_string(waiting_) +
                " DNS lookup(s) of this hub are waiting; change the resolver while none is");
  ares_channel fresh = make_channel(next);
  destroy_channel();
  channel_ = fresh;
  config_ = next;
}

void resolver::arm_timer() noexcept {
  timeval tv{};
  if (channel_ == nullptr || ares_timeout(channel_, nullptr, &tv) == nullptr) {
    timer_.stop();
    return;
  }
  timer_.start(loop_, clock::now() + seconds(tv.tv_sec) + microseconds(tv.tv_usec));
}

// keep_timer_in_time() is arm_timer() when it is needed, after a call that
// may have sent queries. Any query sent now times out at now +
// first_try_timeout_ or later (retries back off), so a timer armed before
// that still fires in time; one that fires early finds nothing due and is
// re-armed by on_timer. This spares ares_timeout, which walks every query
// in flight, on every answer.
void resolver::keep_timer_in_time() noexcept {
  if (pending_ == 0) {
    timer_.stop();
    return;
  }
  if (!timer_.armed() || timer_.deadline() > clock::now() + first_try_timeout_) arm_timer();
}

void resolver::on_sock_state(void* data, ares_socket_t fd, int readable, int writable) noexcept {
  auto* self = static_cast<resolver*>(data);
  if (!readable && !writable) {
    if (auto it = self->sockets_.find(fd); it != self->sockets_.end()) it->second->stop();
    return;
  }
  std::unique_ptr<detail::io_watcher>& watcher = self->sockets_[fd];
  if (!watcher) watcher = std::make_unique<detail::io_watcher>(&on_io, self);
  watcher->start(self->loop_, fd,
                 (readable ? detail::fd_readable : 0) | (writable ? detail::fd_writable : 0));
}

void resolver::on_io(detail::io_watcher& fired, int events) noexcept {
  auto* self = static_cast<resolver*>(fired.context());
  const int fd = fired.fd();
  ares_process_fd(self->channel_, (events & detail::fd_readable) ? fd : ARES_SOCKET_BAD,
                  (events & detail::fd_writable) ? fd : ARES_SOCKET_BAD);
  self->keep_timer_in_time();
}

void resolver::on_timer(detail::timer& fired) noexcept {
  auto* self = static_cast<resolver*>(fired.context());
  ares_process_fd(self->channel_, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
  self->arm_timer();
}

void resolver::on_result(void* arg, int status, int timeouts, ares_addrinfo* result) noexcept {
  std::unique_ptr<ares_addrinfo, void (*)(ares_addrinfo*)> owned(result, &ares_freeaddrinfo);
  auto* query = static_cast<lookup*>(arg);
  --query->owner->pending_;
  if (query->abandoned) {
    delete query;
    return;
  }
  query->done = true;
  query->status = status;
  query->timeouts = timeouts;
  if (status == ARES_SUCCESS && result != nullptr) {
    try {
      for (const ares_addrinfo_node* node = result->nodes; node != nullptr; node = node->ai_next)
        query->addresses.push_back(endpoint(node->ai_addr, node->ai_addrlen).with_port(query->port));
    } catch (const std::exception&) {  // out of memory: rethrown by the fiber
      query->failure = std::current_exception();
    }
  }
  if (status == ARES_SUCCESS && query->addresses.empty() && !query->failure) query->status = ARES_ENODATA;
  query->fiber.wake();  // nothing when it completed before parking
}

void resolver::leave(lookup& query) noexcept {
  if (query.done) {
    delete &query;
  } else {
    query.abandoned = true;
    query.fiber = {};
  }
  if (--waiting_ == 0 && pending_ > 0) {
    ares_cancel(channel_);  // every query left is abandoned: their callbacks delete them
    arm_timer();
  }
}

dns_error resolver::failure(const lookup& query, family f) const {
  const std::string& host = query.host;
  const std::string servers = " (servers " + servers_text(channel_) + ")";
  switch (query.status) {
    case ARES_ENOTFOUND:
      return dns_error("unknown host " + quoted(host), host, query.status, false);
    case ARES_ENODATA:
      return dns_error("host " + quoted(host) + " has no " + family_name(f) + "address", host, query.status,
                       false);
    case ARES_ETIMEOUT:
      return dns_error("lookup of " + quoted(host) + " timed out: c-ares gave up after " +
                           std::to_string(query.timeouts) + " unanswered tries" + servers,
                       host, query.status, true);
    default:
      return dns_error("lookup of " + quoted(host) + " failed: " + ares_strerror(query.status) + servers,
                       host, query.status, false);
  }
}

std::vector<endpoint> resolver::resolve(std::string_view host, std::uint16_t port, family f,
                                        clock::time_point deadline) {
  const clock::time_point start = deadline == no_deadline ? clock::time_point{} : clock::now();
  ares_channel ch = channel();
  auto* query = new lookup(this, host, port);
  ++waiting_;
  leaving hold{*this, query};
  ares_addrinfo_hints hints{};
  hints.ai_family = to_ares_family(f);
  ++pending_;
  ares_getaddrinfo(ch, query->host.c_str(), nullptr, &hints, &on_result, query);  // may call back at once
  keep_timer_in_time();

  const wait_reason why{"dns", query, 0, &describe_lookup};
  while (!query->done) {
    query->fiber = waker::current();
    if (!park(why, deadline) && !query->done) {
      const auto waited = duration_cast<milliseconds>(clock::now() - start).count();
      throw dns_error("lookup of " + quoted(host) + " timed out after " + std::to_string(waited) + " ms" +
                          " (servers " + servers_text(channel_) + ")",
                      query->host, ARES_ETIMEOUT, true);
    }
  }
  if (query->failure) std::rethrow_exception(query->failure);
  if (query->status != ARES_SUCCESS) throw failure(*query, f);
  return std::move(query->addresses);
}

}  // namespace

std::vector<endpoint> resolve(std::string_view host, std::uint16_t port, family f,
                              clock::time_point deadline) {
  if (host.empty() || host.find('\0') != std::string_view::npos)
    throw dns_error("invalid host name " + quoted(host), std::string(host), ARES_EBADNAME, false);
  if (std::optional<endpoint> address = numeric(host, port)) {
    const int wanted = to_ares_family(f);
    if (wanted != AF_UNSPEC && address->family() != wanted)
      throw dns_error(quoted(host) + " is an " + (wanted == AF_INET ? "IPv6" : "IPv4") + " address, not " +
                          (wanted == AF_INET ? "IPv4" : "IPv6"),
                      std::string(host), ARES_ENODATA, false);
    return {*address};
  }
  return detail::this_hub_service<resolver>().resolve(host, port, f, deadline);
}

void set_servers(std::string_view servers) {
  resolver& r = detail::this_hub_service<resolver>();
  channel_config next = r.config();
  next.servers = std::string(servers);
  r.reconfigure("dns::set_servers", next);
}

std::string servers() { return detail::this_hub_service<resolver>().servers(); }

void set_timeout(std::chrono::milliseconds per_try, int tries) {
  if (per_try.count() <= 0 || per_try.count() > std::numeric_limits<int>::max() || tries < 1)
    throw error("dns::set_timeout(" + std::to_string(per_try.count()) + " ms, " + std::to_string(tries) +
                " tries): the timeout must be positive and tries at least 1");
  resolver& r = detail::this_hub_service<resolver>();
  channel_config next = r.config();
  next.timeout_ms = static_cast<int>(per_try.count());
  next.tries = tries;
  r.reconfigure("dns::set_timeout", next);
}

}  // namespace tendril::dns
