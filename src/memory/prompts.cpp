// What the model is asked in the background: the extraction and consolidation instructions and
// the strict JSON schemas their answers must follow.
#include "memory/impl.hpp"

namespace cn::memory {

// The JSON schemas the model must follow (strict), and their validation.
json::object extraction_schema() {
  json::object mem{{"type", "object"},
                   {"properties", json::object{{"text", json::object{{"type", "string"}}},
                                               {"kind", json::object{{"type", "string"}, {"enum", json::array{"fact", "preference"}}}}}},
                   {"required", json::array{"text", "kind"}},
                   {"additionalProperties", false}};
  return json::object{
      {"type", "object"},
      {"properties", json::object{{"memories", json::object{{"type", "array"}, {"items", mem}}},
                                  {"summary", json::object{{"type", json::array{"string", "null"}}}}}},
      {"required", json::array{"memories", "summary"}},
      {"additionalProperties", false}};
}

json::object consolidation_schema() {
  return json::object{
      {"type", "object"},
      {"properties", json::object{{"decision", json::object{{"type", "string"}, {"enum", json::array{"add", "update", "supersede", "ignore"}}}},
                                  {"target", json::object{{"type", json::array{"integer", "null"}}}},
                                  {"text", json::object{{"type", "string"}}}}},
      {"required", json::array{"decision", "target", "text"}},
      {"additionalProperties", false}};
}

std::string format_json(const char* name, json::object schema) {
  return json::serialize(json::object{{"type", "json_schema"}, {"name", name}, {"strict", true}, {"schema", std::move(schema)}});
}

const char* const kExtractionPrompt =
    "You maintain long-term memory about a user. From the conversation turn below, extract "
    "durable facts about the user and the user's preferences that would help in future, "
    "unrelated conversations (identity, health, constraints, likes, dislikes, language, plans). "
    "Write each as a short third-person sentence (\"The user is allergic to peanuts.\"). Ignore "
    "small talk and anything only about this turn. Also write a one-paragraph running summary of "
    "the session so far, or null when summaries are off. Answer with JSON only.";

const char* const kConsolidationPrompt =
    "You keep a user's long-term memory consistent. Given existing memories (numbered) and one "
    "new memory, decide: \"add\" when it is new information; \"update\" when it refines or adds "
    "detail to existing memory <target> without contradicting it (give the merged text); "
    "\"supersede\" when it contradicts or replaces existing memory <target> (the old one stops "
    "being true; give the new text); \"ignore\" when it is already known. Answer with JSON only.";

}  // namespace cn::memory
