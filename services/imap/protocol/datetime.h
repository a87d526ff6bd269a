#pragma once

// Dates and times in IMAP syntax (RFC 3501 9: date, date-time).

#include <cstdint>
#include <optional>
#include <string_view>

namespace tern::imap::protocol {

struct Date {
  int year = 0;   // 4 digits
  int month = 0;  // 1..12
  int day = 0;    // 1..31, valid for the month and year
  friend bool operator==(const Date&, const Date&) = default;
};

struct DateTime {
  int64_t unix_seconds = 0;    // the instant
  int utc_offset_minutes = 0;  // the zone it was written in (-0700 -> -420)
  friend bool operator==(const DateTime&, const DateTime&) = default;
};

// date = date-text / DQUOTE date-text DQUOTE; date-text = date-day "-" date-month "-"
// date-year, e.g. "1-Feb-1994" or "01-Feb-1994"; the month is case-insensitive. The caller
// passes the string without quotes (the parser already removed them). nullopt if invalid,
// including impossible days (31-Apr, 29-Feb of a non-leap year).
std::optional<Date> ParseDate(std::string_view s);

// date-time = DQUOTE date-day-fixed "-" date-month "-" date-year SP time SP zone DQUOTE,
// given without the quotes: " 1-Feb-1994 21:52:25 -0800" or "01-Feb-1994 21:52:25 -0800"
// (a one-digit day without the padding space, "1-Feb-1994 ...", is accepted too, as some
// clients send it). nullopt if invalid (hour > 23, minute or second > 59 (60 allowed for a
// leap second, read as 59), zone beyond +-2359).
std::optional<DateTime> ParseDateTime(std::string_view s);

}  // namespace tern::imap::protocol
