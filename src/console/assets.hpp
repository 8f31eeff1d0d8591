// The web console's files (src/console/index.html, app.js, app.css), compiled into the binary
// by cmake/embed_console.cmake. Immutable; safe from any thread.
#pragma once

#include <string_view>

namespace cn::console {

struct Asset {
  std::string_view name, content_type, body;
};

// The file called `name` ("index.html", "app.js", "app.css"), or null.
const Asset* find_asset(std::string_view name);

}  // namespace cn::console
