#include "services/lmtp/server/server_context.h"

namespace tern::lmtp::server {

LmtpMetrics::LmtpMetrics(prometheus::Registry& registry)
    : lmtp(registry, "lmtp", "LMTP"),
      smtp(registry, "smtp", "SMTP"),
      deliveries(prometheus::BuildCounter()
                     .Name("tern_lmtpd_deliveries_total")
                     .Help("Recipient deliveries by protocol (lmtp, smtp) and result (delivered, "
                           "duplicate, temporary, permanent)")
                     .Register(registry)),
      delivered_bytes(prometheus::BuildCounter()
                          .Name("tern_lmtpd_delivered_bytes_total")
                          .Help("Octets of messages stored, counted once per message")
                          .Register(registry)
                          .Add({})),
      delivery_seconds(prometheus::BuildHistogram()
                           .Name("tern_lmtpd_delivery_duration_seconds")
                           .Help("From the end of a message's content to the last reply "
                                 "(blobd.Put and metad.AppendMessages)")
                           .Register(registry)
                           .Add({}, prometheus::Histogram::BucketBoundaries{
                                        0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5, 2, 10})) {}

protocol::Limits ServerContext::Limits(bool lmtp) const {
  return protocol::Limits{
      .max_message = settings.max_message_size,
      // The MTA in front of LMTP already accepted the message; inbound SMTP faces the
      // Internet, where a bare LF is a smuggling attempt or a broken client (RFC 5321 2.3.8).
      .bare_line_ends = lmtp ? protocol::BareLineEnds::kNormalize : protocol::BareLineEnds::kReject,
  };
}

}  // namespace tern::lmtp::server
