#include "services/common/proxy_protocol.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <system_error>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_split.h"
#include "services/common/strings.h"

namespace tern::common {
namespace {

// Section 2.1: "PROXY", then exactly one space between fields, then CRLF.
constexpr std::string_view kV1Signature = "PROXY";
// Section 2.2: the 12-byte signature (it holds a NUL, so it is sized explicitly).
constexpr std::string_view kV2Signature{"\x0D\x0A\x0D\x0A\x00\x0D\x0A\x51\x55\x49\x54\x0A", 12};
// Signature, ver_cmd, fam and the 16-bit length of what follows.
constexpr size_t kV2FixedHeader = 16;

// Longest text forms inet_pton accepts: "255.255.255.255" and
// "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255".
constexpr size_t kMaxIpv4Text = 15;
constexpr size_t kMaxIpv6Text = 45;

ProxyResult Invalid(std::string_view error) {
  ProxyResult result;
  result.status = ProxyParse::kInvalid;
  result.error = std::string(error);
  return result;
}

ProxyResult Ok(ProxyHeader header) {
  ProxyResult result;
  result.status = ProxyParse::kOk;
  result.header = std::move(header);
  return result;
}

// True when `input` could be the start of `signature`, or starts with all of it.
bool AgreesWith(std::string_view input, std::string_view signature) {
  const size_t n = std::min(input.size(), signature.size());
  return input.substr(0, n) == signature.substr(0, n);
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

bool IsHexDigit(char c) { return IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

// ------------------------------------------------------------------------------------------
// Version 1 (section 2.1)

enum class V1Family { kTcp4, kTcp6 };

// A whole port field. Section 2.1: a decimal integer in [0..65535], "heading zeroes are not
// permitted in front of numbers", so "0" is a port and "080" is not. No sign either.
std::optional<uint16_t> ParseV1Port(std::string_view field) {
  if (field.empty() || field.size() > 5) return std::nullopt;
  if (field.size() > 1 && field.front() == '0') return std::nullopt;
  uint32_t value = 0;
  for (char c : field) {
    if (!IsDigit(c)) return std::nullopt;
    value = value * 10 + static_cast<uint32_t>(c - '0');
  }
  if (value > 65535) return std::nullopt;
  return static_cast<uint16_t>(value);
}

// The valid ports are closed under prefixes (but for the empty one), so a field still arriving
// may become a port exactly when it is empty or already one.
bool CouldBeV1Port(std::string_view partial) {
  return partial.empty() || ParseV1Port(partial).has_value();
}

// An address field still arriving: only characters an address of the family can hold, no
// longer than the longest such address. Every prefix of a valid field passes.
bool CouldBeV1Address(std::string_view partial, V1Family family) {
  if (family == V1Family::kTcp4) {
    return partial.size() <= kMaxIpv4Text &&
           std::all_of(partial.begin(), partial.end(),
                       [](char c) { return IsDigit(c) || c == '.'; });
  }
  return partial.size() <= kMaxIpv6Text && std::all_of(partial.begin(), partial.end(), [](char c) {
           return IsHexDigit(c) || c == ':' || c == '.';
         });
}

// A whole address field, in the family TCP4 or TCP6 announced (section 2.1: "The advertised
// protocol family dictates what format to use"). inet_pton is strict: IPv4 takes exactly four
// decimal parts without heading zeroes, IPv6 exactly 128 bits; neither takes a scope or spaces.
// Returns the canonical text form (inet_ntop), which asio::ip::make_address accepts.
std::optional<std::string> ParseV1Address(std::string_view field, V1Family family) {
  // The character check also keeps a NUL from ending inet_pton's string early.
  if (field.empty() || !CouldBeV1Address(field, family)) return std::nullopt;
  char text[kMaxIpv6Text + 1];
  std::memcpy(text, field.data(), field.size());
  text[field.size()] = '\0';
  const int af = family == V1Family::kTcp4 ? AF_INET : AF_INET6;
  unsigned char bytes[16];
  if (inet_pton(af, text, bytes) != 1) return std::nullopt;
  char out[INET6_ADDRSTRLEN];
  if (inet_ntop(af, bytes, out, sizeof out) == nullptr) return std::nullopt;
  return std::string(out);
}

bool IsPrefixOf(std::string_view partial, std::string_view word) {
  return word.substr(0, partial.size()) == partial;
}

// Checks the text of a v1 line (CRLF excluded), all of it (`complete`) or as far as it has
// arrived. Fields are split on single spaces; a field followed by a space, or the last one of a
// complete line, is whole and checked in full; the one still arriving is checked for whether it
// can still become valid. So a malformed line is refused at the first byte that makes it so.
// On kOk, fills `header` (but for its length).
ProxyParse CheckV1Line(std::string_view line, bool complete, ProxyHeader& header,
                       std::string_view& error) {
  constexpr size_t kFields = 6;  // PROXY, protocol, 2 addresses, 2 ports
  std::array<std::string_view, kFields> fields;
  V1Family family = V1Family::kTcp4;
  size_t count = 0;
  size_t start = 0;
  while (true) {
    const size_t space = line.find(' ', start);
    const bool last = space == std::string_view::npos;
    const std::string_view field = last ? line.substr(start) : line.substr(start, space - start);
    const bool whole = !last || complete;
    if (count == kFields) {
      error = "PROXY v1: too many fields";
      return ProxyParse::kInvalid;
    }
    switch (count) {
      case 0:
        // The dispatcher saw 'P'; the rest of the word still has to agree.
        if (whole ? field != kV1Signature : !IsPrefixOf(field, kV1Signature)) {
          error = "not a PROXY protocol header";
          return ProxyParse::kInvalid;
        }
        break;
      case 1:
        if (whole) {
          if (field == "UNKNOWN") {
            // Section 2.1: for UNKNOWN "the receiver must ignore anything presented before the
            // CRLF"; the connection's own addresses stand.
            return complete ? ProxyParse::kOk : ProxyParse::kNeedMore;
          }
          if (field == "TCP4") {
            family = V1Family::kTcp4;
          } else if (field == "TCP6") {
            family = V1Family::kTcp6;
          } else {
            error = field.empty() ? "PROXY v1: empty field" : "PROXY v1: unknown protocol";
            return ProxyParse::kInvalid;
          }
        } else if (!IsPrefixOf(field, "TCP4") && !IsPrefixOf(field, "TCP6") &&
                   !IsPrefixOf(field, "UNKNOWN")) {
          error = "PROXY v1: unknown protocol";
          return ProxyParse::kInvalid;
        }
        break;
      case 2:
      case 3:
        if (whole ? !ParseV1Address(field, family) : !CouldBeV1Address(field, family)) {
          error = field.empty() && whole ? "PROXY v1: empty field"
                  : count == 2           ? "PROXY v1: bad source address"
                                         : "PROXY v1: bad destination address";
          return ProxyParse::kInvalid;
        }
        break;
      default:
        if (whole ? !ParseV1Port(field) : !CouldBeV1Port(field)) {
          error = field.empty() && whole ? "PROXY v1: empty field"
                  : count == 4           ? "PROXY v1: bad source port"
                                         : "PROXY v1: bad destination port";
          return ProxyParse::kInvalid;
        }
        break;
    }
    fields[count++] = field;
    if (last) {
      break;
    }
    start = space + 1;
  }
  if (!complete) {
    return ProxyParse::kNeedMore;
  }
  if (count < kFields) {
    error = "PROXY v1: missing field";
    return ProxyParse::kInvalid;
  }
  header.has_addresses = true;
  header.source_ip = *ParseV1Address(fields[2], family);
  header.destination_ip = *ParseV1Address(fields[3], family);
  header.source_port = *ParseV1Port(fields[4]);
  header.destination_port = *ParseV1Port(fields[5]);
  return ProxyParse::kOk;
}

ProxyResult ParseV1(std::string_view input) {
  // Section 2.1: the receiver waits for CRLF, declares the line invalid when there is none in
  // the first 107 characters, and "must not tolerate a single CR or LF character to end the
  // line". The line ends at its first CR or LF, whichever it is.
  const std::string_view window = input.substr(0, kMaxProxyV1Line);
  const size_t end = window.find_first_of("\r\n");
  std::string_view line = input;
  bool complete = false;
  bool terminated = false;
  if (end == std::string_view::npos) {
    if (input.size() >= kMaxProxyV1Line) return Invalid("PROXY v1: no CRLF within 107 bytes");
  } else {
    if (window[end] == '\n') return Invalid("PROXY v1: LF without CR");
    if (end + 2 > kMaxProxyV1Line) return Invalid("PROXY v1: no CRLF within 107 bytes");
    line = input.substr(0, end);
    complete = true;
    if (end + 1 < input.size()) {
      if (input[end + 1] != '\n') return Invalid("PROXY v1: CR without LF");
      terminated = true;
    }
  }
  ProxyHeader header;
  header.version = 1;
  std::string_view error;
  const ProxyParse status = CheckV1Line(line, complete, header, error);
  if (status == ProxyParse::kInvalid) return Invalid(error);
  // A complete, valid line whose LF has not arrived yet is still a prefix.
  if (status == ProxyParse::kNeedMore || !terminated) return ProxyResult{};
  header.length = end + 2;
  return Ok(std::move(header));
}

// ------------------------------------------------------------------------------------------
// Version 2 (section 2.2)

constexpr uint8_t kV2Version = 0x2;
constexpr uint8_t kV2CommandLocal = 0x0;
constexpr uint8_t kV2CommandProxy = 0x1;
constexpr uint8_t kV2FamilyUnspec = 0x0;
constexpr uint8_t kV2FamilyInet = 0x1;
constexpr uint8_t kV2FamilyInet6 = 0x2;
constexpr uint8_t kV2FamilyUnix = 0x3;
constexpr uint8_t kV2TransportDgram = 0x2;
constexpr uint8_t kV2TcpOverIpv4 = 0x11;
constexpr uint8_t kV2TcpOverIpv6 = 0x21;

// The address block a family needs, so a PROXY header too short to hold it is refused. Section
// 2.2: IPv4 2*4 + 2*2 = 12, IPv6 2*16 + 2*2 = 36, unix 2*108 = 216. With an unspecified
// transport there are no ports; the addresses are not used then, so nothing is required.
size_t V2AddressBlock(uint8_t fam) {
  switch (fam) {
    case 0x11:
    case 0x12:
      return 12;
    case 0x21:
    case 0x22:
      return 36;
    case 0x31:
    case 0x32:
      return 216;
    default:
      return 0;
  }
}

uint16_t LoadBigEndian16(std::string_view bytes, size_t at) {
  return static_cast<uint16_t>((static_cast<uint8_t>(bytes[at]) << 8) |
                               static_cast<uint8_t>(bytes[at + 1]));
}

std::string FormatAddress(int af, const char* bytes) {
  char out[INET6_ADDRSTRLEN];
  if (inet_ntop(af, bytes, out, sizeof out) == nullptr) return {};
  return std::string(out);
}

ProxyResult ParseV2(std::string_view input) {
  if (!AgreesWith(input, kV2Signature)) return Invalid("not a PROXY protocol header");
  if (input.size() <= kV2Signature.size()) return ProxyResult{};

  const auto ver_cmd = static_cast<uint8_t>(input[12]);
  // Section 2.2: the version "must always be sent as \x2 and the receiver must only accept
  // this value"; for other commands, "receivers must drop connections".
  if ((ver_cmd >> 4) != kV2Version) return Invalid("PROXY v2: bad version");
  const uint8_t command = ver_cmd & 0x0F;
  if (command != kV2CommandLocal && command != kV2CommandProxy) {
    return Invalid("PROXY v2: bad command");
  }
  if (input.size() < 14) return ProxyResult{};

  // Section 2.2: families and transports beyond those listed "must be rejected as invalid by
  // receivers". This holds for LOCAL too, though its family is otherwise ignored.
  const auto fam = static_cast<uint8_t>(input[13]);
  const uint8_t family = fam >> 4;
  const uint8_t transport = fam & 0x0F;
  if (family != kV2FamilyUnspec && family != kV2FamilyInet && family != kV2FamilyInet6 &&
      family != kV2FamilyUnix) {
    return Invalid("PROXY v2: bad address family");
  }
  if (transport > kV2TransportDgram) return Invalid("PROXY v2: bad transport protocol");
  if (input.size() < kV2FixedHeader) return ProxyResult{};

  // Section 2.2: "the length of the protocol header in bytes is always exactly 16 + this
  // value", and receivers "MUST always consider this field to skip the appropriate number of
  // bytes" (LOCAL included). Whatever follows the address block is TLVs, skipped unread.
  const size_t length = LoadBigEndian16(input, 14);
  if (command == kV2CommandProxy && length < V2AddressBlock(fam)) {
    return Invalid("PROXY v2: address block too short");
  }
  const size_t total = kV2FixedHeader + length;
  if (input.size() < total) return ProxyResult{};

  ProxyHeader header;
  header.version = 2;
  header.length = total;
  // LOCAL: "the receiver must use the real connection endpoints and discard the protocol block
  // including the family". UNSPEC, UDP and unix: no TCP peer address to stand for the client.
  if (command == kV2CommandProxy && (fam == kV2TcpOverIpv4 || fam == kV2TcpOverIpv6)) {
    const char* block = input.data() + kV2FixedHeader;
    const bool v4 = fam == kV2TcpOverIpv4;
    const int af = v4 ? AF_INET : AF_INET6;
    const size_t address_size = v4 ? 4 : 16;
    header.has_addresses = true;
    header.source_ip = FormatAddress(af, block);
    header.destination_ip = FormatAddress(af, block + address_size);
    header.source_port = LoadBigEndian16(input, kV2FixedHeader + 2 * address_size);
    header.destination_port = LoadBigEndian16(input, kV2FixedHeader + 2 * address_size + 2);
  }
  return Ok(std::move(header));
}

// ------------------------------------------------------------------------------------------
// Networks

bool PrefixMatches(const uint8_t* a, const uint8_t* b, int prefix) {
  const int full = prefix / 8;
  if (std::memcmp(a, b, static_cast<size_t>(full)) != 0) return false;
  const int rest = prefix % 8;
  if (rest == 0) return true;
  const auto mask = static_cast<uint8_t>(0xFF << (8 - rest));
  return ((a[full] ^ b[full]) & mask) == 0;
}

bool IsV4Mapped(const std::array<uint8_t, 16>& bytes) {
  static constexpr uint8_t kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
  return std::memcmp(bytes.data(), kMappedPrefix, sizeof kMappedPrefix) == 0;
}

}  // namespace

ProxyResult ParseProxyHeader(std::string_view input) {
  if (input.empty()) return ProxyResult{};
  // Section 2.2 tells the versions apart by their signatures; anything else "is not covered by
  // this specification and the connection must be dropped" (section 2.1: "as soon as possible").
  if (input.front() == kV2Signature.front()) return ParseV2(input);
  if (input.front() == kV1Signature.front()) return ParseV1(input);
  return Invalid("not a PROXY protocol header");
}

absl::StatusOr<Networks> Networks::Parse(std::string_view list) {
  Networks networks;
  for (absl::string_view split :
       absl::StrSplit(ToAbsl(list), absl::ByAnyChar(", \t\r\n"), absl::SkipEmpty())) {
    const std::string_view entry = FromAbsl(split);
    const size_t slash = entry.find('/');
    const std::string_view address_text = entry.substr(0, slash);
    // A scope (fe80::1%eth0) names an interface, not a network; make_address would take it.
    if (address_text.find('%') != std::string_view::npos) {
      return absl::InvalidArgumentError(Cat("scoped network address: ", entry));
    }
    std::error_code ec;
    const asio::ip::address address = asio::ip::make_address(std::string(address_text), ec);
    if (ec) return absl::InvalidArgumentError(Cat("bad network address: ", entry));

    Network network;
    int max_prefix = 32;
    if (address.is_v4()) {
      network.v4 = true;
      const auto bytes = address.to_v4().to_bytes();
      std::copy(bytes.begin(), bytes.end(), network.bytes.begin());
    } else {
      const auto bytes = address.to_v6().to_bytes();
      std::copy(bytes.begin(), bytes.end(), network.bytes.begin());
      max_prefix = 128;
    }
    network.prefix = max_prefix;
    if (slash != std::string_view::npos) {
      const std::string_view prefix_text = entry.substr(slash + 1);
      if (prefix_text.empty() || prefix_text.size() > 3 ||
          !std::all_of(prefix_text.begin(), prefix_text.end(), IsDigit)) {
        return absl::InvalidArgumentError(Cat("bad network prefix length: ", entry));
      }
      int prefix = 0;
      for (char c : prefix_text) prefix = prefix * 10 + (c - '0');
      if (prefix > max_prefix) {
        return absl::InvalidArgumentError(Cat("bad network prefix length: ", entry));
      }
      network.prefix = prefix;
    }
    // Refuse bits beyond the prefix rather than guess what was meant.
    const size_t size = network.v4 ? 4 : 16;
    for (size_t i = 0; i < size; ++i) {
      const int bits_in_prefix = std::clamp(network.prefix - static_cast<int>(i) * 8, 0, 8);
      const auto host_mask = static_cast<uint8_t>(0xFF >> bits_in_prefix);
      if ((network.bytes[i] & host_mask) != 0) {
        return absl::InvalidArgumentError(
            Cat("network has bits set beyond its prefix length: ", entry));
      }
    }
    // ::ffff:a.b.c.d/96+n is the IPv4 network a.b.c.d/n (see Contains).
    if (!network.v4 && network.prefix >= 96 && IsV4Mapped(network.bytes)) {
      Network v4;
      v4.v4 = true;
      std::copy(network.bytes.begin() + 12, network.bytes.end(), v4.bytes.begin());
      v4.prefix = network.prefix - 96;
      network = v4;
    }
    networks.networks_.push_back(network);
  }
  return networks;
}

bool Networks::Contains(const asio::ip::address& address) const {
  std::array<uint8_t, 16> bytes{};
  bool v4 = false;
  if (address.is_v4()) {
    const auto b = address.to_v4().to_bytes();
    std::copy(b.begin(), b.end(), bytes.begin());
    v4 = true;
  } else {
    const auto b = address.to_v6().to_bytes();
    std::copy(b.begin(), b.end(), bytes.begin());
    if (IsV4Mapped(bytes)) {
      // An IPv4 peer on a dual-stack socket.
      std::copy(bytes.begin() + 12, bytes.end(), bytes.begin());
      v4 = true;
    }
  }
  return std::any_of(networks_.begin(), networks_.end(), [&](const Network& network) {
    return network.v4 == v4 && PrefixMatches(network.bytes.data(), bytes.data(), network.prefix);
  });
}

}  // namespace tern::common
