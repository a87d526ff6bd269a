#include "services/imap/protocol/encoder.h"

#include <algorithm>

#include "services/imap/protocol/mutf7.h"

namespace tern::imap::protocol {
namespace {

// Longest string sent as a quoted string; longer ones become literals, which clients read
// without scanning for escapes.
constexpr size_t kMaxQuoted = 1024;

// RFC 3501 9: QUOTED-CHAR is TEXT-CHAR (CHAR minus CR and LF) except quoted-specials. We
// send only printable US-ASCII quoted: control characters are legal there, but many parsers
// (ours among them) reject them, and a literal carries them without doubt.
bool IsQuotable(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u >= 0x20 && u <= 0x7e;
}

bool CanQuote(std::string_view s) {
  return s.size() <= kMaxQuoted && std::all_of(s.begin(), s.end(), IsQuotable);
}

void AppendQuoted(std::string& out, std::string_view s) {
  out.push_back('"');
  for (const char c : s) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');  // RFC 3501 9: "\" quoted-specials
    }
    out.push_back(c);
  }
  out.push_back('"');
}

void AppendLiteralHeader(std::string& out, std::string_view prefix, size_t size) {
  out.append(prefix);
  out.push_back('{');
  out.append(std::to_string(size));
  out.append("}\r\n");
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i];
    char y = b[i];
    if (x >= 'a' && x <= 'z') {
      x = static_cast<char>(x - 32);
    }
    if (y >= 'a' && y <= 'z') {
      y = static_cast<char>(y - 32);
    }
    if (x != y) {
      return false;
    }
  }
  return true;
}

// Appends `s` with every byte in `bad` replaced by `replacement`.
void AppendReplacing(std::string& out, std::string_view s, std::string_view bad, char replacement) {
  for (const char c : s) {
    out.push_back(bad.find(c) == std::string_view::npos ? c : replacement);
  }
}

constexpr std::string_view kLineBreaking{"\r\n\0", 3};

constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

// Proleptic Gregorian calendar date of a day count since 1970-01-01 (H. Hinnant's
// civil_from_days).
void CivilFromDays(int64_t z, int64_t& year, int& month, int& day) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t doe = z - era * 146097;                                       // [0, 146096]
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;  // [0, 399]
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);                // [0, 365]
  const int64_t mp = (5 * doy + 2) / 153;                                     // [0, 11]
  day = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  month = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  year = yoe + era * 400 + (month <= 2 ? 1 : 0);
}

int64_t FloorDiv(int64_t a, int64_t b) {
  const int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

void AppendTwoDigits(std::string& out, int v, char pad) {
  out.push_back(v < 10 ? pad : static_cast<char>('0' + v / 10));
  out.push_back(static_cast<char>('0' + v % 10));
}

}  // namespace

bool IsAtomChar(char c) {
  const auto u = static_cast<unsigned char>(c);
  // CHAR minus CTL and SP.
  if (u <= 0x20 || u >= 0x7f) {
    return false;
  }
  switch (c) {
    case '(':
    case ')':
    case '{':
    case '%':  // list-wildcards
    case '*':
    case '"':  // quoted-specials
    case '\\':
    case ']':  // resp-specials
      return false;
    default:
      return true;
  }
}

void AppendString(std::string& out, std::string_view s) {
  if (CanQuote(s)) {
    AppendQuoted(out, s);
  } else {
    AppendLiteral(out, s);
  }
}

void AppendAstring(std::string& out, std::string_view s) {
  // "[" is an ATOM-CHAR, but a client that reads "BODY[...]" in FETCH responses may take it
  // for the start of a section; quoting costs two bytes and removes the doubt. A bare NIL
  // would read as nil (RFC 3501 4.5), so it is quoted whatever its case.
  const bool atom =
      !s.empty() && !EqualsIgnoreCase(s, "NIL") &&
      std::all_of(s.begin(), s.end(), [](char c) { return IsAtomChar(c) && c != '['; });
  if (atom) {
    out.append(s);
  } else {
    AppendString(out, s);
  }
}

void AppendNString(std::string& out, const std::optional<std::string_view>& s) {
  if (s.has_value()) {
    AppendString(out, *s);
  } else {
    out.append("NIL");
  }
}

void AppendLiteral(std::string& out, std::string_view s) {
  AppendLiteralHeader(out, "", s.size());
  // RFC 3501 9: CHAR8 = %x01-ff; NUL may not appear in a literal (only in literal8).
  AppendReplacing(out, s, std::string_view("\0", 1), '\x80');
}

void AppendLiteral8(std::string& out, std::string_view s) {
  AppendLiteralHeader(out, "~", s.size());
  out.append(s);
}

void AppendMailbox(std::string& out, std::string_view utf8_name) {
  // RFC 3501 5.1.3: non-ASCII names travel as modified UTF-7; the result is printable
  // US-ASCII, so it is an atom or a quoted string unless it is very long.
  AppendAstring(out, EncodeMailboxName(utf8_name));
}

std::string FormatSequenceSet(const std::vector<uint32_t>& sorted) {
  std::string out;
  size_t i = 0;
  while (i < sorted.size()) {
    const uint32_t first = sorted[i];
    uint32_t last = first;
    ++i;
    // Extend the run over consecutive numbers; a repeated number (not expected, but
    // harmless) is absorbed into the run.
    while (i < sorted.size() &&
           (sorted[i] == last || (last != UINT32_MAX && sorted[i] == last + 1))) {
      last = sorted[i];
      ++i;
    }
    if (!out.empty()) {
      out.push_back(',');
    }
    out.append(std::to_string(first));
    if (last != first) {
      out.push_back(':');
      out.append(std::to_string(last));
    }
  }
  return out;
}

void AppendText(std::string& out, std::string_view text) {
  if (text.empty()) {
    // RFC 3501 9: text = 1*TEXT-CHAR.
    out.append("completed");
    return;
  }
  AppendReplacing(out, text, kLineBreaking, ' ');
}

std::string_view StatusName(Status status) {
  switch (status) {
    case Status::kOk:
      return "OK";
    case Status::kNo:
      return "NO";
    case Status::kBad:
      return "BAD";
    case Status::kBye:
      return "BYE";
    case Status::kPreauth:
      return "PREAUTH";
  }
  return "BAD";
}

void AppendStatus(std::string& out, std::string_view tag, Status status, std::string_view code,
                  std::string_view text) {
  if (tag.empty()) {
    out.push_back('*');
  } else {
    AppendReplacing(out, tag, std::string_view("\r\n\0 ", 4), '_');
  }
  out.push_back(' ');
  out.append(StatusName(status));
  out.push_back(' ');
  if (!code.empty()) {
    // RFC 3501 9: resp-text-code arguments are TEXT-CHARs except "]".
    out.push_back('[');
    AppendReplacing(out, code, std::string_view("\r\n\0]", 4), ' ');
    out.append("] ");
  }
  AppendText(out, text);
  out.append("\r\n");
}

void AppendContinuation(std::string& out, std::string_view text) {
  // RFC 3501 9: continue-req = "+" SP (resp-text / base64) CRLF. An empty text stays empty:
  // it is the empty base64 of a SASL challenge (RFC 3501 6.2.2), and "+ " CRLF is what
  // clients expect for it.
  out.append("+ ");
  AppendReplacing(out, text, kLineBreaking, ' ');
  out.append("\r\n");
}

void AppendDateTime(std::string& out, int64_t unix_seconds, int utc_offset_minutes) {
  // RFC 3501 9: zone = ("+" / "-") 4DIGIT, date-year = 4DIGIT. Out-of-range input is
  // clamped so the output is always valid syntax.
  constexpr int kMaxOffset = 23 * 60 + 59;
  constexpr int64_t kMinLocal = -62135596800;  // 0001-01-01 00:00:00
  constexpr int64_t kMaxLocal = 253402300799;  // 9999-12-31 23:59:59
  const int offset = std::clamp(utc_offset_minutes, -kMaxOffset, kMaxOffset);
  const int64_t offset_seconds = int64_t{offset} * 60;
  const int64_t local =
      std::clamp(unix_seconds, kMinLocal - offset_seconds, kMaxLocal - offset_seconds) +
      offset_seconds;

  const int64_t days = FloorDiv(local, 86400);
  const int64_t secs = local - days * 86400;
  int64_t year = 0;
  int month = 0;
  int day = 0;
  CivilFromDays(days, year, month, day);

  out.push_back('"');
  AppendTwoDigits(out, day, ' ');  // date-day-fixed = (SP DIGIT) / 2DIGIT
  out.push_back('-');
  out.append(kMonths[month - 1]);
  out.push_back('-');
  const int y = static_cast<int>(year);
  AppendTwoDigits(out, y / 100, '0');
  AppendTwoDigits(out, y % 100, '0');
  out.push_back(' ');
  AppendTwoDigits(out, static_cast<int>(secs / 3600), '0');
  out.push_back(':');
  AppendTwoDigits(out, static_cast<int>(secs / 60 % 60), '0');
  out.push_back(':');
  AppendTwoDigits(out, static_cast<int>(secs % 60), '0');
  out.push_back(' ');
  out.push_back(offset < 0 ? '-' : '+');
  const int abs_offset = offset < 0 ? -offset : offset;
  AppendTwoDigits(out, abs_offset / 60, '0');
  AppendTwoDigits(out, abs_offset % 60, '0');
  out.push_back('"');
}

}  // namespace tern::imap::protocol
