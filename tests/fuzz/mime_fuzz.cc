// libFuzzer target for the MIME library: parses the input as a message (with the default
// limits and with tiny ones), renders ENVELOPE/BODY/BODYSTRUCTURE, resolves every section and
// extracts header subsets, and runs the header decoders on the raw bytes. Structural
// invariants are checked, so a wrong offset is a crash, not just a sanitizer report.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "services/mime/encoded_words.h"
#include "services/mime/imap_render.h"
#include "services/mime/message.h"

namespace {

using tern::mime::BodyPart;
using tern::mime::ParsedMessage;

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

// Balanced parentheses outside quoted strings and literals.
void CheckBalanced(std::string_view s) {
  int depth = 0;
  size_t i = 0;
  while (i < s.size()) {
    const char c = s[i];
    if (c == '"') {
      for (++i; i < s.size() && s[i] != '"'; ++i) {
        if (s[i] == '\\') ++i;
      }
      Check(i < s.size());
      ++i;
    } else if (c == '{') {
      const size_t close = s.find("}\r\n", i);
      Check(close != std::string_view::npos);
      size_t n = 0;
      for (size_t k = i + 1; k < close; ++k) n = n * 10 + static_cast<size_t>(s[k] - '0');
      i = close + 3 + n;
      Check(i <= s.size());
    } else {
      if (c == '(') ++depth;
      if (c == ')') --depth;
      Check(depth >= 0);
      ++i;
    }
  }
  Check(depth == 0);
}

void CheckPart(std::string_view raw, const ParsedMessage& m, const BodyPart& p) {
  const tern::mime::PartOffsets& o = p.offsets;
  Check(o.header_start <= o.header_end && o.header_end <= o.body_end && o.body_end <= raw.size());
  Check(p.size == o.body_end - o.header_end);
  Check(!p.IsMultipart() || !p.children.empty());
  Check(!p.IsMessageRfc822() || (p.children.size() == 1 && p.envelope.has_value()));
  size_t previous_end = o.header_end;
  for (const BodyPart& c : p.children) {
    Check(c.offsets.header_start >= previous_end && c.offsets.body_end <= o.body_end);
    previous_end = c.offsets.body_end;
    CheckPart(raw, m, c);
  }
  // Every part answers BODY[section] and its MIME/HEADER/TEXT variants without reading
  // outside the message.
  for (const std::string& spec :
       {o.section, o.section + ".MIME", o.section + ".HEADER", o.section + ".TEXT"}) {
    if (const auto range = tern::mime::SectionRange(m, spec)) {
      Check(range->first <= range->second && range->second <= raw.size());
    }
  }
  const std::vector<std::string> names = {"Subject", "content-type"};
  (void)tern::mime::SectionHeaderFields(raw, m, o.section, names, false);
  (void)tern::mime::SectionHeaderFields(raw, m, o.section, names, true);
}

void ParseAndRender(std::string_view raw, const tern::mime::Limits& limits) {
  const ParsedMessage m = tern::mime::ParseMessage(raw, limits);
  Check(m.size == raw.size() && m.body.offsets.header_start == 0 &&
        m.body.offsets.body_end == raw.size());
  CheckPart(raw, m, m.body);
  CheckBalanced(tern::mime::RenderEnvelope(m.envelope));
  CheckBalanced(tern::mime::RenderBodyStructure(m.body, true));
  CheckBalanced(tern::mime::RenderBodyStructure(m.body, false));
  for (const tern::mime::HeaderField& f : m.headers()) {
    (void)tern::mime::DecodeEncodedWords(f.value);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  ParseAndRender(input, tern::mime::Limits{});
  ParseAndRender(input,
                 tern::mime::Limits{
                     .max_depth = 3, .max_parts = 12, .max_header_bytes = 200, .max_headers = 6});
  // The header decoders on raw bytes, as SEARCH would call them on any header value.
  (void)tern::mime::DecodeEncodedWords(input);
  (void)tern::mime::DecodeParameters(tern::mime::SplitParameters(input));
  (void)tern::mime::ParseAddressList(input);
  (void)tern::mime::HeaderFields(input, {"From", "To"}, false);
  return 0;
}
