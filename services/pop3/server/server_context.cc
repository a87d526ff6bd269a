#include "services/pop3/server/server_context.h"

namespace tern::pop3::server {

Pop3Metrics::Pop3Metrics(prometheus::Registry& registry)
    : FrontendMetrics(registry, "pop3", "POP3"),
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
