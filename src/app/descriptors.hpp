// File descriptors at start-up: the soft RLIMIT_NOFILE raised to the hard limit, and the
// connection cap derived from what is left once the server's own descriptors are set aside.
#pragma once

#include <cstddef>
#include <cstdint>

namespace cn::app {

struct Descriptors {
  uint64_t soft = 0, hard = 0;  // after raising
  size_t max_connections = 0;   // for client connections
  size_t reserved = 0;          // kept for the store, the upstream pool, tool servers, files
};

// Raises the soft limit to the hard one (logging when it cannot) and derives the connection
// cap: `configured` when it is > 0 (at most the limit; a warning when it eats into the reserve),
// else what the limit leaves after the reserve, at most 16,384.
Descriptors raise_descriptor_limit(size_t configured);

}  // namespace cn::app
