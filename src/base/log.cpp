// Logging set-up (level, text or JSON lines, the trace id of the work being logged) and
// redaction of secrets.
#include "base/log.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <unistd.h>

#include "base/log_sink.hpp"

#include "base/trace.hpp"

namespace cn {

namespace {

// Text logs: " trace=<id>" after the message when the line belongs to a traced run.
class TraceFlag : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg&, const std::tm&, spdlog::memory_buf_t& dest) override {
    const std::string& id = log_trace_id();
    if (id.empty()) return;
    dest.append(std::string_view(" trace="));
    dest.append(id);
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<TraceFlag>(); }
};

void append_json_string(spdlog::memory_buf_t& dest, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  dest.push_back('"');
  for (unsigned char c : s) {
    switch (c) {
      case '"': dest.append(std::string_view("\\\"")); break;
      case '\\': dest.append(std::string_view("\\\\")); break;
      case '\n': dest.append(std::string_view("\\n")); break;
      case '\r': dest.append(std::string_view("\\r")); break;
      case '\t': dest.append(std::string_view("\\t")); break;
      default:
        if (c < 0x20) {
          char esc[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 15]};
          dest.append(esc, esc + 6);
        } else {
          dest.push_back(static_cast<char>(c));
        }
    }
  }
  dest.push_back('"');
}

// JSON lines: {"ts", "level", "trace_id" (when set), "msg"}, the message escaped.
class JsonFormatter : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    time_.format(msg, dest);  // {"ts":"...","level":"..."
    if (const std::string& id = log_trace_id(); !id.empty()) {
      dest.append(std::string_view(",\"trace_id\":\""));
      dest.append(id);
      dest.push_back('"');
    }
    dest.append(std::string_view(",\"msg\":"));
    append_json_string(dest, std::string_view(msg.payload.data(), msg.payload.size()));
    dest.append(std::string_view("}\n"));
  }
  std::unique_ptr<spdlog::formatter> clone() const override { return std::make_unique<JsonFormatter>(); }

 private:
  spdlog::pattern_formatter time_{R"({"ts":"%Y-%m-%dT%H:%M:%S.%e","level":"%l")", spdlog::pattern_time_type::local, ""};
};

}  // namespace

void init_logging(std::string_view level, bool json) {
  // A terminal gets colours; anything else (a pipe to a supervisor or collector, a file) the
  // non-blocking sink, so that a reader falling behind never stalls the threads that log.
  std::shared_ptr<spdlog::logger> logger;
  if (::isatty(STDERR_FILENO)) {
    logger = spdlog::stderr_color_mt("continuum");
  } else {
    logger = std::make_shared<spdlog::logger>("continuum", std::make_shared<NonBlockingSink>(STDERR_FILENO));
    logger->flush_on(spdlog::level::err);
  }
  if (json) {
    logger->set_formatter(std::make_unique<JsonFormatter>());
  } else {
    auto f = std::make_unique<spdlog::pattern_formatter>();
    f->add_flag<TraceFlag>('*').set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v%*");
    logger->set_formatter(std::move(f));
  }
  logger->set_level(spdlog::level::from_str(std::string(level)));
  spdlog::set_default_logger(logger);
}

std::string redact(std::string_view secret) {
  std::string out(secret.substr(0, std::min<size_t>(6, secret.size())));
  out += "…(" + std::to_string(secret.size()) + " chars)";
  return out;
}

uint64_t LogThrottle::tick() {
  std::lock_guard lk(mu_);
  ++count_;
  auto now = std::chrono::steady_clock::now();
  if (last_ != std::chrono::steady_clock::time_point{} && now - last_ < interval_) return 0;
  last_ = now;
  uint64_t n = count_;
  count_ = 0;
  return n;
}

}  // namespace cn
