#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/time/time.h"
#include "services/metadata/search.h"
#include "tern/metadata/v1/metadata.pb.h"

namespace tern::metadata {

// RFC 5256 2.1: the "base subject" of a Subject: value (encoded words decoded, white space
// folded, "Re:"/"Fwd:" leaders, "[blob]" prefixes, "(fwd)" trailers and "[fwd: ...]"
// wrappers removed).
// `reply_or_forward`, when given, tells whether a subj-refwd, a "(fwd)" trailer or a
// "[fwd: ...]" wrapper was removed (RFC 5256 3, REFERENCES).
std::string BaseSubject(std::string_view subject, bool* reply_or_forward = nullptr);

// RFC 5256 2.2: the sent date and time from a Date: value, in UTC; nullopt when it cannot
// be parsed (the caller then uses the internal date).
std::optional<absl::Time> SentTime(std::string_view date_header);

// Orders UIDs by the SORT criteria (RFC 5256 3, RFC 5957 DISPLAYFROM/DISPLAYTO); ties
// after all criteria by UID. Strings compare with the i;ascii-casemap collation.
std::vector<uint32_t> SortRows(std::vector<SearchRow> rows,
                               const google::protobuf::RepeatedPtrField<v1::SortCriterion>& by);

// THREAD=ORDEREDSUBJECT (RFC 5256 3): threads of equal base subject ordered by the sent
// date of their first message; in each, the first message is the root and the others are
// its children in sent-date order. The flat ThreadNode encoding of metadata.proto.
std::vector<v1::ThreadNode> ThreadOrderedSubject(std::vector<SearchRow> rows);

// THREAD=REFERENCES (RFC 5256 3): threads from Message-ID, References and In-Reply-To,
// then merged by base subject; siblings in sent-date order. Messages' References headers
// come from the ingest header cache.
std::vector<v1::ThreadNode> ThreadReferences(std::vector<SearchRow> rows);

// The msg-ids in a References or In-Reply-To value, normalized (quoting removed).
std::vector<std::string> MessageIds(std::string_view value);

}  // namespace tern::metadata
