// This process's node identity (see node.hpp).
#include "base/node.hpp"

namespace cn {

namespace {
std::string& node_storage() {
  static std::string id;
  return id;
}
}  // namespace

const std::string& this_node() { return node_storage(); }
void set_this_node(std::string id) { node_storage() = std::move(id); }

}  // namespace cn
