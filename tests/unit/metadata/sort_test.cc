#include "services/metadata/sort.h"

#include <gtest/gtest.h>

namespace tern::metadata {
namespace {

TEST(BaseSubjectTest, RemovesLeadersTrailersBlobsAndForwardWrappers) {
  EXPECT_EQ(BaseSubject("Hello"), "Hello");
  EXPECT_EQ(BaseSubject("Re: Hello"), "Hello");
  EXPECT_EQ(BaseSubject("RE: re: Fwd: hello (fwd)"), "hello");
  EXPECT_EQ(BaseSubject("Re[2]: [tern-dev] Release   notes"), "Release notes");
  EXPECT_EQ(BaseSubject("[fwd: Re: Meeting]"), "Meeting");
  EXPECT_EQ(BaseSubject("[only a blob]"), "[only a blob]");  // would leave nothing
  EXPECT_EQ(BaseSubject("Fw : spaced"), "spaced");
  EXPECT_EQ(BaseSubject("=?UTF-8?Q?Re=3A_caf=C3=A9?="), "caf\xc3\xa9");
  EXPECT_EQ(BaseSubject(""), "");
  EXPECT_EQ(BaseSubject("Research"), "Research");  // "re" without ':' is not a leader
}

TEST(SentTimeTest, NormalizesToUtcAsRfc5256Says) {
  // RFC 5256 2.2: "31 Dec 2000 16:01:33 -0800" equals "1 Jan 2001 00:01:33 +0000".
  EXPECT_EQ(SentTime("Sun, 31 Dec 2000 16:01:33 -0800"), SentTime("1 Jan 2001 00:01:33 +0000"));
  EXPECT_EQ(SentTime("7 Feb 1994 21:52:25 PST"), SentTime("8 Feb 1994 05:52:25 +0000"));
  EXPECT_FALSE(SentTime("not a date").has_value());
}

SearchRow Row(uint32_t uid, uint64_t size, const v1::ParsedMessage* parsed) {
  SearchRow r;
  r.uid = uid;
  r.size = size;
  r.parsed = parsed;
  r.internal_date = absl::FromUnixSeconds(1000 + uid);
  return r;
}

TEST(SortRowsTest, SortsByCriteriaWithUidAsTheLastTieBreak) {
  v1::ParsedMessage a, b, c;
  a.mutable_envelope()->set_subject("Re: beta");
  b.mutable_envelope()->set_subject("alpha");
  c.mutable_envelope()->set_subject("BETA");
  a.mutable_envelope()->add_from()->set_mailbox("zed");
  a.mutable_envelope()->mutable_from(0)->set_host("x");
  b.mutable_envelope()->add_from()->set_mailbox("amy");
  b.mutable_envelope()->mutable_from(0)->set_host("x");
  google::protobuf::RepeatedPtrField<v1::SortCriterion> by;
  by.Add()->set_key(v1::SORT_KEY_SUBJECT);
  // alpha(2) < beta(1) = BETA(3): tie broken by UID.
  EXPECT_EQ(SortRows({Row(1, 10, &a), Row(2, 30, &b), Row(3, 20, &c)}, by),
            (std::vector<uint32_t>{2, 1, 3}));
  by.Mutable(0)->set_reverse(true);
  // REVERSE reverses the criterion, not the UID tie-break (RFC 5256 3).
  EXPECT_EQ(SortRows({Row(1, 10, &a), Row(2, 30, &b), Row(3, 20, &c)}, by),
            (std::vector<uint32_t>{1, 3, 2}));
  by.Clear();
  auto* size = by.Add();
  size->set_key(v1::SORT_KEY_SIZE);
  size->set_reverse(true);
  EXPECT_EQ(SortRows({Row(1, 10, &a), Row(2, 30, &b), Row(3, 20, &c)}, by),
            (std::vector<uint32_t>{2, 3, 1}));
  by.Clear();
  by.Add()->set_key(v1::SORT_KEY_FROM);  // missing From collates first
  EXPECT_EQ(SortRows({Row(1, 10, &a), Row(2, 30, &b), Row(3, 20, &c)}, by),
            (std::vector<uint32_t>{3, 2, 1}));
}

TEST(ThreadTest, OrderedSubjectGroupsByBaseSubjectUnderTheFirstMessage) {
  v1::ParsedMessage a, b, c, d;
  a.mutable_envelope()->set_subject("Lunch");
  a.mutable_envelope()->set_date("1 Jan 2024 12:00:00 +0000");
  b.mutable_envelope()->set_subject("Re: lunch");
  b.mutable_envelope()->set_date("1 Jan 2024 13:00:00 +0000");
  c.mutable_envelope()->set_subject("Budget");
  c.mutable_envelope()->set_date("2 Jan 2024 09:00:00 +0000");
  d.mutable_envelope()->set_subject("RE: Lunch");
  d.mutable_envelope()->set_date("1 Jan 2024 12:30:00 +0000");
  const auto nodes =
      ThreadOrderedSubject({Row(1, 1, &a), Row(2, 1, &b), Row(3, 1, &c), Row(4, 1, &d)});
  // (1 4 2)(3): the lunch thread first (earlier first message); 4 and 2 are children of 1,
  // in sent-date order.
  ASSERT_EQ(nodes.size(), 4u);
  EXPECT_EQ(nodes[0].uid(), 1u);
  EXPECT_EQ(nodes[0].parent(), 0u);
  EXPECT_EQ(nodes[1].uid(), 4u);
  EXPECT_EQ(nodes[1].parent(), 1u);
  EXPECT_EQ(nodes[2].uid(), 2u);
  EXPECT_EQ(nodes[2].parent(), 1u);
  EXPECT_EQ(nodes[3].uid(), 3u);
  EXPECT_EQ(nodes[3].parent(), 0u);
}

}  // namespace
}  // namespace tern::metadata
