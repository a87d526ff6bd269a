#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "services/auth/password.h"
#include "services/common/pg_pool.h"

namespace tern::auth {

struct UserRecord {
  uint64_t id = 0;
  std::string address;
  bool enabled = true;
  std::optional<uint64_t> quota_storage_bytes;
  std::optional<uint64_t> quota_messages;
  absl::Time created_at;
  absl::Time password_changed_at;
};

struct NewUser {
  std::string address;  // normalized
  std::string password_hash;
  ScramCredentials scram;
  bool enabled = true;
  std::optional<uint64_t> quota_storage_bytes;
  std::optional<uint64_t> quota_messages;
};

// What authentication needs of a user; never leaves tern-authd.
struct UserCredentials {
  UserRecord user;
  std::string password_hash;
  ScramCredentials scram;
};

// Where users live. Errors: NotFound, AlreadyExists, Unavailable (database unreachable),
// Internal.
class UserStore {
 public:
  virtual ~UserStore() = default;
  virtual absl::StatusOr<UserRecord> Create(const NewUser& user) = 0;
  virtual absl::StatusOr<UserRecord> Get(const std::string& address) = 0;
  virtual absl::StatusOr<UserRecord> GetById(uint64_t id) = 0;
  virtual absl::StatusOr<UserCredentials> GetCredentials(const std::string& address) = 0;
  virtual absl::Status Delete(const std::string& address) = 0;
  virtual absl::Status SetPassword(const std::string& address, const std::string& password_hash,
                                   const ScramCredentials& scram) = 0;
  virtual absl::StatusOr<UserRecord> SetEnabled(const std::string& address, bool enabled) = 0;
  // Users with id > after_id in id order, at most limit, optionally of one domain.
  virtual absl::StatusOr<std::vector<UserRecord>> List(uint64_t after_id, int limit,
                                                       const std::string& domain) = 0;
};

class PgUserStore : public UserStore {
 public:
  explicit PgUserStore(common::PgPool& pool) : pool_(pool) {}
  absl::StatusOr<UserRecord> Create(const NewUser& user) override;
  absl::StatusOr<UserRecord> Get(const std::string& address) override;
  absl::StatusOr<UserRecord> GetById(uint64_t id) override;
  absl::StatusOr<UserCredentials> GetCredentials(const std::string& address) override;
  absl::Status Delete(const std::string& address) override;
  absl::Status SetPassword(const std::string& address, const std::string& password_hash,
                           const ScramCredentials& scram) override;
  absl::StatusOr<UserRecord> SetEnabled(const std::string& address, bool enabled) override;
  absl::StatusOr<std::vector<UserRecord>> List(uint64_t after_id, int limit,
                                               const std::string& domain) override;

 private:
  common::PgPool& pool_;
};

}  // namespace tern::auth
