#include "services/lmtp/protocol/command.h"

#include <algorithm>
#include <array>
#include <cctype>

namespace tern::lmtp::protocol {
namespace {

bool IsAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsHigh(char c) { return static_cast<unsigned char>(c) >= 0x80; }

// RFC 5321 4.1.2 atext (RFC 5322 3.2.3), plus UTF-8 (RFC 6531 3.3).
bool IsAtext(char c) {
  constexpr std::string_view kSpecials = "!#$%&'*+-/=?^_`{|}~";
  return IsAlpha(c) || IsDigit(c) || IsHigh(c) || kSpecials.find(c) != std::string_view::npos;
}

std::string Upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::toupper(static_cast<unsigned char>(a[i])) !=
        std::toupper(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

Reply Syntax(std::string_view text) { return MakeReply(501, "5.5.4", text); }

// A cursor over the rest of a line.
struct Cursor {
  std::string_view s;
  size_t i = 0;
  bool done() const { return i >= s.size(); }
  char peek() const { return done() ? '\0' : s[i]; }
  bool take(char c) {
    if (peek() != c || done()) return false;
    ++i;
    return true;
  }
};

// Domain = sub-domain *("." sub-domain); sub-domain = Let-dig [Ldh-str] (RFC 5321 4.1.2),
// U-labels allowed (RFC 6531 3.3). address-literal = "[" ... "]" (4.1.3), taken as a
// bracketed run of printable characters.
bool ParseDomain(Cursor& c, std::string& out) {
  const size_t start = c.i;
  if (c.peek() == '[') {
    ++c.i;
    while (!c.done() && c.peek() != ']') {
      const char ch = c.peek();
      if (ch <= ' ' || ch == '[' || ch == '\\' || ch == 0x7f || IsHigh(ch)) return false;
      ++c.i;
    }
    if (!c.take(']') || c.i - start < 3) return false;
    out.assign(c.s.substr(start, c.i - start));
    return true;
  }
  for (;;) {
    const size_t label = c.i;
    while (!c.done() &&
           (IsAlpha(c.peek()) || IsDigit(c.peek()) || IsHigh(c.peek()) || c.peek() == '-')) {
      ++c.i;
    }
    if (c.i == label || c.s[label] == '-' || c.s[c.i - 1] == '-') return false;
    if (!c.take('.')) break;
  }
  out.assign(c.s.substr(start, c.i - start));
  return out.size() <= kMaxDomain;
}

// Local-part = Dot-string / Quoted-string (RFC 5321 4.1.2).
bool ParseLocalPart(Cursor& c, std::string& out) {
  out.clear();
  if (c.take('"')) {
    for (;;) {
      if (c.done()) return false;
      const char ch = c.s[c.i++];
      if (ch == '"') break;
      if (ch == '\\') {
        if (c.done()) return false;
        const char q = c.s[c.i++];
        if (q < 32 || q > 126) return false;  // quoted-pairSMTP = %d92 %d32-126
        out += q;
      } else if ((ch >= 32 && ch <= 126) || IsHigh(ch)) {  // qtextSMTP, RFC 6531 3.3
        out += ch;
      } else {
        return false;
      }
    }
    return out.size() <= kMaxLocalPart;
  }
  for (;;) {
    const size_t atom = c.i;
    while (!c.done() && IsAtext(c.peek())) ++c.i;
    if (c.i == atom) return false;
    out.append(c.s.substr(atom, c.i - atom));
    if (!c.take('.')) break;
    out += '.';
  }
  return out.size() <= kMaxLocalPart;
}

enum class PathKind { kReverse, kForward };

// Path = "<" [ A-d-l ":" ] Mailbox ">"; the source route is ignored (RFC 5321 4.1.1.3: "the
// source route ... SHOULD be ignored"). Reverse-path may be "<>"; a forward-path may be
// "<Postmaster>" (4.1.1.3). Returns nullopt after setting `error`.
std::optional<std::optional<Mailbox>> ParsePath(Cursor& c, PathKind kind, Reply& error) {
  const std::string_view address_code = kind == PathKind::kReverse ? "5.1.7" : "5.1.3";
  const Reply bad = MakeReply(
      501, address_code,
      kind == PathKind::kReverse ? "Bad sender address syntax" : "Bad recipient address syntax");
  const size_t start = c.i;
  if (!c.take('<')) {
    error = bad;
    return std::nullopt;
  }
  if (kind == PathKind::kReverse && c.take('>')) return std::optional<Mailbox>();
  if (c.peek() == '@') {  // A-d-l = At-domain *( "," At-domain ) ":"
    for (;;) {
      std::string ignored;
      if (!c.take('@') || !ParseDomain(c, ignored)) {  // also after a ","
        error = bad;
        return std::nullopt;
      }
      if (!c.take(',')) break;
    }
    if (!c.take(':')) {
      error = bad;
      return std::nullopt;
    }
  }
  Mailbox m;
  if (!ParseLocalPart(c, m.local)) {
    error = bad;
    return std::nullopt;
  }
  if (c.take('@')) {
    if (!ParseDomain(c, m.domain)) {
      error = bad;
      return std::nullopt;
    }
  } else if (!(kind == PathKind::kForward && EqualsIgnoreCase(m.local, "postmaster"))) {
    error = bad;
    return std::nullopt;
  }
  if (!c.take('>')) {
    error = bad;
    return std::nullopt;
  }
  if (c.i - start > kMaxPath) {
    error = MakeReply(501, address_code, "Path too long");  // RFC 5321 4.5.3.1.3
    return std::nullopt;
  }
  return std::optional<Mailbox>(std::move(m));
}

bool ParseNumber(std::string_view s, uint64_t& out) {
  if (s.empty() || s.size() > 19) return false;
  out = 0;
  for (const char ch : s) {
    if (!IsDigit(ch)) return false;
    out = out * 10 + static_cast<uint64_t>(ch - '0');
  }
  return true;
}

// Mail-parameters = esmtp-param *(SP esmtp-param) (RFC 5321 4.1.2).
std::optional<Reply> ParseParameters(std::string_view rest, Command& cmd) {
  bool seen_size = false;
  bool seen_body = false;
  size_t i = 0;
  while (i < rest.size()) {
    while (i < rest.size() && rest[i] == ' ') ++i;
    if (i >= rest.size()) break;
    const size_t end = std::min(rest.find(' ', i), rest.size());
    const std::string_view param = rest.substr(i, end - i);
    i = end;
    const size_t eq = param.find('=');
    const std::string keyword = Upper(param.substr(0, eq));
    const std::optional<std::string_view> value =
        eq == std::string_view::npos ? std::nullopt : std::optional(param.substr(eq + 1));
    if (keyword.empty() || !(IsAlpha(keyword[0]) || IsDigit(keyword[0]))) {
      return Syntax("Bad parameter syntax");
    }
    for (const char ch : keyword) {
      if (!IsAlpha(ch) && !IsDigit(ch) && ch != '-') return Syntax("Bad parameter syntax");
    }
    if (value) {
      if (value->empty()) return Syntax("Bad parameter syntax");
      for (const char ch : *value) {  // esmtp-value = 1*(%d33-60 / %d62-126)
        if ((ch < 33 || ch > 126 || ch == '=') && !IsHigh(ch)) {
          return Syntax("Bad parameter syntax");
        }
      }
    }
    if (cmd.verb == Verb::kMail && keyword == "SIZE") {  // RFC 1870 6
      uint64_t n = 0;
      if (seen_size || !value || !ParseNumber(*value, n)) return Syntax("Bad SIZE parameter");
      seen_size = true;
      cmd.size = n;
    } else if (cmd.verb == Verb::kMail && keyword == "BODY") {  // RFC 6152 2
      if (seen_body || !value) return Syntax("Bad BODY parameter");
      seen_body = true;
      const std::string v = Upper(*value);
      if (v == "7BIT") {
        cmd.body = Body::k7Bit;
      } else if (v == "8BITMIME") {
        cmd.body = Body::k8BitMime;
      } else {
        // BINARYMIME (RFC 3030 3) is not offered.
        return MakeReply(555, "5.5.4", "BODY value not supported");
      }
    } else if (cmd.verb == Verb::kMail && keyword == "SMTPUTF8") {  // RFC 6531 3.4
      if (cmd.smtputf8 || value) return Syntax("Bad SMTPUTF8 parameter");
      cmd.smtputf8 = true;
    } else {
      return MakeReply(555, "5.5.4", "Parameter not recognized: " + keyword);
    }
  }
  return std::nullopt;
}

// MAIL FROM:<path> [params] / RCPT TO:<path> [params].
std::optional<Reply> ParseMailOrRcpt(std::string_view rest, Command& cmd) {
  const bool mail = cmd.verb == Verb::kMail;
  const std::string_view keyword = mail ? "FROM:" : "TO:";
  if (rest.size() < keyword.size() || !EqualsIgnoreCase(rest.substr(0, keyword.size()), keyword)) {
    return Syntax(mail ? "Syntax: MAIL FROM:<address>" : "Syntax: RCPT TO:<address>");
  }
  rest.remove_prefix(keyword.size());
  // Not in the grammar, but sent by many clients ("MAIL FROM: <a@b>"); tolerated as most
  // servers do.
  while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
  Cursor c{rest};
  Reply error;
  std::optional<std::optional<Mailbox>> path =
      ParsePath(c, mail ? PathKind::kReverse : PathKind::kForward, error);
  if (!path) return error;
  cmd.path = std::move(*path);
  if (!c.done() && c.peek() != ' ') {
    return MakeReply(501, mail ? "5.1.7" : "5.1.3", "Bad address syntax");
  }
  if (cmd.path) {
    for (const char ch : cmd.path->local + cmd.path->domain) cmd.utf8 = cmd.utf8 || IsHigh(ch);
    // Each part on its own: a sequence cut at the "@" would look whole once concatenated.
    if (cmd.utf8 && (!ValidUtf8(cmd.path->local) || !ValidUtf8(cmd.path->domain))) {
      return MakeReply(501, mail ? "5.1.7" : "5.1.3", "Address is not valid UTF-8");
    }
  }
  return ParseParameters(rest.substr(c.i), cmd);
}

struct VerbSpec {
  std::string_view name;
  Verb verb;
};

constexpr std::array<VerbSpec, 14> kVerbs = {{
    {"LHLO", Verb::kLhlo},
    {"EHLO", Verb::kEhlo},
    {"HELO", Verb::kHelo},
    {"MAIL", Verb::kMail},
    {"RCPT", Verb::kRcpt},
    {"DATA", Verb::kData},
    {"BDAT", Verb::kBdat},
    {"RSET", Verb::kRset},
    {"NOOP", Verb::kNoop},
    {"QUIT", Verb::kQuit},
    {"VRFY", Verb::kVrfy},
    {"EXPN", Verb::kExpn},
    {"HELP", Verb::kHelp},
    {"STARTTLS", Verb::kStartTls},
}};

}  // namespace

std::string_view VerbName(Verb verb) {
  for (const VerbSpec& v : kVerbs) {
    if (v.verb == verb) return v.name;
  }
  return "?";
}

std::string FormatMailbox(const Mailbox& mailbox) {
  bool dot_string = !mailbox.local.empty() && mailbox.local.front() != '.' &&
                    mailbox.local.back() != '.' && mailbox.local.find("..") == std::string::npos;
  for (const char ch : mailbox.local) dot_string = dot_string && (IsAtext(ch) || ch == '.');
  std::string out;
  if (dot_string) {
    out = mailbox.local;
  } else {
    out = "\"";
    for (const char ch : mailbox.local) {
      if (ch == '"' || ch == '\\') out += '\\';
      out += ch;
    }
    out += '"';
  }
  if (!mailbox.domain.empty()) {
    out += '@';
    out += mailbox.domain;
  }
  return out;
}

bool ValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto b = static_cast<unsigned char>(s[i]);
    size_t n = 0;
    uint32_t cp = 0;
    if (b < 0x80) {
      ++i;
      continue;
    } else if (b >= 0xc2 && b <= 0xdf) {
      n = 1;
      cp = b & 0x1f;
    } else if (b >= 0xe0 && b <= 0xef) {
      n = 2;
      cp = b & 0x0f;
    } else if (b >= 0xf0 && b <= 0xf4) {
      n = 3;
      cp = b & 0x07;
    } else {
      return false;
    }
    for (size_t k = 1; k <= n; ++k) {
      if (i + k >= s.size()) return false;
      const auto cb = static_cast<unsigned char>(s[i + k]);
      if ((cb & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (cb & 0x3f);
    }
    if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
        (cp >= 0xd800 && cp <= 0xdfff)) {
      return false;
    }
    i += n + 1;
  }
  return true;
}

std::variant<Command, Reply> ParseCommand(std::string_view line) {
  // RFC 5321 4.1.1: "SMTP receivers SHOULD tolerate trailing white space".
  while (!line.empty() && (line.back() == ' ' || line.back() == '\t')) line.remove_suffix(1);
  const size_t sp = line.find(' ');
  const std::string verb_text = Upper(line.substr(0, sp));
  const std::string_view rest =
      sp == std::string_view::npos ? std::string_view() : line.substr(sp + 1);
  const VerbSpec* spec = nullptr;
  for (const VerbSpec& v : kVerbs) {
    if (v.name == verb_text) spec = &v;
  }
  if (spec == nullptr) return MakeReply(500, "5.5.2", "Command not recognized");
  Command cmd{.verb = spec->verb};
  switch (cmd.verb) {
    case Verb::kLhlo:
    case Verb::kEhlo:
    case Verb::kHelo: {
      // "EHLO" SP ( Domain / address-literal ) (RFC 5321 4.1.1.1).
      std::string_view arg = rest;
      while (!arg.empty() && arg.front() == ' ') arg.remove_prefix(1);
      arg = arg.substr(0, arg.find(' '));
      if (arg.empty()) return Syntax(std::string(spec->name) + " requires a domain name");
      for (const char ch : arg) {
        if (static_cast<unsigned char>(ch) <= ' ' || ch == 0x7f) return Syntax("Bad domain name");
      }
      cmd.argument.assign(arg);
      return cmd;
    }
    case Verb::kMail:
    case Verb::kRcpt:
      if (std::optional<Reply> error = ParseMailOrRcpt(rest, cmd)) return *error;
      return cmd;
    case Verb::kBdat: {
      // bdat-cmd = "BDAT" SP chunk-size [ SP end-marker ] CR LF (RFC 3030 2).
      const size_t space = rest.find(' ');
      const std::string_view size_text = rest.substr(0, space);
      if (!ParseNumber(size_text, cmd.chunk_size)) return Syntax("Syntax: BDAT size [LAST]");
      if (space != std::string_view::npos) {
        if (!EqualsIgnoreCase(rest.substr(space + 1), "LAST")) {
          return Syntax("Syntax: BDAT size [LAST]");
        }
        cmd.last = true;
      }
      return cmd;
    }
    case Verb::kData:
    case Verb::kRset:
    case Verb::kQuit:
    case Verb::kStartTls:
      // RFC 5321 4.1.1.4, 4.1.1.5, 4.1.1.10; RFC 3207 4: no parameters.
      if (!rest.empty()) return Syntax(std::string(spec->name) + " takes no parameters");
      return cmd;
    case Verb::kVrfy:
    case Verb::kExpn:
      if (rest.empty()) return Syntax(std::string(spec->name) + " requires an argument");
      cmd.argument.assign(rest);
      return cmd;
    case Verb::kNoop:
    case Verb::kHelp:
      cmd.argument.assign(rest);
      return cmd;
  }
  return MakeReply(500, "5.5.2", "Command not recognized");
}

}  // namespace tern::lmtp::protocol
