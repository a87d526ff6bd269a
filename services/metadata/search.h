#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "services/metadata/uid_set.h"
#include "tern/metadata/v1/metadata.pb.h"

namespace tern::metadata {

// One message as SEARCH sees it.
struct SearchRow {
  uint32_t uid = 0;
  uint32_t flags = 0;
  std::vector<std::string> keywords;
  uint64_t modseq = 0;
  absl::Time internal_date;
  int tz_offset_minutes = 0;
  uint64_t size = 0;
  std::string blob_id;
  const v1::ParsedMessage* parsed = nullptr;  // may be null (no cached structure)
};

// Reads a message's raw bytes (from tern-blobd) when a key needs more than the cached
// metadata: BODY/TEXT, or a HEADER field outside the ingest header cache.
using RawLoader = std::function<absl::StatusOr<std::string>(const std::string& blob_id)>;

// Evaluates RFC 3501 6.4.4 search keys (with RFC 7162 MODSEQ) against messages. Strings
// are matched as case-insensitive substrings after decoding: RFC 2047 encoded words in
// headers, transfer encodings and charsets in text bodies. Nesting is bounded (32).
class SearchEvaluator {
 public:
  // charset: the CHARSET argument; US-ASCII and UTF-8 are supported, others are
  // InvalidArgument (BADCHARSET). max_uid resolves "*" in UID sets.
  static absl::StatusOr<SearchEvaluator> Create(const v1::SearchKey& key, std::string charset,
                                                std::vector<UidRange> recent, uint32_t max_uid,
                                                RawLoader loader);

  absl::StatusOr<bool> Matches(const SearchRow& row) const;
  // Whether the key needs the cached ParsedMessage (headers, sent date).
  bool needs_parsed() const { return needs_parsed_; }
  bool has_modseq() const { return has_modseq_; }

 private:
  SearchEvaluator() = default;
  absl::StatusOr<bool> Eval(const v1::SearchKey& key, const SearchRow& row, int depth,
                            std::optional<std::string>& raw) const;

  v1::SearchKey key_;
  std::vector<UidRange> recent_;
  uint32_t max_uid_ = 0;
  RawLoader loader_;
  bool needs_parsed_ = false;
  bool has_modseq_ = false;
};

// Case-insensitive (ASCII) substring search.
bool ContainsIgnoreCase(std::string_view haystack, std::string_view needle);
// The calendar date of an RFC 5322 Date: value in its own zone.
std::optional<v1::CalendarDate> SentDate(std::string_view date_header);
// Undoes a Content-Transfer-Encoding (base64, quoted-printable; others as is).
std::string DecodeTransferEncoding(std::string_view encoding, std::string_view body);

}  // namespace tern::metadata
