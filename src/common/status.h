// Error handling for all of Peregrine: absl::Status / absl::StatusOr plus two macros.
//
// Codes used across the project (the serving layer maps them to HTTP in one place):
//   InvalidArgument  - the caller's input is wrong (bad file, shape, dtype, request)
//   NotFound         - a named thing (model, input, file) does not exist
//   Unimplemented    - a valid model uses something Peregrine does not support
//   Unavailable      - temporarily unable (queue full, model not ready)
//   DeadlineExceeded - a request ran out of time
//   Internal         - a bug or a failing third-party library
#pragma once

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define PEREGRINE_CONCAT_INNER(a, b) a##b
#define PEREGRINE_CONCAT(a, b) PEREGRINE_CONCAT_INNER(a, b)

// Returns the status from the enclosing function if `expr` is not OK.
#define RETURN_IF_ERROR(expr)                         \
  do {                                                \
    ::absl::Status peregrine_status_ = (expr);        \
    if (!peregrine_status_.ok()) return peregrine_status_; \
  } while (0)

// `lhs = value of expr`, or returns its status from the enclosing function.
#define ASSIGN_OR_RETURN(lhs, expr) \
  PEREGRINE_ASSIGN_OR_RETURN_IMPL(PEREGRINE_CONCAT(peregrine_statusor_, __LINE__), lhs, expr)
#define PEREGRINE_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                    \
  if (!tmp.ok()) return std::move(tmp).status();        \
  lhs = std::move(tmp).value()
