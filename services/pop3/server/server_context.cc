#include "services/pop3/server/server_context.h"

namespace tern::pop3::server {

Pop3Metrics::Pop3Metrics(prometheus::Registry& registry)
    : commands(prometheus::BuildCounter()
                   .Name("tern_pop3_commands_total")
                   .Help("POP3 commands by verb and result")
                   .Register(registry)),
      command_seconds(prometheus::BuildHistogram()
                          .Name("tern_pop3_command_duration_seconds")
                          .Help("POP3 command latency, including backend calls")
                          .Register(registry)),
      connections(prometheus::BuildGauge()
                      .Name("tern_pop3_connections")
                      .Help("Open POP3 connections")
                      .Register(registry)
                      .Add({})),
      connections_total(prometheus::BuildCounter()
                            .Name("tern_pop3_connections_total")
                            .Help("POP3 connections accepted")
                            .Register(registry)
                            .Add({})),
      connections_refused(prometheus::BuildCounter()
                              .Name("tern_pop3_connections_refused_total")
                              .Help("POP3 connections refused by the per-address limit")
                              .Register(registry)
                              .Add({})),
      retrieved_bytes(prometheus::BuildCounter()
                          .Name("tern_pop3_retrieved_bytes_total")
                          .Help("Message octets sent by RETR and TOP")
                          .Register(registry)
                          .Add({})),
      locks(prometheus::BuildCounter()
                .Name("tern_pop3_maildrop_locks_total")
                .Help("Maildrop lock attempts by backend (redis, postgres) and result")
                .Register(registry)) {}

}  // namespace tern::pop3::server
