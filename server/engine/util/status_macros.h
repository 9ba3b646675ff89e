// Small local status macros: Debian 12's abseil predates ABSL_RETURN_IF_ERROR / ASSIGN_OR_RETURN.
#ifndef BACKTEST_SERVER_ENGINE_UTIL_STATUS_MACROS_H_
#define BACKTEST_SERVER_ENGINE_UTIL_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define BT_STATUS_CONCAT_INNER(a, b) a##b
#define BT_STATUS_CONCAT(a, b) BT_STATUS_CONCAT_INNER(a, b)

// Returns the status of `expr` from the calling function when it is not OK.
#define BT_RETURN_IF_ERROR(expr)                      \
  do {                                                \
    ::absl::Status bt_status_ = (expr);               \
    if (!bt_status_.ok()) return bt_status_;          \
  } while (false)

// Evaluates a StatusOr expression; returns its status when not OK, else moves the value into `lhs`.
#define BT_ASSIGN_OR_RETURN(lhs, expr) \
  BT_ASSIGN_OR_RETURN_IMPL(BT_STATUS_CONCAT(bt_statusor_, __LINE__), lhs, expr)
#define BT_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                             \
  if (!tmp.ok()) return tmp.status();            \
  lhs = std::move(tmp).value()

#endif  // BACKTEST_SERVER_ENGINE_UTIL_STATUS_MACROS_H_
