// The server-sent events parser for upstream streams.
#include "http/sse.hpp"

namespace cn::http {

void SseParser::feed(std::string_view bytes) {
  for (char c : bytes) {
    if (c == '\n' && last_cr_) {  // the \n of a \r\n pair; the \r already ended the line
      last_cr_ = false;
      continue;
    }
    last_cr_ = (c == '\r');
    if (c == '\n' || c == '\r') {
      line(pending_);
      pending_.clear();
    } else {
      pending_ += c;
    }
  }
}

void SseParser::line(std::string_view l) {
  if (l.empty()) {
    if (has_data_) cb_(event_, data_);
    event_.clear();
    data_.clear();
    has_data_ = false;
    return;
  }
  if (l.front() == ':') return;
  auto colon = l.find(':');
  std::string_view field = l.substr(0, colon);
  std::string_view value = colon == std::string_view::npos ? std::string_view() : l.substr(colon + 1);
  if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  if (field == "event") {
    event_ = value;
  } else if (field == "data") {
    if (has_data_) data_ += '\n';
    data_ += value;
    has_data_ = true;
  }
}

std::string sse_frame(std::string_view type, std::string_view json) {
  std::string out;
  out.reserve(type.size() + json.size() + 16);
  out += "event: ";
  out += type;
  out += "\ndata: ";
  out += json;
  out += "\n\n";
  return out;
}

}  // namespace cn::http
