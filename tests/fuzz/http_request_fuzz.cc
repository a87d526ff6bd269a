// libFuzzer target for the operator HTTP endpoint's request-head parser. Built with clang
// (-DTERN_FUZZ=ON) it is a coverage-guided fuzzer; with any compiler, fuzz_driver.cc replays
// the seed corpus as a ctest case.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "services/common/http_request.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  tern::common::ParseHttpRequestHead(input, 8192);
  // Growing prefixes, as the server sees them arrive.
  for (size_t n = 0; n <= input.size() && n < 512; ++n) {
    tern::common::ParseHttpRequestHead(input.substr(0, n), 256);
  }
  return 0;
}
