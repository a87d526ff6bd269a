#pragma once

#include <string>
#include <vector>

#include "prometheus/counter.h"
#include "prometheus/registry.h"
#include "services/common/redis_client.h"
#include "tern/metadata/v1/metadata.pb.h"

namespace tern::metadata {

// Publishes committed changes on Redis (DESIGN.md data flow; channels in metadata.proto):
// "tern:mailbox:<id>" for every notice, "tern:user:<id>" for mailbox-list changes. A
// failed publish never fails the call (invariant 2): it is counted and front-ends catch up
// by MODSEQ.
class Notifier {
 public:
  Notifier(std::string redis_addr, prometheus::Registry& registry);
  void Publish(const std::vector<v1::ChangeNotice>& notices);

 private:
  common::RedisClient redis_;
  prometheus::Counter& published_;
  prometheus::Counter& failed_;
};

}  // namespace tern::metadata
