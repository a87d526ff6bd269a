#include "services/common/proxy_protocol.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace tern::common {
namespace {

constexpr std::string_view kV2Signature{"\x0D\x0A\x0D\x0A\x00\x0D\x0A\x51\x55\x49\x54\x0A", 12};
constexpr std::string_view kProtocolBytes = "A1 CAPABILITY\r\n";

// Feeds a valid header byte by byte and whole: every proper prefix must ask for more (never be
// refused), the whole must parse, and with the protocol's first bytes after it the header must
// end exactly where it did.
ProxyHeader ParseValid(std::string_view bytes) {
  for (size_t n = 0; n < bytes.size(); ++n) {
    const ProxyResult r = ParseProxyHeader(bytes.substr(0, n));
    EXPECT_EQ(r.status, ProxyParse::kNeedMore) << "prefix of " << n << " bytes: " << r.error;
  }
  const ProxyResult whole = ParseProxyHeader(bytes);
  EXPECT_EQ(whole.status, ProxyParse::kOk) << whole.error;
  EXPECT_EQ(whole.header.length, bytes.size());
  const std::string followed = std::string(bytes) + std::string(kProtocolBytes);
  const ProxyResult with_protocol = ParseProxyHeader(followed);
  EXPECT_EQ(with_protocol.status, ProxyParse::kOk) << with_protocol.error;
  EXPECT_EQ(with_protocol.header, whole.header);
  return whole.header;
}

// Feeds a malformed header byte by byte and whole: refused both ways, never accepted on the
// way. Returns how many bytes it took to refuse it.
size_t RefusedAfter(std::string_view bytes) {
  size_t refused_at = 0;
  for (size_t n = 1; n <= bytes.size(); ++n) {
    const ProxyResult r = ParseProxyHeader(bytes.substr(0, n));
    EXPECT_NE(r.status, ProxyParse::kOk) << "prefix of " << n << " bytes accepted";
    if (r.status == ProxyParse::kInvalid) {
      EXPECT_FALSE(r.error.empty());
      refused_at = n;
      break;
    }
  }
  EXPECT_NE(refused_at, 0u) << "never refused: " << testing::PrintToString(std::string(bytes));
  const ProxyResult whole = ParseProxyHeader(bytes);
  EXPECT_EQ(whole.status, ProxyParse::kInvalid);
  return refused_at;
}

void ExpectRefused(std::string_view bytes) {
  SCOPED_TRACE(testing::PrintToString(std::string(bytes)));
  RefusedAfter(bytes);
}

// A v2 header: signature, ver_cmd, fam, length of the body, body.
std::string V2(uint8_t ver_cmd, uint8_t fam, std::string_view body) {
  std::string out(kV2Signature);
  out.push_back(static_cast<char>(ver_cmd));
  out.push_back(static_cast<char>(fam));
  out.push_back(static_cast<char>(body.size() >> 8));
  out.push_back(static_cast<char>(body.size() & 0xFF));
  out.append(body);
  return out;
}

std::string Bytes(std::initializer_list<int> bytes) {
  std::string out;
  for (int b : bytes) out.push_back(static_cast<char>(b));
  return out;
}

// 192.0.2.1:56324 -> 198.51.100.2:143
std::string Ipv4Block() { return Bytes({192, 0, 2, 1, 198, 51, 100, 2, 0xDC, 0x04, 0x00, 0x8F}); }

// [2001:db8::1]:56324 -> [2001:db8::2]:993
std::string Ipv6Block() {
  return Bytes({0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,    1,    0x20, 0x01,
                0x0d, 0xb8, 0,    0,    0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0xDC, 0x04, 0x03, 0xE1});
}

// ALPN "imap" and a NOOP of 3 bytes (section 2.2.1, 2.2.4).
std::string Tlvs() {
  return Bytes({0x01, 0x00, 0x04, 'i', 'm', 'a', 'p', 0x04, 0x00, 0x03, 0, 0, 0});
}

// ------------------------------------------------------------------------------------------
// Version 1

TEST(ProxyProtocolV1Test, Tcp4) {
  const ProxyHeader h = ParseValid("PROXY TCP4 192.0.2.1 198.51.100.2 56324 143\r\n");
  EXPECT_EQ(h.version, 1);
  EXPECT_TRUE(h.has_addresses);
  EXPECT_EQ(h.source_ip, "192.0.2.1");
  EXPECT_EQ(h.source_port, 56324);
  EXPECT_EQ(h.destination_ip, "198.51.100.2");
  EXPECT_EQ(h.destination_port, 143);
}

TEST(ProxyProtocolV1Test, Tcp6InCanonicalForm) {
  const ProxyHeader h = ParseValid("PROXY TCP6 2001:DB8:0:0::1 2001:db8::2 56324 993\r\n");
  EXPECT_EQ(h.version, 1);
  EXPECT_TRUE(h.has_addresses);
  EXPECT_EQ(h.source_ip, "2001:db8::1");
  EXPECT_EQ(h.source_port, 56324);
  EXPECT_EQ(h.destination_ip, "2001:db8::2");
  EXPECT_EQ(h.destination_port, 993);
}

TEST(ProxyProtocolV1Test, PortsAtTheirBounds) {
  const ProxyHeader h = ParseValid("PROXY TCP4 0.0.0.0 255.255.255.255 0 65535\r\n");
  EXPECT_EQ(h.source_port, 0);
  EXPECT_EQ(h.destination_port, 65535);
  EXPECT_EQ(h.destination_ip, "255.255.255.255");
}

TEST(ProxyProtocolV1Test, UnknownShortForm) {
  const ProxyHeader h = ParseValid("PROXY UNKNOWN\r\n");
  EXPECT_EQ(h.version, 1);
  EXPECT_FALSE(h.has_addresses);
  EXPECT_EQ(h.length, 15u);
}

TEST(ProxyProtocolV1Test, UnknownIgnoresTheRestOfTheLine) {
  EXPECT_FALSE(ParseValid("PROXY UNKNOWN 192.0.2.1 198.51.100.2 56324 143\r\n").has_addresses);
  EXPECT_FALSE(ParseValid("PROXY UNKNOWN whatever  \x01\xff it says\r\n").has_addresses);
}

TEST(ProxyProtocolV1Test, LongestLinesOfTheSpec) {
  // Section 2.1: 56 (TCP4), 104 (TCP6) and 107 (UNKNOWN, worst case) bytes.
  const std::string ffff = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";
  const std::string tcp4 = "PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n";
  const std::string tcp6 = "PROXY TCP6 " + ffff + " " + ffff + " 65535 65535\r\n";
  const std::string unknown = "PROXY UNKNOWN " + ffff + " " + ffff + " 65535 65535\r\n";
  ASSERT_EQ(tcp4.size(), 56u);
  ASSERT_EQ(tcp6.size(), 104u);
  ASSERT_EQ(unknown.size(), 107u);
  EXPECT_EQ(ParseValid(tcp4).length, 56u);
  EXPECT_EQ(ParseValid(tcp6).source_ip, ffff);
  EXPECT_EQ(ParseValid(unknown).length, 107u);
}

TEST(ProxyProtocolV1Test, NoCrlfWithin107BytesIsRefused) {
  // 108 bytes, CRLF last: the LF is the 108th byte.
  const std::string line108 = "PROXY UNKNOWN " + std::string(92, 'x') + "\r\n";
  ASSERT_EQ(line108.size(), 108u);
  EXPECT_EQ(RefusedAfter(line108), 107u);
  // 108 bytes and no CRLF at all: decided at the 107th byte, which is not a CR.
  const std::string no_crlf = "PROXY UNKNOWN " + std::string(94, 'x');
  ASSERT_EQ(no_crlf.size(), 108u);
  EXPECT_EQ(RefusedAfter(no_crlf), 107u);
}

TEST(ProxyProtocolV1Test, MalformedLinesAreRefused) {
  const std::vector<std::string> cases = {
      // Missing fields.
      "PROXY\r\n",
      "PROXY \r\n",
      "PROXY TCP4\r\n",
      "PROXY TCP4 192.0.2.1 198.51.100.2 56324\r\n",
      "PROXY TCP4 192.0.2.1 198.51.100.2\r\n",
      "PROXY TCP4 192.0.2.1 198.51.100.2 56324 \r\n",
      // Too many.
      "PROXY TCP4 192.0.2.1 198.51.100.2 56324 143 1\r\n",
      "PROXY TCP4 192.0.2.1 198.51.100.2 56324 143 \r\n",
      // Bad protocol.
      "PROXY TCP5 192.0.2.1 198.51.100.2 56324 143\r\n",
      "PROXY tcp4 192.0.2.1 198.51.100.2 56324 143\r\n",
      "PROXY UDP4 192.0.2.1 198.51.100.2 56324 143\r\n",
      "PROXY UNKNOWNX\r\n",
      "PROXY TCP44 192.0.2.1 198.51.100.2 56324 143\r\n",
      // Bad addresses.
      "PROXY TCP4 192.0.2.256 198.51.100.2 56324 143\r\n",
      "PROXY TCP4 192.0.2 198.51.100.2 56324 143\r\n",
      "PROXY TCP4 192.0.2.1.5 198.51.100.2 56324 143\r\n",
      "PROXY TCP4 192.0.02.1 198.51.100.2 56324 143\r\n",  // heading zero
      "PROXY TCP4 192.0.2.1 example.org 56324 143\r\n",
      "PROXY TCP4 2001:db8::1 198.51.100.2 56324 143\r\n",  // IPv6 in TCP4
      "PROXY TCP4 192.0.2.1 2001:db8::2 56324 143\r\n",
      "PROXY TCP6 192.0.2.1 2001:db8::2 56324 143\r\n",  // IPv4 in TCP6
      "PROXY TCP6 2001:db8::1 198.51.100.2 56324 143\r\n",
      "PROXY TCP6 2001:db8:::1 2001:db8::2 56324 143\r\n",
      "PROXY TCP6 2001:db8::1::2 2001:db8::2 56324 143\r\n",
      "PROXY TCP6 fe80::1%eth0 2001:db8::2 56324 143\r\n",
      "PROXY TCP6 1:2:3:4:5:6:7:8:9 2001:db8::2 56324 143\r\n",
      // Bad ports.
      "PROXY TCP4 192.0.2.1 198.51.100.2 65536 143\r\n",
      "PROXY TCP4 192.0.2.1 198.51.100.2 56324 99999\r\n",
      "PROXY TCP4 192.0.2.1 198.51.100.2 100000 143\r\n",
      "PROXY TCP4 192.0.2.1 198.51.100.2 056324 143\r\n",  // heading zero
      "PROXY TCP4 192.0.2.1 198.51.100.2 56324 0143\r\n",
      "PROXY TCP4 192.0.2.1 198.51.100.2 00 143\r\n",
      "PROXY TCP4 192.0.2.1 198.51.100.2 +56324 143\r\n",
      "PROXY TCP4 192.0.2.1 198.51.100.2 -1 143\r\n",
      "PROXY TCP4 192.0.2.1 198.51.100.2 56324 0x8f\r\n",
      "PROXY TCP4 192.0.2.1 198.51.100.2 56324 imap\r\n",
      // Separators.
      "PROXY  TCP4 192.0.2.1 198.51.100.2 56324 143\r\n",
      "PROXY TCP4  192.0.2.1 198.51.100.2 56324 143\r\n",
      "PROXY TCP4 192.0.2.1  198.51.100.2 56324 143\r\n",
      "PROXY TCP4 192.0.2.1 198.51.100.2 56324  143\r\n",
      "PROXY\tTCP4 192.0.2.1 198.51.100.2 56324 143\r\n",
      " PROXY TCP4 192.0.2.1 198.51.100.2 56324 143\r\n",
      // Line ends (section 2.1: no single CR or LF).
      "PROXY TCP4 192.0.2.1 198.51.100.2 56324 143\n",
      "PROXY TCP4 192.0.2.1 198.51.100.2 56324 143\r\r\n",
      "PROXY TCP4 192.0.2.1 198.51.100.2 56324 143\rX",
      "PROXY UNKNOWN\n",
      "PROXY UNKNOWN \n\r\n",
      "PROXY UNKNOWN \rx\r\n",
      // Signature.
      "proxy TCP4 192.0.2.1 198.51.100.2 56324 143\r\n",
      "PROXX TCP4 192.0.2.1 198.51.100.2 56324 143\r\n",
      "PROXYTCP4 192.0.2.1 198.51.100.2 56324 143\r\n",
      "PRO\r\n",
      std::string("PROXY TCP4 192.0.2.1\0 198.51.100.2 56324 143\r\n", 46),
      std::string("PROXY TCP6 2001:db8::1\0 2001:db8::2 56324 143\r\n", 47),
  };
  for (const std::string& c : cases) ExpectRefused(c);
}

TEST(ProxyProtocolV1Test, RefusedAtTheFirstWrongByte) {
  EXPECT_EQ(RefusedAfter("PROXY TCP4 192.0.2.1 198.51.100.2 65536 143\r\n"), 39u);
  EXPECT_EQ(RefusedAfter("PROXY TCP4 192.0.2.1 198.51.100.2 56324 0143\r\n"), 42u);
  EXPECT_EQ(RefusedAfter("PROXY  TCP4"), 7u);
  EXPECT_EQ(RefusedAfter("PROXY TCP4 2001:db8::1"), 16u);            // the ':' of "2001:"
  EXPECT_EQ(RefusedAfter("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3"), 31u);  // the space after "2"
  EXPECT_EQ(RefusedAfter("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n"), 31u);
}

TEST(ProxyProtocolV1Test, CrWaitsForItsLf) {
  EXPECT_EQ(ParseProxyHeader("PROXY UNKNOWN\r").status, ProxyParse::kNeedMore);
  EXPECT_EQ(ParseProxyHeader("PROXY TCP4 192.0.2.1 198.51.100.2 56324 143\r").status,
            ProxyParse::kNeedMore);
  // The line before the CR is already complete, so a bad one is refused without the LF.
  EXPECT_EQ(ParseProxyHeader("PROXY TCP4 192.0.2.1 198.51.100.2 56324\r").status,
            ProxyParse::kInvalid);
}

// ------------------------------------------------------------------------------------------
// Version 2

TEST(ProxyProtocolV2Test, ProxyIpv4) {
  const std::string header = V2(0x21, 0x11, Ipv4Block());
  ASSERT_EQ(header.size(), 28u);
  const ProxyHeader h = ParseValid(header);
  EXPECT_EQ(h.version, 2);
  EXPECT_EQ(h.length, 28u);
  EXPECT_TRUE(h.has_addresses);
  EXPECT_EQ(h.source_ip, "192.0.2.1");
  EXPECT_EQ(h.source_port, 56324);
  EXPECT_EQ(h.destination_ip, "198.51.100.2");
  EXPECT_EQ(h.destination_port, 143);
}

TEST(ProxyProtocolV2Test, ProxyIpv4WithTlvs) {
  const std::string header = V2(0x21, 0x11, Ipv4Block() + Tlvs());
  const ProxyHeader h = ParseValid(header);
  EXPECT_EQ(h.length, 16u + 12u + 13u);
  EXPECT_EQ(h.source_ip, "192.0.2.1");
  EXPECT_EQ(h.destination_port, 143);
}

TEST(ProxyProtocolV2Test, TlvsAreSkippedUnread) {
  // A TLV claiming more than the header holds is not looked into: the header's length rules.
  const std::string header = V2(0x21, 0x11, Ipv4Block() + Bytes({0x20, 0xFF, 0xFF, 1}));
  EXPECT_EQ(ParseValid(header).length, 16u + 12u + 4u);
}

TEST(ProxyProtocolV2Test, ProxyIpv6) {
  const ProxyHeader h = ParseValid(V2(0x21, 0x21, Ipv6Block()));
  EXPECT_EQ(h.version, 2);
  EXPECT_EQ(h.length, 16u + 36u);
  EXPECT_TRUE(h.has_addresses);
  EXPECT_EQ(h.source_ip, "2001:db8::1");
  EXPECT_EQ(h.source_port, 56324);
  EXPECT_EQ(h.destination_ip, "2001:db8::2");
  EXPECT_EQ(h.destination_port, 993);
}

TEST(ProxyProtocolV2Test, ProxyIpv6WithTlvs) {
  const ProxyHeader h = ParseValid(V2(0x21, 0x21, Ipv6Block() + Tlvs()));
  EXPECT_EQ(h.length, 16u + 36u + 13u);
  EXPECT_EQ(h.source_ip, "2001:db8::1");
}

TEST(ProxyProtocolV2Test, LocalHasNoAddresses) {
  const ProxyHeader h = ParseValid(V2(0x20, 0x00, ""));
  EXPECT_EQ(h.version, 2);
  EXPECT_EQ(h.length, 16u);
  EXPECT_FALSE(h.has_addresses);
  // Section 2.2: the length is honoured for LOCAL too, and the family is ignored.
  const ProxyHeader with_block = ParseValid(V2(0x20, 0x11, Ipv4Block()));
  EXPECT_EQ(with_block.length, 28u);
  EXPECT_FALSE(with_block.has_addresses);
  EXPECT_TRUE(with_block.source_ip.empty());
  EXPECT_FALSE(ParseValid(V2(0x20, 0x21, "")).has_addresses);
}

TEST(ProxyProtocolV2Test, FamiliesWithoutTcpAddressesAreAcceptedWithout) {
  EXPECT_FALSE(ParseValid(V2(0x21, 0x00, "")).has_addresses);                     // UNSPEC
  EXPECT_FALSE(ParseValid(V2(0x21, 0x00, Ipv4Block())).has_addresses);            // UNSPEC, bytes
  EXPECT_FALSE(ParseValid(V2(0x21, 0x12, Ipv4Block())).has_addresses);            // UDP over IPv4
  EXPECT_FALSE(ParseValid(V2(0x21, 0x22, Ipv6Block())).has_addresses);            // UDP over IPv6
  EXPECT_FALSE(ParseValid(V2(0x21, 0x31, std::string(216, 'a'))).has_addresses);  // unix
  EXPECT_FALSE(ParseValid(V2(0x21, 0x32, std::string(216, 'a'))).has_addresses);
  EXPECT_FALSE(ParseValid(V2(0x21, 0x10, "")).has_addresses);  // IPv4, no transport
}

TEST(ProxyProtocolV2Test, BadVersionOrCommandIsRefusedAtByte13) {
  EXPECT_EQ(RefusedAfter(V2(0x11, 0x11, Ipv4Block())), 13u);  // version 1
  EXPECT_EQ(RefusedAfter(V2(0x31, 0x11, Ipv4Block())), 13u);  // version 3
  EXPECT_EQ(RefusedAfter(V2(0x01, 0x11, Ipv4Block())), 13u);  // version 0
  EXPECT_EQ(RefusedAfter(V2(0x22, 0x11, Ipv4Block())), 13u);  // command 2
  EXPECT_EQ(RefusedAfter(V2(0x2F, 0x11, Ipv4Block())), 13u);  // command 15
}

TEST(ProxyProtocolV2Test, BadFamilyOrTransportIsRefusedAtByte14) {
  EXPECT_EQ(RefusedAfter(V2(0x21, 0x41, Ipv4Block())), 14u);
  EXPECT_EQ(RefusedAfter(V2(0x21, 0xF1, Ipv4Block())), 14u);
  EXPECT_EQ(RefusedAfter(V2(0x21, 0x13, Ipv4Block())), 14u);
  EXPECT_EQ(RefusedAfter(V2(0x20, 0x4F, "")), 14u);  // LOCAL too
}

TEST(ProxyProtocolV2Test, LengthShorterThanTheAddressBlockIsRefusedAtByte16) {
  EXPECT_EQ(RefusedAfter(V2(0x21, 0x11, Ipv4Block().substr(0, 11))), 16u);
  EXPECT_EQ(RefusedAfter(V2(0x21, 0x11, "")), 16u);
  EXPECT_EQ(RefusedAfter(V2(0x21, 0x21, Ipv4Block())), 16u);  // 12 bytes for IPv6
  EXPECT_EQ(RefusedAfter(V2(0x21, 0x21, Ipv6Block().substr(0, 35))), 16u);
  EXPECT_EQ(RefusedAfter(V2(0x21, 0x12, Ipv4Block().substr(0, 11))), 16u);
  EXPECT_EQ(RefusedAfter(V2(0x21, 0x31, std::string(215, 'a'))), 16u);
}

TEST(ProxyProtocolV2Test, TruncatedHeaderNeedsMore) {
  const std::string header = V2(0x21, 0x21, Ipv6Block() + Tlvs());
  EXPECT_EQ(ParseProxyHeader(header.substr(0, 15)).status, ProxyParse::kNeedMore);  // in length
  EXPECT_EQ(ParseProxyHeader(header.substr(0, 16)).status, ProxyParse::kNeedMore);
  EXPECT_EQ(ParseProxyHeader(header.substr(0, 16 + 36)).status, ProxyParse::kNeedMore);
  EXPECT_EQ(ParseProxyHeader(header.substr(0, header.size() - 1)).status, ProxyParse::kNeedMore);
}

TEST(ProxyProtocolV2Test, MaximumLength) {
  const std::string header = V2(0x21, 0x11, Ipv4Block() + std::string(65535 - 12, '\0'));
  ASSERT_EQ(header.size(), kMaxProxyHeader);
  const ProxyHeader h = ParseValid(header);
  EXPECT_EQ(h.length, kMaxProxyHeader);
  EXPECT_EQ(h.source_ip, "192.0.2.1");
}

TEST(ProxyProtocolV2Test, SignatureMismatchIsRefusedWhereItDiffers) {
  std::string header = V2(0x21, 0x11, Ipv4Block());
  header[4] = 'X';  // where the NUL belongs
  EXPECT_EQ(RefusedAfter(header), 5u);
  EXPECT_EQ(RefusedAfter("\r\nA1 LOGIN\r\n"), 3u);
  EXPECT_EQ(RefusedAfter("\r\n\r\n\r\n"), 5u);
}

// ------------------------------------------------------------------------------------------
// Neither

TEST(ProxyProtocolTest, EmptyInputNeedsMore) {
  EXPECT_EQ(ParseProxyHeader("").status, ProxyParse::kNeedMore);
}

TEST(ProxyProtocolTest, OtherProtocolsAreRefusedAtOnce) {
  EXPECT_EQ(RefusedAfter("A1 LOGIN alice secret\r\n"), 1u);
  EXPECT_EQ(RefusedAfter("EHLO client.example\r\n"), 1u);
  EXPECT_EQ(RefusedAfter("LHLO client.example\r\n"), 1u);
  EXPECT_EQ(RefusedAfter("USER alice\r\n"), 1u);
  EXPECT_EQ(RefusedAfter("GET / HTTP/1.1\r\n\r\n"), 1u);
  EXPECT_EQ(RefusedAfter(Bytes({0x16, 0x03, 0x01, 0x02, 0x00, 0x01})), 1u);  // TLS ClientHello
  EXPECT_EQ(RefusedAfter(std::string(1, '\0')), 1u);
  EXPECT_EQ(RefusedAfter("POST / HTTP/1.1\r\n\r\n"), 2u);
  EXPECT_EQ(RefusedAfter("PASS secret\r\n"), 2u);
}

// ------------------------------------------------------------------------------------------
// Networks

asio::ip::address Ip(const char* text) { return asio::ip::make_address(text); }

TEST(NetworksTest, EmptyListIsEmptySet) {
  for (const char* list : {"", " ", " , ,\t"}) {
    absl::StatusOr<Networks> n = Networks::Parse(list);
    ASSERT_TRUE(n.ok()) << n.status();
    EXPECT_TRUE(n->empty());
    EXPECT_FALSE(n->Contains(Ip("127.0.0.1")));
    EXPECT_FALSE(n->Contains(Ip("::1")));
  }
}

TEST(NetworksTest, ParseErrors) {
  for (const char* list :
       {"10.0.0.0/33", "::/129", "garbage", "10.0.0.0/8, garbage", "10.0.0.0/", "10.0.0.0/-1",
        "10.0.0.0/+8", "10.0.0.0/8/8", "10.0.0.0/x", "10.0.0.0/1000", "/8", "10.0.0/8",
        "10.0.0.1/8", "2001:db8::1/32", "fe80::1%eth0", "fe80::/64%1", "fe80::1%1", "10.0.0.0 /8",
        "192.0.2.7;10.0.0.0/8"}) {
    EXPECT_FALSE(Networks::Parse(list).ok()) << list;
  }
}

TEST(NetworksTest, ContainsIpv4AndIpv6) {
  absl::StatusOr<Networks> n = Networks::Parse("127.0.0.0/8, 10.0.0.0/8, ::1/128, 192.0.2.7");
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_FALSE(n->empty());
  EXPECT_EQ(n->size(), 4u);
  EXPECT_TRUE(n->Contains(Ip("127.0.0.1")));
  EXPECT_TRUE(n->Contains(Ip("127.255.255.255")));
  EXPECT_TRUE(n->Contains(Ip("10.0.0.0")));
  EXPECT_TRUE(n->Contains(Ip("10.200.3.4")));
  EXPECT_FALSE(n->Contains(Ip("11.0.0.1")));
  EXPECT_FALSE(n->Contains(Ip("9.255.255.255")));
  EXPECT_TRUE(n->Contains(Ip("192.0.2.7")));  // bare address: /32
  EXPECT_FALSE(n->Contains(Ip("192.0.2.8")));
  EXPECT_FALSE(n->Contains(Ip("192.0.2.6")));
  EXPECT_TRUE(n->Contains(Ip("::1")));
  EXPECT_FALSE(n->Contains(Ip("::2")));
  EXPECT_FALSE(n->Contains(Ip("2001:db8::1")));
}

TEST(NetworksTest, SpaceAndCommaSeparators) {
  absl::StatusOr<Networks> n = Networks::Parse("10.0.0.0/8 2001:db8::/32,192.0.2.0/24 ,, ::1");
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(n->size(), 4u);
  EXPECT_TRUE(n->Contains(Ip("2001:db8:ffff::1")));
  EXPECT_FALSE(n->Contains(Ip("2001:db9::1")));
  EXPECT_TRUE(n->Contains(Ip("192.0.2.200")));
}

TEST(NetworksTest, MappedIpv4MatchesIpv4Networks) {
  absl::StatusOr<Networks> n = Networks::Parse("10.0.0.0/8, 192.0.2.7");
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_TRUE(n->Contains(Ip("::ffff:10.1.2.3")));
  EXPECT_TRUE(n->Contains(Ip("::ffff:192.0.2.7")));
  EXPECT_FALSE(n->Contains(Ip("::ffff:11.1.2.3")));
  EXPECT_FALSE(n->Contains(Ip("::10.1.2.3")));  // IPv4-compatible is not mapped
}

TEST(NetworksTest, MappedNetworkIsTheIpv4Network) {
  absl::StatusOr<Networks> n = Networks::Parse("::ffff:10.0.0.0/104");
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_TRUE(n->Contains(Ip("10.1.2.3")));
  EXPECT_TRUE(n->Contains(Ip("::ffff:10.1.2.3")));
  EXPECT_FALSE(n->Contains(Ip("11.1.2.3")));
}

TEST(NetworksTest, ZeroPrefixMatchesItsWholeFamily) {
  absl::StatusOr<Networks> v4 = Networks::Parse("0.0.0.0/0");
  ASSERT_TRUE(v4.ok()) << v4.status();
  EXPECT_TRUE(v4->Contains(Ip("1.2.3.4")));
  EXPECT_TRUE(v4->Contains(Ip("255.255.255.255")));
  EXPECT_TRUE(v4->Contains(Ip("::ffff:1.2.3.4")));
  EXPECT_FALSE(v4->Contains(Ip("::1")));
  absl::StatusOr<Networks> v6 = Networks::Parse("::/0");
  ASSERT_TRUE(v6.ok()) << v6.status();
  EXPECT_TRUE(v6->Contains(Ip("2001:db8::1")));
  EXPECT_TRUE(v6->Contains(Ip("::")));
  EXPECT_FALSE(v6->Contains(Ip("1.2.3.4")));
  EXPECT_FALSE(v6->Contains(Ip("::ffff:1.2.3.4")));  // an IPv4 peer
}

TEST(NetworksTest, PrefixesOffByteBoundaries) {
  absl::StatusOr<Networks> n = Networks::Parse("192.0.2.0/25, 2001:db8:8000::/33");
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_TRUE(n->Contains(Ip("192.0.2.0")));
  EXPECT_TRUE(n->Contains(Ip("192.0.2.127")));
  EXPECT_FALSE(n->Contains(Ip("192.0.2.128")));
  EXPECT_TRUE(n->Contains(Ip("2001:db8:8000::1")));
  EXPECT_TRUE(n->Contains(Ip("2001:db8:ffff::1")));
  EXPECT_FALSE(n->Contains(Ip("2001:db8:7fff::1")));
}

TEST(NetworksTest, FullLengthPrefixes) {
  absl::StatusOr<Networks> n = Networks::Parse("192.0.2.7/32, 2001:db8::7/128");
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_TRUE(n->Contains(Ip("192.0.2.7")));
  EXPECT_FALSE(n->Contains(Ip("192.0.2.6")));
  EXPECT_TRUE(n->Contains(Ip("2001:db8::7")));
  EXPECT_FALSE(n->Contains(Ip("2001:db8::6")));
}

}  // namespace
}  // namespace tern::common
