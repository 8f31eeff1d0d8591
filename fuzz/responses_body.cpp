// Fuzz target: any bytes as the body of POST /v1/responses, through JSON parsing and the whole
// validation into runtime parameters (every field, items, tools, text formats, metadata).
#include "api/api.hpp"
#include "wire/json.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string body(reinterpret_cast<const char*>(data), size);
  auto v = cn::wire::parse(body);
  if (!v.ok()) return 0;
  auto p = cn::api::parse_create(*v);
  if (p.ok()) (void)p->input.size();
  return 0;
}
