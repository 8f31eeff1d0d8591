// Logging set-up. Components log through spdlog's default logger; messages carry the request id
// where there is one. Secrets (keys, tokens, upstream credentials) are never passed to a logger.
#pragma once

#include <spdlog/spdlog.h>

#include <string_view>

namespace cn {

// Configures the default logger: level from `level` ("debug", "info", "warn", "error", "off"),
// JSON-ish single-line pattern when `json` is true. Call once at start-up, before threads start.
void init_logging(std::string_view level, bool json);

// Redacts a credential for display: keeps the first 6 characters and the length.
std::string redact(std::string_view secret);

}  // namespace cn
