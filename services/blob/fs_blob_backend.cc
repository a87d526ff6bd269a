#include "services/blob/fs_blob_backend.h"

#include <dirent.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "services/common/log.h"
#include "services/common/strings.h"

namespace tern::blob {
namespace {

constexpr size_t kMaxVerified = 100000;
constexpr size_t kHashChunk = 1 << 20;

absl::Status Errno(std::string_view what, const std::string& path, int err) {
  std::string message = Cat(what, " ", path, ": ", std::strerror(err));
  if (err == ENOENT) return absl::NotFoundError(message);
  // Disk full, I/O errors, too many files: transient from the caller's point of view.
  return absl::UnavailableError(message);
}

std::string Hex(const unsigned char* bytes, size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * n);
  for (size_t i = 0; i < n; ++i) {
    out.push_back(kDigits[bytes[i] >> 4]);
    out.push_back(kDigits[bytes[i] & 15]);
  }
  return out;
}

int64_t MtimeNanos(const struct stat& st) {
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
}

absl::Time BirthOrMtime(const std::string& path, const struct stat& st) {
  struct statx sx {};
  if (statx(AT_FDCWD, path.c_str(), 0, STATX_BTIME, &sx) == 0 && (sx.stx_mask & STATX_BTIME)) {
    return absl::FromUnixSeconds(sx.stx_btime.tv_sec) + absl::Nanoseconds(sx.stx_btime.tv_nsec);
  }
  return absl::FromTimeT(st.st_mtim.tv_sec) + absl::Nanoseconds(st.st_mtim.tv_nsec);
}

BlobInfo InfoOf(const std::string& id, const std::string& path, const struct stat& st) {
  return BlobInfo{id, static_cast<uint64_t>(st.st_size), BirthOrMtime(path, st),
                  absl::FromTimeT(st.st_mtim.tv_sec) + absl::Nanoseconds(st.st_mtim.tv_nsec)};
}

struct EvpCtxDeleter {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};
using EvpCtx = std::unique_ptr<EVP_MD_CTX, EvpCtxDeleter>;

EvpCtx NewSha256() {
  EvpCtx ctx(EVP_MD_CTX_new());
  EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr);
  return ctx;
}

std::string FinishHex(EVP_MD_CTX* ctx) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx, digest, &len);
  return Hex(digest, len);
}

}  // namespace

bool IsBlobId(std::string_view id) {
  return id.size() == 64 && std::all_of(id.begin(), id.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

// One upload: a temporary file hashed while it is written.
class FsBlobWriter final : public BlobWriter {
 public:
  FsBlobWriter(FsBlobBackend& backend, std::string tmp_path, int fd)
      : backend_(backend), tmp_path_(std::move(tmp_path)), fd_(fd), sha_(NewSha256()) {}
  ~FsBlobWriter() override { Abort(); }

  absl::Status Write(std::string_view bytes) override {
    if (fd_ < 0) return absl::FailedPreconditionError("writer is closed");
    if (size_ + bytes.size() > backend_.options_.max_blob_size) {
      return absl::ResourceExhaustedError(
          Cat("blob larger than ", backend_.options_.max_blob_size, " octets"));
    }
    EVP_DigestUpdate(sha_.get(), bytes.data(), bytes.size());
    while (!bytes.empty()) {
      const ssize_t n = write(fd_, bytes.data(), bytes.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        return Errno("write", tmp_path_, errno);
      }
      bytes.remove_prefix(static_cast<size_t>(n));
      size_ += static_cast<uint64_t>(n);
    }
    return absl::OkStatus();
  }

  absl::StatusOr<Result> Commit(const std::optional<std::string>& expected_sha256) override {
    if (fd_ < 0) return absl::FailedPreconditionError("writer is closed");
    const std::string id = FinishHex(sha_.get());
    if (expected_sha256.has_value() && *expected_sha256 != id) {
      Abort();
      return absl::DataLossError(Cat("received bytes hash to ", id, ", not ", *expected_sha256));
    }
    // Invariant 1: the bytes reach the disk before the name that makes them visible.
    if (backend_.options_.fsync && fsync(fd_) != 0) {
      const int err = errno;
      Abort();
      return Errno("fsync", tmp_path_, err);
    }
    close(fd_);
    fd_ = -1;
    const std::string final_path = backend_.PathOf(id);
    const std::string shard = final_path.substr(0, final_path.rfind('/'));
    std::lock_guard lock(backend_.StripeFor(id));
    struct stat st {};
    if (stat(final_path.c_str(), &st) == 0) {
      // Deduplicated: keep the stored copy, refresh last_put_at so a GC sweep spares it.
      unlink(tmp_path_.c_str());
      tmp_path_.clear();
      if (utimensat(AT_FDCWD, final_path.c_str(), nullptr, 0) != 0) {
        return Errno("touch", final_path, errno);
      }
      if (backend_.options_.fsync) {
        const int rfd = open(final_path.c_str(), O_RDONLY | O_CLOEXEC);
        if (rfd >= 0) {
          fsync(rfd);
          close(rfd);
        }
      }
      if (stat(final_path.c_str(), &st) != 0) return Errno("stat", final_path, errno);
      return Result{InfoOf(id, final_path, st), true};
    }
    if (mkdir(shard.c_str(), 0755) == 0) {
      if (absl::Status s = backend_.SyncDir(backend_.options_.dir + "/objects"); !s.ok()) {
        return s;
      }
    } else if (errno != EEXIST) {
      return Errno("mkdir", shard, errno);
    }
    if (rename(tmp_path_.c_str(), final_path.c_str()) != 0) {
      const int err = errno;
      Abort();
      return Errno("rename", final_path, err);
    }
    tmp_path_.clear();
    // The rename is durable only once the directory is.
    if (absl::Status s = backend_.SyncDir(shard); !s.ok()) return s;
    if (stat(final_path.c_str(), &st) != 0) return Errno("stat", final_path, errno);
    return Result{InfoOf(id, final_path, st), false};
  }

  void Abort() override {
    if (fd_ >= 0) {
      close(fd_);
      fd_ = -1;
    }
    if (!tmp_path_.empty()) {
      unlink(tmp_path_.c_str());
      tmp_path_.clear();
    }
  }

 private:
  FsBlobBackend& backend_;
  std::string tmp_path_;
  int fd_;
  EvpCtx sha_;
  uint64_t size_ = 0;
};

absl::StatusOr<std::unique_ptr<FsBlobBackend>> FsBlobBackend::Open(FsBlobOptions options) {
  for (const char* sub : {"", "/objects", "/tmp", "/quarantine"}) {
    const std::string path = options.dir + sub;
    if (mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) return Errno("mkdir", path, errno);
  }
  // Uploads interrupted by a crash were never acknowledged: remove them.
  const std::string tmp = options.dir + "/tmp";
  if (DIR* d = opendir(tmp.c_str()); d != nullptr) {
    int removed = 0;
    while (dirent* e = readdir(d)) {
      if (std::strncmp(e->d_name, "put-", 4) == 0) {
        unlink((tmp + "/" + e->d_name).c_str());
        ++removed;
      }
    }
    closedir(d);
    if (removed > 0) common::LogInfo("removed interrupted uploads", {{"count", removed}});
  }
  return std::unique_ptr<FsBlobBackend>(new FsBlobBackend(std::move(options)));
}

std::string FsBlobBackend::PathOf(const std::string& id) const {
  return Cat(options_.dir, "/objects/", std::string_view(id).substr(0, 2), "/", id);
}

std::mutex& FsBlobBackend::StripeFor(const std::string& id) {
  return stripes_[std::hash<std::string>{}(id) % stripes_.size()];
}

absl::Status FsBlobBackend::SyncDir(const std::string& path) const {
  if (!options_.fsync) return absl::OkStatus();
  const int fd = open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Errno("open", path, errno);
  const int rc = fsync(fd);
  const int err = errno;
  close(fd);
  if (rc != 0) return Errno("fsync", path, err);
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<BlobWriter>> FsBlobBackend::NewWriter() {
  std::string path = options_.dir + "/tmp/put-XXXXXX";
  const int fd = mkostemp(path.data(), O_CLOEXEC);
  if (fd < 0) return Errno("create", path, errno);
  return std::unique_ptr<BlobWriter>(new FsBlobWriter(*this, std::move(path), fd));
}

void FsBlobBackend::Quarantine(const std::string& id) {
  const std::string from = PathOf(id);
  const std::string to =
      Cat(options_.dir, "/quarantine/", id, ".", absl::ToUnixSeconds(absl::Now()));
  std::lock_guard lock(StripeFor(id));
  if (rename(from.c_str(), to.c_str()) == 0) {
    common::LogError("corrupt blob quarantined", {{"blob_id", id}, {"path", to}});
  } else {
    common::LogError("corrupt blob; quarantine failed",
                     {{"blob_id", id}, {"error", std::string(std::strerror(errno))}});
  }
}

absl::Status FsBlobBackend::VerifyContent(const std::string& id, int fd, const struct stat& st) {
  {
    std::lock_guard lock(verified_mu_);
    auto it = verified_.find(id);
    if (it != verified_.end() && it->second.first == static_cast<uint64_t>(st.st_size) &&
        it->second.second == MtimeNanos(st)) {
      return absl::OkStatus();
    }
  }
  EvpCtx sha = NewSha256();
  std::string buf(kHashChunk, '\0');
  off_t offset = 0;
  for (;;) {
    const ssize_t n = pread(fd, buf.data(), buf.size(), offset);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Errno("read", PathOf(id), errno);
    }
    if (n == 0) break;
    EVP_DigestUpdate(sha.get(), buf.data(), static_cast<size_t>(n));
    offset += n;
  }
  if (FinishHex(sha.get()) != id) {
    Quarantine(id);
    return absl::DataLossError(Cat("blob ", id, " is corrupt"));
  }
  std::lock_guard lock(verified_mu_);
  if (verified_.size() >= kMaxVerified) verified_.clear();
  verified_[id] = {static_cast<uint64_t>(st.st_size), MtimeNanos(st)};
  return absl::OkStatus();
}

absl::Status FsBlobBackend::Read(const std::string& id, const std::vector<ByteRange>& ranges,
                                 size_t chunk_size, const ChunkSink& sink) {
  const std::string path = PathOf(id);
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Errno("open", path, errno);
  struct Closer {
    int fd;
    ~Closer() { close(fd); }
  } closer{fd};
  struct stat st {};
  if (fstat(fd, &st) != 0) return Errno("stat", path, errno);
  // Nothing is served from a blob whose bytes no longer match its name.
  if (absl::Status s = VerifyContent(id, fd, st); !s.ok()) return s;
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  std::string buf(std::max<size_t>(1, chunk_size), '\0');
  for (size_t i = 0; i < ranges.size(); ++i) {
    const uint64_t begin = std::min(ranges[i].offset, size);
    const uint64_t end =
        ranges[i].length == 0 ? size : std::min(size, begin + std::min(ranges[i].length, size));
    uint64_t at = begin;
    if (at >= end) {
      if (!sink(i, begin, {}, true)) return absl::OkStatus();
      continue;
    }
    while (at < end) {
      const size_t want = static_cast<size_t>(std::min<uint64_t>(buf.size(), end - at));
      const ssize_t n = pread(fd, buf.data(), want, static_cast<off_t>(at));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0)
        return n == 0 ? absl::DataLossError(Cat("blob ", id, " shrank while read"))
                      : Errno("read", path, errno);
      const uint64_t next = at + static_cast<uint64_t>(n);
      if (!sink(i, at, std::string_view(buf.data(), static_cast<size_t>(n)), next >= end)) {
        return absl::OkStatus();
      }
      at = next;
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<BlobInfo>> FsBlobBackend::Stat(const std::string& id) {
  const std::string path = PathOf(id);
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return std::optional<BlobInfo>();
    return Errno("stat", path, errno);
  }
  return std::optional<BlobInfo>(InfoOf(id, path, st));
}

absl::StatusOr<bool> FsBlobBackend::Delete(const std::string& id, absl::Time unless_put_after) {
  const std::string path = PathOf(id);
  std::lock_guard lock(StripeFor(id));
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return false;
    return Errno("stat", path, errno);
  }
  const absl::Time last_put =
      absl::FromTimeT(st.st_mtim.tv_sec) + absl::Nanoseconds(st.st_mtim.tv_nsec);
  if (last_put > unless_put_after) {
    return absl::FailedPreconditionError(Cat("blob ", id, " was put recently"));
  }
  if (unlink(path.c_str()) != 0) return Errno("unlink", path, errno);
  {
    std::lock_guard vlock(verified_mu_);
    verified_.erase(id);
  }
  if (absl::Status s = SyncDir(path.substr(0, path.rfind('/'))); !s.ok()) return s;
  return true;
}

absl::StatusOr<std::vector<BlobInfo>> FsBlobBackend::List(const std::string& after,
                                                          absl::Time before, size_t limit) {
  std::vector<BlobInfo> out;
  const std::string objects = options_.dir + "/objects";
  const std::string first_shard = after.size() >= 2 ? after.substr(0, 2) : "";
  for (int shard = 0; shard < 256 && out.size() < limit; ++shard) {
    const unsigned char byte = static_cast<unsigned char>(shard);
    const std::string name = Hex(&byte, 1);
    if (name < first_shard) continue;
    const std::string dir = objects + "/" + name;
    DIR* d = opendir(dir.c_str());
    if (d == nullptr) {
      if (errno == ENOENT) continue;
      return Errno("opendir", dir, errno);
    }
    std::vector<std::string> ids;
    while (dirent* e = readdir(d)) {
      std::string id = e->d_name;
      if (IsBlobId(id) && id > after) ids.push_back(std::move(id));
    }
    closedir(d);
    std::sort(ids.begin(), ids.end());
    for (const std::string& id : ids) {
      if (out.size() >= limit) break;
      const std::string path = dir + "/" + id;
      struct stat st {};
      if (stat(path.c_str(), &st) != 0) continue;  // deleted meanwhile
      BlobInfo info = InfoOf(id, path, st);
      if (info.last_put_at < before) out.push_back(std::move(info));
    }
  }
  return out;
}

absl::Status FsBlobBackend::Check() {
  const std::string probe = options_.dir + "/tmp/ready-probe";
  const int fd = open(probe.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Errno("create", probe, errno);
  const bool ok = write(fd, "ok", 2) == 2 && fsync(fd) == 0;
  const int err = errno;
  close(fd);
  unlink(probe.c_str());
  if (!ok) return Errno("write", probe, err);
  return absl::OkStatus();
}

}  // namespace tern::blob
