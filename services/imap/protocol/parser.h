#pragma once

// Push-only IMAP command parser (RFC 3501 section 9, RFC 7888 LITERAL+/LITERAL-, RFC 3516
// literal8). It does no I/O: the caller feeds bytes as they arrive and acts on the events
// (writes "+ " for a continuation request, answers BAD or BYE for an error, dispatches a
// command). The parser knows IMAP syntax only, not command semantics: there is no table of
// commands here, only the "UID" prefix join and upper-casing of the command name.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace tern::imap::protocol {

struct Limits {
  size_t max_line = 65536;        // bytes of one line segment, CRLF and literals excluded
  size_t max_literal = 64 << 20;  // bytes of all literals of one command together
  size_t max_depth = 16;          // nesting of parenthesized lists
  size_t max_items = 100000;      // values (atoms, strings, literals, lists) per command
};

// One syntactic value of a command. Section text ("BODY.PEEK[HEADER.FIELDS (FROM)]<0.100>")
// is part of the atom it is attached to; the command layer parses it further.
struct Value {
  enum class Kind { kAtom, kQuoted, kLiteral, kList };

  Kind kind = Kind::kAtom;
  std::string text;         // atom, unescaped quoted string or literal bytes (8-bit safe)
  bool non_sync = false;    // literal announced as {n+} (RFC 7888)
  bool binary = false;      // literal8 announced as ~{n} (RFC 3516)
  std::vector<Value> list;  // elements of a parenthesized list

  bool IsAtom() const { return kind == Kind::kAtom; }
  bool IsList() const { return kind == Kind::kList; }
  // quoted or literal: an IMAP "string"
  bool IsString() const { return kind == Kind::kQuoted || kind == Kind::kLiteral; }
  // atom, quoted or literal: an IMAP "astring" (NIL included; check IsNil() where it matters)
  bool IsAstring() const { return kind != Kind::kList; }
  // The atom NIL, case-insensitive (RFC 3501 4.5). A quoted "NIL" is a string, not nil.
  bool IsNil() const;

  static Value Atom(std::string s);
  static Value Quoted(std::string s);
  static Value Literal(std::string s, bool non_sync = false, bool binary = false);
  static Value List(std::vector<Value> items);

  friend bool operator==(const Value&, const Value&) = default;
};

struct Command {
  std::string tag;
  std::string name;  // upper-cased; "UID FETCH" when the first word is UID
  std::vector<Value> args;

  friend bool operator==(const Command&, const Command&) = default;
};

// A synchronizing literal was announced; the caller must send "+ ..." before the client
// sends the bytes (RFC 3501 7.5). Not emitted for {n+} literals.
struct NeedContinuation {
  size_t size = 0;

  friend bool operator==(const NeedContinuation&, const NeedContinuation&) = default;
};

// recoverable: answer "<tag> BAD <message>" (tag "*" when empty); the parser has already
// resynchronized at the next command line. A line longer than max_line is recoverable: it
// is skipped to its end (with a non-synchronizing literal it announced) in bounded memory. fatal: answer "* BYE" and close; the parser
// ignores all further input. A synchronizing literal over max_literal is recoverable and
// carries too_big, so the caller can answer "NO [TOOBIG]" instead of BAD (RFC 4469/7888).
struct ParseError {
  std::string tag;
  std::string message;
  bool fatal = false;
  bool too_big = false;

  friend bool operator==(const ParseError&, const ParseError&) = default;
};

using Event = std::variant<Command, NeedContinuation, ParseError>;

class Parser {
 public:
  explicit Parser(Limits limits);

  // Consumes every byte of `bytes`, appending zero or more events to `out`.
  void Feed(std::string_view bytes, std::vector<Event>& out);

  // True after a fatal error; from then on Feed() ignores its input.
  bool closed() const { return state_ == State::kClosed; }
  // True when a command is partially received (a literal or a continuation line pending).
  bool in_command() const { return in_command_ || !line_.empty(); }
  // Bytes of a literal still expected (0 outside a literal): the caller may feed that many
  // bytes at once whatever they contain.
  uint64_t literal_remaining() const { return state_ == State::kLiteral ? literal_remaining_ : 0; }
  // Changes the literal limit for the commands that follow (e.g. small before login).
  void SetMaxLiteral(size_t max_literal) { limits_.max_literal = max_literal; }
  // Bytes held in buffers (tests check that limits bound it).
  size_t MemoryForTest() const { return line_.capacity() + tail_.capacity(); }

 private:
  enum class State { kLine, kLiteral, kClosed };
  enum class LineResult { kComplete, kLiteral, kError };

  struct LiteralSpec {
    uint64_t size = 0;  // saturated at UINT32_MAX + 1 for absurd lengths
    bool non_sync = false;
    bool binary = false;
  };

  void ProcessLine(std::vector<Event>& out);
  LineResult Tokenize(std::string_view s, LiteralSpec& literal, std::string& error);
  bool AddValue(Value v, std::string& error);
  void FinishCommand(std::vector<Event>& out);
  void Recover(std::string message, std::vector<Event>& out);
  // Skips the bytes of a non-synchronizing literal announced at the end of `line` while
  // resynchronizing; returns false (after a fatal error) when it is over the limit.
  void SkipTrailingLiteral(std::string_view line, std::vector<Event>& out);
  void Fatal(std::string message, std::vector<Event>& out);
  // Over-long lines: the last bytes seen, and the end of such a line.
  void KeepTail(std::string_view bytes);
  void EndOverlongLine(std::vector<Event>& out);
  void ResetCommand();
  std::string CurrentTag() const;

  Limits limits_;
  State state_ = State::kLine;
  std::string line_;                       // current line segment, without the LF
  bool in_command_ = false;                // a literal of the current command was received
  bool discarding_ = false;                // resynchronizing after a recoverable error
  bool overlong_ = false;                  // skipping the rest of a line over max_line
  std::string tail_;                       // the last bytes of that line
  bool need_separator_ = false;            // the previous token must be followed by SP or ")"
  std::vector<std::vector<Value>> stack_;  // open lists; stack_[0] is the command itself
  size_t items_ = 0;
  uint64_t literal_remaining_ = 0;
  uint64_t command_literal_bytes_ = 0;  // literal bytes announced by the current command
};

// RFC 3501 9 sequence-set, plus "$" (RFC 5182 SEARCHRES). In a range, 0 stands for "*"
// (the largest number in use); ranges are kept as written, so "*:3" is {0, 3}.
struct SequenceRange {
  uint32_t first = 0;
  uint32_t last = 0;

  friend bool operator==(const SequenceRange&, const SequenceRange&) = default;
};

struct SequenceSet {
  bool saved_result = false;  // "$": the result of the last SEARCH ... SAVE
  std::vector<SequenceRange> ranges;

  // Whether `n` is in the set when the largest number in use is `largest` ("*" resolves
  // to it). Always false for "$", which the caller resolves.
  bool Contains(uint32_t n, uint32_t largest) const;

  friend bool operator==(const SequenceSet&, const SequenceSet&) = default;
};

std::optional<SequenceSet> ParseSequenceSet(std::string_view s);

}  // namespace tern::imap::protocol
