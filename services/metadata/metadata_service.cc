#include "services/metadata/metadata_service.h"
