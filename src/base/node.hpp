// This process's node identity: "" with the embedded store (one node), a fresh id per start when
// many nodes share PostgreSQL (cluster/membership.hpp). Stored with every unfinished run, so that
// another node can tell whose runs a dead node left.
//
// Set once at start-up, before any thread that reads it runs; read-only afterwards.
#pragma once

#include <string>

namespace cn {

const std::string& this_node();
void set_this_node(std::string id);

}  // namespace cn
