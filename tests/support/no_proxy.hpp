#pragma once
// no_proxy: a test that includes this talks to servers on loopback, and a
// proxy named by the environment (http_proxy, ...) must not stand in
// between: curl would send it every request (so would a crawler process
// the test starts, which inherits them). The variables are removed before
// main() runs.

#include <cstdlib>

namespace tendril::testing {

inline const bool proxies_unset = [] {
  for (const char* name : {"http_proxy", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"})
    ::unsetenv(name);
  return true;
}();

}  // namespace tendril::testing
