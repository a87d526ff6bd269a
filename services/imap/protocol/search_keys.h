#pragma once

// SEARCH criteria (RFC 3501 6.4.4 and 9 search-key; RFC 7162 3.1.5 MODSEQ; RFC 4731
// ESEARCH RETURN options). Turns the parser's Values into a tree the server maps onto
// tern.metadata.v1.SearchKey.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "services/imap/protocol/datetime.h"
#include "services/imap/protocol/parser.h"

namespace tern::imap::protocol {

struct SearchKey {
  enum class Kind {
    kAll,
    kAnd,       // children: every one matches (a parenthesized list, or keys in sequence)
    kOr,        // children[0] OR children[1]
    kNot,       // NOT children[0]
    kSequence,  // a sequence-set of message numbers: `set`
    kUid,       // UID sequence-set: `set`
    kFlag,      // ANSWERED/UNANSWERED, DELETED, DRAFT, FLAGGED, SEEN...: `flag`, `set_flag`
    kKeyword,   // KEYWORD / UNKEYWORD: `text` is the keyword, `set_flag`
    kRecent,    // RECENT
    kNew,       // NEW
    kOld,       // OLD
    kHeader,    // HEADER name value, and FROM/TO/CC/BCC/SUBJECT: `field`, `text`
    kBody,      // BODY string: `text`
    kText,      // TEXT string: `text`
    kBefore,    // internal date: `date`
    kOn,
    kSince,
    kSentBefore,  // Date: header: `date`
    kSentOn,
    kSentSince,
    kLarger,   // `number`
    kSmaller,  // `number`
    kModseq,   // MODSEQ [entry-name entry-type] n: `number`, `field` = entry name or ""
  };
  enum class Flag { kAnswered, kDeleted, kDraft, kFlagged, kSeen };

  Kind kind = Kind::kAll;
  std::vector<SearchKey> children;
  SequenceSet set;
  Flag flag = Flag::kSeen;
  bool set_flag = true;  // false for the UN... forms
  std::string field;     // header name as given (FROM -> "From" style is not applied: "FROM")
  std::string text;      // search string, bytes in the program's charset
  Date date;
  uint64_t number = 0;

  friend bool operator==(const SearchKey&, const SearchKey&) = default;
};

struct SearchReturn {  // RFC 4731 3.1
  bool min = false;
  bool max = false;
  bool all = false;
  bool count = false;
  bool save = false;  // RFC 5182
  friend bool operator==(const SearchReturn&, const SearchReturn&) = default;
};

struct SearchProgram {
  std::optional<SearchReturn> return_options;  // RETURN (...) given (ESEARCH form)
  std::string charset;                         // upper-cased; "" when not given
  SearchKey key;                               // kAnd of the top-level keys (or one key)

  friend bool operator==(const SearchProgram&, const SearchProgram&) = default;
};

// Parses the arguments of SEARCH / UID SEARCH: [RETURN (...)] [CHARSET name] key+.
// Atoms are matched case-insensitively. InvalidArgument (BAD) for unknown keys, missing or
// malformed arguments (bad date, bad number, bad sequence set), or nesting deeper than
// `max_depth`. The charset is not checked here (metad answers BADCHARSET).
absl::StatusOr<SearchProgram> ParseSearch(std::span<const Value> args, size_t max_depth = 32);

}  // namespace tern::imap::protocol
