#include "services/metadata/uid_set.h"

#include <algorithm>

namespace tern::metadata {

std::vector<UidRange> ResolveUidSet(const v1::UidSet& set, uint32_t max_uid) {
  std::vector<UidRange> out;
  for (const v1::UidRange& r : set.ranges()) {
    if ((r.first() == 0 || r.last() == 0) && max_uid == 0) continue;
    uint32_t a = r.first() == 0 ? max_uid : r.first();
    uint32_t b = r.last() == 0 ? max_uid : r.last();
    if (a > b) std::swap(a, b);
    out.push_back({a, b});
  }
  std::sort(out.begin(), out.end(),
            [](const UidRange& x, const UidRange& y) { return x.first < y.first; });
  std::vector<UidRange> merged;
  for (const UidRange& r : out) {
    if (!merged.empty() && static_cast<uint64_t>(merged.back().last) + 1 >= r.first) {
      merged.back().last = std::max(merged.back().last, r.last);
    } else {
      merged.push_back(r);
    }
  }
  return merged;
}

v1::UidSet UidSetOf(const std::vector<uint32_t>& sorted_uids) {
  v1::UidSet out;
  for (uint32_t uid : sorted_uids) {
    if (out.ranges_size() > 0 &&
        static_cast<uint64_t>(out.ranges(out.ranges_size() - 1).last()) + 1 == uid) {
      out.mutable_ranges(out.ranges_size() - 1)->set_last(uid);
    } else {
      v1::UidRange* r = out.add_ranges();
      r->set_first(uid);
      r->set_last(uid);
    }
  }
  return out;
}

uint64_t CountOf(const std::vector<UidRange>& ranges) {
  uint64_t n = 0;
  for (const UidRange& r : ranges) n += static_cast<uint64_t>(r.last) - r.first + 1;
  return n;
}

}  // namespace tern::metadata
