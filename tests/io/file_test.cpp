// read_file, write_file, append_file: round trips (binary, empty, large),
// truncation, appending, errors naming the path and the failed call, the hub
// running other fibers while a pool thread blocks on a FIFO, kills and
// timeout scopes leaving the blocked call to finish on its thread, and
// threads without a hub.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <system_error>
#include <thread>

#include <catch2/catch.hpp>

#include <tendril/error.hpp>
#include <tendril/hub/task.hpp>
#include <tendril/hub/timeout.hpp>
#include <tendril/io/file.hpp>
#include <tendril/io/thread_pool.hpp>

#include "support/fd_count.hpp"
#include "support/hub_fixture.hpp"

namespace {

using namespace std::chrono_literals;
using tendril::append_file;
using tendril::read_file;
using tendril::spawn;
using tendril::write_file;
using tendril::testing::fd_leak_check;
using tendril::testing::hub_check;
namespace fs = std::filesystem;

// scratch_dir is a fresh directory under the system's temporary directory,
// removed with everything in it when the test ends.
class scratch_dir {
 public:
  scratch_dir() {
    std::string pattern = (fs::temp_directory_path() / "tendril-file-test-XXXXXX").string();
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    path_ = pattern;
  }
  scratch_dir(const scratch_dir&) = delete;
  scratch_dir& operator=(const scratch_dir&) = delete;
  ~scratch_dir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  fs::path operator/(const char* name) const { return path_ / name; }

 private:
  fs::path path_;
};

// A FIFO: opening it for reading blocks until a writer opens it, so a call
// on it blocks a pool thread until the test decides.
fs::path make_fifo(const scratch_dir& dir) {
  fs::path fifo = dir / "fifo";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  return fifo;
}

// feed_fifo(fifo, text) writes `text` to a FIFO once a reader has it open
// (or is blocked opening it) and closes it. Without a reader a non-blocking
// open fails with ENXIO: retry until the pool thread gets there (bounded,
// so a reader that never comes fails the test rather than hanging it).
void feed_fifo(const fs::path& fifo, const std::string& text) {
  int fd = -1;
  for (int i = 0; i < 30000; ++i) {
    fd = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd >= 0 || errno != ENXIO) break;
    std::this_thread::sleep_for(1ms);
  }
  REQUIRE(fd >= 0);
  CHECK(::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()));
  ::close(fd);
}

// after_calls_before_it(): with a bound of 1, returns once every call queued
// before it has ended (and closed its fds).
void after_calls_before_it() {
  tendril::run_in_thread([] {});
}

struct bound_of_one {
  bound_of_one() { tendril::thread_pool::set_max_threads(1); }
  ~bound_of_one() { tendril::thread_pool::set_max_threads(tendril::thread_pool::default_max_threads()); }
};

}  // namespace

TEST_CASE("write_file then read_file gives the same bytes, zeros included") {
  hub_check hub;
  fd_leak_check fds;
  scratch_dir dir;
  std::string data("a\0b\nc", 5);
  for (int i = 0; i < 300000; ++i) data.push_back(static_cast<char>(i * 7));
  write_file(dir / "data.bin", data);
  CHECK(read_file(dir / "data.bin") == data);
  CHECK(fs::file_size(dir / "data.bin") == data.size());
}

TEST_CASE("an empty file reads as an empty string") {
  hub_check hub;
  fd_leak_check fds;
  scratch_dir dir;
  write_file(dir / "empty", "");
  CHECK(fs::exists(dir / "empty"));
  CHECK(read_file(dir / "empty").empty());
}

TEST_CASE("write_file replaces what the file held") {
  hub_check hub;
  fd_leak_check fds;
  scratch_dir dir;
  write_file(dir / "f", "a long first version");
  write_file(dir / "f", "short");
  CHECK(read_file(dir / "f") == "short");
}

TEST_CASE("append_file creates the file, then adds at its end") {
  hub_check hub;
  fd_leak_check fds;
  scratch_dir dir;
  append_file(dir / "log", "one\n");
  append_file(dir / "log", "two\n");
  CHECK(read_file(dir / "log") == "one\ntwo\n");
}

TEST_CASE("reading a missing file throws system_error naming the path") {
  hub_check hub;
  fd_leak_check fds;
  scratch_dir dir;
  fs::path missing = dir / "no-such-file";
  try {
    read_file(missing);
    FAIL("read_file of a missing file returned");
  } catch (const tendril::system_error& e) {
    CHECK(e.code() == std::errc::no_such_file_or_directory);
    CHECK_THAT(e.what(), Catch::Contains("open \"" + missing.string() + "\"") &&
                             Catch::Contains("No such file or directory"));
  }
}

TEST_CASE("writing into a missing directory throws system_error naming the path") {
  hub_check hub;
  fd_leak_check fds;
  scratch_dir dir;
  fs::path target = dir / "no-such-dir/f";
  CHECK_THROWS_WITH(write_file(target, "x"), Catch::Contains("open \"" + target.string() + "\""));
  CHECK_THROWS_WITH(append_file(target, "x"), Catch::Contains("open \"" + target.string() + "\""));
}

TEST_CASE("reading a directory throws system_error naming read and the path") {
  hub_check hub;
  fd_leak_check fds;
  scratch_dir dir;
  fs::path sub = dir / "sub";
  fs::create_directory(sub);
  try {
    read_file(sub);
    FAIL("read_file of a directory returned");
  } catch (const tendril::system_error& e) {
    CHECK(e.code() == std::errc::is_a_directory);
    CHECK_THAT(e.what(), Catch::Contains("read \"" + sub.string() + "\""));
  }
}

TEST_CASE("other fibers run while a pool thread is blocked reading a FIFO") {
  hub_check hub;
  fd_leak_check fds;
  scratch_dir dir;
  fs::path fifo = make_fifo(dir);
  auto reader = spawn([&] { return read_file(fifo); });
  tendril::yield();  // the reader's call is on a pool thread, blocked in open
  // A second pool thread opens the FIFO for writing: it meets the reader.
  write_file(fifo, "through the pipe");
  CHECK(reader.get() == "through the pipe");
}

TEST_CASE("a kill while read_file blocks: the fiber leaves and the read finishes on its thread") {
  hub_check hub;
  fd_leak_check fds;
  scratch_dir dir;
  bound_of_one bound;
  fs::path fifo = make_fifo(dir);
  bool went_on = false;
  auto reader = spawn([&] {
    read_file(fifo);
    went_on = true;
  });
  tendril::yield();
  CHECK(reader.kill());
  CHECK(reader.killed());
  CHECK_FALSE(went_on);
  // The abandoned read goes on: it opens the FIFO and reads what comes.
  feed_fifo(fifo, "nobody reads this");
  after_calls_before_it();  // the read has ended and closed its fd
}

TEST_CASE("an expired timeout scope raises timeout_error from read_file") {
  hub_check hub;
  fd_leak_check fds;
  scratch_dir dir;
  bound_of_one bound;
  fs::path fifo = make_fifo(dir);
  CHECK_THROWS_AS(tendril::with_timeout(20ms, [&] { return read_file(fifo); }), tendril::timeout_error);
  feed_fifo(fifo, "late");
  after_calls_before_it();
}

TEST_CASE("a thread without a hub reads and writes files inline") {
  hub_check hub;
  fd_leak_check fds;
  scratch_dir dir;
  std::string content;
  std::string error_text;
  std::thread plain([&] {
    write_file(dir / "plain", "from a plain thread");
    content = read_file(dir / "plain");
    try {
      read_file(dir / "missing");
    } catch (const tendril::system_error& e) {
      error_text = e.what();
    }
  });
  plain.join();
  CHECK(content == "from a plain thread");
  CHECK_THAT(error_text, Catch::Contains((dir / "missing").string()));
}
