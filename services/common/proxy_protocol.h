#pragma once

// The HAProxy PROXY protocol, versions 1 and 2 (haproxy.org/download/2.8/doc/proxy-protocol.txt),
// as the receiving side: a load balancer in front of the front-ends prepends one header to each
// connection carrying the client's address. The parser is pure and bounded (no I/O, never looks
// past the bytes it is given); the caller reads, feeds what it has, and skips header.length
// bytes on kOk. Networks says which peers may send such a header at all: section 2 requires
// the receiver to accept the protocol only from trusted proxies.

#include <array>
#include <asio/ip/address.hpp>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace tern::common {

// How much of a connection's first bytes a PROXY header can take (v2: 16 + 65535).
inline constexpr size_t kMaxProxyHeader = 16 + 65535;
// A v1 line, CRLF included, is at most 107 bytes (section 2.1, "worst case").
inline constexpr size_t kMaxProxyV1Line = 107;

struct ProxyHeader {
  int version = 0;    // 1 or 2
  size_t length = 0;  // bytes the header took; the protocol starts after them
  // False for v2 LOCAL, v1 UNKNOWN and families without an IP address (UNSPEC, UDP, unix):
  // the connection's own addresses then stand.
  bool has_addresses = false;
  std::string
      source_ip;  // text form as asio::ip::make_address accepts ("192.0.2.1", "2001:db8::1")
  uint16_t source_port = 0;
  std::string destination_ip;
  uint16_t destination_port = 0;

  friend bool operator==(const ProxyHeader&, const ProxyHeader&) = default;
};

enum class ProxyParse { kNeedMore, kInvalid, kOk };

struct ProxyResult {
  ProxyParse status = ProxyParse::kNeedMore;
  ProxyHeader header;  // for kOk
  std::string error;   // for kInvalid, short, for logs
};

// Parses a PROXY v1 or v2 header at the start of `input` (the bytes received so far).
// kNeedMore: a prefix of a valid header, read more; kInvalid: not a PROXY header or a malformed
// one (also when input does not start like either signature, decided as early as possible:
// e.g. "A1 LOGIN" is invalid at the first byte); kOk: header.length bytes form the header.
// Pure and bounded: never reads beyond input, never needs more than kMaxProxyHeader bytes
// (v1: invalid when no CRLF within 107 bytes).
//
// The result only depends on the bytes that decide it: once a prefix of some input is kInvalid,
// every longer prefix is kInvalid; once it is kOk, every longer prefix is kOk with the same
// header. So the caller may stop reading at the first answer that is not kNeedMore.
ProxyResult ParseProxyHeader(std::string_view input);

// A set of IPv4/IPv6 networks, e.g. "127.0.0.0/8, 10.0.0.0/8, ::1/128, 192.0.2.7" (a bare address
// is a /32 or /128). IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) match IPv4 networks.
class Networks {
 public:
  // Comma and/or whitespace separated; empty -> empty set. A network with bits set beyond its
  // prefix ("10.0.0.1/8") is refused: it is a typo more often than not, and in a list of trusted
  // proxies a typo should stop the start, not widen or narrow the trust silently.
  // An IPv4-mapped IPv6 network (::ffff:0:0/96 or longer) is stored as the IPv4 network it
  // denotes, so it matches IPv4 and mapped addresses alike.
  static absl::StatusOr<Networks> Parse(std::string_view list);

  // An IPv4-mapped IPv6 address is an IPv4 peer on a dual-stack socket: it is matched as that
  // IPv4 address, against the IPv4 networks only (so "::/0" alone does not trust IPv4 peers).
  bool Contains(const asio::ip::address& address) const;
  bool empty() const { return networks_.empty(); }
  size_t size() const { return networks_.size(); }

 private:
  struct Network {
    bool v4 = false;
    std::array<uint8_t, 16> bytes{};  // IPv4 in the first 4
    int prefix = 0;
  };
  std::vector<Network> networks_;
};

}  // namespace tern::common
