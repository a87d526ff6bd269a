#include "services/ctl/ternctl.h"

#include <openssl/sha.h>

#include <fstream>
#include <iostream>
#include <istream>
#include <ostream>

#include "absl/strings/ascii.h"
#include "absl/time/time.h"
#include "services/common/config.h"
#include "services/common/credentials.h"
#include "services/common/grpc_client.h"
#include "services/common/pg_pool.h"
#include "services/common/strings.h"
#include "services/common/tls.h"
#include "services/ctl/blob_gc.h"
#include "services/ctl/mbox.h"
#include "services/ingest/ingest.h"
#include "services/metadata/schema.h"
#include "tern/auth/v1/auth.grpc.pb.h"
#include "tern/blob/v1/blob.grpc.pb.h"
#include "tern/metadata/v1/metadata.grpc.pb.h"

namespace tern::ctl {
namespace {

using common::SettingSpec;
using common::SettingType;

constexpr char kUsage[] = R"(usage: ternctl COMMAND [ARGS] [--flag=value ...]

commands:
  migrate                          apply pending schema migrations (--pg-dsn)
  user add ADDRESS                 create a user; password from --password-stdin or
                                   --password-file; --quota-storage=BYTES,
                                   --quota-messages=N, --disabled, --if-not-exists
  user passwd ADDRESS              set a new password (--password-stdin / --password-file)
  user del ADDRESS                 delete a user
  user show ADDRESS                print one user
  user list                        print all users (--domain=DOMAIN)
  user enable|disable ADDRESS      allow or refuse logins
  mailbox list ADDRESS             the user's mailboxes with message counts
  mailbox create ADDRESS NAME      create a mailbox (and its superiors)
  quota set ADDRESS                set limits: --quota-storage=BYTES, --quota-messages=N
                                   (-1 removes a limit)
  import-mbox ADDRESS FILE [MAILBOX]
                                   append every message of an mbox file (default INBOX);
                                   running it again stores nothing twice
  sessions list [ADDRESS]          every logged-in IMAP/POP3 session of the cluster (or
                                   one user's): id, user, protocol, front-end instance,
                                   client address, start time, metad replica; tab-separated
  sessions kick ADDRESS            end every session of the user (IMAP: BYE [UNAVAILABLE],
                                   POP3: -ERR [SYS/TEMP]); they may log in again
  blob-gc                          delete blobs no message refers to, last put more than
                                   --grace ago (--metad-addr, --blobd-addr,
                                   --service-token-file)

Run `ternctl --help` for every flag and its environment variable.
)";

const std::vector<SettingSpec>& Settings() {
  static const std::vector<SettingSpec> settings = {
      {"pg-dsn", "TERN_PG_DSN", "host=127.0.0.1 port=5432 dbname=tern user=tern",
       SettingType::kString, "database for `migrate`", true},
      {"authd-addr", "TERN_AUTHD_ADDR", "127.0.0.1:7001", SettingType::kString,
       "host:port of tern-authd"},
      {"admin-token-file", "TERN_ADMIN_TOKEN_FILE", "", SettingType::kString,
       "file holding the operator credential for admin RPCs"},
      {"grpc-tls-cert", "TERN_GRPC_TLS_CERT", "", SettingType::kString,
       "PEM client certificate for gRPC mTLS"},
      {"grpc-tls-key", "TERN_GRPC_TLS_KEY", "", SettingType::kString, "PEM key of --grpc-tls-cert"},
      {"grpc-tls-ca", "TERN_GRPC_TLS_CA", "", SettingType::kString,
       "PEM CA that signed the services' certificates (empty: plaintext gRPC)"},
      {"timeout", "TERN_CTL_TIMEOUT", "30s", SettingType::kDuration, "deadline of each call"},
      {"password-stdin", "TERN_CTL_PASSWORD_STDIN", "false", SettingType::kBool,
       "read the password from the first line of standard input"},
      {"password-file", "TERN_CTL_PASSWORD_FILE", "", SettingType::kString,
       "read the password from this file (first line)"},
      {"quota-storage", "TERN_CTL_QUOTA_STORAGE", "-1", SettingType::kInt,
       "user add: storage quota in bytes (-1: none)"},
      {"quota-messages", "TERN_CTL_QUOTA_MESSAGES", "-1", SettingType::kInt,
       "user add: message count quota (-1: none)"},
      {"disabled", "TERN_CTL_DISABLED", "false", SettingType::kBool,
       "user add: create the user disabled"},
      {"if-not-exists", "TERN_CTL_IF_NOT_EXISTS", "false", SettingType::kBool,
       "user add: an existing user is success, not an error"},
      {"domain", "TERN_CTL_DOMAIN", "", SettingType::kString, "user list: only this domain"},
      {"metad-addr", "TERN_METAD_ADDR", "127.0.0.1:7002", SettingType::kString,
       "host:port of tern-metad"},
      {"blobd-addr", "TERN_BLOBD_ADDR", "127.0.0.1:7003", SettingType::kString,
       "host:port of tern-blobd"},
      {"token-key-file", "TERN_TOKEN_KEY_FILE", "", SettingType::kString,
       "key ring to sign a short operator session token for mailbox commands"},
      {"service-token-file", "TERN_SERVICE_TOKEN_FILE", "", SettingType::kString,
       "credential of internal services, for blob-gc"},
      {"grace", "TERN_CTL_GC_GRACE", "24h", SettingType::kDuration,
       "blob-gc: keep blobs put less than this long ago (above the put receipt lifetime)"},
  };
  return settings;
}

std::string FirstLine(std::string text) {
  if (const size_t nl = text.find('\n'); nl != std::string::npos) text.resize(nl);
  if (!text.empty() && text.back() == '\r') text.pop_back();
  return text;
}

class Ctl {
 public:
  Ctl(const common::Config& cfg, std::istream& in, std::ostream& out, std::ostream& err)
      : cfg_(cfg), in_(in), out_(out), err_(err) {}

  int Migrate() {
    common::PgPool pool(common::PgPoolOptions{.dsn = cfg_.GetString("pg-dsn"), .size = 1});
    absl::StatusOr<int> version = common::ApplyMigrations(pool, metadata::SchemaMigrations());
    if (!version.ok()) return Fail(version.status().message());
    out_ << "schema at version " << *version << "\n";
    return 0;
  }

  int User(const std::vector<std::string>& words) {
    if (words.empty()) return Usage();
    const std::string& verb = words[0];
    if (verb == "list" && words.size() == 1) return UserList();
    if (words.size() != 2) return Usage();
    const std::string& address = words[1];
    if (verb == "add") return UserAdd(address);
    if (verb == "passwd") return UserPasswd(address);
    if (verb == "del") return UserDel(address);
    if (verb == "show") return UserShow(address);
    if (verb == "enable" || verb == "disable") return UserEnable(address, verb == "enable");
    return Usage();
  }

  int Mailbox(const std::vector<std::string>& words) {
    if (words.size() < 2) return Usage();
    absl::StatusOr<uint64_t> user = UserId(words[1]);
    if (!user.ok()) return Fail(user.status().message());
    absl::StatusOr<std::string> token = OperatorToken(*user);
    if (!token.ok()) return Fail(token.status().message());
    auto metad = metadata::v1::MetadataService::NewStub(Channel(cfg_.GetString("metad-addr")));
    const common::CallMeta meta{.session_token = *token};
    if (words[0] == "list" && words.size() == 2) {
      metadata::v1::ListMailboxesRequest req;
      const std::string all = "*";  // named: GCC 12 warns falsely (-Wrestrict) on a literal
      req.add_patterns(all);
      req.mutable_return_options()->add_status_items(metadata::v1::STATUS_ITEM_MESSAGES);
      req.mutable_return_options()->add_status_items(metadata::v1::STATUS_ITEM_SIZE);
      metadata::v1::ListMailboxesResponse resp;
      const grpc::Status s = common::CallWithRetry(
          Policy(true), meta,
          [&](grpc::ClientContext& ctx) { return metad->ListMailboxes(&ctx, req, &resp); });
      if (!s.ok()) return Fail(s);
      for (const auto& m : resp.mailboxes()) {
        out_ << m.name();
        if (m.has_status())
          out_ << "\tmessages=" << m.status().messages() << "\tsize=" << m.status().size();
        for (int use : m.special_use()) {
          out_ << "\t\\" << metadata::v1::SpecialUse_Name(use).substr(12);
        }
        out_ << "\n";
      }
      return 0;
    }
    if (words[0] == "create" && words.size() == 3) {
      metadata::v1::CreateMailboxRequest req;
      req.set_name(words[2]);
      metadata::v1::Mailbox resp;
      const grpc::Status s = common::CallWithRetry(
          Policy(false), meta,
          [&](grpc::ClientContext& ctx) { return metad->CreateMailbox(&ctx, req, &resp); });
      if (!s.ok()) return Fail(s);
      out_ << resp.name() << "\tuidvalidity=" << resp.uidvalidity() << "\n";
      return 0;
    }
    return Usage();
  }

  int Quota(const std::vector<std::string>& words) {
    if (words.size() != 2 || words[0] != "set") return Usage();
    auto metad = metadata::v1::MetadataService::NewStub(Channel(cfg_.GetString("metad-addr")));
    if (!LoadAdminToken()) return 1;
    // The user's id from authd, which owns address normalisation.
    absl::StatusOr<uint64_t> user = UserId(words[1]);
    if (!user.ok()) return Fail(user.status().message());
    metadata::v1::SetQuotaRequest req;
    req.set_user_id(*user);
    if (cfg_.GetInt("quota-storage") >= 0) req.set_storage_bytes(cfg_.GetInt("quota-storage"));
    if (cfg_.GetInt("quota-messages") >= 0) req.set_messages(cfg_.GetInt("quota-messages"));
    metadata::v1::SetQuotaResponse resp;
    const grpc::Status s = common::CallWithRetry(
        Policy(true), meta_,
        [&](grpc::ClientContext& ctx) { return metad->SetQuota(&ctx, req, &resp); });
    if (!s.ok()) return Fail(s);
    out_ << words[1];
    for (const auto& r : resp.quota().resources()) {
      out_ << "\t" << metadata::v1::QuotaResourceType_Name(r.resource()).substr(20) << "="
           << r.usage() << "/" << r.limit();
    }
    out_ << "\n";
    return 0;
  }

  int ImportMbox(const std::vector<std::string>& words) {
    if (words.size() < 2 || words.size() > 3) return Usage();
    const std::string mailbox = words.size() == 3 ? words[2] : "INBOX";
    std::ifstream file(words[1], std::ios::binary);
    if (!file) return Fail(Cat("cannot read ", words[1]));
    absl::StatusOr<uint64_t> user = UserId(words[0]);
    if (!user.ok()) return Fail(user.status().message());
    absl::StatusOr<std::string> token = OperatorToken(*user);
    if (!token.ok()) return Fail(token.status().message());
    auto metad = metadata::v1::MetadataService::NewStub(Channel(cfg_.GetString("metad-addr")));
    auto blobd = blob::v1::BlobService::NewStub(Channel(cfg_.GetString("blobd-addr")));
    const common::CallMeta meta{.session_token = *token};
    constexpr size_t kBatchMessages = 100;
    constexpr size_t kBatchBytes = 8 << 20;
    MboxReader reader(file, 64 << 20);
    metadata::v1::AppendMessagesRequest batch;
    batch.set_mailbox(mailbox);
    size_t batch_bytes = 0, imported = 0;
    std::string batch_ids;
    const auto flush = [&]() -> bool {
      if (batch.items_size() == 0) return true;
      // The key depends only on the content: importing the same file again, or retrying
      // after a failure, appends nothing twice.
      batch.set_idempotency_key(Cat("import-", mailbox, "-", Base64Hash(batch_ids)));
      metadata::v1::AppendMessagesResponse resp;
      const grpc::Status s = common::CallWithRetry(
          Policy(true), meta,
          [&](grpc::ClientContext& ctx) { return metad->AppendMessages(&ctx, batch, &resp); });
      if (!s.ok()) {
        Fail(s);
        return false;
      }
      imported += batch.items_size();
      batch.clear_items();
      batch_bytes = 0;
      batch_ids.clear();
      return true;
    };
    for (;;) {
      absl::StatusOr<std::optional<MboxMessage>> next = reader.Next();
      if (!next.ok()) return Fail(next.status().message());
      if (!next->has_value()) break;
      const MboxMessage& msg = **next;
      blob::v1::PutResponse put;
      const grpc::Status s =
          common::CallWithRetry(Policy(true), meta, [&](grpc::ClientContext& ctx) {
            auto writer = blobd->Put(&ctx, &put);
            blob::v1::PutRequest header;
            header.mutable_header()->set_expected_size(msg.bytes.size());
            header.mutable_header()->set_content_hint(blob::v1::CONTENT_HINT_IMPORT);
            writer->Write(header);
            for (size_t i = 0; i < msg.bytes.size(); i += 64 << 10) {
              blob::v1::PutRequest chunk;
              chunk.set_data(msg.bytes.substr(i, 64 << 10));
              if (!writer->Write(chunk)) break;
            }
            writer->WritesDone();
            return writer->Finish();
          });
      if (!s.ok()) return Fail(s);
      metadata::v1::AppendItem* item = batch.add_items();
      item->set_blob_id(put.blob_id());
      item->set_size(put.size());
      item->set_put_receipt(put.put_receipt());
      if (msg.delivered_at) {
        item->mutable_internal_date()->set_seconds(absl::ToUnixSeconds(*msg.delivered_at));
      }
      *item->mutable_parsed() = ingest::Ingest(msg.bytes);
      batch_bytes += msg.bytes.size();
      batch_ids += put.blob_id();
      if (static_cast<size_t>(batch.items_size()) >= kBatchMessages || batch_bytes >= kBatchBytes) {
        if (!flush()) return 1;
      }
    }
    if (!flush()) return 1;
    out_ << "imported " << imported << " messages into " << mailbox << "\n";
    return 0;
  }

  static std::string Base64Hash(const std::string& data) {
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest);
    return common::Base64UrlEncode(std::string_view(reinterpret_cast<char*>(digest), 18));
  }

  int Sessions(const std::vector<std::string>& words) {
    if (words.size() == 1 && words[0] == "list") return SessionsList("");
    if (words.size() == 2 && words[0] == "list") return SessionsList(words[1]);
    if (words.size() == 2 && words[0] == "kick") return SessionsKick(words[1]);
    return Usage();
  }

  int BlobGc() {
    absl::StatusOr<std::string> token =
        common::ReadSecretFile(cfg_.GetString("service-token-file"));
    if (!token.ok()) return Fail(token.status().message());
    if (token->empty()) return Fail("blob-gc needs --service-token-file");
    auto metad = metadata::v1::MetadataService::NewStub(Channel(cfg_.GetString("metad-addr")));
    auto blobd = blob::v1::BlobService::NewStub(Channel(cfg_.GetString("blobd-addr")));
    absl::StatusOr<BlobGcStats> stats =
        RunBlobGc(*metad, *blobd, *token, cfg_.GetDuration("grace"));
    if (!stats.ok()) return Fail(stats.status().message());
    out_ << "listed=" << stats->listed << " referenced=" << stats->referenced
         << " deleted=" << stats->deleted << " spared=" << stats->spared << "\n";
    return 0;
  }

  int Usage() {
    err_ << kUsage;
    return 2;
  }

 private:
  int Fail(absl::string_view message) {
    err_ << "ternctl: " << message << "\n";
    return 1;
  }
  int Fail(const grpc::Status& s) {
    err_ << "ternctl: " << s.error_message() << " (gRPC code " << s.error_code() << ")\n";
    return 1;
  }

  std::shared_ptr<grpc::Channel> Channel(const std::string& address) {
    const common::TlsFiles tls{cfg_.GetString("grpc-tls-cert"), cfg_.GetString("grpc-tls-key"),
                               cfg_.GetString("grpc-tls-ca")};
    absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = common::MakeChannel(address, tls);
    // A bad TLS file: every call on the lame channel fails with the reason.
    return channel.ok() ? *channel
                        : grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
  }

  bool LoadAdminToken() {
    absl::StatusOr<std::string> token = common::ReadSecretFile(cfg_.GetString("admin-token-file"));
    if (!token.ok()) {
      Fail(token.status().message());
      return false;
    }
    meta_.admin_token = *token;
    return true;
  }

  bool Connect() {
    auth_ = auth::v1::AuthService::NewStub(Channel(cfg_.GetString("authd-addr")));
    return LoadAdminToken();
  }

  absl::StatusOr<uint64_t> UserId(const std::string& address) {
    if (!Connect()) return absl::FailedPreconditionError("no admin credential");
    auth::v1::GetUserRequest req;
    req.set_address(address);
    auth::v1::User user;
    const grpc::Status s = common::CallWithRetry(
        Policy(true), meta_,
        [&](grpc::ClientContext& ctx) { return auth_->GetUser(&ctx, req, &user); });
    if (!s.ok()) return absl::NotFoundError(Cat(address, ": ", s.error_message()));
    return user.user_id();
  }

  // Mailbox commands act as the user: a five-minute session token signed with the key ring
  // that an operator of the cluster holds anyway.
  absl::StatusOr<std::string> OperatorToken(uint64_t user) {
    absl::StatusOr<common::KeyRing> keys = common::KeyRing::Load(cfg_.GetString("token-key-file"));
    if (!keys.ok())
      return absl::FailedPreconditionError(Cat("--token-key-file: ", keys.status().message()));
    auth::v1::TokenClaims claims;
    claims.set_user_id(user);
    claims.set_scope(auth::v1::TOKEN_SCOPE_SESSION);
    claims.mutable_issued_at()->set_seconds(absl::ToUnixSeconds(absl::Now()));
    claims.mutable_expires_at()->set_seconds(absl::ToUnixSeconds(absl::Now() + absl::Minutes(5)));
    claims.set_session_id("ternctl");
    return common::SignSessionToken(claims, *keys);
  }

  common::CallPolicy Policy(bool idempotent) const {
    return common::CallPolicy{.deadline = cfg_.GetDuration("timeout"), .idempotent = idempotent};
  }

  absl::StatusOr<std::string> ReadPassword() {
    std::string password;
    if (cfg_.GetBool("password-stdin")) {
      std::getline(in_, password);
      password = FirstLine(password);
    } else if (const std::string& path = cfg_.GetString("password-file"); !path.empty()) {
      absl::StatusOr<std::string> text = common::ReadFileToString(path);
      if (!text.ok()) return text.status();
      password = FirstLine(*text);
    } else {
      // Never from the command line: it would show in ps and shell history.
      return absl::InvalidArgumentError(
          "give the password with --password-stdin or --password-file");
    }
    if (password.empty()) return absl::InvalidArgumentError("empty password");
    return password;
  }

  void Print(const auth::v1::User& u) {
    out_ << u.address() << "\tid=" << u.user_id() << "\t" << (u.enabled() ? "enabled" : "disabled");
    if (u.quota().has_storage_bytes()) out_ << "\tquota_storage=" << u.quota().storage_bytes();
    if (u.quota().has_messages()) out_ << "\tquota_messages=" << u.quota().messages();
    out_ << "\tcreated="
         << absl::FormatTime(absl::FromUnixSeconds(u.created_at().seconds()), absl::UTCTimeZone())
         << "\n";
  }

  int UserAdd(const std::string& address) {
    absl::StatusOr<std::string> password = ReadPassword();
    if (!password.ok()) return Fail(password.status().message());
    if (!Connect()) return 1;
    auth::v1::CreateUserRequest req;
    req.set_address(address);
    req.set_password(*password);
    req.set_enabled(!cfg_.GetBool("disabled"));
    if (cfg_.GetInt("quota-storage") >= 0) {
      req.mutable_quota()->set_storage_bytes(static_cast<uint64_t>(cfg_.GetInt("quota-storage")));
    }
    if (cfg_.GetInt("quota-messages") >= 0) {
      req.mutable_quota()->set_messages(static_cast<uint64_t>(cfg_.GetInt("quota-messages")));
    }
    auth::v1::User user;
    const grpc::Status s = common::CallWithRetry(
        Policy(false), meta_,
        [&](grpc::ClientContext& ctx) { return auth_->CreateUser(&ctx, req, &user); });
    if (s.error_code() == grpc::StatusCode::ALREADY_EXISTS && cfg_.GetBool("if-not-exists")) {
      out_ << address << " exists already\n";
      return 0;
    }
    if (!s.ok()) return Fail(s);
    Print(user);
    return 0;
  }

  int UserPasswd(const std::string& address) {
    absl::StatusOr<std::string> password = ReadPassword();
    if (!password.ok()) return Fail(password.status().message());
    if (!Connect()) return 1;
    auth::v1::SetPasswordRequest req;
    req.set_address(address);
    req.set_new_password(*password);
    auth::v1::SetPasswordResponse resp;
    const grpc::Status s = common::CallWithRetry(
        Policy(true), meta_,
        [&](grpc::ClientContext& ctx) { return auth_->SetPassword(&ctx, req, &resp); });
    if (!s.ok()) return Fail(s);
    out_ << "password of " << address << " changed\n";
    return 0;
  }

  int UserDel(const std::string& address) {
    if (!Connect()) return 1;
    auth::v1::DeleteUserRequest req;
    req.set_address(address);
    auth::v1::DeleteUserResponse resp;
    const grpc::Status s = common::CallWithRetry(
        Policy(false), meta_,
        [&](grpc::ClientContext& ctx) { return auth_->DeleteUser(&ctx, req, &resp); });
    if (!s.ok()) return Fail(s);
    out_ << address << " deleted\n";
    return 0;
  }

  int UserShow(const std::string& address) {
    if (!Connect()) return 1;
    auth::v1::GetUserRequest req;
    req.set_address(address);
    auth::v1::User user;
    const grpc::Status s = common::CallWithRetry(
        Policy(true), meta_,
        [&](grpc::ClientContext& ctx) { return auth_->GetUser(&ctx, req, &user); });
    if (!s.ok()) return Fail(s);
    Print(user);
    return 0;
  }

  int UserEnable(const std::string& address, bool enabled) {
    if (!Connect()) return 1;
    auth::v1::SetEnabledRequest req;
    req.set_address(address);
    req.set_enabled(enabled);
    auth::v1::User user;
    const grpc::Status s = common::CallWithRetry(
        Policy(true), meta_,
        [&](grpc::ClientContext& ctx) { return auth_->SetEnabled(&ctx, req, &user); });
    if (!s.ok()) return Fail(s);
    Print(user);
    return 0;
  }

  void PrintSession(const auth::v1::SessionInfo& s) {
    const absl::Time started =
        absl::FromUnixSeconds(s.started().seconds()) + absl::Nanoseconds(s.started().nanos());
    out_ << s.session_id() << "\t" << s.user() << "\t" << s.protocol() << "\t" << s.instance()
         << "\t" << s.client() << "\t"
         << absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", started, absl::UTCTimeZone()) << "\t"
         << s.metad() << "\n";
  }

  int SessionsList(const std::string& address) {
    if (!Connect()) return 1;
    auth::v1::ListSessionsRequest req;
    if (!address.empty()) req.set_user(address);
    auth::v1::ListSessionsResponse resp;
    const grpc::Status s = common::CallWithRetry(
        Policy(true), meta_,
        [&](grpc::ClientContext& ctx) { return auth_->ListSessions(&ctx, req, &resp); });
    if (!s.ok()) return Fail(s);
    out_ << "SESSION\tUSER\tPROTOCOL\tINSTANCE\tCLIENT\tSTARTED\tMETAD\n";
    for (const auth::v1::SessionInfo& info : resp.sessions()) PrintSession(info);
    return 0;
  }

  int SessionsKick(const std::string& address) {
    if (!Connect()) return 1;
    auth::v1::KickSessionsRequest req;
    req.set_user(address);
    auth::v1::KickSessionsResponse resp;
    const grpc::Status s = common::CallWithRetry(
        Policy(true), meta_,
        [&](grpc::ClientContext& ctx) { return auth_->KickSessions(&ctx, req, &resp); });
    if (!s.ok()) return Fail(s);
    for (const auth::v1::SessionInfo& info : resp.sessions()) PrintSession(info);
    out_ << "kicked " << resp.sessions_size() << " session(s) of " << address << "\n";
    return 0;
  }

  int UserList() {
    if (!Connect()) return 1;
    auth::v1::ListUsersRequest req;
    if (!cfg_.GetString("domain").empty()) req.set_domain(cfg_.GetString("domain"));
    do {
      auth::v1::ListUsersResponse resp;
      const grpc::Status s = common::CallWithRetry(
          Policy(true), meta_,
          [&](grpc::ClientContext& ctx) { return auth_->ListUsers(&ctx, req, &resp); });
      if (!s.ok()) return Fail(s);
      for (const auth::v1::User& u : resp.users()) Print(u);
      req.set_page_token(resp.next_page_token());
    } while (!req.page_token().empty());
    return 0;
  }

  const common::Config& cfg_;
  std::istream& in_;
  std::ostream& out_;
  std::ostream& err_;
  std::unique_ptr<auth::v1::AuthService::Stub> auth_;
  common::CallMeta meta_;
};

}  // namespace

int RunTernctl(const std::vector<std::string>& args, std::istream& in, std::ostream& out,
               std::ostream& err) {
  // Command words come first, flags after them.
  std::vector<std::string> words;
  size_t i = 0;
  for (; i < args.size() && !args[i].starts_with("--"); ++i) words.push_back(args[i]);
  std::vector<const char*> argv{"ternctl"};
  for (; i < args.size(); ++i) argv.push_back(args[i].c_str());
  absl::StatusOr<common::Config> cfg = common::Config::Parse(
      Settings(), static_cast<int>(argv.size()), argv.data(), common::ProcessEnv());
  if (!cfg.ok()) {
    err << "ternctl: " << cfg.status().message() << "\n" << kUsage;
    return 2;
  }
  if (cfg->help_requested()) {
    out << kUsage << "\n" << common::Config::Usage("ternctl", Settings());
    return 0;
  }
  Ctl ctl(*cfg, in, out, err);
  if (words.empty()) return ctl.Usage();
  if (words[0] == "migrate" && words.size() == 1) return ctl.Migrate();
  if (words[0] == "user") return ctl.User({words.begin() + 1, words.end()});
  if (words[0] == "mailbox") return ctl.Mailbox({words.begin() + 1, words.end()});
  if (words[0] == "quota") return ctl.Quota({words.begin() + 1, words.end()});
  if (words[0] == "blob-gc" && words.size() == 1) return ctl.BlobGc();
  if (words[0] == "sessions") return ctl.Sessions({words.begin() + 1, words.end()});
  if (words[0] == "import-mbox") return ctl.ImportMbox({words.begin() + 1, words.end()});
  return ctl.Usage();
}

}  // namespace tern::ctl
