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

namespace tern::metadata {
namespace {

struct Msg {
  uint32_t uid;
  std::string subject;
  std::string date;
  std::string message_id;
  std::string in_reply_to;
  std::string references;
};

// Renders the flat encoding as RFC 5256 THREAD syntax, e.g. "(1 (2)(3))", to compare.
std::string Render(const std::vector<v1::ThreadNode>& nodes) {
  std::vector<std::vector<size_t>> children(nodes.size() + 1);
  for (size_t i = 0; i < nodes.size(); ++i) children[nodes[i].parent()].push_back(i + 1);
  std::function<std::string(size_t)> node = [&](size_t n) -> std::string {
    std::string s = nodes[n - 1].uid() == 0 ? "" : std::to_string(nodes[n - 1].uid());
    const auto& kids = children[n];
    if (kids.size() == 1) return s + (s.empty() ? "" : " ") + node(kids[0]);
    for (size_t k : kids) s += "(" + node(k) + ")";
    return s;
  };
  std::string out;
  for (size_t r : children[0]) out += "(" + node(r) + ")";
  return out;
}

std::vector<v1::ThreadNode> Thread(const std::vector<Msg>& msgs,
                                   std::vector<v1::ParsedMessage>& storage) {
  storage.resize(msgs.size());
  std::vector<SearchRow> rows;
  for (size_t i = 0; i < msgs.size(); ++i) {
    v1::Envelope* env = storage[i].mutable_envelope();
    env->set_subject(msgs[i].subject);
    env->set_date(msgs[i].date);
    if (!msgs[i].message_id.empty()) env->set_message_id(msgs[i].message_id);
    if (!msgs[i].in_reply_to.empty()) env->set_in_reply_to(msgs[i].in_reply_to);
    if (!msgs[i].references.empty()) {
      v1::HeaderField* f = storage[i].add_cached_headers();
      f->set_name("References");
      f->set_raw("References: " + msgs[i].references + "\r\n");
    }
    SearchRow row;
    row.uid = msgs[i].uid;
    row.parsed = &storage[i];
    rows.push_back(row);
  }
  return ThreadReferences(rows);
}

TEST(ThreadReferencesTest, BuildsTreesFromReferencesAndInReplyTo) {
  std::vector<v1::ParsedMessage> storage;
  const auto nodes =
      Thread({{1, "Plan", "1 Jan 2024 10:00:00 +0000", "<a@x>", "", ""},
              {2, "Re: Plan", "1 Jan 2024 11:00:00 +0000", "<b@x>", "<a@x>", ""},
              {3, "Re: Plan", "1 Jan 2024 12:00:00 +0000", "<c@x>", "", "<a@x> <b@x>"},
              {4, "Re: Plan", "1 Jan 2024 10:30:00 +0000", "<d@x>", "", "<a@x>"},
              {5, "Other", "2 Jan 2024 10:00:00 +0000", "<e@x>", "", ""}},
             storage);
  // 1 has children 4 (10:30) and 2 (11:00); 3 replies to 2.
  EXPECT_EQ(Render(nodes), "(1(4)(2 3))(5)");
}

TEST(ThreadReferencesTest, MissingParentsAndSubjectsMerge) {
  std::vector<v1::ParsedMessage> storage;
  // 1 and 2 reply to a message that is not here: one dummy with two children.
  const auto nodes = Thread({{1, "Re: Lost", "1 Jan 2024 10:00:00 +0000", "<a@x>", "<gone@x>", ""},
                             {2, "Re: Lost", "1 Jan 2024 11:00:00 +0000", "<b@x>", "<gone@x>", ""},
                             {3, "Quarterly", "2 Jan 2024 10:00:00 +0000", "<c@x>", "", ""},
                             {4, "Re: Quarterly", "3 Jan 2024 10:00:00 +0000", "<d@x>", "", ""}},
                            storage);
  // 4 has no references but its subject is a reply to 3's: it becomes 3's child.
  EXPECT_EQ(Render(nodes), "((1)(2))(3 4)");
}

TEST(ThreadReferencesTest, IgnoresLoopsAndDuplicateIds) {
  std::vector<v1::ParsedMessage> storage;
  const auto nodes = Thread({{1, "A", "1 Jan 2024 10:00:00 +0000", "<a@x>", "", "<b@x>"},
                             {2, "B", "1 Jan 2024 11:00:00 +0000", "<b@x>", "", "<a@x>"},
                             {3, "C", "1 Jan 2024 12:00:00 +0000", "<a@x>", "", ""}},
                            storage);
  // 1 -> child of b, then b cannot become a's child (loop); 3 reuses a's id: its own node.
  EXPECT_EQ(Render(nodes), "(2 1)(3)");
  EXPECT_EQ(MessageIds(R"(<"01KF8JCEOCBS0045PS"@xxx.yyy.com> junk <no-at> <x@y>)"),
            (std::vector<std::string>{"<01KF8JCEOCBS0045PS@xxx.yyy.com>", "<x@y>"}));
}

}  // namespace
}  // namespace tern::metadata
