#pragma once

// The metrics every protocol front-end exports, named tern_<protocol>_...: connections,
// refusals by the per-address limit, and commands by verb and result with their latency.

#include <chrono>
#include <string>
#include <string_view>

#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace tern::common {

struct FrontendMetrics {
  // `protocol` is "imap" or "pop3"; `name` is how help texts say it ("IMAP", "POP3").
  FrontendMetrics(prometheus::Registry& registry, const std::string& protocol,
                  const std::string& name);

  // One finished command: counted by verb and result, its time since `start` observed.
  void Command(std::string_view verb, std::string_view result,
               std::chrono::steady_clock::time_point start);

  prometheus::Family<prometheus::Counter>& commands;
  prometheus::Family<prometheus::Histogram>& command_seconds;
  prometheus::Gauge& connections;
  prometheus::Counter& connections_total;
  prometheus::Counter& connections_refused;
};

}  // namespace tern::common
