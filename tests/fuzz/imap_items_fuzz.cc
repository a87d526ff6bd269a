// libFuzzer target for the FETCH item and SEARCH key parsers: feeds the input to the command
// parser and runs ParseFetchItems and ParseSearch on the arguments of every command it yields
// (not only FETCH and SEARCH, so every argument shape reaches both). Invariants are checked
// with a trap, so a violation is a crash, not just a sanitizer report:
// - an error is InvalidArgument with a one-line message (it becomes a BAD response);
// - a parsed section echoes (Section::ToString) to text that parses back to the same section;
// - a search tree has the shape its kinds promise and respects the depth bound.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "services/imap/protocol/fetch_items.h"
#include "services/imap/protocol/parser.h"
#include "services/imap/protocol/search_keys.h"

namespace {

namespace protocol = tern::imap::protocol;

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

void CheckError(const absl::Status& status) {
  Check(status.code() == absl::StatusCode::kInvalidArgument);
  const std::string_view message(status.message().data(), status.message().size());
  Check(!message.empty() && message.find_first_of("\r\n") == std::string_view::npos);
}

void CheckSectionEcho(const protocol::FetchItem& item) {
  const std::string prefix =
      item.kind == protocol::FetchItem::Kind::kBodySection ? "BODY.PEEK[" : "BINARY.PEEK[";
  const protocol::Value atom = protocol::Value::Atom(prefix + item.section.ToString() + "]");
  const absl::StatusOr<protocol::FetchRequest> again = protocol::ParseFetchItems(atom, nullptr);
  Check(again.ok() && again->items.size() == 1 && again->items[0].section == item.section);
}

void CheckFetch(const protocol::Value& items, const protocol::Value* modifiers) {
  const absl::StatusOr<protocol::FetchRequest> request =
      protocol::ParseFetchItems(items, modifiers);
  if (!request.ok()) {
    CheckError(request.status());
    return;
  }
  Check(!request->items.empty());
  for (size_t i = 0; i < request->items.size(); ++i) {
    const protocol::FetchItem& item = request->items[i];
    for (size_t j = 0; j < i; ++j) {
      Check(!(request->items[j] == item));  // duplicates are kept out
    }
    Check(!item.partial.has_value() || item.partial->length > 0);
    for (const uint32_t part : item.section.part) {
      Check(part > 0);
    }
    switch (item.kind) {
      case protocol::FetchItem::Kind::kBodySection:
        CheckSectionEcho(item);
        break;
      case protocol::FetchItem::Kind::kBinary:
      case protocol::FetchItem::Kind::kBinarySize:
        Check(item.section.text == protocol::Section::Text::kNone);
        CheckSectionEcho(item);
        break;
      default:
        Check(item.section == protocol::Section{} && !item.partial.has_value());
        break;
    }
  }
  Check(!request->vanished || request->changed_since.has_value());
  Check(!request->changed_since.has_value() || request->Has(protocol::FetchItem::Kind::kModseq));
}

// Returns the depth of `key` (1 for a leaf).
size_t CheckKey(const protocol::SearchKey& key) {
  using Kind = protocol::SearchKey::Kind;
  switch (key.kind) {
    case Kind::kAnd:
      Check(!key.children.empty());
      break;
    case Kind::kOr:
      Check(key.children.size() == 2);
      break;
    case Kind::kNot:
      Check(key.children.size() == 1);
      break;
    case Kind::kSequence:
    case Kind::kUid:
      Check(key.set.saved_result || !key.set.ranges.empty());
      Check(key.children.empty());
      break;
    case Kind::kHeader:
      Check(!key.field.empty());
      Check(key.children.empty());
      break;
    default:
      Check(key.children.empty());
      break;
  }
  size_t depth = 0;
  for (const protocol::SearchKey& child : key.children) {
    depth = std::max(depth, CheckKey(child));
  }
  return depth + 1;
}

void CheckSearch(std::span<const protocol::Value> args, size_t max_depth) {
  const absl::StatusOr<protocol::SearchProgram> program = protocol::ParseSearch(args, max_depth);
  if (!program.ok()) {
    CheckError(program.status());
    return;
  }
  const size_t depth = CheckKey(program->key);
  // The implicit AND of several top-level keys adds one level of its own.
  const bool implicit_and =
      program->key.kind == protocol::SearchKey::Kind::kAnd && program->key.children.size() > 1;
  Check(depth <= max_depth + (implicit_and ? 1 : 0));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input{reinterpret_cast<const char*>(data), size};
  protocol::Parser parser{protocol::Limits{}};
  std::vector<protocol::Event> events;
  parser.Feed(input, events);
  for (const protocol::Event& event : events) {
    const auto* command = std::get_if<protocol::Command>(&event);
    if (command == nullptr) {
      continue;
    }
    const std::vector<protocol::Value>& args = command->args;
    // FETCH seq items [modifiers]; try every argument as the items, so quoted strings,
    // literals and lists reach the item parser too.
    for (size_t i = 0; i < args.size(); ++i) {
      CheckFetch(args[i], i + 1 < args.size() ? &args[i + 1] : nullptr);
      CheckFetch(args[i], nullptr);
    }
    // SEARCH args, and UID FETCH style commands whose first argument is a sequence set.
    CheckSearch(args, 32);
    CheckSearch(args, 3);
    if (!args.empty()) {
      CheckSearch(std::span<const protocol::Value>(args).subspan(1), 32);
    }
  }
  return 0;
}
