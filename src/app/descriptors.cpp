// Raising RLIMIT_NOFILE and deriving the connection cap from it.
#include "app/descriptors.hpp"

#include <sys/resource.h>

#include <algorithm>

#include "base/log.hpp"

namespace cn::app {

Descriptors raise_descriptor_limit(size_t configured) {
  Descriptors d;
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    if (rl.rlim_cur < rl.rlim_max) {
      rlimit want = rl;
      want.rlim_cur = rl.rlim_max;
      if (setrlimit(RLIMIT_NOFILE, &want) == 0) rl = want;
      else spdlog::warn("cannot raise the open-files limit from {} to {}", rl.rlim_cur, rl.rlim_max);
    }
    d.soft = rl.rlim_cur == RLIM_INFINITY ? (1u << 20) : rl.rlim_cur;
    d.hard = rl.rlim_max == RLIM_INFINITY ? (1u << 20) : rl.rlim_max;
  } else {
    d.soft = d.hard = 1024;
  }
  // The store (a writer, readers, WAL and shm files), memory index files, pooled upstream and
  // tool-server connections, stdio MCP servers and sandboxes: a fixed part and a share.
  d.reserved = std::min<size_t>(d.soft / 2, 64 + d.soft / 8);
  size_t derived = std::min<size_t>(d.soft - d.reserved, 16'384);
  d.max_connections = configured > 0 ? std::min<size_t>(configured, d.soft) : derived;
  if (configured > d.soft - d.reserved)
    spdlog::warn("limits.max_connections ({}) leaves fewer than {} of {} open files for the store, upstream and tools;"
                 " when they run out, accepting pauses", configured, d.reserved, d.soft);
  if (d.max_connections < 16) d.max_connections = 16;
  return d;
}

}  // namespace cn::app
