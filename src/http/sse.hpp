// Server-Sent Events: an incremental parser (for upstream streams) and the frame formatter.
#pragma once

#include <functional>
#include <string>
#include <string_view>

namespace cn::http {

// Feeds bytes in any split; calls `on_event(event_name, data)` for each complete event.
// Accepts \n, \r\n and \r line ends, joins multi-line data with \n, drops comments.
// Not thread-safe; one per stream.
class SseParser {
 public:
  using Callback = std::function<void(std::string_view event, std::string_view data)>;
  explicit SseParser(Callback cb) : cb_(std::move(cb)) {}
  void feed(std::string_view bytes);

 private:
  void line(std::string_view l);
  Callback cb_;
  std::string pending_;
  std::string event_, data_;
  bool has_data_ = false;
  bool last_cr_ = false;
};

// "event: <type>\ndata: <json>\n\n". `json` must be a single line.
std::string sse_frame(std::string_view type, std::string_view json);

}  // namespace cn::http
