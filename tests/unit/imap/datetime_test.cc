#include "services/imap/protocol/datetime.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <string_view>

namespace tern::imap::protocol {
namespace {

TEST(DateTest, ParsesOneAndTwoDigitDays) {
  // RFC 3501 9: date-day = 1*2DIGIT.
  EXPECT_EQ(ParseDate("1-Feb-1994"), (Date{1994, 2, 1}));
  EXPECT_EQ(ParseDate("01-Feb-1994"), (Date{1994, 2, 1}));
  EXPECT_EQ(ParseDate("17-Jul-1996"), (Date{1996, 7, 17}));
  EXPECT_EQ(ParseDate("31-Dec-1999"), (Date{1999, 12, 31}));
  EXPECT_EQ(ParseDate("1-Jan-0001"), (Date{1, 1, 1}));
  EXPECT_EQ(ParseDate("31-Dec-9999"), (Date{9999, 12, 31}));
}

TEST(DateTest, MonthIsCaseInsensitive) {
  // RFC 3501 9 note (1): alphabetic characters are case-insensitive.
  for (const std::string_view s : {"5-jan-2024", "5-JAN-2024", "5-jAn-2024", "5-Jan-2024"}) {
    EXPECT_EQ(ParseDate(s), (Date{2024, 1, 5})) << s;
  }
  const std::string_view months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  for (int m = 0; m < 12; ++m) {
    EXPECT_EQ(ParseDate("1-" + std::string(months[m]) + "-2020"), (Date{2020, m + 1, 1}));
  }
}

TEST(DateTest, LeapYears) {
  EXPECT_EQ(ParseDate("29-Feb-2024"), (Date{2024, 2, 29}));
  EXPECT_EQ(ParseDate("29-Feb-1996"), (Date{1996, 2, 29}));
  EXPECT_EQ(ParseDate("29-Feb-2000"), (Date{2000, 2, 29}));  // divisible by 400
  EXPECT_EQ(ParseDate("29-Feb-1900"), std::nullopt);         // divisible by 100 only
  EXPECT_EQ(ParseDate("29-Feb-2100"), std::nullopt);
  EXPECT_EQ(ParseDate("29-Feb-2023"), std::nullopt);
  EXPECT_EQ(ParseDate("30-Feb-2024"), std::nullopt);
  EXPECT_EQ(ParseDate("28-Feb-2023"), (Date{2023, 2, 28}));
}

TEST(DateTest, RejectsImpossibleDays) {
  for (const std::string_view s : {"31-Apr-2024", "31-Jun-2024", "31-Sep-2024", "31-Nov-2024",
                                   "32-Jan-2024", "0-Jan-2024", "00-Jan-2024"}) {
    EXPECT_EQ(ParseDate(s), std::nullopt) << s;
  }
  for (const std::string_view s : {"30-Apr-2024", "31-May-2024", "31-Aug-2024", "31-Oct-2024"}) {
    EXPECT_TRUE(ParseDate(s).has_value()) << s;
  }
}

TEST(DateTest, RejectsMalformed) {
  for (const std::string_view s : {
           "",
           "1",
           "001-Jan-2024",    // three-digit day
           "1-Foo-2024",      // unknown month
           "1-Janu-2024",     // month too long
           "1-Ja-2024",       // month too short
           "1-Jan-24",        // two-digit year
           "1-Jan-20245",     // five-digit year
           "1 Jan 2024",      // wrong separators
           " 1-Jan-2024",     // date-day has no padding (that is date-time's date-day-fixed)
           "1-Jan-2024 ",     // trailing space
           "\"1-Jan-2024\"",  // the parser removes the quotes, not ParseDate
           "+1-Jan-2024",
           "1-Jan-",
           "1--2024",
           "a-Jan-2024",
           "1-Jan-2O24",
       }) {
    EXPECT_EQ(ParseDate(s), std::nullopt) << '"' << s << '"';
  }
}

TEST(DateTimeTest, Rfc3501Example) {
  // RFC 3501 8: INTERNALDATE "17-Jul-1996 02:44:25 -0700" is 1996-07-17 09:44:25 UTC.
  EXPECT_EQ(ParseDateTime("17-Jul-1996 02:44:25 -0700"), (DateTime{837596665, -420}));
  EXPECT_EQ(ParseDateTime("17-jul-1996 02:44:25 -0700"), (DateTime{837596665, -420}));
  EXPECT_EQ(ParseDateTime("17-JUL-1996 09:44:25 +0000"), (DateTime{837596665, 0}));
}

TEST(DateTimeTest, DayForms) {
  // RFC 3501 9: date-day-fixed = (SP DIGIT) / 2DIGIT; an unpadded digit is accepted as well.
  const DateTime expected{760168345, -480};
  EXPECT_EQ(ParseDateTime(" 1-Feb-1994 21:52:25 -0800"), expected);
  EXPECT_EQ(ParseDateTime("01-Feb-1994 21:52:25 -0800"), expected);
  EXPECT_EQ(ParseDateTime("1-Feb-1994 21:52:25 -0800"), expected);
  EXPECT_EQ(ParseDateTime("  1-Feb-1994 21:52:25 -0800"), std::nullopt);
  EXPECT_EQ(ParseDateTime(" 11-Feb-1994 21:52:25 -0800"), std::nullopt);
  EXPECT_EQ(ParseDateTime("001-Feb-1994 21:52:25 -0800"), std::nullopt);
  EXPECT_EQ(ParseDateTime(" 0-Feb-1994 21:52:25 -0800"), std::nullopt);
}

TEST(DateTimeTest, Zones) {
  EXPECT_EQ(ParseDateTime("01-Jan-2000 00:00:00 +0000"), (DateTime{946684800, 0}));
  EXPECT_EQ(ParseDateTime("01-Jan-2000 00:00:00 -0000"), (DateTime{946684800, 0}));
  EXPECT_EQ(ParseDateTime("01-Jan-2000 05:30:00 +0530"), (DateTime{946684800, 330}));
  EXPECT_EQ(ParseDateTime("01-Jan-2000 23:59:00 +2359"), (DateTime{946684800, 1439}));
  EXPECT_EQ(ParseDateTime("31-Dec-1999 00:01:00 -2359"), (DateTime{946684800, -1439}));
  for (const std::string_view s : {
           "01-Jan-2000 00:00:00 +2400",
           "01-Jan-2000 00:00:00 -2400",
           "01-Jan-2000 00:00:00 +0060",
           "01-Jan-2000 00:00:00 -2360",
           "01-Jan-2000 00:00:00 +9999",
           "01-Jan-2000 00:00:00 0000",  // no sign
           "01-Jan-2000 00:00:00 +000",  // three digits
           "01-Jan-2000 00:00:00 +00000",
           "01-Jan-2000 00:00:00 UTC",
           "01-Jan-2000 00:00:00 GMT",
           "01-Jan-2000 00:00:00",
           "01-Jan-2000 00:00:00 ",
       }) {
    EXPECT_EQ(ParseDateTime(s), std::nullopt) << '"' << s << '"';
  }
}

TEST(DateTimeTest, TimeLimits) {
  EXPECT_EQ(ParseDateTime("01-Jan-2000 23:59:59 +0000"), (DateTime{946771199, 0}));
  // A leap second is read as :59 of the same minute.
  EXPECT_EQ(ParseDateTime("31-Dec-2016 23:59:60 +0000"),
            ParseDateTime("31-Dec-2016 23:59:59 +0000"));
  for (const std::string_view s : {
           "01-Jan-2000 24:00:00 +0000",
           "01-Jan-2000 00:60:00 +0000",
           "01-Jan-2000 00:00:61 +0000",
           "01-Jan-2000 0:00:00 +0000",
           "01-Jan-2000 00:0:00 +0000",
           "01-Jan-2000 00:00:0 +0000",
           "01-Jan-2000 00:00 +0000",
           "01-Jan-2000 000:00:00 +0000",
           "01-Jan-2000 00-00-00 +0000",
           "01-Jan-2000  00:00:00 +0000",
           "01-Jan-2000T00:00:00 +0000",
       }) {
    EXPECT_EQ(ParseDateTime(s), std::nullopt) << '"' << s << '"';
  }
}

TEST(DateTimeTest, Dates) {
  EXPECT_EQ(ParseDateTime("29-Feb-2000 12:00:00 +0000"), (DateTime{951825600, 0}));
  EXPECT_EQ(ParseDateTime("29-Feb-2023 12:00:00 +0000"), std::nullopt);
  EXPECT_EQ(ParseDateTime("29-Feb-1900 12:00:00 +0000"), std::nullopt);
  EXPECT_EQ(ParseDateTime("31-Apr-2024 12:00:00 +0000"), std::nullopt);
  EXPECT_EQ(ParseDateTime("17-Jul-96 02:44:25 -0700"), std::nullopt);
  EXPECT_EQ(ParseDateTime("17-Jly-1996 02:44:25 -0700"), std::nullopt);
  EXPECT_EQ(ParseDateTime(""), std::nullopt);
  EXPECT_EQ(ParseDateTime("\"17-Jul-1996 02:44:25 -0700\""), std::nullopt);
}

TEST(DateTimeTest, FarPastAndFuture) {
  EXPECT_EQ(ParseDateTime("31-Dec-1969 23:59:59 +0000"), (DateTime{-1, 0}));
  EXPECT_EQ(ParseDateTime("01-Jan-1900 00:00:00 +0000"), (DateTime{-2208988800, 0}));
  EXPECT_EQ(ParseDateTime("01-Jan-0001 00:00:00 +0000"), (DateTime{-62135596800, 0}));
  EXPECT_EQ(ParseDateTime("31-Dec-9999 23:59:59 +0000"), (DateTime{253402300799, 0}));
  // Past 2038: no 32-bit overflow.
  EXPECT_EQ(ParseDateTime("19-Jan-2038 03:14:08 +0000"), (DateTime{2147483648, 0}));
}

}  // namespace
}  // namespace tern::imap::protocol
