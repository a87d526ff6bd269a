#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "services/mime/message.h"
#include "tern/metadata/v1/metadata.pb.h"

namespace tern::ingest {

// Header fields cached at ingest (metadata.proto ParsedMessage.cached_headers): what
// SEARCH/SORT/THREAD need and what clients fetch in bulk.
const std::vector<std::string>& DefaultCachedHeaders();

// Parses a message once, where it enters the cluster (APPEND, delivery, import), into what
// tern-metad caches so that FETCH ENVELOPE/BODYSTRUCTURE/BODY[section] never parse a blob.
metadata::v1::ParsedMessage Ingest(std::string_view raw, const mime::Limits& limits = {});

// The same conversion from an already parsed message and its raw bytes.
metadata::v1::ParsedMessage ToProto(const mime::ParsedMessage& parsed, std::string_view raw);

}  // namespace tern::ingest
