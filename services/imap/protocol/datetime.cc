#include "services/imap/protocol/datetime.h"

namespace tern::imap::protocol {
namespace {

constexpr std::string_view kMonths[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                        "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

char ToUpperAscii(char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 32) : c; }

// A cursor over the input; every Read* consumes on success only.
class Reader {
 public:
  explicit Reader(std::string_view s) : s_(s) {}

  bool AtEnd() const { return pos_ == s_.size(); }
  bool Peek(char c) const { return pos_ < s_.size() && s_[pos_] == c; }

  bool Read(char c) {
    if (!Peek(c)) {
      return false;
    }
    ++pos_;
    return true;
  }

  // Between min_digits and max_digits decimal digits.
  bool ReadNumber(size_t min_digits, size_t max_digits, int& value) {
    size_t n = 0;
    int v = 0;
    while (n < max_digits && pos_ + n < s_.size() && IsDigit(s_[pos_ + n])) {
      v = v * 10 + (s_[pos_ + n] - '0');
      ++n;
    }
    if (n < min_digits) {
      return false;
    }
    pos_ += n;
    value = v;
    return true;
  }

  // date-month, case-insensitive (RFC 3501 9 note 1); returns 1..12.
  bool ReadMonth(int& month) {
    if (s_.size() - pos_ < 3) {
      return false;
    }
    for (int m = 0; m < 12; ++m) {
      const std::string_view name = kMonths[m];
      if (ToUpperAscii(s_[pos_]) == name[0] && ToUpperAscii(s_[pos_ + 1]) == name[1] &&
          ToUpperAscii(s_[pos_ + 2]) == name[2]) {
        pos_ += 3;
        month = m + 1;
        return true;
      }
    }
    return false;
  }

 private:
  std::string_view s_;
  size_t pos_ = 0;
};

bool IsLeapYear(int year) { return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0; }

int DaysInMonth(int year, int month) {
  constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return month == 2 && IsLeapYear(year) ? 29 : kDays[month - 1];
}

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
int64_t DaysFromCivil(int year, int month, int day) {
  const int64_t y = int64_t{year} - (month <= 2 ? 1 : 0);
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;                                                  // [0, 399]
  const int64_t doy = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1;  // [0, 365]
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;                          // [0, 146096]
  return era * 146097 + doe - 719468;
}

// "-" date-month "-" date-year, after the day; validates the day against the month.
bool ReadMonthYear(Reader& r, int day, Date& date) {
  if (!r.Read('-') || !r.ReadMonth(date.month) || !r.Read('-') || !r.ReadNumber(4, 4, date.year)) {
    return false;
  }
  date.day = day;
  return day >= 1 && day <= DaysInMonth(date.year, date.month);
}

}  // namespace

std::optional<Date> ParseDate(std::string_view s) {
  // RFC 3501 9: date-day = 1*2DIGIT.
  Reader r(s);
  int day = 0;
  Date date;
  if (!r.ReadNumber(1, 2, day) || !ReadMonthYear(r, day, date) || !r.AtEnd()) {
    return std::nullopt;
  }
  return date;
}

std::optional<DateTime> ParseDateTime(std::string_view s) {
  Reader r(s);
  int day = 0;
  // RFC 3501 9: date-day-fixed = (SP DIGIT) / 2DIGIT. Some clients send a one-digit day
  // without the space; it is unambiguous, so it is accepted too.
  if (r.Read(' ')) {
    if (!r.ReadNumber(1, 1, day)) {
      return std::nullopt;
    }
  } else if (!r.ReadNumber(1, 2, day)) {
    return std::nullopt;
  }
  Date date;
  if (!ReadMonthYear(r, day, date)) {
    return std::nullopt;
  }
  // time = 2DIGIT ":" 2DIGIT ":" 2DIGIT
  int hour = 0;
  int minute = 0;
  int second = 0;
  if (!r.Read(' ') || !r.ReadNumber(2, 2, hour) || !r.Read(':') || !r.ReadNumber(2, 2, minute) ||
      !r.Read(':') || !r.ReadNumber(2, 2, second)) {
    return std::nullopt;
  }
  if (hour > 23 || minute > 59 || second > 60) {
    return std::nullopt;
  }
  if (second == 60) {
    second = 59;  // a leap second; the instant is kept within its minute
  }
  // zone = ("+" / "-") 4DIGIT: hours and minutes west (-) or east (+) of UTC.
  if (!r.Read(' ')) {
    return std::nullopt;
  }
  int sign = 0;
  if (r.Read('+')) {
    sign = 1;
  } else if (r.Read('-')) {
    sign = -1;
  } else {
    return std::nullopt;
  }
  int zone_hours = 0;
  int zone_minutes = 0;
  if (!r.ReadNumber(2, 2, zone_hours) || !r.ReadNumber(2, 2, zone_minutes) || !r.AtEnd()) {
    return std::nullopt;
  }
  if (zone_hours > 23 || zone_minutes > 59) {
    return std::nullopt;
  }
  DateTime dt;
  dt.utc_offset_minutes = sign * (zone_hours * 60 + zone_minutes);
  const int64_t local = DaysFromCivil(date.year, date.month, date.day) * 86400 +
                        int64_t{hour} * 3600 + int64_t{minute} * 60 + second;
  dt.unix_seconds = local - int64_t{dt.utc_offset_minutes} * 60;
  return dt;
}

}  // namespace tern::imap::protocol
