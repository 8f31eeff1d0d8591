// The multi grader's calculate_output: an arithmetic formula over the sub-graders' scores by
// name — numbers, names, + - * /, parentheses, unary minus, and min, max, abs, sqrt, log, exp,
// floor, ceil (min and max take any number of arguments). A division by zero or a result that
// is not finite is an error. Pure functions.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "base/status.hpp"

namespace cn::evals {

Result<double> evaluate(std::string_view formula, const std::map<std::string, double>& scores);
// Checks the formula's syntax and that it names only `names` (400 naming `param`).
Status check_formula(std::string_view formula, const std::map<std::string, double>& names, const std::string& param);

}  // namespace cn::evals
