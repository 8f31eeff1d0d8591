// load_manifests (see manifests.hpp): YAML or JSON agent manifests into the registry.
#include "fleet/manifests.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "base/ids.hpp"
#include "wire/yaml.hpp"

namespace cn::fleet {

namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

constexpr uintmax_t kMaxManifest = 4 << 20;

Status in_file(const fs::path& f, const Status& st) {
  std::string where = st.param().empty() ? "" : " (" + st.param() + ")";
  return Status(Code::invalid_argument, "agent manifest " + f.string() + where + ": " + st.message());
}

}  // namespace

Result<int> load_manifests(AgentRegistry& agents, const std::string& dir, const std::string& default_project) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return Status(Code::invalid_argument, "agent manifests: " + dir + " is not a directory");
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    auto ext = e.path().extension().string();
    if (e.is_regular_file() && (ext == ".yaml" || ext == ".yml" || ext == ".json")) files.push_back(e.path());
  }
  if (ec) return Status(Code::invalid_argument, "agent manifests: cannot read " + dir + ": " + ec.message());
  std::sort(files.begin(), files.end());
  int made = 0;
  for (const auto& f : files) {
    if (fs::file_size(f, ec) > kMaxManifest) return in_file(f, Status(Code::invalid_argument, "larger than 4 MiB"));
    std::ifstream in(f, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    auto doc = wire::yaml_to_json(text.str());  // JSON is YAML too
    if (!doc.ok()) return in_file(f, doc.status());
    if (!doc->is_object()) return in_file(f, Status(Code::invalid_argument, "expected a mapping (an agent definition)"));
    json::object o = std::move(doc->as_object());
    std::string project = default_project;
    if (auto* p = o.if_contains("project")) {
      if (!p->is_string() || !valid_id_syntax(p->as_string())) return in_file(f, Status(Code::invalid_argument, "'project' must be a project id"));
      project = std::string(p->as_string());
      o.erase("project");
    }
    std::vector<std::string> aliases;
    if (auto* a = o.if_contains("aliases")) {
      if (!a->is_array()) return in_file(f, Status(Code::invalid_argument, "'aliases' must be a list of names"));
      for (const auto& n : a->as_array()) {
        if (!n.is_string()) return in_file(f, Status(Code::invalid_argument, "'aliases' must be a list of names"));
        aliases.emplace_back(n.as_string());
      }
      o.erase("aliases");
    }
    bool created = false;
    auto v = agents.put_blocking(project, std::move(o), "manifest:" + f.filename().string(), &created);
    if (!v.ok()) return in_file(f, v.status());
    made += created ? 1 : 0;
    for (const auto& a : aliases)
      if (Status st = agents.set_alias_blocking(project, (*v)->name, a, (*v)->version); !st.ok()) return in_file(f, st);
  }
  return made;
}

}  // namespace cn::fleet
