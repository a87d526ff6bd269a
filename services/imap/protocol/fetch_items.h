#pragma once

// FETCH data items (RFC 3501 6.4.5, 9 fetch-att; RFC 3516 BINARY; RFC 7162 MODSEQ and
// CHANGEDSINCE). Turns the parser's Values into a request the server executes.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "services/imap/protocol/parser.h"

namespace tern::imap::protocol {

// A body section spec (RFC 3501 6.4.5 BODY[<section>]): an optional part path ("1.2.3")
// and an optional text part.
struct Section {
  enum class Text {
    kNone,              // BODY[] or BODY[1.2]: the whole message or the part's body
    kHeader,            // HEADER
    kHeaderFields,      // HEADER.FIELDS (names)
    kHeaderFieldsNot,   // HEADER.FIELDS.NOT (names)
    kText,              // TEXT
    kMime,              // MIME (only after a part number)
  };
  std::vector<uint32_t> part;       // {} for the top level; each number >= 1
  Text text = Text::kNone;
  std::vector<std::string> fields;  // for the HEADER.FIELDS forms, upper-cased, in order

  // "1.2.HEADER.FIELDS (FROM TO)" as echoed in the response (RFC 3501 7.4.2 BODY[...]).
  std::string ToString() const;
  friend bool operator==(const Section&, const Section&) = default;
};

struct Partial {
  uint32_t offset = 0;
  uint32_t length = 0;  // > 0
  friend bool operator==(const Partial&, const Partial&) = default;
};

struct FetchItem {
  enum class Kind {
    kFlags,
    kInternalDate,
    kRfc822,        // = BODY[], sets \Seen
    kRfc822Header,  // = BODY.PEEK[HEADER]
    kRfc822Text,    // = BODY[TEXT], sets \Seen
    kRfc822Size,
    kEnvelope,
    kBody,           // BODY without section: non-extensible BODYSTRUCTURE
    kBodyStructure,
    kUid,
    kBodySection,    // BODY[...] / BODY.PEEK[...]
    kBinary,         // BINARY[...] / BINARY.PEEK[...] (RFC 3516)
    kBinarySize,     // BINARY.SIZE[...]
    kModseq,         // RFC 7162 3.1.4.1
  };
  Kind kind = Kind::kFlags;
  Section section;                 // kBodySection, kBinary, kBinarySize
  bool peek = false;               // .PEEK: do not set \Seen
  std::optional<Partial> partial;  // <offset.length>

  // Whether fetching this item sets \Seen (RFC 3501 6.4.5): BODY[...] and BINARY[...]
  // without .PEEK, RFC822 and RFC822.TEXT.
  bool SetsSeen() const;
  friend bool operator==(const FetchItem&, const FetchItem&) = default;
};

struct FetchRequest {
  std::vector<FetchItem> items;  // macros expanded, in the order given, duplicates kept out
  std::optional<uint64_t> changed_since;  // (CHANGEDSINCE n)
  bool vanished = false;                  // (VANISHED), UID FETCH with QRESYNC only

  bool Has(FetchItem::Kind kind) const;
  friend bool operator==(const FetchRequest&, const FetchRequest&) = default;
};

// Parses the data items of FETCH: `items` is the argument after the sequence set (an atom
// such as FLAGS or a macro ALL/FAST/FULL, or a parenthesized list of items); `modifiers`,
// when present, is the optional parenthesized list after it (RFC 4466 fetch-modifier:
// CHANGEDSINCE n, VANISHED). InvalidArgument with a message fit for a BAD response when
// the syntax is wrong: unknown item, bad section (part 0, MIME without a part number,
// HEADER.FIELDS without names, text after BINARY), bad partial (length 0, overflow),
// macros inside a list.
absl::StatusOr<FetchRequest> ParseFetchItems(const Value& items, const Value* modifiers);

}  // namespace tern::imap::protocol
