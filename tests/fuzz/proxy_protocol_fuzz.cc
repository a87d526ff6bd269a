// libFuzzer target for the PROXY protocol parser (v1 and v2) and the trusted-networks list.
// The input is parsed whole and as every growing prefix, the way a front-end sees a header
// arrive: once a prefix is answered (kOk or kInvalid) every longer one must get the same
// answer, so a header is never refused after part of it was accepted nor accepted after being
// refused. A kOk header must lie within the input, parse the same on its own, and carry
// addresses asio takes; its addresses written back as a v1 line must parse to the same values.
// The same bytes are then parsed as a network list. Invariants are checked with a trap, so a
// divergence is a crash, not just a sanitizer report.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>

#include "services/common/proxy_protocol.h"
#include "services/common/strings.h"

namespace {

using tern::common::kMaxProxyHeader;
using tern::common::kMaxProxyV1Line;
using tern::common::Networks;
using tern::common::ParseProxyHeader;
using tern::common::ProxyHeader;
using tern::common::ProxyParse;
using tern::common::ProxyResult;

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

bool SameAnswer(const ProxyResult& a, const ProxyResult& b) {
  if (a.status != b.status) return false;
  return a.status != ProxyParse::kOk || a.header == b.header;
}

void CheckHeader(const ProxyHeader& h, std::string_view input) {
  Check(h.length > 0 && h.length <= input.size());
  Check(h.length <= kMaxProxyHeader);
  if (h.version == 1) {
    Check(h.length >= 15 && h.length <= kMaxProxyV1Line);
    Check(input.substr(0, 5) == "PROXY");
    Check(input.substr(h.length - 2, 2) == "\r\n");
    Check(input.substr(0, h.length - 2).find_first_of("\r\n") == std::string_view::npos);
  } else {
    Check(h.version == 2);
    Check(h.length >= 16);
    const size_t declared =
        (static_cast<uint8_t>(input[14]) << 8) | static_cast<uint8_t>(input[15]);
    Check(h.length == 16 + declared);
  }
  if (!h.has_addresses) {
    Check(h.source_ip.empty() && h.destination_ip.empty());
    Check(h.source_port == 0 && h.destination_port == 0);
    return;
  }
  std::error_code ec;
  const asio::ip::address source = asio::ip::make_address(h.source_ip, ec);
  Check(!ec);
  const asio::ip::address destination = asio::ip::make_address(h.destination_ip, ec);
  Check(!ec);
  Check(source.is_v4() == destination.is_v4());
  // The canonical text form, which a v1 line carries as is.
  Check(source.to_string() == h.source_ip && destination.to_string() == h.destination_ip);

  const std::string line =
      tern::Cat("PROXY ", source.is_v4() ? "TCP4 " : "TCP6 ", h.source_ip, " ", h.destination_ip,
                   " ", h.source_port, " ", h.destination_port, "\r\n");
  const ProxyResult again = ParseProxyHeader(line);
  Check(again.status == ProxyParse::kOk);
  Check(again.header.length == line.size());
  Check(again.header.has_addresses);
  Check(again.header.source_ip == h.source_ip && again.header.destination_ip == h.destination_ip);
  Check(again.header.source_port == h.source_port);
  Check(again.header.destination_port == h.destination_port);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const ProxyResult whole = ParseProxyHeader(input);
  if (whole.status == ProxyParse::kInvalid) Check(!whole.error.empty());
  if (whole.status == ProxyParse::kOk) {
    CheckHeader(whole.header, input);
    // The header alone is enough to decide it.
    Check(SameAnswer(ParseProxyHeader(input.substr(0, whole.header.length)), whole));
  }

  // Growing prefixes: each parse is bounded (v1 looks at 107 bytes, v2 at fixed offsets), so
  // all of them stay cheap.
  ProxyResult settled;
  for (size_t n = 0; n <= input.size(); ++n) {
    const ProxyResult r = ParseProxyHeader(input.substr(0, n));
    if (settled.status != ProxyParse::kNeedMore) {
      Check(SameAnswer(r, settled));
    } else {
      settled = r;
    }
    // Past the largest header there is nothing left to wait for.
    if (n >= kMaxProxyHeader) Check(r.status != ProxyParse::kNeedMore);
  }
  Check(SameAnswer(settled, whole));

  // The same bytes as a --proxy-trusted-networks value.
  const absl::StatusOr<Networks> networks = Networks::Parse(input);
  if (networks.ok()) {
    Check(networks->empty() == (networks->size() == 0));
    for (const char* address :
         {"0.0.0.0", "255.255.255.255", "::", "::ffff:192.0.2.1", "2001:db8::1"}) {
      networks->Contains(asio::ip::make_address(address));
    }
    if (whole.status == ProxyParse::kOk && whole.header.has_addresses) {
      networks->Contains(asio::ip::make_address(whole.header.source_ip));
    }
  } else {
    Check(!networks.status().message().empty());
  }
  return 0;
}
