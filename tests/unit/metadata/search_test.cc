#include "services/metadata/search.h"

#include <gtest/gtest.h>

#include "services/metadata/names.h"

namespace tern::metadata {
namespace {

v1::SearchKey Flag(v1::SystemFlag f, bool set) {
  v1::SearchKey k;
  k.mutable_flag()->set_flag(f);
  k.mutable_flag()->set_set(set);
  return k;
}

TEST(SearchTest, CombinesFlagsSizesUidsAndRecency) {
  v1::SearchKey key;
  auto* both = key.mutable_and_keys();
  *both->add_keys() = Flag(v1::SYSTEM_FLAG_SEEN, false);  // UNSEEN
  v1::SearchKey* either = both->add_keys();
  either->mutable_or_keys()->mutable_first()->mutable_size()->set_comparison(
      v1::SizeCriterion::COMPARISON_LARGER);
  either->mutable_or_keys()->mutable_first()->mutable_size()->set_octets(100);
  either->mutable_or_keys()->mutable_second()->mutable_recency()->set_kind(
      v1::RecencyCriterion::KIND_NEW);
  auto eval = SearchEvaluator::Create(key, "UTF-8", {{5, 5}}, 10, nullptr);
  ASSERT_TRUE(eval.ok());
  SearchRow small_unseen{.uid = 3, .flags = 0, .size = 10};
  SearchRow big_unseen{.uid = 4, .flags = 0, .size = 1000};
  SearchRow new_unseen{.uid = 5, .flags = 0, .size = 10};
  SearchRow big_seen{.uid = 6, .flags = v1::SYSTEM_FLAG_SEEN, .size = 1000};
  EXPECT_FALSE(*eval->Matches(small_unseen));
  EXPECT_TRUE(*eval->Matches(big_unseen));
  EXPECT_TRUE(*eval->Matches(new_unseen));
  EXPECT_FALSE(*eval->Matches(big_seen));
}

TEST(SearchTest, RefusesUnknownCharsetsAndDeepNesting) {
  v1::SearchKey all;
  all.set_all(true);
  EXPECT_EQ(SearchEvaluator::Create(all, "KOI8-R", {}, 0, nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(SearchEvaluator::Create(all, "us-ascii", {}, 0, nullptr).ok());
  v1::SearchKey deep = all;
  for (int i = 0; i < 40; ++i) {
    v1::SearchKey outer;
    *outer.mutable_not_key() = deep;
    deep = outer;
  }
  EXPECT_FALSE(SearchEvaluator::Create(deep, "", {}, 0, nullptr).ok());
}

TEST(SearchTest, InternalDateUsesItsOwnOffset) {
  v1::SearchKey key;
  key.mutable_date()->set_field(v1::DateCriterion::FIELD_INTERNAL_DATE);
  key.mutable_date()->set_comparison(v1::DateCriterion::COMPARISON_ON);
  key.mutable_date()->mutable_date()->set_year(2024);
  key.mutable_date()->mutable_date()->set_month(1);
  key.mutable_date()->mutable_date()->set_day(2);
  auto eval = SearchEvaluator::Create(key, "", {}, 0, nullptr);
  // 2024-01-01 23:30 UTC is 2024-01-02 in +01:00.
  SearchRow row{.uid = 1,
                .internal_date =
                    absl::FromCivil(absl::CivilSecond(2024, 1, 1, 23, 30, 0), absl::UTCTimeZone()),
                .tz_offset_minutes = 60};
  EXPECT_TRUE(*eval->Matches(row));
  row.tz_offset_minutes = 0;
  EXPECT_FALSE(*eval->Matches(row));
}

TEST(SearchTest, SentDateParsesRfc5322Dates) {
  auto d = SentDate("Mon, 7 Feb 1994 21:52:25 -0800");
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->year(), 1994u);
  EXPECT_EQ(d->month(), 2u);
  EXPECT_EQ(d->day(), 7u);
  EXPECT_EQ(SentDate("7 feb 94 21:52 PST")->year(), 1994u);
  EXPECT_FALSE(SentDate("yesterday").has_value());
  EXPECT_FALSE(SentDate("").has_value());
}

TEST(SearchTest, DecodesTransferEncodings) {
  EXPECT_EQ(DecodeTransferEncoding("base64", "aGVs\r\nbG8="), "hello");
  EXPECT_EQ(DecodeTransferEncoding("Quoted-Printable", "caf=C3=A9 =\r\nau lait=3D"),
            "caf\xc3\xa9 au lait=");
  EXPECT_EQ(DecodeTransferEncoding("7bit", "as is"), "as is");
  EXPECT_TRUE(ContainsIgnoreCase("Hello World", "wORLD"));
  EXPECT_FALSE(ContainsIgnoreCase("Hello", "help"));
}

TEST(MailboxNameTest, CanonicalNamesAndPatterns) {
  EXPECT_EQ(*CanonicalMailboxName("inbox/Sub/"), "INBOX/Sub");
  EXPECT_EQ(*CanonicalMailboxName("Inboxes"), "Inboxes");
  EXPECT_FALSE(CanonicalMailboxName("").ok());
  EXPECT_FALSE(CanonicalMailboxName("a/%").ok());
  EXPECT_FALSE(CanonicalMailboxName(std::string("a\x01", 2)).ok());
  EXPECT_TRUE(MatchesPattern("Work/Projects/Tern", "*"));
  EXPECT_TRUE(MatchesPattern("Work/Projects/Tern", "Work/*/Tern"));
  EXPECT_FALSE(MatchesPattern("Work/Projects/Tern", "Work/%"));
  EXPECT_TRUE(MatchesPattern("Work/Projects", "Work/%"));
  EXPECT_TRUE(MatchesPattern("INBOX", "inbox"));
  EXPECT_TRUE(MatchesPattern("a%b", "a*%*b"));
  // Patterns full of wildcards stay fast (no backtracking blow-up).
  EXPECT_FALSE(MatchesPattern(std::string(1000, 'a'), std::string(500, '*') + "b"));
}

}  // namespace
}  // namespace tern::metadata
