// redis_frontier: the crawl's frontier kept in Redis, shared by every
// crawler process, on any machine, that names the same key (frontier.hpp).
// It talks to Redis through hiredis's plain blocking API: once
// tendril::patch_all() has run, each redisCommand parks the calling fiber
// in write() and read() instead of blocking its thread.
//
// Keys, for the spec "redis://host:port/K":
//
//   K:queue     list of "depth url", oldest first: what is still to fetch
//   K:seen      set of every URL ever queued (the de-duplication)
//   K:inflight  hash "depth url" -> the token of the take() that holds it:
//               what is being fetched, and by whom ("host:pid/frontier#take")
//   K:progress  counter, bumped by every add that queues, take that pops and
//               done that finishes: how a waiting process tells progress
//               from a stall
//
// The crawl is over when K:queue is empty and K:inflight is empty. The keys
// are never deleted: a new crawl needs a new key (or `DEL K:queue K:seen
// K:inflight K:progress` first); on an old key every URL is seen already and
// the crawl is over at once. On a Redis Cluster the four keys must share a
// slot: give K a hash tag ("{crawl}").
//
// Why Lua (EVAL). Each operation reads and writes several keys, and other
// processes must never see it half done: an add that checked the budget
// (SCARD) before another process's SADD would let the seen set overshoot
// max_pages; a take that popped the queue before recording the item in
// K:inflight would, for that moment, show another process an empty queue
// and nothing in flight, and it would end its crawl early. A script runs
// atomically in Redis; MULTI/EXEC cannot branch on what it reads, and
// WATCH retries under contention, which 50 fibers per process provide.
//
// Why take() polls rather than BLPOP/BLMOVE. The pop must be atomic with
// the in-flight record and with the "is the crawl over?" check, and Redis
// runs no blocking command inside a script. A BLMOVE into an in-flight list
// is atomic, but nothing ever pushes when the crawl ends, so waiters would
// poll anyway; and a fiber blocked in BLMOVE holds one of the few pooled
// connections, so the fibers that would add or finish work (and wake it)
// would queue behind it. So a take that finds nothing parks for a backoff
// (5 ms doubling to 50 ms, reset whenever K:progress moves) and asks again.
// close() ends those waits at once (they wait on an event).
//
// Retries. An I/O error (Redis restarted, an idle connection closed by the
// server, a command timeout) closes the connection, connects again and
// sends the command once more; a second failure throws tendril::error
// naming host:port. The first attempt may have run before its reply was
// lost, so every script is safe to run twice: add's SADD admits a URL once
// (the retry only undercounts what add() returns); take records its token
// and, on a retry, first looks for an item already recorded under it; done
// deletes a hash field, and accepts a retry that finds it gone.
//
// A process that dies mid-fetch (killed, its machine lost) leaves its items
// in K:inflight for ever, and the crawl can never be over. It is not
// handed to another process: a process that is only slow would fetch it
// too, and a page would be fetched twice. Instead a take() that has waited
// `idle_limit` (60 s) with K:progress unchanged looks at K:inflight: if
// every item there is one this frontier handed out and has not seen done
// (its own fetches: they end with their own timeouts), it keeps waiting;
// otherwise it throws tendril::error naming the holders ("2 taken by
// host:1234/1"), so the crawler stops with a message rather than hanging.
// A take whose reply was lost to a kill leaves its item behind the same way.
//
// Connections. A redisContext is one socket with one reply stream: two
// fibers must never use it at once. The pool is a tendril::queue of
// `connections` slots, each an open context or empty (connect on use):
// get() parks a fiber, on any hub, while every slot is lent, and a slot
// returns on every path (RAII), empty when its connection failed. The
// first connection is made by make_redis_frontier, so a wrong address is
// an error at once. A connect gives up after 5 s and a command after 30 s
// (SO_RCVTIMEO/SO_SNDTIMEO through redisSetTimeout, which patch honours),
// so a Redis that stops answering is an error, not a hang. Each connection
// is named "tendril-crawler:<holder>" (CLIENT SETNAME): CLIENT LIST shows
// which crawler it belongs to.
//
// Cancellation. A fiber killed (or timed out) inside redisCommand makes
// hiredis fail with ECANCELED: the connection is closed (its reply stream
// is out of step), and the kill is raised at a yield, as patch asks.
//
// Rejected: hiredis's async API with a tendril adapter (the point of this
// frontier is that the blocking API works unmodified); one connection per
// fiber (a crawl of 200 fibers on 10 machines would hold 2,000 Redis
// clients); EVALSHA (saves ~600 bytes a call, at the price of NOSCRIPT
// handling after a Redis restart); libcurl's URL API for the spec (a
// redis:// spec has no path, query or userinfo for it to handle, and the
// crawler parses URLs without it, see links.cpp).

#include "frontier.hpp"

#include <hiredis/hiredis.h>
#include <signal.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <tendril/error.hpp>
#include <tendril/hub/park.hpp>
#include <tendril/hub/sleep.hpp>
#include <tendril/sync/event.hpp>
#include <tendril/sync/queue.hpp>

namespace crawler {

namespace {

using namespace std::chrono_literals;
using tendril::clock;

constexpr std::chrono::microseconds connect_timeout = 5s;
// A script takes microseconds (an add of 1,000 URLs, a millisecond): a
// reply this late means Redis or the network is gone.
constexpr std::chrono::microseconds command_timeout = 30s;
constexpr clock::duration first_backoff = 5ms;
constexpr clock::duration last_backoff = 50ms;
// URLs per add script: each script holds Redis for its whole run, so a page
// with 100,000 links is added in steps that let other clients in between.
constexpr std::size_t add_batch = 1000;

// add: ARGV = max_pages (0: no limit), depth, url...; returns how many it queued.
constexpr std::string_view add_script = R"lua(
local max = tonumber(ARGV[1])
local queued = 0
for i = 3, #ARGV do
  if max > 0 and redis.call('SCARD', KEYS[1]) >= max then break end
  if redis.call('SADD', KEYS[1], ARGV[i]) == 1 then
    redis.call('RPUSH', KEYS[2], ARGV[2] .. ' ' .. ARGV[i])
    queued = queued + 1
  end
end
if queued > 0 then redis.call('INCR', KEYS[3]) end
return queued
)lua";

// take: ARGV = token, retry ("1" when resent after an I/O error). Returns
// the item, -1 when the crawl is over, or else K:progress (>= 0).
constexpr std::string_view take_script = R"lua(
if ARGV[2] == '1' then
  local held = redis.call('HGETALL', KEYS[2])
  for i = 1, #held, 2 do
    if held[i + 1] == ARGV[1] then return held[i] end
  end
end
local item = redis.call('LPOP', KEYS[1])
if item then
  redis.call('HSET', KEYS[2], item, ARGV[1])
  redis.call('INCR', KEYS[3])
  return item
end
if redis.call('HLEN', KEYS[2]) == 0 then return -1 end
return tonumber(redis.call('GET', KEYS[3]) or '0')
)lua";

// done: ARGV = item, retry. Returns 1, or 0 for an item not in flight.
constexpr std::string_view done_script = R"lua(
if redis.call('HDEL', KEYS[1], ARGV[1]) == 1 then
  redis.call('INCR', KEYS[2])
  return 1
end
if ARGV[2] == '1' then return 1 end
return 0
)lua";

// -- The spec -----------------------------------------------------------------

struct redis_spec {
  std::string text;  // as given, for messages
  std::string host;
  int port = 6379;
  std::string key;

  std::string address() const { return host + ":" + std::to_string(port); }
};

[[noreturn]] void malformed(std::string_view spec, std::string_view why) {
  throw tendril::error("malformed Redis frontier \"" + std::string(spec) + "\": " + std::string(why) +
                       " (expected redis://host[:port]/key)");
}

bool is_host_char(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
         c == '_';
}

// A key may hold any printable ASCII but '?' and '#', which would make the
// spec look like a URL with a query or a fragment that is then ignored.
bool is_key_char(char c) noexcept { return c > ' ' && c < 0x7f && c != '?' && c != '#'; }

int parse_port(std::string_view spec, std::string_view digits) {
  int port = 0;
  const auto [end, failure] = std::from_chars(digits.data(), digits.data() + digits.size(), port);
  if (digits.empty() || digits.size() > 5 || failure != std::errc() || end != digits.data() + digits.size() ||
      !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }) || port < 1 ||
      port > 65535)
    malformed(spec, "the port is not a number from 1 to 65535");
  return port;
}

// parse_spec(spec): "redis://host[:port]/key", lower-case scheme, host a
// name or an IPv4 address (hiredis resolves it), port 6379 when absent.
redis_spec parse_spec(std::string_view spec) {
  constexpr std::string_view scheme = "redis://";
  if (!spec.starts_with(scheme)) malformed(spec, "it does not start with redis://");
  const std::string_view rest = spec.substr(scheme.size());
  const std::size_t slash = rest.find('/');
  if (slash == std::string_view::npos) malformed(spec, "there is no /key");
  const std::string_view authority = rest.substr(0, slash);
  const std::string_view key = rest.substr(slash + 1);
  const std::size_t colon = authority.find(':');
  const std::string_view host = authority.substr(0, colon);
  if (host.empty()) malformed(spec, "there is no host");
  if (!std::all_of(host.begin(), host.end(), is_host_char))
    malformed(spec, "the host is not a name or an IPv4 address");
  redis_spec s{std::string(spec), std::string(host), 6379, std::string(key)};
  if (colon != std::string_view::npos) s.port = parse_port(spec, authority.substr(colon + 1));
  if (key.empty()) malformed(spec, "the key is empty");
  if (!std::all_of(key.begin(), key.end(), is_key_char))
    malformed(spec, "the key holds a space, a control character, '?' or '#'");
  return s;
}

// -- hiredis ------------------------------------------------------------------

struct context_free {
  void operator()(redisContext* c) const noexcept { redisFree(c); }
};
using context_ptr = std::unique_ptr<redisContext, context_free>;

struct reply_free {
  void operator()(redisReply* r) const noexcept { freeReplyObject(r); }
};
using reply_ptr = std::unique_ptr<redisReply, reply_free>;

timeval to_timeval(std::chrono::microseconds d) noexcept {
  return {static_cast<time_t>(d.count() / 1000000), static_cast<suseconds_t>(d.count() % 1000000)};
}

// send(c, args) sends one command and reads its reply; null when the
// connection failed (c->err, c->errstr say why).
reply_ptr send(redisContext* c, const std::vector<std::string_view>& args) {
  std::vector<const char*> argv;
  std::vector<std::size_t> lengths;
  argv.reserve(args.size());
  lengths.reserve(args.size());
  for (std::string_view a : args) {
    argv.push_back(a.data());
    lengths.push_back(a.size());
  }
  return reply_ptr(static_cast<redisReply*>(
      redisCommandArgv(c, static_cast<int>(args.size()), argv.data(), lengths.data())));
}

std::string text_of(const redisReply& r) { return std::string(r.str, r.len); }

// cancelled(c): c failed because the calling fiber was killed or timed out
// (patch fails the call with ECANCELED; hiredis keeps strerror's text).
bool cancelled(const redisContext& c) noexcept {
  return c.err == REDIS_ERR_IO && std::strcmp(c.errstr, std::strerror(ECANCELED)) == 0;
}

// -- The connection pool ------------------------------------------------------

// connection_pool lends at most `size` connections, each to one caller at
// a time (see the file comment).
class connection_pool {
 public:
  // connection_pool(spec, size, name): each connection is named `name`
  // (CLIENT SETNAME), so that CLIENT LIST shows which crawler holds it.
  connection_pool(const redis_spec& spec, std::size_t size, std::string name)
      : spec_(spec), name_(std::move(name)), slots_(0, "Redis connections of " + spec.text) {
    for (std::size_t i = 0; i < size; ++i) slots_.put(nullptr);
  }

  // lease: one connected slot, given back when it goes.
  class lease {
   public:
    // lease(pool) takes a slot and connects it if it has no connection.
    // Blocking: parks while every slot is lent. Errors: tendril::error
    // naming the spec and the address when Redis cannot be reached.
    explicit lease(connection_pool& pool) : pool_(&pool), context_(pool.slots_.get()) {
      try {
        connect();
      } catch (...) {
        pool_->slots_.put(std::move(context_));
        throw;
      }
    }
    lease(const lease&) = delete;
    lease& operator=(const lease&) = delete;
    ~lease() { pool_->slots_.put(std::move(context_)); }

    redisContext* get() const noexcept { return context_.get(); }
    // connect() opens the slot's connection if it has none.
    void connect() {
      if (!context_) context_ = pool_->connect();
    }
    // drop() closes the connection: its reply stream is in an unknown state.
    void drop() noexcept { context_.reset(); }

   private:
    connection_pool* pool_;
    context_ptr context_;
  };

 private:
  context_ptr connect() const {
    context_ptr c(redisConnectWithTimeout(spec_.host.c_str(), spec_.port, to_timeval(connect_timeout)));
    if (c == nullptr)
      throw tendril::error(spec_.text + ": cannot connect to Redis at " + spec_.address() +
                           ": out of memory");
    std::string why;
    if (c->err == 0 && redisSetTimeout(c.get(), to_timeval(command_timeout)) == REDIS_OK) {
      reply_ptr named = send(c.get(), {"CLIENT", "SETNAME", name_});
      if (named != nullptr && named->type != REDIS_REPLY_ERROR) return c;
      if (named != nullptr) why = text_of(*named);
    }
    if (cancelled(*c)) tendril::yield();  // raises the kill
    throw tendril::error(spec_.text + ": cannot connect to Redis at " + spec_.address() + ": " +
                         (why.empty() ? c->errstr : why));
  }

  const redis_spec& spec_;
  const std::string name_;
  tendril::queue<context_ptr> slots_;  // an empty context_ptr: a slot not connected
};

// -- The frontier -------------------------------------------------------------

// ignore_sigpipe_unless_handled(): hiredis writes with write(), not
// send(MSG_NOSIGNAL), so a write to a connection Redis has closed raises
// SIGPIPE, which would end the process before the error could be handled
// (hiredis's README asks its users to ignore it). A program that handles
// SIGPIPE itself keeps its handler.
void ignore_sigpipe_unless_handled() noexcept {
  struct sigaction current {};
  if (::sigaction(SIGPIPE, nullptr, &current) == 0 && current.sa_handler == SIG_DFL)
    ::signal(SIGPIPE, SIG_IGN);
}

std::string local_host_name() {
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) != 0) return "unknown-host";
  return name;
}

class redis_frontier final : public frontier {
 public:
  redis_frontier(redis_spec spec, std::size_t max_pages, std::size_t connections, clock::duration idle_limit)
      : spec_(std::move(spec)),
        max_pages_(std::to_string(max_pages)),
        idle_limit_(idle_limit),
        queue_key_(spec_.key + ":queue"),
        seen_key_(spec_.key + ":seen"),
        inflight_key_(spec_.key + ":inflight"),
        progress_key_(spec_.key + ":progress"),
        owner_(local_host_name() + ":" + std::to_string(::getpid()) + "/" + std::to_string(++instances)),
        pool_(spec_, connections, "tendril-crawler:" + owner_),
        closed_("close() of " + spec_.text) {
    if (connections == 0)
      throw tendril::error(spec_.text + ": a Redis frontier needs at least one connection");
    ignore_sigpipe_unless_handled();
    connection_pool::lease first(pool_);  // reachable now, or an error now
  }

  std::size_t add(const std::vector<std::string>& urls, unsigned depth) override {
    const std::string depth_text = std::to_string(depth);
    std::size_t queued = 0;
    for (std::size_t first = 0; first < urls.size(); first += add_batch) {
      const std::size_t last = std::min(urls.size(), first + add_batch);
      std::vector<std::string_view> args{"EVAL",     add_script,    "3",        seen_key_,
                                         queue_key_, progress_key_, max_pages_, depth_text};
      args.insert(args.end(), urls.begin() + static_cast<std::ptrdiff_t>(first),
                  urls.begin() + static_cast<std::ptrdiff_t>(last));
      queued += static_cast<std::size_t>(integer(call(std::move(args))));
    }
    return queued;
  }

  std::optional<frontier_item> take() override {
    const std::string token = owner_ + "#" + std::to_string(++takes_);
    clock::duration backoff = first_backoff;
    long long last_progress = -1;
    clock::time_point idle_since = clock::now();
    while (!closed_.is_set()) {
      reply_ptr r = call({"EVAL", take_script, "3", queue_key_, inflight_key_, progress_key_, token, "0"},
                         retry::flagged);
      if (r->type == REDIS_REPLY_STRING) {
        ++outstanding_;
        return parse_item(text_of(*r));
      }
      const long long progress = integer(std::move(r));
      if (progress < 0) return std::nullopt;  // nothing queued, nothing in flight: over
      if (progress != last_progress) {
        last_progress = progress;
        idle_since = clock::now();
        backoff = first_backoff;
      } else if (clock::now() - idle_since >= idle_limit_) {
        check_not_stalled();
        idle_since = clock::now();  // every item in flight is one of ours, still being fetched
      }
      closed_.wait_for(backoff);
      backoff = std::min(backoff * 2, last_backoff);
    }
    return std::nullopt;
  }

  void done(const frontier_item& item) override {
    --outstanding_;  // even if the call fails: the item is then a stall check_not_stalled() reports
    const std::string text = std::to_string(item.depth) + " " + item.url;
    if (integer(call({"EVAL", done_script, "2", inflight_key_, progress_key_, text, "0"}, retry::flagged)) ==
        0)
      throw tendril::error(spec_.text + ": done(\"" + item.url +
                           "\") for an item not in flight (not taken at this depth, or done twice)");
  }

  // SADD is idempotent: a resend after a lost reply does no harm.
  void mark_seen(const std::string& url) override { call({"SADD", seen_key_, url}); }

  void close() override { closed_.set(); }

  std::size_t queued() override { return count({"LLEN", queue_key_}); }
  std::size_t seen() override { return count({"SCARD", seen_key_}); }
  std::size_t in_flight() override { return count({"HLEN", inflight_key_}); }

 private:
  // flagged: the command's last argument is a script's retry flag, "0",
  // which a resend sets to "1".
  enum class retry { plain, flagged };

  // call(args, how) sends a command on a pooled connection and returns its
  // reply. After an I/O error it connects again and resends it once.
  // Errors: tendril::error naming the address when both attempts fail, or
  // the spec when Redis answers with an error.
  reply_ptr call(std::vector<std::string_view> args, retry how = retry::plain) {
    connection_pool::lease connection(pool_);
    reply_ptr r = send(connection.get(), args);
    if (r == nullptr) {
      const std::string first_error = failure(connection);
      connection.connect();
      if (how == retry::flagged) args.back() = "1";
      r = send(connection.get(), args);
      if (r == nullptr)
        throw tendril::error(spec_.text + ": Redis at " + spec_.address() + " failed: " + first_error +
                             ", then again after reconnecting: " + failure(connection));
    }
    if (r->type == REDIS_REPLY_ERROR)
      throw tendril::error(spec_.text + ": Redis at " + spec_.address() + " answered " + text_of(*r));
    return r;
  }

  // failure(connection) closes a connection that failed and says why. A
  // kill (or an expired timeout scope) made hiredis fail with ECANCELED:
  // it is raised here, at a yield.
  std::string failure(connection_pool::lease& connection) {
    const bool killed = cancelled(*connection.get());
    std::string why = connection.get()->errstr;
    connection.drop();
    if (killed) tendril::yield();
    return why;
  }

  long long integer(reply_ptr r) const {
    if (r->type != REDIS_REPLY_INTEGER)
      throw tendril::error(spec_.text + ": Redis at " + spec_.address() + " answered a " +
                           std::to_string(r->type) + " reply where an integer was expected");
    return r->integer;
  }

  std::size_t count(std::vector<std::string_view> args) {
    return static_cast<std::size_t>(integer(call(std::move(args))));
  }

  frontier_item parse_item(const std::string& text) const {
    const std::size_t space = text.find(' ');
    frontier_item item;
    const char* end = text.data() + (space == std::string::npos ? 0 : space);
    const auto [parsed, failed] = std::from_chars(text.data(), end, item.depth);
    if (space == std::string::npos || space == 0 || space + 1 == text.size() || failed != std::errc() ||
        parsed != end)
      throw tendril::error(spec_.text + ": " + queue_key_ + " holds \"" + text + "\", not \"depth url\"");
    item.url = text.substr(space + 1);
    return item;
  }

  // check_not_stalled(): K:progress has not moved for idle_limit_. Fine if
  // every item in flight is one this frontier handed out and is still
  // fetching; otherwise throws tendril::error naming their holders.
  void check_not_stalled() {
    reply_ptr r = call({"HGETALL", inflight_key_});
    std::map<std::string, std::size_t> holders;  // owner -> items in flight
    for (std::size_t i = 1; i < r->elements; i += 2) {
      const std::string token = text_of(*r->element[i]);
      ++holders[token.substr(0, token.rfind('#'))];
    }
    const auto mine = holders.find(owner_);
    if (mine != holders.end() && static_cast<long long>(mine->second) <= outstanding_.load())
      holders.erase(mine);
    if (holders.empty()) return;
    std::string who;
    for (const auto& [owner, items] : holders)
      who += (who.empty() ? "" : ", ") + std::to_string(items) + " taken by " + owner +
             (owner == owner_ ? " (this frontier)" : "");
    throw tendril::error(
        spec_.text + ": no progress for " +
        std::to_string(std::chrono::duration_cast<std::chrono::seconds>(idle_limit_).count()) +
        " s: nothing queued, and fetches in flight that never finish (" + who +
        "); a crawler that dies mid-fetch leaves them there, so the crawl cannot end: start "
        "again with a new key");
  }

  static inline std::atomic<unsigned> instances{0};

  const redis_spec spec_;
  const std::string max_pages_;
  const clock::duration idle_limit_;
  const std::string queue_key_;
  const std::string seen_key_;
  const std::string inflight_key_;
  const std::string progress_key_;
  const std::string owner_;  // "host:pid/instance": who holds an item, in K:inflight's tokens
  connection_pool pool_;
  tendril::event closed_;
  std::atomic<std::uint64_t> takes_{0};
  std::atomic<long long> outstanding_{0};  // items take() handed out and done() has not seen
};

}  // namespace

std::unique_ptr<frontier> make_redis_frontier(std::string_view spec, std::size_t max_pages,
                                              std::size_t connections, clock::duration idle_limit) {
  return std::make_unique<redis_frontier>(parse_spec(spec), max_pages, connections, idle_limit);
}

}  // namespace crawler
