#ifndef MIDWIFE_CORE_STATUS_MACROS_H_
#define MIDWIFE_CORE_STATUS_MACROS_H_

// Debian 12's Abseil (20220623) has Status and StatusOr but not the
// RETURN_IF_ERROR / ASSIGN_OR_RETURN helpers; these two stand in for them.

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define MIDWIFE_CONCAT_INNER_(a, b) a##b
#define MIDWIFE_CONCAT_(a, b) MIDWIFE_CONCAT_INNER_(a, b)

// Evaluates `expr` (an absl::Status) and returns it from the enclosing
// function when it is not OK.
#define RETURN_IF_ERROR(expr)                  \
  do {                                         \
    ::absl::Status midwife_status_ = (expr);   \
    if (!midwife_status_.ok()) return midwife_status_; \
  } while (0)

// `ASSIGN_OR_RETURN(auto x, MakeX());` binds the value of a StatusOr or
// returns its error from the enclosing function.
#define ASSIGN_OR_RETURN(lhs, expr) \
  MIDWIFE_ASSIGN_OR_RETURN_IMPL_(MIDWIFE_CONCAT_(midwife_statusor_, __LINE__), lhs, expr)

#define MIDWIFE_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                   \
  if (!tmp.ok()) return std::move(tmp).status();       \
  lhs = std::move(tmp).value()

#endif  // MIDWIFE_CORE_STATUS_MACROS_H_
