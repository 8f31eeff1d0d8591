// Counter and Meter (see counter.hpp): which encoding a model uses, and an item's framing.
#include "tokens/counter.hpp"

#include <spdlog/spdlog.h>

namespace cn::tokens {

namespace {

// The slot an encoding's counts are cached in on items.
int slot_of(std::string_view name) {
  if (name == "o200k_base") return 0;
  if (name == "cl100k_base") return 1;
  if (name == "p50k_base") return 2;
  return 3;
}

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

// About four bytes a token: the estimate for models with no known encoding.
int64_t estimate(std::string_view s) { return static_cast<int64_t>((s.size() + 3) / 4); }

constexpr int64_t kPerMessage = 3;
constexpr int64_t kPerImage = 85;

}  // namespace

int64_t Meter::text(std::string_view s) const {
  return enc_ ? static_cast<int64_t>(enc_->count(s)) : estimate(s);
}

int64_t Meter::item(const Item& it) const {
  if (!enc_) return it.token_estimate();
  auto& cached = it.token_counts.slot[slot_];
  if (int32_t c = cached.load(std::memory_order_relaxed); c >= 0) return c;
  int64_t n = 0;
  switch (it.type) {
    case ItemType::message: {
      n = kPerMessage + text(it.role) + text(it.text());
      for (const auto& p : it.content)
        if (p.type == "input_image") n += kPerImage;
      break;
    }
    case ItemType::reasoning:
    case ItemType::mcp_list_tools:          // sent as tool definitions, not as a message
    case ItemType::mcp_approval_request:
    case ItemType::mcp_approval_response:
      n = 0;
      break;
    case ItemType::function_call:
      n = kPerMessage + text(it.name) + text(it.arguments);
      break;
    case ItemType::function_call_output:
      n = kPerMessage + text(it.output);
      break;
    case ItemType::compaction:  // sent as a system message holding the summary
      n = kPerMessage + text("system") + text(it.output);
      break;
    case ItemType::item_reference:
      n = 0;
      break;
    default:  // a server-side call: the call and its result, as two messages
      n = 2 * kPerMessage + text(it.name) + text(it.arguments) + text(it.error.empty() ? it.output : it.error);
      break;
  }
  if (n <= INT32_MAX) cached.store(static_cast<int32_t>(n), std::memory_order_relaxed);
  return n;
}

int64_t Meter::instructions(const std::optional<std::string>& s) const {
  if (!s) return 0;
  return enc_ ? kPerMessage + text("system") + text(*s) : static_cast<int64_t>(s->size() / 4) + 4;
}

int64_t Meter::tools(std::string_view tools_json) const {
  if (tools_json.empty()) return 0;
  if (!enc_ || !owner_) return text(tools_json);
  uint64_t key = std::hash<std::string_view>()(tools_json) ^ (tools_json.size() << 8) ^ static_cast<uint64_t>(slot_);
  if (auto n = owner_->remembered(key)) return *n;
  int64_t n = text(tools_json);
  owner_->remember(key, n);
  return n;
}

std::optional<int64_t> Counter::remembered(uint64_t key) const {
  std::lock_guard lk(tools_mu_);
  auto it = tools_counted_.find(key);
  if (it == tools_counted_.end()) return std::nullopt;
  return it->second;
}

void Counter::remember(uint64_t key, int64_t tokens) const {
  std::lock_guard lk(tools_mu_);
  if (tools_counted_.size() >= 1024) tools_counted_.clear();  // bounded; refilled as turns come
  tools_counted_[key] = tokens;
}

Counter::Counter(std::string dir, std::map<std::string, std::string> overrides)
    : dir_(std::move(dir)), overrides_(std::move(overrides)) {}

std::string Counter::encoding_name(std::string_view model) const {
  for (const auto& [pattern, enc] : overrides_) {
    if (!pattern.empty() && pattern.back() == '*' ? starts_with(model, std::string_view(pattern).substr(0, pattern.size() - 1))
                                                 : model == pattern)
      return enc;
  }
  // A model named through a provider prefix ("openai/gpt-4o") counts as the model itself.
  if (auto slash = model.rfind('/'); slash != std::string_view::npos) model = model.substr(slash + 1);
  for (std::string_view p : {"gpt-4o", "gpt-4.1", "gpt-4.5", "gpt-5", "gpt-6", "o1", "o3", "o4", "chatgpt-4o", "gpt-oss",
                             "codex-", "computer-use"})
    if (starts_with(model, p)) return "o200k_base";
  for (std::string_view p : {"gpt-4", "gpt-3.5", "gpt-35", "text-embedding-3", "text-embedding-ada-002"})
    if (starts_with(model, p)) return "cl100k_base";
  return {};
}

const Encoding* Counter::encoding(const std::string& name) const {
  if (dir_.empty() || name.empty() || name.find('/') != std::string::npos) return nullptr;
  std::lock_guard lk(mu_);
  auto it = loaded_.find(name);
  if (it != loaded_.end()) return it->second.get();
  auto e = Encoding::load(dir_ + "/" + name + ".json", name);
  if (!e.ok()) {
    spdlog::warn("tokens: the {} encoding did not load ({}); its models' tokens are estimated", name, e.status().message());
    loaded_[name] = nullptr;
    return nullptr;
  }
  spdlog::info("tokens: loaded the {} encoding ({} tokens)", name, (*e)->vocabulary());
  return (loaded_[name] = std::move(*e)).get();
}

Meter Counter::meter(std::string_view model) const {
  std::string name = encoding_name(model);
  const Encoding* e = encoding(name);
  return e ? Meter(e, slot_of(name), this) : Meter();
}

}  // namespace cn::tokens
