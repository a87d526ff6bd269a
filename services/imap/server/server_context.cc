#include "services/imap/server/server_context.h"

namespace tern::imap::server {

ImapMetrics::ImapMetrics(prometheus::Registry& registry)
    : commands(prometheus::BuildCounter()
                   .Name("tern_imap_commands_total")
                   .Help("IMAP commands by verb and result")
                   .Register(registry)),
      command_seconds(prometheus::BuildHistogram()
                          .Name("tern_imap_command_duration_seconds")
                          .Help("IMAP command latency, including backend calls")
                          .Register(registry)),
      connections(prometheus::BuildGauge()
                      .Name("tern_imap_connections")
                      .Help("Open IMAP connections")
                      .Register(registry)
                      .Add({})),
      connections_total(prometheus::BuildCounter()
                            .Name("tern_imap_connections_total")
                            .Help("IMAP connections accepted")
                            .Register(registry)
                            .Add({})),
      connections_refused(prometheus::BuildCounter()
                              .Name("tern_imap_connections_refused_total")
                              .Help("IMAP connections refused by the per-address limit")
                              .Register(registry)
                              .Add({})),
      notices(prometheus::BuildCounter()
                  .Name("tern_imap_change_notices_total")
                  .Help("Mailbox change notices received from Redis")
                  .Register(registry)
                  .Add({})) {}

}  // namespace tern::imap::server
