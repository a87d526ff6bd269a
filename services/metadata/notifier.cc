#include "services/metadata/notifier.h"

#include "services/common/strings.h"

namespace tern::metadata {

Notifier::Notifier(std::string redis_addr, prometheus::Registry& registry)
    : redis_(std::move(redis_addr), absl::Milliseconds(250)),
      published_(prometheus::BuildCounter()
                     .Name("tern_metad_notices_published_total")
                     .Help("Change notices published on Redis")
                     .Register(registry)
                     .Add({})),
      failed_(prometheus::BuildCounter()
                  .Name("tern_metad_notices_failed_total")
                  .Help("Change notices that could not be published (Redis unreachable)")
                  .Register(registry)
                  .Add({})) {}

void Notifier::Publish(const std::vector<v1::ChangeNotice>& notices) {
  for (const v1::ChangeNotice& n : notices) {
    const std::string bytes = n.SerializeAsString();
    std::vector<std::string> channels = {Cat("tern:mailbox:", n.mailbox_id())};
    for (int kind : n.kinds()) {
      if (kind >= v1::CHANGE_KIND_MAILBOX_CREATED) {
        channels.push_back(Cat("tern:user:", n.user_id()));
        break;
      }
    }
    for (const std::string& channel : channels) {
      if (redis_.Command({"PUBLISH", channel, bytes})) {
        published_.Increment();
      } else {
        failed_.Increment();
      }
    }
  }
}

}  // namespace tern::metadata
