// A turn's memory settings, as a request body's or an agent definition's "memory" field gives
// them: whether relevant records are placed into the turn's context (inject), whether the turn
// is learned from when it completes (learn), and which strategies extraction runs and which
// namespace each writes (facts, preferences, summary: "user", "agent" or "session", or off).
//
// Thread-safety: plain values and pure functions.
#pragma once

#include <boost/json/value.hpp>

#include <optional>
#include <string>
#include <string_view>

#include "base/status.hpp"

namespace cn::memory {

// The namespace each kind is written in ("user", "agent", "session"), or "off" (not extracted).
// Unset: the server's configuration ([memory] facts/facts_scope, ...).
struct Strategies {
  std::optional<std::string> facts, preferences, summary;
  bool operator==(const Strategies&) const = default;
};

struct Settings {
  bool enabled = true;  // false: neither injected, learned from nor offered as tools ("off")
  bool inject = true;
  bool learn = true;
  Strategies strategies;
  bool operator==(const Settings&) const = default;
};

// Parses a "memory" value: "auto" or "on" (the defaults), "off", true or false, or an object
// {"inject"?: bool, "learn"?: bool, "strategies"?: {"facts"?, "preferences"?, "summary"?}}
// whose strategy values are "user", "agent", "session", "off" or false. Unknown keys and wrong
// types are invalid_argument naming `field` (e.g. "memory.strategies.facts").
Status parse_settings(const boost::json::value& v, std::string_view field, Settings& out);
// The canonical form: true (defaults), false (off), or the object with every part explicit.
boost::json::value settings_json(const Settings& s);

}  // namespace cn::memory
