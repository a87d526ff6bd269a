#include "services/common/frontend_metrics.h"

namespace tern::common {

FrontendMetrics::FrontendMetrics(prometheus::Registry& registry, const std::string& protocol,
                                 const std::string& name)
    : commands(prometheus::BuildCounter()
                   .Name("tern_" + protocol + "_commands_total")
                   .Help(name + " commands by verb and result")
                   .Register(registry)),
      command_seconds(prometheus::BuildHistogram()
                          .Name("tern_" + protocol + "_command_duration_seconds")
                          .Help(name + " command latency, including backend calls")
                          .Register(registry)),
      connections(prometheus::BuildGauge()
                      .Name("tern_" + protocol + "_connections")
                      .Help("Open " + name + " connections")
                      .Register(registry)
                      .Add({})),
      connections_total(prometheus::BuildCounter()
                            .Name("tern_" + protocol + "_connections_total")
                            .Help(name + " connections accepted")
                            .Register(registry)
                            .Add({})),
      connections_refused(prometheus::BuildCounter()
                              .Name("tern_" + protocol + "_connections_refused_total")
                              .Help(name + " connections refused by the per-address limit")
                              .Register(registry)
                              .Add({})) {}

void FrontendMetrics::Command(std::string_view verb, std::string_view result,
                              std::chrono::steady_clock::time_point start) {
  commands.Add({{"verb", std::string(verb)}, {"result", std::string(result)}}).Increment();
  command_seconds
      .Add({{"verb", std::string(verb)}},
           prometheus::Histogram::BucketBoundaries{0.001, 0.005, 0.02, 0.1, 0.5, 2, 10})
      .Observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
}

}  // namespace tern::common
