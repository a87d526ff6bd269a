#include "services/metadata/schema.h"

#include "services/common/strings.h"

namespace tern::metadata {
namespace {

// Version 1: users and their credentials (owned by tern-authd). Passwords are kept only as
// an argon2id hash (PHC string) and as SCRAM-SHA-256 keys (RFC 5802 section 3: StoredKey and
// ServerKey with their salt and iteration count), never in a form that can be replayed.
constexpr char kUsers[] = R"sql(
CREATE TABLE users (
  id                  bigserial PRIMARY KEY,
  address             text NOT NULL,
  password_hash       text NOT NULL,
  scram_salt          bytea NOT NULL,
  scram_iterations    integer NOT NULL CHECK (scram_iterations >= 4096),
  scram_stored_key    bytea NOT NULL,
  scram_server_key    bytea NOT NULL,
  enabled             boolean NOT NULL DEFAULT true,
  quota_storage_bytes bigint CHECK (quota_storage_bytes >= 0),
  quota_messages      bigint CHECK (quota_messages >= 0),
  created_at          timestamptz NOT NULL DEFAULT now(),
  password_changed_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_address_key ON users (address);
CREATE INDEX users_domain_idx ON users ((split_part(address, '@', 2)), id);
)sql";

// Version 2: mailboxes and messages (owned by tern-metad). UIDVALIDITY comes from one
// global sequence, so a mailbox re-created under an old name always gets a greater one
// (RFC 3501 2.3.1.1). Every change to a mailbox takes its row lock (UIDNEXT,
// HIGHESTMODSEQ), so concurrent replicas serialize per mailbox and UIDs never repeat.
constexpr char kMailboxes[] = R"sql(
CREATE SEQUENCE mailbox_uidvalidity_seq MINVALUE 1 MAXVALUE 4294967295;
CREATE TABLE mailboxes (
  id             bigserial PRIMARY KEY,
  user_id        bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  name           text NOT NULL,
  selectable     boolean NOT NULL DEFAULT true,
  uidvalidity    bigint NOT NULL DEFAULT nextval('mailbox_uidvalidity_seq'),
  uidnext        bigint NOT NULL DEFAULT 1 CHECK (uidnext BETWEEN 1 AND 4294967296),
  highest_modseq bigint NOT NULL DEFAULT 1,
  recent_uid     bigint NOT NULL DEFAULT 1,
  special_use    smallint[] NOT NULL DEFAULT '{}',
  keywords       text[] NOT NULL DEFAULT '{}',
  created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX mailboxes_user_name_key ON mailboxes (user_id, name);

CREATE TABLE subscriptions (
  user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  name    text NOT NULL,
  PRIMARY KEY (user_id, name)
);

CREATE TABLE messages (
  mailbox_id    bigint NOT NULL REFERENCES mailboxes (id) ON DELETE CASCADE,
  uid           bigint NOT NULL,
  modseq        bigint NOT NULL,
  system_flags  integer NOT NULL DEFAULT 0,
  keywords      text[] NOT NULL DEFAULT '{}',
  blob_id       text NOT NULL,
  size          bigint NOT NULL,
  internal_date timestamptz NOT NULL,
  tz_offset_min integer NOT NULL DEFAULT 0,
  parsed        bytea,
  PRIMARY KEY (mailbox_id, uid)
);
CREATE INDEX messages_modseq_idx ON messages (mailbox_id, modseq);
CREATE INDEX messages_blob_idx ON messages (blob_id);

-- Expunged UIDs with the MODSEQ of their expunge (QRESYNC VANISHED; invariant 3).
CREATE TABLE vanished (
  mailbox_id bigint NOT NULL REFERENCES mailboxes (id) ON DELETE CASCADE,
  uid        bigint NOT NULL,
  modseq     bigint NOT NULL,
  PRIMARY KEY (mailbox_id, uid)
);
CREATE INDEX vanished_modseq_idx ON vanished (mailbox_id, modseq);

-- Results of calls that carry an idempotency key, so a retry gets the first answer.
CREATE TABLE idempotency (
  user_id      bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  key          text NOT NULL,
  request_hash bytea NOT NULL,
  response     bytea NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (user_id, key)
);

-- Quota usage per user, kept in step with messages inside each transaction.
CREATE TABLE quota_usage (
  user_id       bigint PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
  storage_bytes bigint NOT NULL DEFAULT 0,
  messages      bigint NOT NULL DEFAULT 0
);
)sql";

// Version 3: what blob GC and the POP3 lock fallback need. Expunge records keep the blob
// id and time so that recently expunged messages still count as references (a COPY that
// read a message just before it was expunged); the maildrop lease is a row, not a
// session advisory lock, so it does not depend on one pooled connection.
constexpr char kGcAndLocks[] = R"sql(
ALTER TABLE vanished ADD COLUMN blob_id text;
ALTER TABLE vanished ADD COLUMN expunged_at timestamptz NOT NULL DEFAULT now();
CREATE INDEX vanished_blob_idx ON vanished (blob_id) WHERE blob_id IS NOT NULL;
ALTER TABLE messages ADD COLUMN created_at timestamptz NOT NULL DEFAULT now();

CREATE TABLE maildrop_locks (
  user_id    bigint PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
  holder_id  text NOT NULL,
  expires_at timestamptz NOT NULL
);
)sql";

// Version 4: the size POP3 reports (ParsedMessage.crlf_size), a column so that a maildrop
// listing reads no parsed structures. NULL for rows stored before it: the raw size counts.
constexpr char kCrlfSize[] = R"sql(
ALTER TABLE messages ADD COLUMN crlf_size bigint;
)sql";

constexpr common::Migration kMigrations[] = {
    {1, "users", kUsers},
    {2, "mailboxes", kMailboxes},
    {3, "gc_and_locks", kGcAndLocks},
    {4, "crlf_size", kCrlfSize},
};

}  // namespace

std::span<const common::Migration> SchemaMigrations() { return kMigrations; }

int RequiredSchemaVersion() { return kMigrations[std::size(kMigrations) - 1].version; }

absl::Status CheckSchemaCurrent(common::PgPool& pool, bool migrate) {
  absl::StatusOr<int> version = common::SchemaVersion(pool);
  if (!version.ok()) return version.status();
  if (*version < RequiredSchemaVersion() && migrate) {
    version = common::ApplyMigrations(pool, SchemaMigrations());
    if (!version.ok()) return version.status();
  }
  if (*version < RequiredSchemaVersion()) {
    return absl::FailedPreconditionError(Cat("schema version ", *version, ", need ",
                                             RequiredSchemaVersion(), " (run ternctl migrate)"));
  }
  return absl::OkStatus();
}

}  // namespace tern::metadata
