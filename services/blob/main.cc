// tern-blobd: raw RFC 5322 message bytes, content-addressed by SHA-256.
#include <sys/stat.h>

#include <vector>

#include "services/blob/blob_service.h"
#include "services/common/service_runtime.h"
#include "services/common/strings.h"

namespace {

using tern::common::SettingSpec;
using tern::common::SettingType;

std::vector<SettingSpec> Settings() {
  std::vector<SettingSpec> s = tern::common::CommonSettings("0.0.0.0:7003", "0.0.0.0:9103");
  s.push_back({"blob-dir", "TERN_BLOB_DIR", "/var/lib/tern/blobs", SettingType::kString,
               "directory holding the message blobs"});
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<SettingSpec> settings = Settings();
  return tern::common::RunService(
      "tern-blobd", settings, argc, argv, [](tern::common::ServiceRuntime& rt) -> absl::Status {
        const std::string dir = rt.config().GetString("blob-dir");
        struct stat st {};
        if (stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
          return absl::FailedPreconditionError(
              tern::Cat("--blob-dir ", dir, " is not a directory"));
        }
        auto* service = rt.Own(std::make_unique<tern::blob::BlobServiceImpl>());
        rt.AddService(service, tern::blob::v1::BlobService::service_full_name());
        rt.readiness().AddCheck("blob-dir",
                                [dir](absl::Duration) { return tern::blob::CheckBlobDir(dir); });
        return absl::OkStatus();
      });
}
