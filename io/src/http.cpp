// The HTTP client: libcurl's multi-socket API driven by the hub's loop.
//
// Glossary:
// - multi: one CURLM and the hub watchers it asks for through its
//   callbacks: an io_watcher per socket curl wants watched
//   (CURLMOPT_SOCKETFUNCTION) and one timer (CURLMOPT_TIMERFUNCTION). Each
//   hub has one (a hub_service holds it), so its fibers share curl's
//   connection and DNS caches.
// - transfer: one request in flight, on its fiber's stack; the easy
//   handle's CURLOPT_PRIVATE points to it.
//
// Invariants:
// - Watcher callbacks run on the hub, inside the loop. They call
//   curl_multi_socket_action, which runs curl's state machine and the write
//   callback (which only appends to a buffer), then mark finished transfers
//   done and wake their fibers. Nothing there parks, switches or runs user
//   code: on_body runs in the requesting fiber.
// - A transfer is in its multi handle exactly while fetch()'s guard lives,
//   and the guard removes it however fetch() ends (returned, threw, killed,
//   timed out). After curl_multi_remove_handle curl calls nothing of it, so
//   a dead frame is never touched.
// - The fiber checks the transfer (done? a chunk buffered?) before every
//   park and only then takes its waker; callbacks run only while it is
//   parked or queued, so no wake is lost, and a wake sent while it is not
//   parked is stale and does nothing.
// - Streaming: the write callback appends while the buffer holds less than
//   stream_chunk_limit; past that it returns CURL_WRITEFUNC_PAUSE (curl
//   keeps that data and delivers it again once unpaused). The fiber swaps
//   the buffer out, unpauses, then gives the chunk to on_body, so the next
//   chunk arrives while on_body runs: two buffers at most.
// - Idle: with no transfer in flight curl watches no socket (idle cached
//   connections are not watched) and clears its timer, so an idle hub has
//   nothing of ours armed.
// - Socket watchers are never freed inside a callback (curl may drop a
//   socket from within the socket action that the watcher's own callback
//   runs): a removed one goes to a free list, reused for the next socket.
//
// Rejected:
// - curl's own timeouts (CURLOPT_TIMEOUT_MS) for the deadline: the park's
//   deadline uses the clock of every other tendril deadline and also bounds
//   the time on_body takes.
// - Calling on_body from the write callback: user code would run on the
//   hub, inside the loop, where it must not park.
// - Trusting curl to re-arm the timer after it fires: curl truncates its
//   timeout to whole milliseconds and calls the timer callback only when
//   its earliest expiry changes (Curl_update_timer's timer_lastcall), so a
//   timer that fired a fraction of a millisecond early, before curl's
//   expiry, would not be re-armed and the transfer would stall. After each
//   expiry the timer is re-armed from curl_multi_timeout.
// - A process-wide multi handle: its sockets would be watched by one hub's
//   loop and its callbacks could not wake fibers of another thread cheaply.
// - Closing idle connections with CURLMOPT_MAXCONNECTS or
//   CURLOPT_MAXAGE_CONN: curl applies both only when a connection is added
//   or looked up. close_idle_connections() replaces the multi handle; one
//   with transfers in flight retires and is destroyed after its last one.

#include <tendril/io/http.hpp>

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <tendril/error.hpp>
#include <tendril/hub/detail/event_loop.hpp>
#include <tendril/hub/park.hpp>

namespace tendril::http {
namespace {

// Spare easy handles kept per hub beyond those lent out (see give_back).
constexpr std::size_t spare_easy_floor = 64;

class multi;

struct transfer {
  transfer(const request& r, CURL* e) noexcept : req(r), easy(e), streaming(static_cast<bool>(r.on_body)) {}
  transfer(const transfer&) = delete;
  transfer& operator=(const transfer&) = delete;

  const request& req;
  CURL* easy;
  waker fiber;
  std::string buffer;  // the body, or the streamed chunk not yet handed over
  bool streaming;
  bool paused = false;
  bool done = false;
  CURLcode result = CURLE_OK;
  char error_text[CURL_ERROR_SIZE] = {};
};

// One watched socket of a multi; lives in multi::sockets_ until the multi goes.
struct socket_watch {
  explicit socket_watch(multi& m) noexcept;
  detail::io_watcher watcher;
  multi& owner;
  curl_socket_t fd = CURL_SOCKET_BAD;
};

class multi {
 public:
  explicit multi(detail::event_loop& loop);
  multi(const multi&) = delete;
  multi& operator=(const multi&) = delete;
  ~multi();

  /// add(t) hands t's easy handle to curl; it starts at the next timer.
  void add(transfer& t);
  /// remove(t) takes it back: curl calls nothing of it afterwards.
  void remove(transfer& t) noexcept;
  std::size_t transfers() const noexcept { return transfers_; }

  /// act(fd, mask) runs curl for a ready socket (or the timeout) and wakes
  /// the fibers of the transfers that finished. On the hub, in the loop.
  void act(curl_socket_t fd, int mask) noexcept;

 private:
  static int on_socket(CURL* easy, curl_socket_t fd, int what, void* self, void* watch) noexcept;
  static int on_timer(CURLM* handle, long timeout_ms, void* self) noexcept;
  void watch(curl_socket_t fd, int what, socket_watch* w) noexcept;
  void finish_done() noexcept;
  void arm_timer(long timeout_ms) noexcept;

  detail::event_loop& loop_;
  detail::timer timer_;
  std::vector<std::unique_ptr<socket_watch>> sockets_;  // every watch made
  std::vector<socket_watch*> free_;                     // those not watching
  std::size_t transfers_ = 0;
  CURLM* handle_;
};

socket_watch::socket_watch(multi& m) noexcept
    : watcher(
          [](detail::io_watcher& fired, int events) noexcept {
            auto* self = static_cast<socket_watch*>(fired.context());
            int mask = ((events & detail::fd_readable) != 0 ? CURL_CSELECT_IN : 0) |
                       ((events & detail::fd_writable) != 0 ? CURL_CSELECT_OUT : 0);
            self->owner.act(self->fd, mask);  // may recycle *self: not touched after
          },
          this),
      owner(m) {}

void global_init() {
  static const CURLcode status = curl_global_init(CURL_GLOBAL_DEFAULT);
  if (status != CURLE_OK) throw error(std::string("curl_global_init failed: ") + curl_easy_strerror(status));
}

multi::multi(detail::event_loop& loop)
    : loop_(loop),
      timer_(
          [](detail::timer& fired) noexcept {
            static_cast<multi*>(fired.context())->act(CURL_SOCKET_TIMEOUT, 0);
          },
          this),
      handle_(curl_multi_init()) {
  if (handle_ == nullptr) throw error("curl_multi_init failed");
  curl_multi_setopt(handle_, CURLMOPT_SOCKETFUNCTION, static_cast<curl_socket_callback>(&multi::on_socket));
  curl_multi_setopt(handle_, CURLMOPT_SOCKETDATA, this);
  curl_multi_setopt(handle_, CURLMOPT_TIMERFUNCTION,
                    static_cast<curl_multi_timer_callback>(&multi::on_timer));
  curl_multi_setopt(handle_, CURLMOPT_TIMERDATA, this);
}

multi::~multi() {
  // Closes the cached connections; curl may still call on_socket and
  // on_timer meanwhile, so the watchers outlive it.
  curl_multi_cleanup(handle_);
}

void multi::add(transfer& t) {
  if (CURLMcode code = curl_multi_add_handle(handle_, t.easy); code != CURLM_OK)
    throw error(std::string("curl_multi_add_handle failed: ") + curl_multi_strerror(code));
  ++transfers_;
}

void multi::remove(transfer& t) noexcept {
  curl_multi_remove_handle(handle_, t.easy);
  --transfers_;
}

void multi::act(curl_socket_t fd, int mask) noexcept {
  int running = 0;
  curl_multi_socket_action(handle_, fd, mask, &running);
  if (fd == CURL_SOCKET_TIMEOUT && !timer_.armed()) {
    long timeout_ms = -1;
    curl_multi_timeout(handle_, &timeout_ms);
    arm_timer(timeout_ms);
  }
  finish_done();
}

void multi::finish_done() noexcept {
  int queued = 0;
  while (CURLMsg* message = curl_multi_info_read(handle_, &queued)) {
    if (message->msg != CURLMSG_DONE) continue;
    char* found = nullptr;
    curl_easy_getinfo(message->easy_handle, CURLINFO_PRIVATE, &found);
    auto* t = reinterpret_cast<transfer*>(found);
    t->done = true;
    t->result = message->data.result;
    t->fiber.wake();
  }
}

int multi::on_socket(CURL*, curl_socket_t fd, int what, void* self, void* watch) noexcept {
  static_cast<multi*>(self)->watch(fd, what, static_cast<socket_watch*>(watch));
  return 0;
}

void multi::watch(curl_socket_t fd, int what, socket_watch* w) noexcept {
  if (what == CURL_POLL_REMOVE) {
    if (w == nullptr) return;
    w->watcher.stop();
    w->fd = CURL_SOCKET_BAD;
    free_.push_back(w);
    return;
  }
  if (w == nullptr) {
    if (free_.empty()) {
      // Running out of memory here ends the process (noexcept): curl's
      // only answer to a failing socket callback is to abort every transfer.
      sockets_.push_back(std::make_unique<socket_watch>(*this));
      free_.push_back(sockets_.back().get());
    }
    w = free_.back();
    free_.pop_back();
    w->fd = fd;
    curl_multi_assign(handle_, fd, w);
  }
  int events =
      (what & CURL_POLL_IN ? detail::fd_readable : 0) | (what & CURL_POLL_OUT ? detail::fd_writable : 0);
  w->watcher.start(loop_, fd, events);
}

int multi::on_timer(CURLM*, long timeout_ms, void* self) noexcept {
  static_cast<multi*>(self)->arm_timer(timeout_ms);
  return 0;
}

void multi::arm_timer(long timeout_ms) noexcept {
  if (timeout_ms < 0)
    timer_.stop();
  else
    timer_.start(loop_, clock::now() + std::chrono::milliseconds(timeout_ms));
}

// This hub's multi handle (made on first use), the ones retired by
// close_idle_connections() that still have transfers, and spare easy handles.
struct http_hub final : detail::hub_service {
  std::unique_ptr<multi> current;
  std::vector<std::unique_ptr<multi>> retiring;
  std::vector<CURL*> spare;
  std::size_t lent = 0;  // easy handles taken and not yet given back

  ~http_hub() override {
    current.reset();
    retiring.clear();
    for (CURL* easy : spare) curl_easy_cleanup(easy);
  }

  multi& active() {
    if (!current) current = std::make_unique<multi>(detail::this_thread_loop());
    return *current;
  }

  CURL* take_easy() {
    CURL* easy = nullptr;
    if (spare.empty()) {
      global_init();
      easy = curl_easy_init();
      if (easy == nullptr) throw error("curl_easy_init failed");
    } else {
      easy = spare.back();
      spare.pop_back();
    }
    ++lent;
    return easy;
  }

  // give_back(easy) keeps a returned handle while the spares number fewer
  // than the handles still lent out (plus a floor): a hub's steady
  // concurrency then never creates a handle (curl_easy_init and cleanup per
  // request cost 1000 fibers a fifth of their CPU: 0.82x curl_multi's
  // GETs/s, 1.04x without), and after a burst about half its peak stays
  // (about 6-22 KiB each), until close_idle_connections().
  void give_back(CURL* easy) noexcept {
    --lent;
    if (spare.size() >= lent + spare_easy_floor) {
      curl_easy_cleanup(easy);
      return;
    }
    curl_easy_reset(easy);
    try {
      spare.push_back(easy);
    } catch (const std::bad_alloc&) {
      curl_easy_cleanup(easy);
    }
  }

  // A retired multi goes once its last transfer has been removed.
  void released(multi& m) noexcept {
    if (m.transfers() != 0 || &m == current.get()) return;
    std::erase_if(retiring, [&](const std::unique_ptr<multi>& r) { return r.get() == &m; });
  }

  void close_idle() noexcept {
    for (CURL* easy : spare) curl_easy_cleanup(easy);
    spare.clear();
    if (!current) return;
    if (current->transfers() != 0) {
      try {
        retiring.push_back(std::move(current));
      } catch (const std::bad_alloc&) {
        return;  // keeps the connections: nothing is lost but fds
      }
    }
    current.reset();
  }
};

// ---- checking a request before any I/O ----------------------------------

[[noreturn]] void reject(const request& r, const std::string& why, CURLcode code = CURLE_URL_MALFORMAT) {
  throw http_error(r.method + " \"" + r.url + "\": " + why, r.url, code, false);
}

bool is_token(std::string_view s) {
  // RFC 9110 tchar.
  return !s.empty() && std::all_of(s.begin(), s.end(), [](unsigned char c) {
    return std::isalnum(c) != 0 ||
           std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
  });
}

bool is_field_value(std::string_view s) {
  return s.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

struct url_handle {
  CURLU* h = curl_url();
  ~url_handle() { curl_url_cleanup(h); }
};

struct header_slist {
  curl_slist* list = nullptr;
  ~header_slist() { curl_slist_free_all(list); }
};

// The parsed URL and the header list curl reads while the transfer runs.
struct prepared {
  url_handle url;
  header_slist headers;
};

void parse_url(const request& r, prepared& p) {
  if (p.url.h == nullptr) throw std::bad_alloc();
  if (r.url.find('\0') != std::string::npos) reject(r, "malformed URL: it contains a NUL");
  if (CURLUcode code = curl_url_set(p.url.h, CURLUPART_URL, r.url.c_str(), 0); code != CURLUE_OK)
    reject(r, std::string("malformed URL: ") + curl_url_strerror(code));
  char* scheme = nullptr;
  if (curl_url_get(p.url.h, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK) reject(r, "malformed URL: no scheme");
  const std::string s = scheme;
  curl_free(scheme);
  if (s != "http" && s != "https")
    reject(r, "unsupported URL scheme \"" + s + "\" (http and https only)", CURLE_UNSUPPORTED_PROTOCOL);
}

void build_headers(const request& r, prepared& p) {
  for (const auto& [name, value] : r.headers) {
    if (!is_token(name)) reject(r, "invalid header name \"" + name + "\"", CURLE_BAD_FUNCTION_ARGUMENT);
    if (!is_field_value(value))
      reject(r, "header \"" + name + "\" has a CR, LF or NUL in its value", CURLE_BAD_FUNCTION_ARGUMENT);
    // "Name;" is curl's way to send a field with an empty value ("Name:" removes it).
    const std::string line = value.empty() ? name + ";" : name + ": " + value;
    curl_slist* grown = curl_slist_append(p.headers.list, line.c_str());
    if (grown == nullptr) throw std::bad_alloc();
    p.headers.list = grown;
  }
}

// ---- configuring the easy handle ----------------------------------------

template <class T>
void set(const request& r, CURL* easy, CURLoption option, T value) {
  if (CURLcode code = curl_easy_setopt(easy, option, value); code != CURLE_OK)
    throw http_error(r.method + " \"" + r.url + "\": " + curl_easy_strerror(code), r.url, code, false);
}

std::size_t on_write(char* data, std::size_t item_size, std::size_t items, void* context) noexcept {
  auto* t = static_cast<transfer*>(context);
  const std::size_t size = item_size * items;  // item_size is always 1
  if (t->streaming && t->buffer.size() >= stream_chunk_limit) {
    t->paused = true;
    return CURL_WRITEFUNC_PAUSE;  // curl delivers this data again once unpaused
  }
  const bool was_empty = t->buffer.empty();
  try {
    t->buffer.append(data, size);
  } catch (const std::bad_alloc&) {
    return 0;  // curl fails the transfer with CURLE_WRITE_ERROR
  }
  if (t->streaming && was_empty) t->fiber.wake();
  return size;
}

void configure(transfer& t, prepared& p) {
  const request& r = t.req;
  CURL* easy = t.easy;
  set(r, easy, CURLOPT_CURLU, p.url.h);
  set(r, easy, CURLOPT_PROTOCOLS_STR, "http,https");
  set(r, easy, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  set(r, easy, CURLOPT_PRIVATE, static_cast<void*>(&t));
  set(r, easy, CURLOPT_ERRORBUFFER, t.error_text);
  set(r, easy, CURLOPT_NOSIGNAL, 1L);
  // Removing a transfer whose name lookup is still running must not wait
  // for the resolver thread (it would block the hub): it is left to finish
  // on its own.
  set(r, easy, CURLOPT_QUICK_EXIT, 1L);
  set(r, easy, CURLOPT_WRITEFUNCTION, static_cast<curl_write_callback>(&on_write));
  set(r, easy, CURLOPT_WRITEDATA, static_cast<void*>(&t));
  set(r, easy, CURLOPT_FOLLOWLOCATION, r.follow_redirects ? 1L : 0L);
  set(r, easy, CURLOPT_MAXREDIRS, r.max_redirects);
  if (p.headers.list != nullptr) set(r, easy, CURLOPT_HTTPHEADER, p.headers.list);
  if (r.method == "HEAD") {
    set(r, easy, CURLOPT_NOBODY, 1L);
  } else if (r.method == "POST" || !r.body.empty()) {
    set(r, easy, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(r.body.size()));
    set(r, easy, CURLOPT_POSTFIELDS, r.body.data());
  }
  if (r.method != "GET" && r.method != "POST" && r.method != "HEAD")
    set(r, easy, CURLOPT_CUSTOMREQUEST, r.method.c_str());
  else if (r.method == "GET" && !r.body.empty())
    set(r, easy, CURLOPT_CUSTOMREQUEST, "GET");
  if (!r.ca_file.empty()) set(r, easy, CURLOPT_CAINFO, r.ca_file.c_str());
  set(r, easy, CURLOPT_SSL_VERIFYPEER, r.verify_tls ? 1L : 0L);
  set(r, easy, CURLOPT_SSL_VERIFYHOST, r.verify_tls ? 2L : 0L);
}

// ---- waiting and handing over -------------------------------------------

std::string describe_transfer(const wait_reason& why) {
  const auto* t = static_cast<const transfer*>(why.object);
  return "http " + t->req.method + " \"" + t->req.url + "\"";
}

// hand_over(t) gives the buffered chunk to on_body, in the fiber.
void hand_over(transfer& t, std::string& spare) {
  spare.clear();
  spare.swap(t.buffer);
  if (t.paused) {
    t.paused = false;
    // May call on_write at once, which refills t.buffer: the next chunk.
    if (CURLcode code = curl_easy_pause(t.easy, CURLPAUSE_CONT); code != CURLE_OK) {
      t.done = true;
      t.result = code;
    }
  }
  t.req.on_body(spare);
}

[[noreturn]] void timed_out(const transfer& t) {
  curl_off_t received = 0;
  curl_easy_getinfo(t.easy, CURLINFO_SIZE_DOWNLOAD_T, &received);
  throw http_error(t.req.method + " \"" + t.req.url +
                       "\": the deadline passed before the response was complete (" +
                       std::to_string(received) + " bytes of body received)",
                   t.req.url, CURLE_OPERATION_TIMEDOUT, true);
}

void wait_done(transfer& t, clock::time_point deadline) {
  const wait_reason why{.what = "http", .object = &t, .detail = 0, .describe = &describe_transfer};
  std::string spare;
  for (;;) {
    if (t.streaming && !t.buffer.empty()) {
      // A fast server can keep the buffer full, so the loop may not park.
      if (deadline != no_deadline && clock::now() >= deadline) timed_out(t);
      hand_over(t, spare);
    } else if (t.done) {
      return;
    } else {
      t.fiber = waker::current();
      if (!park(why, deadline)) timed_out(t);
    }
  }
}

[[noreturn]] void failed(const transfer& t) {
  const std::string detail = t.error_text[0] != '\0' ? t.error_text : curl_easy_strerror(t.result);
  throw http_error(t.req.method + " \"" + t.req.url + "\": " + detail, t.req.url, t.result,
                   t.result == CURLE_OPERATION_TIMEDOUT);
}

response collect(transfer& t) {
  response out;
  curl_easy_getinfo(t.easy, CURLINFO_RESPONSE_CODE, &out.status);
  char* url = nullptr;
  curl_easy_getinfo(t.easy, CURLINFO_EFFECTIVE_URL, &url);
  if (url != nullptr) out.effective_url = url;
  for (curl_header* h = nullptr; (h = curl_easy_nextheader(t.easy, CURLH_HEADER, -1, h)) != nullptr;)
    out.headers.emplace_back(h->name, h->value);
  if (!t.streaming) out.body = std::move(t.buffer);
  return out;
}

// attached: the transfer is in its multi handle while this lives.
struct attached {
  http_hub& hub;
  transfer& t;
  multi& m;
  attached(http_hub& h, transfer& tr) : hub(h), t(tr), m(h.active()) { m.add(t); }
  attached(const attached&) = delete;
  attached& operator=(const attached&) = delete;
  ~attached() {
    m.remove(t);
    hub.released(m);
  }
};

// easy_lease: an easy handle borrowed from the hub's spares.
struct easy_lease {
  http_hub& hub;
  CURL* easy;
  explicit easy_lease(http_hub& h) : hub(h), easy(h.take_easy()) {}
  easy_lease(const easy_lease&) = delete;
  easy_lease& operator=(const easy_lease&) = delete;
  ~easy_lease() { hub.give_back(easy); }
};

clock::time_point earlier(clock::time_point deadline, clock::duration timeout) {
  return std::min(deadline, deadline_after(timeout));
}

}  // namespace

std::string response::header(std::string_view name) const {
  auto same = [](std::string_view a, std::string_view b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end(),
                      [](unsigned char x, unsigned char y) { return std::tolower(x) == std::tolower(y); });
  };
  for (const auto& [n, v] : headers)
    if (same(n, name)) return v;
  return {};
}

response fetch(const request& r) { return fetch(r, no_deadline); }

response fetch(const request& r, clock::time_point deadline) {
  deadline = earlier(deadline, r.timeout);
  if (!is_token(r.method)) reject(r, "invalid method \"" + r.method + "\"", CURLE_BAD_FUNCTION_ARGUMENT);
  global_init();
  prepared p;
  parse_url(r, p);
  build_headers(r, p);
  http_hub& hub = detail::this_hub_service<http_hub>();
  easy_lease easy(hub);
  transfer t(r, easy.easy);
  configure(t, p);
  attached in_flight(hub, t);
  wait_done(t, deadline);
  if (t.result != CURLE_OK) failed(t);
  return collect(t);
}

response get(std::string_view url, clock::duration timeout) {
  request r;
  r.url = url;
  r.timeout = timeout;
  return fetch(r);
}

void close_idle_connections() noexcept {
  if (http_hub* hub = detail::find_hub_service_of<http_hub>()) hub->close_idle();
}

}  // namespace tendril::http
