#include <pqxx/pqxx>

#include "services/auth/user_store.h"
#include "services/common/strings.h"

namespace tern::auth {
namespace {

constexpr char kUserColumns[] =
    "id, address, enabled, quota_storage_bytes, quota_messages,"
    " (extract(epoch FROM created_at) * 1000000)::bigint,"
    " (extract(epoch FROM password_changed_at) * 1000000)::bigint";

const std::string kInsertUser =
    Cat("INSERT INTO users (address, password_hash, scram_salt, scram_iterations, scram_stored_key,"
        " scram_server_key, enabled, quota_storage_bytes, quota_messages)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING ",
        kUserColumns);
const std::string kSelectUser = Cat("SELECT ", kUserColumns, " FROM users WHERE address = $1");
const std::string kSelectUserById = Cat("SELECT ", kUserColumns, " FROM users WHERE id = $1");
const std::string kSelectCredentials =
    Cat("SELECT ", kUserColumns,
        ", password_hash, scram_salt, scram_iterations, scram_stored_key, scram_server_key"
        " FROM users WHERE address = $1");
const std::string kDeleteUser = "DELETE FROM users WHERE address = $1";
const std::string kUpdatePassword =
    "UPDATE users SET password_hash = $2, scram_salt = $3, scram_iterations = $4,"
    " scram_stored_key = $5, scram_server_key = $6, password_changed_at = now()"
    " WHERE address = $1";
const std::string kUpdateEnabled =
    Cat("UPDATE users SET enabled = $2 WHERE address = $1 RETURNING ", kUserColumns);
const std::string kListUsers = Cat("SELECT ", kUserColumns,
                                   " FROM users WHERE id > $1 AND ($3 = '' OR"
                                   " split_part(address, '@', 2) = lower($3))"
                                   " ORDER BY id LIMIT $2");

UserRecord FromRow(const pqxx::row& row) {
  UserRecord u;
  u.id = row[0].as<uint64_t>();
  u.address = row[1].as<std::string>();
  u.enabled = row[2].as<bool>();
  if (!row[3].is_null()) u.quota_storage_bytes = row[3].as<uint64_t>();
  if (!row[4].is_null()) u.quota_messages = row[4].as<uint64_t>();
  u.created_at = absl::FromUnixMicros(row[5].as<int64_t>());
  u.password_changed_at = absl::FromUnixMicros(row[6].as<int64_t>());
  return u;
}

pqxx::binarystring Bytes(const std::string& s) { return pqxx::binarystring(s); }

// Runs fn in a transaction on a pooled connection; libpqxx exceptions end here.
template <typename Fn>
auto WithTxn(common::PgPool& pool, Fn&& fn) -> decltype(fn(std::declval<pqxx::work&>())) {
  auto lease = pool.Acquire();
  if (!lease.ok()) return lease.status();
  try {
    pqxx::work txn(**lease);
    auto result = fn(txn);
    txn.commit();
    return result;
  } catch (const pqxx::unique_violation& e) {
    return absl::AlreadyExistsError("user already exists");
  } catch (const pqxx::broken_connection& e) {
    lease->MarkBroken();
    return absl::UnavailableError(Cat("postgresql: ", e.what()));
  } catch (const pqxx::sql_error& e) {
    return absl::InternalError(Cat("users sql: ", e.what()));
  } catch (const std::exception& e) {
    return absl::InternalError(Cat("users: ", e.what()));
  }
}

}  // namespace

absl::StatusOr<UserRecord> PgUserStore::Create(const NewUser& user) {
  return WithTxn(pool_, [&](pqxx::work& txn) -> absl::StatusOr<UserRecord> {
    const pqxx::result r = txn.exec_params(
        kInsertUser, user.address, user.password_hash, Bytes(user.scram.salt),
        static_cast<int64_t>(user.scram.iterations), Bytes(user.scram.stored_key),
        Bytes(user.scram.server_key), user.enabled,
        user.quota_storage_bytes ? std::optional<int64_t>(*user.quota_storage_bytes) : std::nullopt,
        user.quota_messages ? std::optional<int64_t>(*user.quota_messages) : std::nullopt);
    return FromRow(r[0]);
  });
}

absl::StatusOr<UserRecord> PgUserStore::Get(const std::string& address) {
  return WithTxn(pool_, [&](pqxx::work& txn) -> absl::StatusOr<UserRecord> {
    const pqxx::result r = txn.exec_params(kSelectUser, address);
    if (r.empty()) return absl::NotFoundError("no such user");
    return FromRow(r[0]);
  });
}

absl::StatusOr<UserRecord> PgUserStore::GetById(uint64_t id) {
  return WithTxn(pool_, [&](pqxx::work& txn) -> absl::StatusOr<UserRecord> {
    const pqxx::result r = txn.exec_params(kSelectUserById, static_cast<int64_t>(id));
    if (r.empty()) return absl::NotFoundError("no such user");
    return FromRow(r[0]);
  });
}

absl::StatusOr<UserCredentials> PgUserStore::GetCredentials(const std::string& address) {
  return WithTxn(pool_, [&](pqxx::work& txn) -> absl::StatusOr<UserCredentials> {
    const pqxx::result r = txn.exec_params(kSelectCredentials, address);
    if (r.empty()) return absl::NotFoundError("no such user");
    UserCredentials c;
    c.user = FromRow(r[0]);
    c.password_hash = r[0][7].as<std::string>();
    c.scram.salt = pqxx::binarystring(r[0][8]).str();
    c.scram.iterations = r[0][9].as<uint32_t>();
    c.scram.stored_key = pqxx::binarystring(r[0][10]).str();
    c.scram.server_key = pqxx::binarystring(r[0][11]).str();
    return c;
  });
}

absl::Status PgUserStore::Delete(const std::string& address) {
  return WithTxn(pool_, [&](pqxx::work& txn) -> absl::Status {
    const pqxx::result r = txn.exec_params(kDeleteUser, address);
    if (r.affected_rows() == 0) return absl::NotFoundError("no such user");
    return absl::OkStatus();
  });
}

absl::Status PgUserStore::SetPassword(const std::string& address, const std::string& password_hash,
                                      const ScramCredentials& scram) {
  return WithTxn(pool_, [&](pqxx::work& txn) -> absl::Status {
    const pqxx::result r = txn.exec_params(
        kUpdatePassword, address, password_hash, Bytes(scram.salt),
        static_cast<int64_t>(scram.iterations), Bytes(scram.stored_key), Bytes(scram.server_key));
    if (r.affected_rows() == 0) return absl::NotFoundError("no such user");
    return absl::OkStatus();
  });
}

absl::StatusOr<UserRecord> PgUserStore::SetEnabled(const std::string& address, bool enabled) {
  return WithTxn(pool_, [&](pqxx::work& txn) -> absl::StatusOr<UserRecord> {
    const pqxx::result r = txn.exec_params(kUpdateEnabled, address, enabled);
    if (r.empty()) return absl::NotFoundError("no such user");
    return FromRow(r[0]);
  });
}

absl::StatusOr<std::vector<UserRecord>> PgUserStore::List(uint64_t after_id, int limit,
                                                          const std::string& domain) {
  return WithTxn(pool_, [&](pqxx::work& txn) -> absl::StatusOr<std::vector<UserRecord>> {
    const pqxx::result r =
        txn.exec_params(kListUsers, static_cast<int64_t>(after_id), limit, domain);
    std::vector<UserRecord> out;
    out.reserve(r.size());
    for (const pqxx::row& row : r) out.push_back(FromRow(row));
    return out;
  });
}

}  // namespace tern::auth
