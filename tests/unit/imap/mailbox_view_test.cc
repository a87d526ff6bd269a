#include "services/imap/server/mailbox_view.h"

#include <gtest/gtest.h>

namespace tern::imap::server {
namespace {

MessageFlags F(uint32_t system, std::vector<std::string> keywords = {}) {
  return MessageFlags{.system = system, .keywords = std::move(keywords)};
}

MailboxView ThreeMessages() {
  MailboxView view;
  view.Append(10, 100, F(kSeen));
  view.Append(11, 101, F(kRecent));
  view.Append(15, 102, F(kFlagged, {"$Work"}));
  return view;
}

TEST(MailboxViewTest, SequenceNumbersFollowUids) {
  MailboxView view = ThreeMessages();
  EXPECT_EQ(view.exists(), 3u);
  EXPECT_EQ(view.recent(), 1u);
  EXPECT_EQ(view.UidAt(3), 15u);
  EXPECT_EQ(view.SeqOf(11), 2u);
  EXPECT_FALSE(view.SeqOf(12).has_value());
  EXPECT_EQ(view.last_uid(), 15u);
  EXPECT_EQ(view.FlagsAt(3), F(kFlagged, {"$Work"}));
  EXPECT_EQ(view.keywords(), std::vector<std::string>{"$Work"});
}

TEST(MailboxViewTest, ExpungesStayPendingUntilTaken) {
  // RFC 3501 7.4.1: while EXPUNGE may not be sent, numbers keep their meaning.
  MailboxView view = ThreeMessages();
  view.MarkExpunged(10);
  view.MarkExpunged(15);
  view.MarkExpunged(99);  // unknown: ignored
  EXPECT_EQ(view.exists(), 3u);
  EXPECT_TRUE(view.IsExpunged(10));
  EXPECT_EQ(view.SeqOf(15), 3u);
  // Highest first, so each number is valid when the client reads it.
  EXPECT_EQ(view.TakeExpunged(), (std::vector<uint32_t>{3, 1}));
  EXPECT_EQ(view.exists(), 1u);
  EXPECT_EQ(view.UidAt(1), 11u);
  EXPECT_EQ(view.recent(), 1u);
  EXPECT_FALSE(view.has_pending_expunges());
}

TEST(MailboxViewTest, ExpungingARecentMessageLowersRecent) {
  MailboxView view = ThreeMessages();
  view.MarkExpunged(11);
  view.TakeExpunged();
  EXPECT_EQ(view.recent(), 0u);
  EXPECT_TRUE(view.RecentUids().empty());
}

TEST(MailboxViewTest, UpdateKeepsRecentAndReportsChanges) {
  MailboxView view = ThreeMessages();
  EXPECT_TRUE(view.Update(2, 105, F(kSeen)));
  EXPECT_EQ(view.FlagsAt(2), F(kSeen | kRecent));
  EXPECT_FALSE(view.Update(2, 105, F(kSeen)));  // same flags, same MODSEQ
  EXPECT_TRUE(view.Update(1, 106, F(kSeen, {"NewKeyword"})));
  EXPECT_EQ(view.keywords(), (std::vector<std::string>{"$Work", "NewKeyword"}));
  // Keywords are case-insensitive: one table entry.
  EXPECT_FALSE(view.AddKeywords({"$work"}));
}

TEST(MailboxViewTest, SequenceSetsBecomeUidRanges) {
  MailboxView view = ThreeMessages();
  std::vector<std::pair<uint32_t, uint32_t>> ranges;
  ASSERT_TRUE(view.SeqSetToUidRanges(*protocol::ParseSequenceSet("2:*,1"), ranges));
  EXPECT_EQ(ranges, (std::vector<std::pair<uint32_t, uint32_t>>{{11, 15}, {10, 10}}));
  ranges.clear();
  EXPECT_FALSE(view.SeqSetToUidRanges(*protocol::ParseSequenceSet("4"), ranges));
  MailboxView empty;
  EXPECT_FALSE(empty.SeqSetToUidRanges(*protocol::ParseSequenceSet("1:*"), ranges));
  EXPECT_FALSE(empty.SeqSetToUidRanges(*protocol::ParseSequenceSet("*"), ranges));
}

TEST(MailboxViewTest, FormatFlagsIsAFlagList) {
  EXPECT_EQ(FormatFlags(F(0)), "()");
  EXPECT_EQ(FormatFlags(F(kSeen | kRecent | kDeleted, {"$Junk"})), "(\\Deleted \\Seen \\Recent $Junk)");
}

TEST(MailboxViewTest, LargeExpungeIsOnePass) {
  MailboxView view;
  for (uint32_t uid = 1; uid <= 100000; ++uid) view.Append(uid, uid, F(uid % 3 ? kSeen : 0));
  for (uint32_t uid = 2; uid <= 100000; uid += 2) view.MarkExpunged(uid);
  const std::vector<uint32_t> seqs = view.TakeExpunged();
  ASSERT_EQ(seqs.size(), 50000u);
  EXPECT_EQ(seqs.front(), 100000u);
  EXPECT_EQ(seqs.back(), 2u);
  EXPECT_EQ(view.exists(), 50000u);
  EXPECT_EQ(view.UidAt(50000), 99999u);
}

}  // namespace
}  // namespace tern::imap::server
