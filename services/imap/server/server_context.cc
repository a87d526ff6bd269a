#include "services/imap/server/server_context.h"

namespace tern::imap::server {

ImapMetrics::ImapMetrics(prometheus::Registry& registry)
    : FrontendMetrics(registry, "imap", "IMAP"),
      notices(prometheus::BuildCounter()
                  .Name("tern_imap_change_notices_total")
                  .Help("Mailbox change notices received from Redis")
                  .Register(registry)
                  .Add({})),
      fanout_fetches(prometheus::BuildCounter()
                         .Name("tern_imap_fanout_fetches_total")
                         .Help("GetChanges calls made once for all of a process's sessions on a "
                               "mailbox after a change notice")
                         .Register(registry)
                         .Add({})),
      fanout_applied(prometheus::BuildCounter()
                         .Name("tern_imap_fanout_applied_total")
                         .Help("Change batches a session applied from the process's memory "
                               "instead of asking metad")
                         .Register(registry)
                         .Add({})),
      watched_mailboxes(prometheus::BuildGauge()
                            .Name("tern_imap_watched_mailboxes")
                            .Help("Mailboxes selected by at least one session of this process "
                                  "(one Redis subscription each)")
                            .Register(registry)
                            .Add({})) {}

}  // namespace tern::imap::server
