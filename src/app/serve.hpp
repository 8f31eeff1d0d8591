// `continuum serve`: builds every component from the configuration, serves until SIGTERM or
// SIGINT, then drains and stops in order (main.cpp, the composition root).
//
// Thread-safety: called once, from main.
#pragma once

#include "app/config.hpp"

namespace cn::app {

inline constexpr const char* kVersion = "0.1.0";

// Exit status: 0 after an orderly stop, 1 when start-up failed, 2 on a bad setting.
int serve(Config cfg);

}  // namespace cn::app
