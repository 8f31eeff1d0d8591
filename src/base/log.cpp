// Logging set-up (level, text or JSON lines) and redaction of secrets.
#include "base/log.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>

namespace cn {

void init_logging(std::string_view level, bool json) {
  auto logger = spdlog::stderr_color_mt("continuum");
  if (json) {
    logger->set_pattern(R"({"ts":"%Y-%m-%dT%H:%M:%S.%e","level":"%l","msg":"%v"})");
  } else {
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  }
  logger->set_level(spdlog::level::from_str(std::string(level)));
  spdlog::set_default_logger(logger);
}

std::string redact(std::string_view secret) {
  std::string out(secret.substr(0, std::min<size_t>(6, secret.size())));
  out += "…(" + std::to_string(secret.size()) + " chars)";
  return out;
}

}  // namespace cn
