// The IDLE fan-out's bookkeeping (services/imap/server/notifier.h): which session fetches,
// which wait, and what each applies from memory. No Redis and no sessions: sessions appear
// only as identities, and notices are fed as the subscriber thread would feed them.

#include "services/imap/server/notifier.h"

#include <gtest/gtest.h>

namespace tern::imap::server {
namespace {

namespace md = metadata::v1;

const Session* S(int n) {
  static int ids[8];
  return reinterpret_cast<const Session*>(&ids[n]);
}

std::string Notice(uint64_t mailbox, uint64_t modseq, bool deleted = false) {
  md::ChangeNotice n;
  n.set_mailbox_id(mailbox);
  n.set_highest_modseq(modseq);
  n.add_kinds(deleted ? md::CHANGE_KIND_MAILBOX_DELETED : md::CHANGE_KIND_FLAGS);
  return n.SerializeAsString();
}

std::shared_ptr<const ChangeBatch> Batch(uint64_t from, uint64_t to, const Session* owner) {
  auto b = std::make_shared<ChangeBatch>();
  b->from = from;
  b->to = to;
  b->uidnext = static_cast<uint32_t>(to);
  b->recent_owner = owner;
  return b;
}

using Kind = ChangeNotifier::Plan::Kind;

class NotifierTest : public ::testing::Test {
 protected:
  NotifierTest() : hub_(nullptr, nullptr) {
    // The first watcher of a mailbox makes the process catch up once (a change between the
    // SELECT and the subscription); here nothing had changed.
    hub_.Watch(7, 10, {});
    EXPECT_EQ(hub_.Lookup(7, 10, S(0), true).kind, Kind::kFetch);
    hub_.Publish(7, Batch(10, 10, S(0)), S(0));
  }
  void Notify(uint64_t modseq, bool deleted = false) {
    hub_.OnNotice("tern:mailbox:7", Notice(7, modseq, deleted));
  }
  ChangeNotifier hub_;
};

TEST_F(NotifierTest, NothingNewWithoutANotice) {
  EXPECT_EQ(hub_.Lookup(7, 10, S(1), true).kind, Kind::kNone);
  EXPECT_EQ(hub_.mailboxes(), 1u);
}

TEST_F(NotifierTest, UnknownMailboxFetchesAlone) {
  EXPECT_EQ(hub_.Lookup(8, 10, S(1), true).kind, Kind::kDirect);
}

TEST_F(NotifierTest, OneFetchesTheOthersWaitThenApplyFromMemory) {
  Notify(12);
  const ChangeNotifier::Plan first = hub_.Lookup(7, 10, S(1), true);
  ASSERT_EQ(first.kind, Kind::kFetch);
  EXPECT_EQ(first.since, 10u);
  EXPECT_TRUE(first.batches.empty());
  EXPECT_EQ(hub_.Lookup(7, 10, S(2), true).kind, Kind::kWait);
  EXPECT_EQ(hub_.Lookup(7, 10, S(3), true).kind, Kind::kWait);
  hub_.Publish(7, Batch(10, 12, S(1)), S(1));
  const ChangeNotifier::Plan second = hub_.Lookup(7, 10, S(2), true);
  ASSERT_EQ(second.kind, Kind::kApply);
  ASSERT_EQ(second.batches.size(), 1u);
  EXPECT_EQ(second.batches[0]->to, 12u);
  EXPECT_EQ(second.batches[0]->recent_owner, S(1));
  // The fetcher has applied its own result.
  EXPECT_EQ(hub_.Lookup(7, 12, S(1), true).kind, Kind::kNone);
}

TEST_F(NotifierTest, ANoticeAlreadyFetchedPastNeedsNothing) {
  Notify(12);
  ASSERT_EQ(hub_.Lookup(7, 10, S(1), true).kind, Kind::kFetch);
  hub_.Publish(7, Batch(10, 14, S(1)), S(1));  // the fetch saw a later change too
  Notify(13);
  Notify(14);
  EXPECT_EQ(hub_.Lookup(7, 14, S(1), true).kind, Kind::kNone);
  EXPECT_EQ(hub_.Lookup(7, 10, S(2), true).kind, Kind::kApply);
}

TEST_F(NotifierTest, ANoticeDuringTheFetchNeedsAnotherFetch) {
  Notify(12);
  ASSERT_EQ(hub_.Lookup(7, 10, S(1), true).kind, Kind::kFetch);
  Notify(13);
  hub_.Publish(7, Batch(10, 12, S(1)), S(1));
  const ChangeNotifier::Plan next = hub_.Lookup(7, 10, S(2), true);
  ASSERT_EQ(next.kind, Kind::kFetch);
  EXPECT_EQ(next.since, 12u);  // from the process's MODSEQ, not the session's
  ASSERT_EQ(next.batches.size(), 1u);  // and it applies the kept batch first
  hub_.Publish(7, Batch(12, 13, S(2)), S(2));
  const ChangeNotifier::Plan late = hub_.Lookup(7, 10, S(3), true);
  ASSERT_EQ(late.kind, Kind::kApply);
  EXPECT_EQ(late.batches.size(), 2u);
  const ChangeNotifier::Plan later = hub_.Lookup(7, 12, S(1), true);
  ASSERT_EQ(later.kind, Kind::kApply);
  ASSERT_EQ(later.batches.size(), 1u);
  EXPECT_EQ(later.batches[0]->from, 12u);
}

TEST_F(NotifierTest, AFailedFetchSendsEveryoneToMetad) {
  Notify(12);
  ASSERT_EQ(hub_.Lookup(7, 10, S(1), true).kind, Kind::kFetch);
  hub_.Publish(7, nullptr, S(1));
  EXPECT_EQ(hub_.Lookup(7, 10, S(2), true).kind, Kind::kDirect);
  // A later notice is fetched for everyone again.
  Notify(15);
  EXPECT_EQ(hub_.Lookup(7, 10, S(2), true).kind, Kind::kFetch);
}

TEST_F(NotifierTest, ADeletedMailboxIsFetchedWhateverItsModseq) {
  Notify(0, /*deleted=*/true);
  ASSERT_EQ(hub_.Lookup(7, 10, S(1), true).kind, Kind::kFetch);
  EXPECT_EQ(hub_.Lookup(7, 10, S(2), true).kind, Kind::kWait);
  hub_.Publish(7, nullptr, S(1));  // NOT_FOUND: each session meets it on its own
  EXPECT_EQ(hub_.Lookup(7, 10, S(2), true).kind, Kind::kDirect);
}

TEST_F(NotifierTest, ASubscriptionConfirmedForcesOneCatchUp) {
  hub_.OnSubscribed("tern:mailbox:7");
  const ChangeNotifier::Plan p = hub_.Lookup(7, 10, S(1), true);
  ASSERT_EQ(p.kind, Kind::kFetch);
  EXPECT_EQ(p.since, 10u);
  hub_.Publish(7, Batch(10, 10, S(1)), S(1));  // nothing had changed
  EXPECT_EQ(hub_.Lookup(7, 10, S(2), true).kind, Kind::kNone);
}

TEST_F(NotifierTest, ASessionBehindTheKeptBatchesFetchesAlone) {
  uint64_t end = 10;
  for (int i = 0; i < 40; ++i) {
    Notify(end + 1);
    ASSERT_EQ(hub_.Lookup(7, end, S(1), true).kind, Kind::kFetch);
    hub_.Publish(7, Batch(end, end + 1, S(1)), S(1));
    ++end;
  }
  // 32 batches are kept: a session at 10 predates them.
  EXPECT_EQ(hub_.Lookup(7, 10, S(2), true).kind, Kind::kDirect);
  const ChangeNotifier::Plan p = hub_.Lookup(7, end - 5, S(3), true);
  ASSERT_EQ(p.kind, Kind::kApply);
  EXPECT_EQ(p.batches.size(), 5u);
}

TEST_F(NotifierTest, AnOfferExtendsOnlyWhatTheProcessKnows) {
  hub_.Offer(7, Batch(11, 13, S(1)));  // starts beyond the process's MODSEQ (10): dropped
  Notify(13);
  ASSERT_EQ(hub_.Lookup(7, 10, S(1), true).kind, Kind::kFetch);
  hub_.Publish(7, nullptr, S(1));
  hub_.Offer(7, Batch(10, 13, S(2)));  // a session's own call from 10: kept
  const ChangeNotifier::Plan p = hub_.Lookup(7, 10, S(3), true);
  ASSERT_EQ(p.kind, Kind::kApply);
  ASSERT_EQ(p.batches.size(), 1u);
  EXPECT_EQ(p.batches[0]->recent_owner, S(2));
}

TEST_F(NotifierTest, NoticesForOtherChannelsAreIgnored) {
  hub_.OnNotice("tern:mailbox:x", Notice(7, 20));
  hub_.OnNotice("tern:user:7", Notice(7, 20));
  hub_.OnNotice("tern:mailbox:7", "\xff\xff not a protobuf");  // unparsable: fetch to be safe
  EXPECT_EQ(hub_.Lookup(7, 10, S(1), true).kind, Kind::kFetch);
}

TEST_F(NotifierTest, APollIsFetchedOncePerProcess) {
  const auto interval = std::chrono::seconds(30);
  // The fixture's catch-up fetched just now: a poll soon after needs nothing.
  EXPECT_EQ(hub_.Lookup(7, 10, S(1), true, interval).kind, Kind::kNone);
  // A poll interval so short that the last fetch is old: one fetch for everyone.
  const ChangeNotifier::Plan first = hub_.Lookup(7, 10, S(1), true, std::chrono::nanoseconds(1));
  ASSERT_EQ(first.kind, Kind::kFetch);
  EXPECT_EQ(hub_.Lookup(7, 10, S(2), true, interval).kind, Kind::kWait);
  hub_.Publish(7, Batch(10, 11, S(1)), S(1));  // a change whose notice was lost
  // Other sessions polling soon after take the result from memory.
  const ChangeNotifier::Plan second = hub_.Lookup(7, 10, S(2), true, interval);
  ASSERT_EQ(second.kind, Kind::kApply);
  EXPECT_EQ(second.batches.size(), 1u);
  EXPECT_EQ(hub_.Lookup(7, 11, S(3), true, interval).kind, Kind::kNone);
  // A poll interval so short that the last fetch is old: fetch again.
  EXPECT_EQ(hub_.Lookup(7, 11, S(3), true, std::chrono::nanoseconds(1)).kind, Kind::kFetch);
}

TEST_F(NotifierTest, AReadOnlySessionNeverFetchesForTheOthers) {
  Notify(12);
  // EXAMINE claims no \Recent: it asks for itself; a read-write session fetches for all.
  EXPECT_EQ(hub_.Lookup(7, 10, S(1), false).kind, Kind::kDirect);
  ASSERT_EQ(hub_.Lookup(7, 10, S(2), true).kind, Kind::kFetch);
  EXPECT_EQ(hub_.Lookup(7, 10, S(1), false).kind, Kind::kWait);
  hub_.Publish(7, Batch(10, 12, S(2)), S(2));
  EXPECT_EQ(hub_.Lookup(7, 10, S(1), false).kind, Kind::kApply);
}

TEST_F(NotifierTest, ANewMailboxCatchesUpOnce) {
  hub_.Watch(9, 20, {});
  ASSERT_EQ(hub_.Lookup(9, 20, S(1), true).kind, Kind::kFetch);
  EXPECT_EQ(hub_.Lookup(9, 20, S(2), true).kind, Kind::kWait);
  hub_.Publish(9, Batch(20, 21, S(1)), S(1));  // something changed before the subscription
  EXPECT_EQ(hub_.Lookup(9, 20, S(2), true).kind, Kind::kApply);
  EXPECT_EQ(hub_.Lookup(9, 21, S(1), true).kind, Kind::kNone);
}

TEST_F(NotifierTest, TheLastSessionLeavingForgetsTheMailbox) {
  hub_.Unwatch(7, S(1));
  EXPECT_EQ(hub_.mailboxes(), 0u);
  EXPECT_EQ(hub_.Lookup(7, 10, S(1), true).kind, Kind::kDirect);
}

}  // namespace
}  // namespace tern::imap::server
