// The model registry: routing by model name, context windows, the embedder.
#include "model/provider.hpp"

namespace cn::model {

bool Registry::is_local_name(std::string_view model) {
  return model == "continuum-local" || model.starts_with("continuum-local-");
}

Result<Provider*> Registry::route(std::string_view model) const {
  // Without an upstream the built-in model is the default for every name, so that the server
  // works offline out of the box (the start-up log says so).
  if (is_local_name(model) || !upstream_) return local_.get();
  return upstream_.get();
}

int64_t Registry::context_window(std::string_view model) const {
  auto it = windows_.find(model);
  return it == windows_.end() ? default_window_ : it->second;
}

}  // namespace cn::model
