#include "services/imap/protocol/commands.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <set>
#include <string>
#include <string_view>

namespace tern::imap::protocol {
namespace {

constexpr SessionState kStates[] = {SessionState::kNotAuthenticated, SessionState::kAuthenticated,
                                    SessionState::kSelected, SessionState::kLogout};

struct Expected {
  std::string_view name;
  uint8_t states;
  uint32_t flags;
};

// The command table as the task and RFC 3501 section 6 state it, written out independently
// of commands.cc.
constexpr Expected kExpected[] = {
    {"CAPABILITY", kAnyState, kNoFlags},
    {"NOOP", kAnyState, kNoFlags},
    {"LOGOUT", kAnyState, kBreaksMailbox},
    {"ID", kAnyState, kNoFlags},
    {"STARTTLS", kNotAuthenticatedOnly, kExclusive},
    {"AUTHENTICATE", kNotAuthenticatedOnly, kExclusive},
    {"LOGIN", kNotAuthenticatedOnly, kNoFlags},
    {"SELECT", kAuthenticatedOrSelected, kBreaksMailbox},
    {"EXAMINE", kAuthenticatedOrSelected, kBreaksMailbox},
    {"CREATE", kAuthenticatedOrSelected, kNoFlags},
    {"DELETE", kAuthenticatedOrSelected, kNoFlags},
    {"RENAME", kAuthenticatedOrSelected, kNoFlags},
    {"SUBSCRIBE", kAuthenticatedOrSelected, kNoFlags},
    {"UNSUBSCRIBE", kAuthenticatedOrSelected, kNoFlags},
    {"LIST", kAuthenticatedOrSelected, kNoFlags},
    {"LSUB", kAuthenticatedOrSelected, kNoFlags},
    {"STATUS", kAuthenticatedOrSelected, kNoFlags},
    {"APPEND", kAuthenticatedOrSelected, kNoFlags},
    {"NAMESPACE", kAuthenticatedOrSelected, kNoFlags},
    {"ENABLE", kAuthenticatedOnly, kNoFlags},
    {"IDLE", kAuthenticatedOrSelected, kExclusive},
    {"CHECK", kSelectedOnly, kNoFlags},
    {"CLOSE", kSelectedOnly, kBreaksMailbox},
    {"UNSELECT", kSelectedOnly, kBreaksMailbox},
    {"EXPUNGE", kSelectedOnly, kNoFlags},
    {"SEARCH", kSelectedOnly, kUsesSeqs},
    {"FETCH", kSelectedOnly, kUsesSeqs},
    {"STORE", kSelectedOnly, kUsesSeqs},
    {"COPY", kSelectedOnly, kNoFlags},
    {"MOVE", kSelectedOnly, kNoFlags},
    {"UID SEARCH", kSelectedOnly, kUid},
    {"UID FETCH", kSelectedOnly, kUid},
    {"UID STORE", kSelectedOnly, kUid},
    {"UID COPY", kSelectedOnly, kUid},
    {"UID MOVE", kSelectedOnly, kUid},
    {"UID EXPUNGE", kSelectedOnly, kUid},
};

Gate Check(std::string_view name, SessionState state) {
  return CheckCommand(FindCommand(name), state);
}

TEST(CommandsTest, TableMatchesSpecification) {
  for (const Expected& e : kExpected) {
    const CommandSpec* spec = FindCommand(e.name);
    ASSERT_NE(spec, nullptr) << e.name;
    EXPECT_EQ(spec->name, e.name);
    EXPECT_EQ(spec->states, e.states) << e.name;
    EXPECT_EQ(spec->flags, e.flags) << e.name;
  }
}

TEST(CommandsTest, LookupReturnsStableDistinctEntries) {
  std::set<const CommandSpec*> seen;
  for (const Expected& e : kExpected) {
    const CommandSpec* spec = FindCommand(e.name);
    EXPECT_EQ(spec, FindCommand(std::string(e.name))) << e.name;
    EXPECT_TRUE(seen.insert(spec).second) << e.name;
  }
}

TEST(CommandsTest, UnknownNames) {
  for (const std::string_view name :
       {"", "FOO", "X", "XLIST", "UID", "UID LOGIN", "UID SELECT", "UID UID FETCH", "UIDFETCH",
        "UID  FETCH", "FETCH ", " FETCH", "FETCHX", "FETC", "SETQUOTA", "COMPRESS"}) {
    EXPECT_EQ(FindCommand(name), nullptr) << '"' << name << '"';
  }
}

TEST(CommandsTest, NamesAreUpperCaseAsTheParserProducesThem) {
  EXPECT_EQ(FindCommand("fetch"), nullptr);
  EXPECT_EQ(FindCommand("uid fetch"), nullptr);
  EXPECT_NE(FindCommand("FETCH"), nullptr);
}

TEST(CommandsTest, UnknownCommandIsUnknownInEveryState) {
  for (const SessionState state : kStates) {
    EXPECT_EQ(CheckCommand(nullptr, state), Gate::kUnknown);
    EXPECT_EQ(Check("XYZZY", state), Gate::kUnknown);
  }
}

TEST(CommandsTest, GateFollowsStateSets) {
  for (const Expected& e : kExpected) {
    for (const SessionState state : kStates) {
      const bool allowed = (e.states & static_cast<uint8_t>(state)) != 0;
      EXPECT_EQ(Check(e.name, state), allowed ? Gate::kAllowed : Gate::kWrongState)
          << e.name << " in state " << static_cast<int>(state);
    }
  }
}

TEST(CommandsTest, NothingIsAllowedAfterLogout) {
  for (const Expected& e : kExpected) {
    EXPECT_EQ(Check(e.name, SessionState::kLogout), Gate::kWrongState) << e.name;
  }
}

TEST(CommandsTest, NotAuthenticatedState) {
  // RFC 3501 6.1 and 6.2.
  constexpr SessionState n = SessionState::kNotAuthenticated;
  for (const std::string_view name :
       {"CAPABILITY", "NOOP", "LOGOUT", "ID", "STARTTLS", "AUTHENTICATE", "LOGIN"}) {
    EXPECT_EQ(Check(name, n), Gate::kAllowed) << name;
  }
  for (const std::string_view name :
       {"SELECT", "LIST", "APPEND", "IDLE", "ENABLE", "FETCH", "UID FETCH", "CLOSE"}) {
    EXPECT_EQ(Check(name, n), Gate::kWrongState) << name;
  }
}

TEST(CommandsTest, AuthenticatedState) {
  // RFC 3501 6.3; IDLE is valid here as in RFC 2177 / RFC 9051 6.3.13.
  constexpr SessionState a = SessionState::kAuthenticated;
  for (const std::string_view name :
       {"CAPABILITY", "SELECT", "EXAMINE", "CREATE", "DELETE", "RENAME", "LIST", "LSUB", "STATUS",
        "APPEND", "NAMESPACE", "ENABLE", "IDLE"}) {
    EXPECT_EQ(Check(name, a), Gate::kAllowed) << name;
  }
  for (const std::string_view name :
       {"LOGIN", "AUTHENTICATE", "STARTTLS", "CHECK", "CLOSE", "UNSELECT", "EXPUNGE", "SEARCH",
        "FETCH", "STORE", "COPY", "MOVE", "UID FETCH", "UID EXPUNGE"}) {
    EXPECT_EQ(Check(name, a), Gate::kWrongState) << name;
  }
}

TEST(CommandsTest, SelectedState) {
  // RFC 3501 6.4: the selected state also takes every authenticated-state command.
  constexpr SessionState s = SessionState::kSelected;
  for (const std::string_view name :
       {"NOOP",      "SELECT",   "EXAMINE",  "LIST",       "STATUS",     "APPEND",
        "IDLE",      "CHECK",    "CLOSE",    "UNSELECT",   "EXPUNGE",    "SEARCH",
        "FETCH",     "STORE",    "COPY",     "MOVE",       "UID SEARCH", "UID FETCH",
        "UID STORE", "UID COPY", "UID MOVE", "UID EXPUNGE"}) {
    EXPECT_EQ(Check(name, s), Gate::kAllowed) << name;
  }
  for (const std::string_view name : {"LOGIN", "AUTHENTICATE", "STARTTLS"}) {
    EXPECT_EQ(Check(name, s), Gate::kWrongState) << name;
  }
}

TEST(CommandsTest, UidFormsShareFlagsWithTheirBaseCommand) {
  for (const std::string_view base : {"SEARCH", "FETCH", "STORE", "COPY", "MOVE"}) {
    const CommandSpec* plain = FindCommand(base);
    const CommandSpec* uid = FindCommand("UID " + std::string(base));
    ASSERT_NE(plain, nullptr) << base;
    ASSERT_NE(uid, nullptr) << base;
    // RFC 3501 5.5: the UID forms may carry EXPUNGE responses, so they lose kUsesSeqs.
    EXPECT_EQ(uid->flags, (plain->flags & ~static_cast<uint32_t>(kUsesSeqs)) | kUid) << base;
    EXPECT_EQ(uid->states, plain->states) << base;
    EXPECT_EQ(plain->flags & kUid, 0u) << base;
  }
  // UID EXPUNGE (RFC 4315 2.1) names UIDs only and sends no FETCH: no kUsesSeqs.
  const CommandSpec* uid_expunge = FindCommand("UID EXPUNGE");
  ASSERT_NE(uid_expunge, nullptr);
  EXPECT_EQ(uid_expunge->flags, uint32_t{kUid});
}

TEST(CommandsTest, FlagsOfNote) {
  for (const std::string_view name : {"STARTTLS", "AUTHENTICATE", "IDLE"}) {
    EXPECT_NE(FindCommand(name)->flags & kExclusive, 0u) << name;
  }
  for (const std::string_view name : {"SELECT", "EXAMINE", "CLOSE", "UNSELECT", "LOGOUT"}) {
    EXPECT_NE(FindCommand(name)->flags & kBreaksMailbox, 0u) << name;
  }
  // EXPUNGE sends EXPUNGE responses itself; it does not refer to messages by number.
  EXPECT_EQ(FindCommand("EXPUNGE")->flags & kUsesSeqs, 0u);
  EXPECT_EQ(FindCommand("NOOP")->flags, uint32_t{kNoFlags});
}

}  // namespace
}  // namespace tern::imap::protocol
