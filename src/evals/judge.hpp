// The Judge evals use in the server: model calls through the model registry (the upstream, or
// the built-in model offline) and its embedder.
#pragma once

#include <memory>

#include "evals/graders.hpp"
#include "model/provider.hpp"

namespace cn::evals {

// `models` must outlive the judge. An empty schema asks for plain text (sampling).
std::shared_ptr<Judge> make_model_judge(model::Registry& models);

}  // namespace cn::evals
