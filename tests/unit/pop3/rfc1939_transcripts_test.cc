// The examples of RFC 1939 (sections 4-7 and the example session of section 10), RFC 2449
// and RFC 5034 replayed
// through the protocol library: the parser reads the client's lines, the command table gates
// them, and the encoder writes the server's answers, which must match the RFC byte for byte.
// The session logic here is a minimal stand-in for the server's (a fixed maildrop, APOP's
// digest compared as a constant); it exists to show that the pieces compose.
#include <gtest/gtest.h>

#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "services/pop3/protocol/commands.h"
#include "services/pop3/protocol/encoder.h"
#include "services/pop3/protocol/parser.h"

namespace tern::pop3::protocol {
namespace {

// Debian's Abseil StrCat does not take std::string_view; tests concatenate with a stream.
template <typename... Args>
std::string Cat(const Args&... args) {
  std::ostringstream out;
  (out << ... << args);
  return out.str();
}

constexpr std::string_view kTimestamp = "<1896.697170952@dbc.mtview.ca.us>";
// RFC 1939 7: MD5("<1896.697170952@dbc.mtview.ca.us>tanstaaf").
constexpr std::string_view kApopDigest = "c4c9334bac560ecc979e58001b3e22fb";

struct Message {
  std::string bytes;
  std::string uid;
  bool deleted = false;
};

// A CRLF message of exactly `size` octets.
std::string MakeMessage(std::string_view subject, size_t size) {
  std::string m = Cat("Subject: ", subject, "\r\n\r\n");
  while (m.size() + 12 + 2 <= size) {
    m += ".body line\r\n";  // starts with a dot: the stuffing is exercised too
  }
  m += std::string(size - m.size() - 2, 'x') + "\r\n";
  return m;
}

std::vector<Message> Rfc1939Maildrop() {
  return {{MakeMessage("one", 120), "whqtswO00WBw418f9t5JxYwZ"},
          {MakeMessage("two", 200), "QhdPYR:00WBw1Ph7x7"}};
}

class MiniSession {
 public:
  explicit MiniSession(std::vector<Message> maildrop) : maildrop_(std::move(maildrop)) {}

  std::string Greeting() {
    std::string out;
    AppendGreeting(out, "POP3 server ready", kTimestamp);
    return out;
  }

  // Feeds client bytes (whole, or `chunk` bytes at a time) and returns the server's bytes.
  std::string Client(std::string_view bytes, size_t chunk = 0) {
    std::string out;
    std::vector<Event> events;
    if (chunk == 0) {
      chunk = bytes.size() + 1;
    }
    for (size_t i = 0; i < bytes.size(); i += chunk) {
      parser_.Feed(bytes.substr(i, chunk), events);
    }
    for (const Event& event : events) {
      Handle(event, out);
    }
    return out;
  }

  State state() const { return state_; }
  void set_locked(bool locked) { locked_ = locked; }

 private:
  void Handle(const Event& event, std::string& out) {
    const bool after_user = user_ok_;
    user_ok_ = false;  // PASS is valid only right after a successful USER (RFC 1939 7)
    if (const auto* error = std::get_if<ParseError>(&event)) {
      AppendErr(out, error->message);
      return;
    }
    if (const auto* raw = std::get_if<RawLine>(&event)) {
      // The SASL PLAIN response: "\0mrose\0tanstaaf" or "*" to cancel (RFC 5034 4).
      if (raw->text == "*") {
        AppendErr(out, "authentication cancelled");
      } else if (raw->text == "AG1yb3NlAHRhbnN0YWFm") {
        Enter(out);
      } else {
        AppendErr(out, "authentication failed", code::kAuth);
      }
      return;
    }
    const Command& command = std::get<Command>(event);
    switch (Check(FindCommand(command.verb), state_, command.args.size())) {
      case Gate::kUnknown:
        AppendErr(out, "unknown command");
        return;
      case Gate::kWrongState:
        AppendErr(out, "command not valid in this state");
        return;
      case Gate::kBadArgs:
        AppendErr(out, "bad arguments");
        return;
      case Gate::kAllowed:
        break;
    }
    const std::string& verb = command.verb;
    const std::vector<std::string>& args = command.args;
    if (verb == "CAPA") {
      std::vector<std::string> caps = {"TOP", "UIDL", "RESP-CODES", "PIPELINING"};
      if (state_ == State::kAuthorization) {
        caps.insert(caps.end(), {"USER", "SASL PLAIN"});
      }
      AppendCapabilities(out, caps);
    } else if (verb == "USER") {
      if (args[0] == "mrose") {
        user_ok_ = true;
        AppendOk(out, "mrose is a real hoopy frood");
      } else {
        AppendErr(out, Cat("sorry, no mailbox for ", args[0], " here"));
      }
    } else if (verb == "PASS") {
      if (!after_user) {
        AppendErr(out, "USER first");
      } else if (locked_) {
        AppendErr(out, "maildrop already locked", code::kInUse);
      } else if (args[0] == "secret") {
        Enter(out);
      } else {
        AppendErr(out, "invalid password", code::kAuth);
      }
    } else if (verb == "APOP") {
      if (args[0] == "mrose" && args[1] == kApopDigest) {
        Enter(out);
      } else {
        AppendErr(out, "permission denied", code::kAuth);
      }
    } else if (verb == "AUTH") {
      if (args[0] != "PLAIN") {
        AppendErr(out, "unsupported mechanism");
      } else if (args.size() == 2) {
        Handle(RawLine{args[1]}, out);
      } else {
        AppendContinuation(out, "");
        parser_.ExpectRawLine();
      }
    } else if (verb == "STLS") {
      AppendErr(out, "Command not permitted when TLS active");
    } else if (verb == "QUIT") {
      if (state_ == State::kAuthorization) {
        AppendOk(out, "dewey POP3 server signing off");
        return;
      }
      state_ = State::kUpdate;
      const auto [count, octets] = Counts();
      AppendOk(out, count == 0 ? "dewey POP3 server signing off (maildrop empty)"
                               : Cat("dewey POP3 server signing off (", count, " messages left)"));
    } else if (verb == "STAT") {
      const auto [count, octets] = Counts();
      AppendStat(out, count, octets);
    } else if (verb == "LIST" || verb == "UIDL") {
      const bool uidl = verb == "UIDL";
      if (args.empty()) {
        const auto [count, octets] = Counts();
        AppendOk(out, uidl ? "" : Cat(count, " messages (", octets, " octets)"));
        for (size_t i = 0; i < maildrop_.size(); ++i) {
          if (maildrop_[i].deleted) {
            continue;
          }
          const auto number = static_cast<uint32_t>(i + 1);
          if (uidl) {
            AppendUidLine(out, number, maildrop_[i].uid);
          } else {
            AppendScanLine(out, number, NormalizedSize(maildrop_[i].bytes));
          }
        }
        AppendTerminator(out);
        return;
      }
      const Message* m = Find(args[0]);
      if (m == nullptr) {
        AppendErr(out, Cat("no such message, only ", Counts().first, " messages in maildrop"));
        return;
      }
      AppendOk(out, Cat(args[0], " ", uidl ? m->uid : Cat(NormalizedSize(m->bytes))));
    } else if (verb == "RETR") {
      const Message* m = Find(args[0]);
      if (m == nullptr) {
        AppendErr(out, "no such message");
        return;
      }
      AppendOk(out, Cat(NormalizedSize(m->bytes), " octets"));
      // Streamed in small chunks, as from the blob store.
      DotStuffer stuffer;
      for (size_t i = 0; i < m->bytes.size(); i += 7) {
        stuffer.Append(std::string_view(m->bytes).substr(i, 7), out);
      }
      stuffer.Finish(out);
    } else if (verb == "TOP") {
      const Message* m = Find(args[0]);
      const std::optional<uint64_t> lines = ParseLineCount(args[1]);
      if (m == nullptr || !lines) {
        AppendErr(out, "no such message");
        return;
      }
      AppendOk(out, "");
      AppendTop(out, m->bytes, *lines);
    } else if (verb == "DELE") {
      const std::optional<uint32_t> n = ParseMessageNumber(args[0]);
      if (n && *n <= maildrop_.size() && maildrop_[*n - 1].deleted) {
        AppendErr(out, Cat("message ", *n, " already deleted"));
        return;
      }
      Message* m = Find(args[0]);
      if (m == nullptr) {
        AppendErr(out, "no such message");
        return;
      }
      m->deleted = true;
      AppendOk(out, Cat("message ", args[0], " deleted"));
    } else if (verb == "NOOP") {
      AppendOk(out, "");
    } else if (verb == "RSET") {
      for (Message& m : maildrop_) {
        m.deleted = false;
      }
      const auto [count, octets] = Counts();
      AppendOk(out, Cat("maildrop has ", count, " messages (", octets, " octets)"));
    }
  }

  void Enter(std::string& out) {
    state_ = State::kTransaction;
    const auto [count, octets] = Counts();
    AppendOk(out, Cat("mrose's maildrop has ", count, " messages (", octets, " octets)"));
  }

  std::pair<size_t, size_t> Counts() const {
    size_t count = 0;
    size_t octets = 0;
    for (const Message& m : maildrop_) {
      if (!m.deleted) {
        ++count;
        octets += NormalizedSize(m.bytes);
      }
    }
    return {count, octets};
  }

  Message* Find(const std::string& arg) {
    const std::optional<uint32_t> n = ParseMessageNumber(arg);
    if (!n || *n > maildrop_.size() || maildrop_[*n - 1].deleted) {
      return nullptr;
    }
    return &maildrop_[*n - 1];
  }

 private:
  std::vector<Message> maildrop_;
  Parser parser_{Limits{}};
  State state_ = State::kAuthorization;
  bool user_ok_ = false;
  bool locked_ = false;  // another session holds the maildrop
};

struct Step {
  std::string client;  // one line, without CRLF
  std::string server;  // the exact bytes of the answer
};

std::string Stuffed(std::string_view message) {
  std::string out;
  AppendDotStuffed(out, message);
  return out;
}

// Plays the steps one by one, then the whole client side again at once (pipelined,
// RFC 2449 6.6) and byte by byte, against fresh sessions: the answers must be the same.
void Play(const std::vector<Step>& steps) {
  std::string client;
  std::string server;
  {
    MiniSession session{Rfc1939Maildrop()};
    EXPECT_EQ(session.Greeting(), "+OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>\r\n");
    for (const Step& step : steps) {
      EXPECT_EQ(session.Client(step.client + "\r\n"), step.server) << "C: " << step.client;
      client += step.client + "\r\n";
      server += step.server;
    }
  }
  MiniSession pipelined{Rfc1939Maildrop()};
  EXPECT_EQ(pipelined.Client(client), server) << "pipelined";
  MiniSession bytewise{Rfc1939Maildrop()};
  EXPECT_EQ(bytewise.Client(client, 1), server) << "byte by byte";
}

TEST(Pop3TranscriptTest, Rfc1939Section10ExampleSession) {
  const std::vector<Message> maildrop = Rfc1939Maildrop();
  Play({
      {"APOP mrose c4c9334bac560ecc979e58001b3e22fb",
       "+OK mrose's maildrop has 2 messages (320 octets)\r\n"},
      {"STAT", "+OK 2 320\r\n"},
      {"LIST", "+OK 2 messages (320 octets)\r\n1 120\r\n2 200\r\n.\r\n"},
      {"RETR 1", "+OK 120 octets\r\n" + Stuffed(maildrop[0].bytes)},
      {"DELE 1", "+OK message 1 deleted\r\n"},
      {"RETR 2", "+OK 200 octets\r\n" + Stuffed(maildrop[1].bytes)},
      {"DELE 2", "+OK message 2 deleted\r\n"},
      {"QUIT", "+OK dewey POP3 server signing off (maildrop empty)\r\n"},
  });
}

TEST(Pop3TranscriptTest, Rfc1939Section7UserAndPass) {
  Play({
      {"USER frated", "-ERR sorry, no mailbox for frated here\r\n"},
      {"USER mrose", "+OK mrose is a real hoopy frood\r\n"},
      {"PASS secret", "+OK mrose's maildrop has 2 messages (320 octets)\r\n"},
      {"QUIT", "+OK dewey POP3 server signing off (2 messages left)\r\n"},
  });
}

TEST(Pop3TranscriptTest, Rfc1939Section7MaildropLocked) {
  MiniSession session{Rfc1939Maildrop()};
  session.set_locked(true);
  EXPECT_EQ(session.Client("USER mrose\r\n"), "+OK mrose is a real hoopy frood\r\n");
  // RFC 2449 8.1.2: with RESP-CODES the lock failure carries [IN-USE].
  EXPECT_EQ(session.Client("PASS secret\r\n"), "-ERR [IN-USE] maildrop already locked\r\n");
  EXPECT_EQ(session.state(), State::kAuthorization);
}

TEST(Pop3TranscriptTest, Rfc1939Section5Examples) {
  const std::vector<Message> maildrop = Rfc1939Maildrop();
  Play({
      {"USER mrose", "+OK mrose is a real hoopy frood\r\n"},
      {"PASS secret", "+OK mrose's maildrop has 2 messages (320 octets)\r\n"},
      {"STAT", "+OK 2 320\r\n"},
      {"LIST", "+OK 2 messages (320 octets)\r\n1 120\r\n2 200\r\n.\r\n"},
      {"LIST 2", "+OK 2 200\r\n"},
      {"LIST 3", "-ERR no such message, only 2 messages in maildrop\r\n"},
      {"RETR 1", "+OK 120 octets\r\n" + Stuffed(maildrop[0].bytes)},
      {"DELE 1", "+OK message 1 deleted\r\n"},
      {"DELE 1", "-ERR message 1 already deleted\r\n"},
      {"NOOP", "+OK\r\n"},
      {"RSET", "+OK maildrop has 2 messages (320 octets)\r\n"},
      {"QUIT", "+OK dewey POP3 server signing off (2 messages left)\r\n"},
  });
}

TEST(Pop3TranscriptTest, Rfc1939Section7TopAndUidl) {
  const std::vector<Message> maildrop = Rfc1939Maildrop();
  std::string top;
  AppendTop(top, maildrop[0].bytes, 1);
  EXPECT_EQ(top, "Subject: one\r\n\r\n..body line\r\n.\r\n");
  Play({
      {"APOP mrose c4c9334bac560ecc979e58001b3e22fb",
       "+OK mrose's maildrop has 2 messages (320 octets)\r\n"},
      {"TOP 1 1", "+OK\r\n" + top},
      {"TOP 1 0", "+OK\r\nSubject: one\r\n\r\n.\r\n"},
      {"TOP 1 10000", "+OK\r\n" + Stuffed(maildrop[0].bytes)},
      {"TOP 100 3", "-ERR no such message\r\n"},
      {"UIDL", "+OK\r\n1 whqtswO00WBw418f9t5JxYwZ\r\n2 QhdPYR:00WBw1Ph7x7\r\n.\r\n"},
      {"UIDL 2", "+OK 2 QhdPYR:00WBw1Ph7x7\r\n"},
      {"UIDL 3", "-ERR no such message, only 2 messages in maildrop\r\n"},
      {"QUIT", "+OK dewey POP3 server signing off (2 messages left)\r\n"},
  });
}

TEST(Pop3TranscriptTest, Rfc1939Section11BareLfMessage) {
  // A message stored with bare LF line endings and no final newline: sizes count each line
  // ending as two octets and include the CRLF the last line gets, so they match what RETR
  // sends.
  const std::string stored = "Subject: lf\n\n.body\nend";
  MiniSession session{{{stored, "u1"}}};
  EXPECT_EQ(session.Client("USER mrose\r\nPASS secret\r\n"),
            "+OK mrose is a real hoopy frood\r\n"
            "+OK mrose's maildrop has 1 messages (27 octets)\r\n");
  EXPECT_EQ(session.Client("LIST\r\n"), "+OK 1 messages (27 octets)\r\n1 27\r\n.\r\n");
  const std::string retr = session.Client("RETR 1\r\n");
  EXPECT_EQ(retr, "+OK 27 octets\r\nSubject: lf\r\n\r\n..body\r\nend\r\n.\r\n");
  // What the client counts: the body minus the stuffed dot, without the terminator.
  const size_t body = retr.size() - std::string("+OK 27 octets\r\n").size() - 3 - 1;
  EXPECT_EQ(body, 27u);
}

TEST(Pop3TranscriptTest, QuitInAuthorization) {
  // RFC 1939 4: QUIT in AUTHORIZATION just signs off.
  Play({{"QUIT", "+OK dewey POP3 server signing off\r\n"}});
}

TEST(Pop3TranscriptTest, StateGating) {
  const std::string capa_auth =
      "+OK Capability list follows\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\nUSER\r\n"
      "SASL PLAIN\r\n.\r\n";
  const std::string capa_trans =
      "+OK Capability list follows\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\n.\r\n";
  Play({
      {"STAT", "-ERR command not valid in this state\r\n"},
      {"PASS secret", "-ERR USER first\r\n"},  // RFC 1939 7: only right after USER
      {"USER mrose", "+OK mrose is a real hoopy frood\r\n"},
      {"NOOP", "-ERR command not valid in this state\r\n"},
      {"PASS secret", "-ERR USER first\r\n"},  // NOOP came between
      {"CAPA", capa_auth},
      {"XTND XMIT", "-ERR unknown command\r\n"},
      {"RETR", "-ERR command not valid in this state\r\n"},
      {"USER mrose", "+OK mrose is a real hoopy frood\r\n"},
      {"PASS secret", "+OK mrose's maildrop has 2 messages (320 octets)\r\n"},
      {"CAPA", capa_trans},
      {"STLS", "-ERR command not valid in this state\r\n"},
      {"USER mrose", "-ERR command not valid in this state\r\n"},
      {"RETR", "-ERR bad arguments\r\n"},
      {"TOP 1", "-ERR bad arguments\r\n"},
      {"LIST 1 2", "-ERR bad arguments\r\n"},
      {"RETR x", "-ERR no such message\r\n"},
      {"", "-ERR empty command\r\n"},
      {"STATUS", "-ERR invalid command keyword\r\n"},
      {"QUIT", "+OK dewey POP3 server signing off (2 messages left)\r\n"},
  });
}

TEST(Pop3TranscriptTest, Rfc5034SaslPlain) {
  // With an initial response, and without (empty challenge, then the response line).
  Play({
      {"AUTH PLAIN AG1yb3NlAHRhbnN0YWFm", "+OK mrose's maildrop has 2 messages (320 octets)\r\n"},
  });
  MiniSession session{Rfc1939Maildrop()};
  EXPECT_EQ(session.Client("AUTH PLAIN\r\n"), "+ \r\n");
  EXPECT_EQ(session.Client("*\r\n"), "-ERR authentication cancelled\r\n");
  EXPECT_EQ(session.Client("AUTH PLAIN\r\n"), "+ \r\n");
  EXPECT_EQ(session.Client("AG1yb3NlAHRhbnN0YWFm\r\n", 1),
            "+OK mrose's maildrop has 2 messages (320 octets)\r\n");
  EXPECT_EQ(session.state(), State::kTransaction);
  EXPECT_EQ(session.Client("AUTH PLAIN\r\n"), "-ERR command not valid in this state\r\n");
}

}  // namespace
}  // namespace tern::pop3::protocol
