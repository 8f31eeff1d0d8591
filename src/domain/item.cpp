// Item helpers: text and token estimates of a conversation item.
#include "domain/item.hpp"

namespace cn {

std::string Item::text() const {
  switch (type) {
    case ItemType::function_call: return name + " " + arguments;
    case ItemType::function_call_output: return output;
    case ItemType::memory_call: return name + " " + arguments + " " + output;
    default: break;
  }
  std::string out;
  for (const auto& p : content) {
    if (!out.empty() && !p.text.empty()) out += '\n';
    out += p.text;
  }
  return out;
}

int64_t Item::token_estimate() const {
  size_t bytes = 0;
  for (const auto& p : content) bytes += p.text.size();
  bytes += call_id.size() + name.size() + arguments.size() + output.size();
  return static_cast<int64_t>(bytes / 4) + 4;
}

}  // namespace cn
