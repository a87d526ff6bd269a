#include "services/pop3/protocol/commands.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <optional>
#include <set>
#include <string>
#include <string_view>

namespace tern::pop3::protocol {
namespace {

constexpr State kStates[] = {State::kAuthorization, State::kTransaction, State::kUpdate};

struct Expected {
  std::string_view verb;
  uint8_t states;
  size_t min_args;
  size_t max_args;
  uint32_t flags;
};

// The command table as RFC 1939, RFC 2449, RFC 2595 and RFC 5034 state it, written out
// independently of commands.cc.
constexpr Expected kExpected[] = {
    {"USER", kAuthorizationOnly, 1, 1, kNoFlags},
    {"PASS", kAuthorizationOnly, 1, 1, kSecret},
    {"APOP", kAuthorizationOnly, 2, 2, kSecret},
    {"AUTH", kAuthorizationOnly, 1, 2, kExclusive | kSecret},
    {"STLS", kAuthorizationOnly, 0, 0, kExclusive},
    {"CAPA", kAuthorizationOrTransaction, 0, 0, kNoFlags},
    {"QUIT", kAuthorizationOrTransaction, 0, 0, kNoFlags},
    {"STAT", kTransactionOnly, 0, 0, kNoFlags},
    {"LIST", kTransactionOnly, 0, 1, kNoFlags},
    {"RETR", kTransactionOnly, 1, 1, kNoFlags},
    {"DELE", kTransactionOnly, 1, 1, kNoFlags},
    {"NOOP", kTransactionOnly, 0, 0, kNoFlags},
    {"RSET", kTransactionOnly, 0, 0, kNoFlags},
    {"TOP", kTransactionOnly, 2, 2, kNoFlags},
    {"UIDL", kTransactionOnly, 0, 1, kNoFlags},
};

TEST(Pop3CommandsTest, TableMatchesTheRfcs) {
  for (const Expected& e : kExpected) {
    SCOPED_TRACE(std::string(e.verb));
    const CommandSpec* spec = FindCommand(e.verb);
    ASSERT_NE(spec, nullptr);
    EXPECT_EQ(spec->verb, e.verb);
    EXPECT_EQ(spec->states, e.states);
    EXPECT_EQ(spec->min_args, e.min_args);
    EXPECT_EQ(spec->max_args, e.max_args);
    EXPECT_EQ(spec->flags, e.flags);
  }
}

TEST(Pop3CommandsTest, EveryStateAndArgumentCount) {
  for (const Expected& e : kExpected) {
    const CommandSpec* spec = FindCommand(e.verb);
    ASSERT_NE(spec, nullptr);
    for (const State state : kStates) {
      for (size_t args = 0; args <= 3; ++args) {
        SCOPED_TRACE(std::string(e.verb) + " state " + std::to_string(static_cast<int>(state)) +
                     " args " + std::to_string(args));
        Gate want = Gate::kAllowed;
        if ((e.states & static_cast<uint8_t>(state)) == 0) {
          want = Gate::kWrongState;
        } else if (args < e.min_args || args > e.max_args) {
          want = Gate::kBadArgs;
        }
        EXPECT_EQ(Check(spec, state, args), want);
      }
    }
  }
}

TEST(Pop3CommandsTest, CapaAndQuitInBothStates) {
  // RFC 2449 5: CAPA "is available in both the AUTHORIZATION and TRANSACTION states".
  for (const std::string_view verb : {"CAPA", "QUIT"}) {
    EXPECT_EQ(Check(FindCommand(verb), State::kAuthorization, 0), Gate::kAllowed) << verb;
    EXPECT_EQ(Check(FindCommand(verb), State::kTransaction, 0), Gate::kAllowed) << verb;
  }
}

TEST(Pop3CommandsTest, StlsOnlyBeforeAuthentication) {
  // RFC 2595 4: "Only permitted in AUTHORIZATION state."
  EXPECT_EQ(Check(FindCommand("STLS"), State::kAuthorization, 0), Gate::kAllowed);
  EXPECT_EQ(Check(FindCommand("STLS"), State::kTransaction, 0), Gate::kWrongState);
}

TEST(Pop3CommandsTest, AuthenticationCommandsAreRefusedAfterLogin) {
  for (const std::string_view verb : {"USER", "PASS", "APOP", "AUTH"}) {
    EXPECT_EQ(Check(FindCommand(verb), State::kTransaction, 1), Gate::kWrongState) << verb;
  }
}

TEST(Pop3CommandsTest, MaildropCommandsNeedTransaction) {
  // RFC 1939 5: "may only be given in the TRANSACTION state".
  for (const std::string_view verb :
       {"STAT", "LIST", "RETR", "DELE", "NOOP", "RSET", "TOP", "UIDL"}) {
    EXPECT_EQ(Check(FindCommand(verb), State::kAuthorization, 0), Gate::kWrongState) << verb;
  }
}

TEST(Pop3CommandsTest, NothingIsAllowedInUpdate) {
  for (const Expected& e : kExpected) {
    EXPECT_EQ(Check(FindCommand(e.verb), State::kUpdate, e.min_args), Gate::kWrongState) << e.verb;
  }
}

TEST(Pop3CommandsTest, UnknownCommands) {
  // Names are matched as the parser produces them: upper case.
  for (const std::string_view verb : {"LAST", "XTND", "stat", "", "STATS", "CAPABILITY"}) {
    EXPECT_EQ(FindCommand(verb), nullptr) << verb;
  }
  EXPECT_EQ(Check(nullptr, State::kAuthorization, 0), Gate::kUnknown);
  EXPECT_EQ(Check(nullptr, State::kUpdate, 5), Gate::kUnknown);
}

TEST(Pop3CommandsTest, WrongStateIsReportedBeforeBadArguments) {
  EXPECT_EQ(Check(FindCommand("RETR"), State::kAuthorization, 0), Gate::kWrongState);
  EXPECT_EQ(Check(FindCommand("USER"), State::kTransaction, 3), Gate::kWrongState);
}

TEST(Pop3CommandsTest, TableHasNoDuplicates) {
  std::set<std::string_view> seen;
  for (const Expected& e : kExpected) {
    EXPECT_TRUE(seen.insert(e.verb).second) << e.verb;
  }
  EXPECT_EQ(seen.size(), 15u);
}

TEST(Pop3CommandsTest, MessageNumbers) {
  EXPECT_EQ(ParseMessageNumber("1"), 1u);
  EXPECT_EQ(ParseMessageNumber("100"), 100u);
  EXPECT_EQ(ParseMessageNumber("007"), 7u);
  EXPECT_EQ(ParseMessageNumber("4294967295"), 4294967295u);
  EXPECT_EQ(ParseMessageNumber("4294967296"), std::nullopt);
  EXPECT_EQ(ParseMessageNumber("99999999999999999999999"), std::nullopt);
  EXPECT_EQ(ParseMessageNumber("0"), std::nullopt);
  EXPECT_EQ(ParseMessageNumber("000"), std::nullopt);
  EXPECT_EQ(ParseMessageNumber(""), std::nullopt);
  EXPECT_EQ(ParseMessageNumber("-1"), std::nullopt);
  EXPECT_EQ(ParseMessageNumber("+1"), std::nullopt);
  EXPECT_EQ(ParseMessageNumber("1a"), std::nullopt);
  EXPECT_EQ(ParseMessageNumber(" 1"), std::nullopt);
}

TEST(Pop3CommandsTest, LineCounts) {
  EXPECT_EQ(ParseLineCount("0"), 0u);
  EXPECT_EQ(ParseLineCount("10"), 10u);
  EXPECT_EQ(ParseLineCount("18446744073709551615"), std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(ParseLineCount("18446744073709551616"), std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(ParseLineCount("999999999999999999999999999999"), std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(ParseLineCount(""), std::nullopt);
  EXPECT_EQ(ParseLineCount("-1"), std::nullopt);
  EXPECT_EQ(ParseLineCount("1.5"), std::nullopt);
}

}  // namespace
}  // namespace tern::pop3::protocol
