// The Judge evals use in the server: model calls through the model registry (the upstream, or
// the built-in model offline), its embedder, and python graders in the code sandbox.
#pragma once

#include <memory>

#include "evals/graders.hpp"
#include "memory/memory.hpp"
#include "model/provider.hpp"
#include "tools/sandbox/sandbox.hpp"

namespace cn::evals {

// `models` must outlive the judge. An empty schema asks for plain text (sampling). Python graders
// run in `sandbox` (null, or without bubblewrap: they are refused when an eval is created).
// Memory assertions read `memory` (null: they fail as errors).
std::shared_ptr<Judge> make_model_judge(model::Registry& models, std::shared_ptr<tools::sandbox::Sandbox> sandbox = nullptr,
                                        memory::Memory* memory = nullptr);

}  // namespace cn::evals
