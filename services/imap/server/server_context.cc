#include "services/imap/server/server_context.h"

namespace tern::imap::server {

ImapMetrics::ImapMetrics(prometheus::Registry& registry)
    : FrontendMetrics(registry, "imap", "IMAP"),
      notices(prometheus::BuildCounter()
                  .Name("tern_imap_change_notices_total")
                  .Help("Mailbox change notices received from Redis")
                  .Register(registry)
                  .Add({})) {}

}  // namespace tern::imap::server
