#pragma once

#include <cstdint>
#include <vector>

#include "tern/metadata/v1/metadata.pb.h"

namespace tern::metadata {

struct UidRange {
  uint32_t first;
  uint32_t last;
};

// Resolves "*" (0) to max_uid, swaps reversed ranges (RFC 3501 6.4.8: n:* includes the
// highest UID even when n is greater) and sorts and merges. In an empty mailbox
// (max_uid = 0) "*" matches nothing.
std::vector<UidRange> ResolveUidSet(const v1::UidSet& set, uint32_t max_uid);

// Ascending, non-overlapping, non-adjacent ranges covering exactly uids (sorted input).
v1::UidSet UidSetOf(const std::vector<uint32_t>& sorted_uids);

// Number of UIDs the ranges cover.
uint64_t CountOf(const std::vector<UidRange>& ranges);

}  // namespace tern::metadata
