// The trajectory grader {"type": "trajectory", "name", "expected_tool_calls": [{name,
// arguments?}], "order": "in_order" | "any_order" | "exact", "forbidden_tools", "max_calls",
// "required_handoffs", "forbidden_handoffs"} over sample.tool_calls and sample.handoffs. Its score
// is the share of expected calls found; it passes when all are found and nothing is violated.
// Argument matchers hold the keys a call's arguments must have, with equal values (strings are
// templates: {{item.city}}). Pure functions.
#pragma once

#include "evals/graders.hpp"

namespace cn::evals {

// 400 naming the field under `at` ("testing_criteria[i]").
Status check_trajectory(const json::object& grader, const std::string& at);
Verdict grade_trajectory(const json::object& grader, const json::object& ns);

}  // namespace cn::evals
