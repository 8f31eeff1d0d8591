#include "model/provider.hpp"

namespace cn::model {

bool Registry::is_local_name(std::string_view model) {
  return model == "continuum-local" || model.starts_with("continuum-local-");
}

Result<Provider*> Registry::route(std::string_view model) const {
  if (is_local_name(model) || (!upstream_ && model.empty())) return local_.get();
  if (upstream_) return upstream_.get();
  return Status(Code::invalid_argument,
                "The model '" + std::string(model) + "' does not exist: no upstream is configured "
                "(set CONTINUUM_UPSTREAM_URL), and the built-in model is 'continuum-local'.",
                "model", "model_not_found");
}

int64_t Registry::context_window(std::string_view model) const {
  auto it = windows_.find(model);
  return it == windows_.end() ? default_window_ : it->second;
}

}  // namespace cn::model
