#include "services/blob/blob_service.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "services/common/strings.h"

namespace tern::blob {

absl::Status CheckBlobDir(const std::string& dir) {
  const std::string probe = Cat(dir, "/.tern-ready-probe-", static_cast<int64_t>(getpid()));
  const int fd = open(probe.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return absl::UnavailableError(Cat("blob dir ", dir, ": ", std::strerror(errno)));
  const bool ok = write(fd, "ok", 2) == 2 && fsync(fd) == 0;
  const int saved = errno;
  close(fd);
  unlink(probe.c_str());
  if (!ok) return absl::UnavailableError(Cat("blob dir ", dir, ": ", std::strerror(saved)));
  return absl::OkStatus();
}

}  // namespace tern::blob
