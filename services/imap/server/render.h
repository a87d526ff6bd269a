#pragma once

// Renders the metadata service's cached message structure (tern.metadata.v1 Envelope and
// BodyStructure, built at ingest by services/ingest) in RFC 3501 7.4.2 syntax, through the
// protocol encoder. The output is identical to mime::RenderEnvelope/RenderBodyStructure of
// the parsed message the proto was built from.

#include <string>

#include "tern/metadata/v1/metadata.pb.h"

namespace tern::imap::server {

// "(date subject (from) (sender) (reply-to) (to) (cc) (bcc) in-reply-to message-id)".
void AppendEnvelope(std::string& out, const metadata::v1::Envelope& envelope);

// BODYSTRUCTURE when extensible, BODY otherwise (RFC 3501 7.4.2).
void AppendBodyStructure(std::string& out, const metadata::v1::BodyStructure& body,
                         bool extensible);

}  // namespace tern::imap::server
